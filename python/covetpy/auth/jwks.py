"""Where a JWT layer's keys come from: a JSON Web Key Set (RFC 7517 §5) at `jwks_url`, or
the `jwks_uri` an OpenID provider's discovery document names (OpenID Connect Discovery 1.0
§4).

The set is fetched once at start-up; the supervisor's check of the app fetches it first and
leaves it in a cache file that the workers read instead of fetching again (one fetch per host,
not per worker). It is fetched again when its `Cache-Control: max-age` runs out, and on a
token naming an unknown `kid` (at most once per `jwks_cooldown`, counted in Rust). A fetch
that fails keeps the keys in use and logs why.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from covetpy.exceptions import ConfigError

__all__ = ["JwksSource", "discover_jwks_uri"]

logger = logging.getLogger("covetpy.auth")

# Bounds on the provider's max-age: a set cached for 0 s would be fetched per request, one
# cached for a year would never see a rotation.
MIN_AGE, DEFAULT_AGE, MAX_AGE = 30.0, 300.0, 86400.0
# A JWKS of a few keys is 1-10 KiB; more than this is not a key set.
MAX_DOCUMENT = 1 << 20
TIMEOUT = 5.0


def _get(url: str) -> tuple[bytes, float]:
    """The body of `url` and its max-age (seconds), or OSError/ValueError."""
    request = urllib.request.Request(url, headers={"accept": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # http(s) only: _check_url
        body = response.read(MAX_DOCUMENT + 1)
        if len(body) > MAX_DOCUMENT:
            raise ValueError(f"{url}: more than {MAX_DOCUMENT} bytes")
        return body, _max_age(response.headers.get("cache-control", ""))


def _max_age(cache_control: str) -> float:
    if re.search(r"\bno-(store|cache)\b", cache_control):
        return MIN_AGE
    m = re.search(r"\bmax-age\s*=\s*(\d+)", cache_control)
    age = float(m.group(1)) if m else DEFAULT_AGE
    return min(max(age, MIN_AGE), MAX_AGE)


def _check_url(url: str) -> None:
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"JWKS/discovery URL must be http(s)://, got {url!r}")


def discover_jwks_uri(configuration_url: str, issuer: str) -> str:
    """The `jwks_uri` of the provider's discovery document; its `issuer` must be `issuer`
    exactly (OpenID Connect Discovery 1.0 §4.3). ConfigError when it cannot be read."""
    _check_url(configuration_url)
    try:
        body, _ = _get(configuration_url)
        doc = json.loads(body)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"OIDC discovery at {configuration_url} failed: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jwks_uri"), str):
        raise ConfigError(f"OIDC discovery at {configuration_url}: no jwks_uri")
    if doc.get("issuer") != issuer:
        raise ConfigError(
            f"OIDC discovery at {configuration_url}: issuer {doc.get('issuer')!r} is not the "
            f"configured {issuer!r}"
        )
    jwks_uri: str = doc["jwks_uri"]
    _check_url(jwks_uri)
    return jwks_uri


class JwksSource:
    """One JWKS URL: the document, when it expires, and the cache file the workers share."""

    def __init__(self, url: str) -> None:
        _check_url(url)
        self.url = url
        self.document: bytes | None = None
        self.expires = 0.0
        self.fetched = 0.0
        self._lock: asyncio.Lock | None = None
        digest = hashlib.sha256(url.encode()).hexdigest()[:32]
        base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
        self.cache = Path(base) / f"covetpy-jwks-{os.getuid()}" / f"{digest}.json"

    def load(self) -> bytes:
        """The document at start-up: the shared cache file if fresh, else fetched (and
        cached). ConfigError when it cannot be had: a server without keys refuses everyone."""
        cached = self._read_cache()
        if cached is not None and cached[1] > time.time():
            self._take(*cached)
        else:
            try:
                self._fetch_now()
            except (OSError, ValueError) as exc:
                raise ConfigError(f"JWKS at {self.url} cannot be fetched: {exc}") from None
        assert self.document is not None
        return self.document

    async def refresh(self) -> bytes | None:
        """A newer document: the cache file if another worker refreshed it since, else
        fetched now. None (the keys in use stay) when the fetch fails."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            cached = self._read_cache()
            if cached is not None and cached[2] > self.fetched:
                self._take(*cached)
                return self.document
            try:
                await asyncio.to_thread(self._fetch_now)
            except (OSError, ValueError) as exc:
                logger.warning(
                    "JWKS at %s: refresh failed, keeping the keys in use: %s", self.url, exc
                )
                return None
            return self.document

    def _fetch_now(self) -> None:
        body, age = _get(self.url)
        json.loads(body)  # a JSON document, or ValueError; Rust checks the keys
        now = time.time()
        self._take(body, now + age, now)
        self._write_cache(body, now + age, now)

    def _take(self, body: bytes, expires: float, fetched: float) -> None:
        self.document, self.expires, self.fetched = body, expires, fetched

    def _read_cache(self) -> tuple[bytes, float, float] | None:
        try:
            raw: dict[str, Any] = json.loads(self.cache.read_bytes())
            return raw["document"].encode(), float(raw["expires"]), float(raw["fetched"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _write_cache(self, body: bytes, expires: float, fetched: float) -> None:
        try:
            self.cache.parent.mkdir(mode=0o700, exist_ok=True)
            tmp = self.cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(
                json.dumps(
                    {
                        "url": self.url,
                        "document": body.decode(),
                        "expires": expires,
                        "fetched": fetched,
                    }
                )
            )
            os.replace(tmp, self.cache)  # atomic: a reader sees the old file or the new one
        except (OSError, UnicodeDecodeError) as exc:
            logger.debug("JWKS cache %s not written: %s", self.cache, exc)
