"""Merging the sources key by key into typed values, collecting every problem.

A schema is a flat list of leaves (`db.host`, `server.port`), each knowing how every source
spells it. For each leaf the highest source that has it wins; only that value is typed, so a
bad value that is overridden is no error. Unknown keys in the TOML file (and in `--set`) are
errors, unknown prefixed environment variables only a warning: the environment is shared with
everything else in the container, a file and a command line are written for this app.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from covetpy.settings.convert import Bad, convert
from covetpy.settings.errors import Problem
from covetpy.settings.secret import enc_hook
from covetpy.settings.sources import Origin, Raw, Sources

logger = logging.getLogger("covetpy")

__all__ = ["MISSING", "Entry", "Leaf", "Outcome", "gather"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


@dataclass(frozen=True)
class Leaf:
    """One setting: its dotted key, type, default (or MISSING) and its names in the sources."""

    path: tuple[str, ...]
    type: Any
    default: Callable[[], Any] | _Missing
    """Makes the default (a factory, so a mutable default is never shared), or MISSING."""
    env: str
    toml_path: tuple[str, ...]
    secret_file: bool = True

    @property
    def key(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Entry:
    """One line of `covetpy config`: the key, its value (secrets redacted) and its source."""

    key: str
    value: Any
    source: str


@dataclass
class Outcome:
    """The typed values from a source other than the default, by path; every key's entry."""

    values: dict[tuple[str, ...], Any] = field(default_factory=dict)
    origins: dict[tuple[str, ...], Origin] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def display(value: Any) -> Any:
    """A value as plain data for printing, a Secret as `**********`."""
    try:
        return msgspec.to_builtins(value, enc_hook=enc_hook)
    except TypeError:
        return repr(value)


def gather(
    leaves: list[Leaf],
    sources: Sources,
    *,
    toml_root: tuple[str, ...],
    set_prefix: str,
    env_prefix: str,
    reserved: Iterable[str] = (),
    hint: Callable[[Leaf], str] | None = None,
) -> Outcome:
    """Every leaf's value from `sources`. `toml_root` is where the leaves' table is (() or
    ("server",)); `set_prefix` the `--set` keys that are theirs ("server." or ""), other keys
    starting with one of `reserved` belong to someone else; `env_prefix` marks variables
    that should be one of the leaves (warned about when not)."""
    out = Outcome()
    reserved = tuple(reserved)
    for leaf in leaves:
        raw = _highest(leaf, sources)
        if raw is None:
            if isinstance(leaf.default, _Missing):
                how = hint(leaf) if hint is not None else ""
                out.problems.append(Problem(leaf.key, leaf.key, "required, not set" + how))
            else:
                out.entries.append(Entry(leaf.key, display(leaf.default()), "default"))
            continue
        try:
            value = convert(leaf.type, raw.value, raw.text)
        except Bad as exc:
            out.problems.append(Problem(leaf.key, raw.origin.where(), str(exc)))
            continue
        out.values[leaf.path] = value
        out.origins[leaf.path] = raw.origin
        out.entries.append(Entry(leaf.key, display(value), raw.origin.label()))
    out.problems.extend(_unknown_toml(leaves, sources, toml_root, reserved))
    out.problems.extend(_unknown_sets(leaves, sources, set_prefix, reserved))
    if env_prefix:
        _warn_unknown_env(leaves, sources, env_prefix)
    return out


def _highest(leaf: Leaf, sources: Sources) -> Raw | None:
    key = leaf.key
    flag = sources.flags.get(key)
    if flag is not None:
        return Raw(flag[1], Origin("flag", flag[0], spelled=key), False)
    for k, v in reversed(sources.overrides):
        if k == key:
            return Raw(v, Origin("set", spelled=k), True)
    if leaf.secret_file:
        path = sources.secret_file(leaf.env)
        if path is not None:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
            return Raw(value, Origin("secret", str(path), spelled=key), True)
    if leaf.env in sources.env:
        return Raw(sources.env[leaf.env], Origin("env", leaf.env, spelled=leaf.env), True)
    if leaf.env in sources.dotenv:
        value, line = sources.dotenv[leaf.env]
        return Raw(value, Origin("dotenv", sources.dotenv_name, line, leaf.env), True)
    if sources.toml is not None:
        node: Any = sources.toml.data
        for part in leaf.toml_path:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            return Raw(node, sources.toml.origin(leaf.toml_path), False)
    return None


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _unknown_toml(
    leaves: list[Leaf], sources: Sources, root: tuple[str, ...], reserved: tuple[str, ...]
) -> list[Problem]:
    doc = sources.toml
    if doc is None:
        return []
    node: Any = doc.data
    for part in root:
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is None:
        return []
    if not isinstance(node, Mapping):
        return [Problem(".".join(root), doc.origin(root).where(), "expected a table")]
    known = {leaf.toml_path for leaf in leaves}
    groups = {
        leaf.toml_path[:i] for leaf in leaves for i in range(len(root) + 1, len(leaf.toml_path))
    }
    problems: list[Problem] = []

    def walk(table: Mapping[str, Any], path: tuple[str, ...]) -> None:
        siblings = [p[-1] for p in known | groups if p[:-1] == path]
        for name, value in table.items():
            here = (*path, name)
            if not path and name in reserved:
                continue
            if here in known:
                continue
            if here in groups:
                if isinstance(value, Mapping):
                    walk(value, here)
                else:
                    where = doc.origin(here).where()
                    problems.append(Problem(".".join(here), where, "expected a table"))
                continue
            where = doc.origin(here).where()
            reason = "unknown key" + _suggest(name, siblings)
            problems.append(Problem(".".join(here), where, reason))

    walk(node, root)
    return problems


def _unknown_sets(
    leaves: list[Leaf], sources: Sources, set_prefix: str, reserved: tuple[str, ...]
) -> list[Problem]:
    keys = {leaf.key for leaf in leaves}
    problems = []
    for key, _ in sources.overrides:
        if key in keys:
            continue
        if set_prefix and not key.startswith(set_prefix):
            continue  # not ours: an app setting
        if not set_prefix and key.split(".", 1)[0] in reserved:
            continue
        reason = "unknown key" + _suggest(key, keys)
        problems.append(Problem(key, f"--set {key}", reason))
    return problems


def _warn_unknown_env(leaves: list[Leaf], sources: Sources, prefix: str) -> None:
    names = {leaf.env for leaf in leaves}
    unknown = sorted(
        {n for n in sources.env if n.startswith(prefix) and n not in names}
        | {n for n in sources.dotenv if n.startswith(prefix) and n not in names}
    )
    for name in unknown:
        logger.warning("%s is not a setting (%s*); ignored%s", name, prefix, _suggest(name, names))
