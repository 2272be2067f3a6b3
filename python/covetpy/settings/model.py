"""`Settings`: a msgspec Struct whose fields are read from the configuration sources.

```python
class Config(Settings, prefix="SHOP_"):
    database_url: Secret[str]
    page_size: int = 20
```

A field `page_size` is `page_size` in `covetpy.toml`, `SHOP_PAGE_SIZE` in the environment and
`.env`, the file `shop_page_size` in the secrets directory and `--set page_size=…`; a nested
Struct field `db` is the `[db]` table, `SHOP_DB__HOST` and `--set db.host=…`. Fields are
keyword-only, so a required field may follow one with a default. Instances are not frozen
(a frozen base would oblige every subclass to say `frozen=True` to type checkers), but one
instance is shared by every request: treat it as read-only.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import msgspec

from covetpy.settings.convert import is_group
from covetpy.settings.errors import Problem, SettingsError
from covetpy.settings.loader import MISSING, Entry, Leaf, Outcome, gather
from covetpy.settings.sources import AUTO, TOML_FILE, Auto, Sources

__all__ = ["Settings", "leaves_of"]

SERVER_TABLE = "server"
"""The table (and `--set server.…` keys) of the server's own options, never a setting."""


class _SettingsMeta(msgspec.StructMeta):
    """Takes the `prefix=` and `secrets_dir=` class keywords msgspec does not know."""

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        /,
        *,
        prefix: str | None = None,
        secrets_dir: str | Auto | None = AUTO,
        **kwargs: Any,
    ) -> Any:
        kwargs.setdefault("kw_only", True)
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        if prefix is not None:
            setattr(cls, "__settings_prefix__", prefix)  # noqa: B010 (a ClassVar of Settings)
        if secrets_dir is not AUTO:
            setattr(cls, "__settings_secrets_dir__", secrets_dir)  # noqa: B010
        if SERVER_TABLE in cls.__struct_fields__:
            raise TypeError(
                f"{name}: a setting cannot be named {SERVER_TABLE!r} (the table of the "
                "server's own options)"
            )
        return cls


class Settings(msgspec.Struct, metaclass=_SettingsMeta, kw_only=True):
    """The base of an app's settings class; see the module docstring and docs/configuration.md.

    Class keywords: `prefix` of the environment variables and secret files (default none),
    `secrets_dir` (default `/run/secrets`, read when it exists; None never reads one).
    """

    __settings_prefix__: ClassVar[str] = ""
    __settings_secrets_dir__: ClassVar[str | None] = "/run/secrets"

    if TYPE_CHECKING:

        def __init_subclass__(
            cls, *, prefix: str = "", secrets_dir: str | None = ..., **kwargs: Any
        ) -> None: ...

    @classmethod
    def load(
        cls,
        *,
        env: typing.Mapping[str, str] | None = None,
        toml_file: str | os.PathLike[str] | Auto | None = AUTO,
        toml: str | None = None,
        dotenv: str | os.PathLike[str] | Auto | None = AUTO,
        secrets_dir: str | os.PathLike[str] | Auto | None = AUTO,
        overrides: Sequence[str] | Auto = AUTO,
    ) -> Self:
        """Reads and validates the settings; raises `SettingsError` listing every bad key.

        `env` defaults to `os.environ`; the file sources default to their usual places
        (`covetpy.toml` or `$COVETPY_CONFIG_FILE`, `.env`, the class's `secrets_dir`, each
        when it exists) and None turns one off; `toml` is TOML text used instead of a file;
        `overrides` are `KEY=VALUE` pairs as given to `--set`.
        """
        sources = Sources.collect(
            env=env,
            toml_file=toml_file,
            toml=toml,
            dotenv=dotenv,
            secrets_dir=secrets_dir,
            default_secrets_dir=cls.__settings_secrets_dir__,
            overrides=overrides,
        )
        return cls.from_sources(sources)[0]

    @classmethod
    def explain(
        cls,
        *,
        env: typing.Mapping[str, str] | None = None,
        toml_file: str | os.PathLike[str] | Auto | None = AUTO,
        toml: str | None = None,
        dotenv: str | os.PathLike[str] | Auto | None = AUTO,
        secrets_dir: str | os.PathLike[str] | Auto | None = AUTO,
        overrides: Sequence[str] | Auto = AUTO,
    ) -> list[Entry]:
        """Loads like `load` and returns each key's (key, value, source), secrets as
        `**********`; what `covetpy config` prints."""
        sources = Sources.collect(
            env=env,
            toml_file=toml_file,
            toml=toml,
            dotenv=dotenv,
            secrets_dir=secrets_dir,
            default_secrets_dir=cls.__settings_secrets_dir__,
            overrides=overrides,
        )
        return cls.from_sources(sources)[1]

    @classmethod
    def from_sources(cls, sources: Sources) -> tuple[Self, list[Entry]]:
        """The settings from sources already read, and their entries; raises SettingsError."""
        outcome = gather_app(cls, sources)
        problems = [*sources.problems, *outcome.problems]
        if not problems:
            try:
                return _build(cls, outcome.values, ()), outcome.entries
            except (TypeError, ValueError) as exc:  # a __post_init__ that refuses
                problems.append(Problem("", cls.__name__, str(exc)))
        raise SettingsError(problems, f"{cls.__name__}")


def gather_app(cls: type[Settings] | None, sources: Sources) -> Outcome:
    """The outcome of reading `cls` (None: an app without settings, whose TOML keys and
    `--set` keys outside `[server]` are all unknown)."""
    leaves = leaves_of(cls) if cls is not None else []
    prefix = cls.__settings_prefix__ if cls is not None else ""
    toml_name = sources.toml.path if sources.toml is not None else TOML_FILE

    def hint(leaf: Leaf) -> str:
        where = [leaf.env, f"{leaf.key} in {toml_name}"]
        if cls is not None and cls.__settings_secrets_dir__ is not None:
            where.append(f"or a secret file {leaf.env.lower()}")
        else:
            where[-1] = "or " + where[-1]
        return f" (set {', '.join(where)})"

    return gather(
        leaves,
        sources,
        toml_root=(),
        set_prefix="",
        env_prefix=prefix,
        reserved=(SERVER_TABLE,),
        hint=hint,
    )


def leaves_of(cls: type[msgspec.Struct]) -> list[Leaf]:
    """The settings of `cls`, nested Structs flattened into dotted keys."""
    return _walk(cls, (), None, getattr(cls, "__settings_prefix__", ""))


def _walk(cls: type[Any], path: tuple[str, ...], base: Any, prefix: str) -> list[Leaf]:
    hints = typing.get_type_hints(cls, include_extras=True)
    out: list[Leaf] = []
    for f in msgspec.structs.fields(cls):
        here = (*path, f.name)
        tp = hints[f.name]
        default = _default_of(f, base)
        if is_group(tp):
            sub = None if default is MISSING else default()
            out.extend(_walk(tp, here, sub, prefix))
            continue
        out.append(Leaf(here, tp, default, prefix + "__".join(here).upper(), here))
    return out


def _default_of(f: msgspec.structs.FieldInfo, base: Any) -> Any:
    """A factory of the field's default (from the enclosing default instance, if any)."""
    if base is not None:
        value = getattr(base, f.name)
        return lambda: value
    if f.default is not msgspec.NODEFAULT:
        value = f.default
        return lambda: value
    if f.default_factory is not msgspec.NODEFAULT:
        return f.default_factory
    return MISSING


def _build(
    cls: type[Any], values: dict[tuple[str, ...], Any], path: tuple[str, ...], base: Any = None
) -> Any:
    """An instance of `cls` from the values that are not defaults (msgspec fills those in),
    or `base` with them replaced."""
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs: dict[str, Any] = {}
    for f in msgspec.structs.fields(cls):
        here = (*path, f.name)
        if here in values:
            kwargs[f.name] = values[here]
            continue
        tp = hints[f.name]
        if not is_group(tp) or not any(p[: len(here)] == here for p in values):
            continue
        if base is not None:
            sub_base = getattr(base, f.name)
        elif f.default is not msgspec.NODEFAULT:
            sub_base = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            sub_base = f.default_factory()
        else:
            sub_base = None
        kwargs[f.name] = _build(tp, values, here, sub_base)
    if base is not None:
        return msgspec.structs.replace(base, **kwargs)
    return cls(**kwargs)
