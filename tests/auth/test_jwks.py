"""`covetpy.auth.jwks`: Cache-Control, the cache file the workers share, discovery."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from covetpy.auth.jwks import MAX_AGE, MIN_AGE, JwksSource, _max_age, discover_jwks_uri
from covetpy.exceptions import ConfigError
from tests.auth.jwks_server import idp


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))


@pytest.mark.parametrize(
    ("header", "age"),
    [
        ("max-age=600", 600.0),
        ("public, max-age=3600, must-revalidate", 3600.0),
        ("max-age=1", MIN_AGE),
        ("max-age=99999999", MAX_AGE),
        ("no-store", MIN_AGE),
        ("", 300.0),
    ],
)
def test_max_age_is_read_and_bounded(header: str, age: float) -> None:
    assert _max_age(header) == age


def test_workers_share_one_fetch_through_the_cache_file() -> None:
    with idp() as provider:
        provider.add_key("k1")
        url = provider.url + "/jwks.json"
        first = JwksSource(url).load()
        # A second worker (another JwksSource of the same URL) reads the file.
        second = JwksSource(url).load()
        assert first == second
        assert provider.jwks_fetches == 1


def test_a_refresh_takes_another_workers_newer_fetch() -> None:
    with idp() as provider:
        provider.add_key("k1")
        url = provider.url + "/jwks.json"
        a, b = JwksSource(url), JwksSource(url)
        a.load()
        b.load()
        provider.add_key("k2")
        assert asyncio.run(a.refresh()) is not None  # fetches
        assert provider.jwks_fetches == 2
        document = asyncio.run(b.refresh())  # finds a's newer fetch in the file
        assert provider.jwks_fetches == 2
        assert document is not None and b'"k2"' in document


def test_a_failed_refresh_keeps_the_document() -> None:
    with idp() as provider:
        provider.add_key("k1")
        source = JwksSource(provider.url + "/jwks.json")
        doc = source.load()
        provider.down = True
        assert asyncio.run(source.refresh()) is None
        assert source.document == doc


def test_discovery() -> None:
    with idp() as provider:
        conf = provider.url + "/.well-known/openid-configuration"
        assert discover_jwks_uri(conf, provider.issuer) == provider.url + "/jwks.json"
        with pytest.raises(ConfigError, match="issuer"):
            discover_jwks_uri(conf, "https://someone-else/")
        with pytest.raises(ConfigError, match="failed"):
            discover_jwks_uri(provider.url + "/nothing", provider.issuer)
    with pytest.raises(ConfigError, match="http"):
        JwksSource("file:///etc/passwd")
