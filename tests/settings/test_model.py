"""Settings from every source, the order between them, and the messages of bad values."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest

from covetpy import ConfigError, CovetError, Secret, Settings
from covetpy.settings import ByteSize, Duration, SettingsError
from tests.settings.app_module import Config, Db, Level

URL = "postgres://shop:hunter2@db/shop"
BASE = {"SHOP_DATABASE_URL": URL}


def load(**kwargs: Any) -> Config:
    """Only the sources given (no file of the working directory, no os.environ)."""
    kwargs.setdefault("env", BASE)
    for source in ("toml_file", "dotenv", "secrets_dir"):
        kwargs.setdefault(source, None)
    kwargs.setdefault("overrides", ())
    return Config.load(**kwargs)


def problems(**kwargs: Any) -> list[str]:
    with pytest.raises(SettingsError) as exc:
        load(**kwargs)
    return [str(p) for p in exc.value.problems]


def test_defaults() -> None:
    cfg = load()
    assert cfg.database_url.get_secret_value() == URL
    assert (cfg.page_size, cfg.features, cfg.level, cfg.timeout) == (20, [], Level.LOW, 30.0)
    assert cfg.db == Db()


def test_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("covetpy.toml").write_text(
        'page_size = 50\nfeatures = ["a", "b"]\nlevel = "high"\ntimeout = "1m"\n'
        'max_upload = "10MiB"\n\n[db]\nhost = "db.internal"\n\n[server]\nport = 9000\n'
    )
    cfg = Config.load(env=BASE, dotenv=None, secrets_dir=None, overrides=())  # found in cwd
    assert (cfg.page_size, cfg.features, cfg.level) == (50, ["a", "b"], Level.HIGH)
    assert (cfg.timeout, cfg.max_upload) == (60.0, 10 << 20)
    assert cfg.db == Db(host="db.internal")
    # $COVETPY_CONFIG_FILE names another file.
    Path("other.toml").write_text("page_size = 7\n")
    env = {**BASE, "COVETPY_CONFIG_FILE": "other.toml"}
    assert Config.load(env=env, dotenv=None, secrets_dir=None).page_size == 7


def test_inline_toml() -> None:
    assert load(toml="page_size = 3").page_size == 3


def test_environment_with_nested_keys_lists_enums_durations_and_sizes() -> None:
    env = {
        **BASE,
        "SHOP_PAGE_SIZE": "42",
        "SHOP_FEATURES": "search, cart",
        "SHOP_LEVEL": "high",
        "SHOP_TIMEOUT": "1h30m",
        "SHOP_MAX_UPLOAD": "512k",
        "SHOP_DB__HOST": "db",
        "SHOP_DB__PORT": "6432",
    }
    cfg = load(env=env)
    assert (cfg.page_size, cfg.features, cfg.level) == (42, ["search", "cart"], Level.HIGH)
    assert (cfg.timeout, cfg.max_upload) == (5400.0, 512 * 1024)
    assert cfg.db == Db(host="db", port=6432)
    assert load(env={**BASE, "SHOP_FEATURES": '["a,b", "c"]'}).features == ["a,b", "c"]
    assert load(env={**BASE, "SHOP_FEATURES": ""}).features == []


def test_dotenv(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# the shop\n"
        "export SHOP_PAGE_SIZE=11\n"
        "SHOP_FEATURES='a, b'  \n"
        'SHOP_DB__HOST="db # not a comment"\n'
        "SHOP_LEVEL=high # a comment\n"
        "\n"
        "OTHER=ignored\n"
    )
    cfg = load(dotenv=path)
    assert (cfg.page_size, cfg.features, cfg.level) == (11, ["a", "b"], Level.HIGH)
    assert cfg.db.host == "db # not a comment"


def test_secret_files(tmp_path: Path) -> None:
    (tmp_path / "shop_database_url").write_text("postgres://from-file\n")
    (tmp_path / "SHOP_PAGE_SIZE").write_text("9")
    cfg = load(env={}, secrets_dir=tmp_path)
    assert cfg.database_url.get_secret_value() == "postgres://from-file"
    assert cfg.page_size == 9
    # The class's secrets_dir is the default; $COVETPY_SECRETS_DIR overrides it.
    assert Config.load(env={"COVETPY_SECRETS_DIR": str(tmp_path)}, dotenv=None).page_size == 9


def test_set_overrides() -> None:
    cfg = load(overrides=["page_size=5", "db.port=1", "features=x,y", "page_size=6"])
    assert (cfg.page_size, cfg.db.port, cfg.features) == (6, 1, ["x", "y"])
    # How `covetpy run` hands --set to its workers.
    assert Config.load(env={**BASE, "COVETPY_SET": '["page_size=8"]'}, dotenv=None).page_size == 8


def test_the_order_of_the_sources(tmp_path: Path) -> None:
    """defaults < TOML < .env < environment < secret files < --set, for one key."""
    toml = tmp_path / "covetpy.toml"
    toml.write_text("page_size = 1\n")
    dotenv = tmp_path / ".env"
    dotenv.write_text("SHOP_PAGE_SIZE=2\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "shop_page_size").write_text("4")
    sources: dict[str, Any] = {
        "toml_file": toml,
        "dotenv": dotenv,
        "env": {**BASE, "SHOP_PAGE_SIZE": "3"},
        "secrets_dir": secrets,
        "overrides": ["page_size=5"],
    }
    expected = 5
    for source, off in [
        ("overrides", ()),
        ("secrets_dir", None),
        ("env", BASE),
        ("dotenv", None),
        ("toml_file", None),
    ]:
        assert load(**sources).page_size == expected, source
        sources[source] = off
        expected -= 1
    assert load(**sources).page_size == 20  # the default


def test_explain_names_each_source(tmp_path: Path) -> None:
    toml = tmp_path / "covetpy.toml"
    toml.write_text("# shop\n\npage_size = 1\n[db]\nport = 1\n")
    (tmp_path / "shop_database_url").write_text(URL)
    entries = Config.explain(
        env={"SHOP_LEVEL": "high"},
        toml_file=toml,
        dotenv=None,
        secrets_dir=tmp_path,
        overrides=["features=a"],
    )
    got = {e.key: (e.value, e.source) for e in entries}
    assert got == {
        "database_url": ("**********", f"secret file {tmp_path}/shop_database_url"),
        "page_size": (1, f"{toml}:3"),
        "features": (["a"], "--set"),
        "level": ("high", "env SHOP_LEVEL"),
        "timeout": (30.0, "default"),
        "max_upload": (1 << 20, "default"),
        "db.host": ("localhost", "default"),
        "db.port": (1, f"{toml}:5"),
    }


# -- bad values, each with its exact message --------------------------------------------------


def test_bad_environment_values() -> None:
    env = {
        **BASE,
        "SHOP_PAGE_SIZE": "abc",
        "SHOP_LEVEL": "medium",
        "SHOP_TIMEOUT": "soon",
        "SHOP_MAX_UPLOAD": "big",
        "SHOP_DB__PORT": "5432.5",
        "SHOP_FEATURES": '["a", 1]',
    }
    assert problems(env=env) == [
        'SHOP_PAGE_SIZE (environment): expected int, got "abc"',
        "SHOP_FEATURES (environment): expected str, got int at [1]",
        'SHOP_LEVEL (environment): expected one of "low", "high", got "medium"',
        'SHOP_TIMEOUT (environment): expected a duration such as "30s", "1h30m" or "250ms", '
        'got "soon"',
        'SHOP_MAX_UPLOAD (environment): expected a size such as "512k", "10MiB" or "1GB", '
        'got "big"',
        'SHOP_DB__PORT (environment): expected int, got "5432.5"',
    ]


def test_bad_json() -> None:
    assert problems(env={**BASE, "SHOP_FEATURES": '["a"'}) == [
        "SHOP_FEATURES (environment): not valid JSON: Input data was truncated"
    ]


def test_bad_toml_values_and_unknown_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("covetpy.toml").write_text(
        'page_size = "20"\n'
        "pagesize = 20\n"
        "\n"
        "[db]\n"
        "hots = 'x'\n"
        "port = 5432\n"
        "\n"
        "[server]\n"
        "port = 9000\n"
        "[cache]\n"
        "ttl = 1\n"
    )
    assert problems(toml_file="covetpy.toml") == [
        "covetpy.toml:1 page_size: expected int, got str",
        "covetpy.toml:2 pagesize: unknown key (did you mean page_size?)",
        "covetpy.toml:5 [db] hots: unknown key (did you mean host?)",
        "covetpy.toml:10 cache: unknown key",
    ]


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "covetpy.toml"
    path.write_text("page_size = \n")
    (message,) = problems(toml_file=path)
    assert message.startswith(f"{path}: not valid TOML: Invalid value (at line 1, column 13)")


def test_bad_dotenv_secret_file_and_set(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("SHOP_PAGE_SIZE=x\nnot a pair\nSHOP_LEVEL='low\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "shop_timeout").write_text("later")
    overrides = ["db.port=x", "size", "nope=1"]
    assert problems(dotenv=dotenv, secrets_dir=secrets, overrides=overrides) == [
        f"{dotenv}:2: expected KEY=VALUE",
        f"{dotenv}:3 SHOP_LEVEL: unterminated quoted value",
        "--set size: expected KEY=VALUE",
        f'{dotenv}:1 SHOP_PAGE_SIZE: expected int, got "x"',
        f'secret file {secrets}/shop_timeout: expected a duration such as "30s", "1h30m" or '
        '"250ms", got "later"',
        '--set db.port: expected int, got "x"',
        "--set nope: unknown key",
    ]


def test_missing_required() -> None:
    assert problems(env={}) == [
        "database_url: required, not set (set SHOP_DATABASE_URL, or database_url in covetpy.toml)"
    ]

    class WithSecrets(Settings, prefix="APP_"):
        token: Secret[str]

    with pytest.raises(SettingsError) as exc:
        WithSecrets.load(env={}, toml_file=None, dotenv=None, secrets_dir=None)
    assert str(exc.value) == (
        "WithSecrets: 1 problem\n  token: required, not set (set APP_TOKEN, token in "
        "covetpy.toml, or a secret file app_token)"
    )


def test_an_overridden_bad_value_is_no_error() -> None:
    assert load(env={**BASE, "SHOP_PAGE_SIZE": "x"}, overrides=["page_size=1"]).page_size == 1


def test_settings_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        load(env={})
    assert issubclass(SettingsError, CovetError)


def test_unknown_prefixed_variables_are_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="covetpy"):
        load(env={**BASE, "SHOP_PAGESIZE": "1", "OTHER_THING": "2"})
    assert "SHOP_PAGESIZE is not a setting (SHOP_*); ignored (did you mean SHOP_PAGE_SIZE?)" in (
        caplog.text
    )
    assert "OTHER_THING" not in caplog.text


def test_a_secret_value_never_appears_in_a_message() -> None:
    class Keys(Settings, prefix="K_"):
        pin: Secret[int]
        mode: Secret[Literal["a", "b"]] = Secret("a")

    with pytest.raises(SettingsError) as exc:
        Keys.load(env={"K_PIN": "hunter2", "K_MODE": "hunter3"}, toml_file=None, dotenv=None)
    assert [str(p) for p in exc.value.problems] == [
        "K_PIN (environment): expected int, got str (value hidden: secret)",
        'K_MODE (environment): expected one of "a", "b", got **********',
    ]
    assert "hunter" not in str(exc.value)


class Limits(msgspec.Struct):
    burst: int = 10


def test_optional_nested_and_constrained_fields() -> None:
    class Opts(Settings, prefix="O_"):
        name: str | None = None
        retries: int | None = None
        limits: Limits = msgspec.field(default_factory=Limits)
        window: Duration | None = None
        chunk: ByteSize = 1024
        ratio: float = 0.5

    opts = Opts.load(
        env={"O_RETRIES": "", "O_NAME": "", "O_LIMITS__BURST": "3", "O_WINDOW": "2m"},
        toml_file=None,
        dotenv=None,
        overrides=["chunk=1KB", "ratio=0.25"],
    )
    assert (opts.name, opts.retries, opts.limits.burst) == ("", None, 3)
    assert (opts.window, opts.chunk, opts.ratio) == (120.0, 1000, 0.25)


def test_a_field_named_server_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot be named 'server'"):

        class Bad(Settings):
            server: str = "x"
