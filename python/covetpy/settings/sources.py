"""Where values come from, each remembering its origin (file and line, variable, secret file).

Lowest to highest: defaults < the TOML file < `.env` < environment variables < secret files <
`--set KEY=VALUE` (< the `covetpy run` flags, for the server's options). Reading is separate from
typing (loader.py): here a value is what its source holds, a string from every source but the
TOML file.

`tomllib` gives no line numbers, so `key_lines` finds the line of each `key =` within its
`[table]` by a small scan of the text: enough to point at a bad or unknown key.
"""

from __future__ import annotations

import enum
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from covetpy.settings.errors import Problem

__all__ = ["AUTO", "Auto", "Origin", "Raw", "Sources", "key_lines", "parse_dotenv"]


class Auto(enum.Enum):
    """The default of a file source: look in the usual place (and skip it if absent)."""

    AUTO = "auto"


AUTO: Final = Auto.AUTO

TOML_FILE = "covetpy.toml"
DOTENV_FILE = ".env"
# How `covetpy run` hands its --config / --set / --secrets-dir to the workers (they inherit the
# environment); a user may set them too.
CONFIG_FILE_VAR = "COVETPY_CONFIG_FILE"
SET_VAR = "COVETPY_SET"
SECRETS_DIR_VAR = "COVETPY_SECRETS_DIR"


@dataclass(frozen=True)
class Origin:
    """Where one value came from. `kind`: default, toml, dotenv, env, secret, set or flag."""

    kind: str
    name: str = ""
    """The variable, the file's path, or the flag."""
    line: int | None = None
    spelled: str = ""
    """The key as that source spells it (`[server] port`, `SHOP_PAGE_SIZE`, `db.host`)."""

    def label(self) -> str:
        """How `covetpy config` names the source: `covetpy.toml:12`, `env SHOP_PAGE_SIZE`."""
        if self.kind in ("toml", "dotenv"):
            return f"{self.name}:{self.line}"
        if self.kind == "env":
            return f"env {self.name}"
        if self.kind == "secret":
            return f"secret file {self.name}"
        if self.kind == "set":
            return "--set"
        if self.kind == "flag":
            return self.name
        return "default"

    def where(self) -> str:
        """How an error names the key and its source: `SHOP_PAGE_SIZE (environment)`."""
        if self.kind in ("toml", "dotenv"):
            return f"{self.name}:{self.line} {self.spelled}"
        if self.kind == "env":
            return f"{self.name} (environment)"
        if self.kind == "secret":
            return f"secret file {self.name}"
        if self.kind == "set":
            return f"--set {self.spelled}"
        if self.kind == "flag":
            return self.name
        return f"{self.spelled} (default)"


@dataclass(frozen=True)
class Raw:
    """A value as its source holds it; `text`: a string to be read leniently ("20" -> 20)."""

    value: Any
    origin: Origin
    text: bool


def _split_key(key: str) -> tuple[str, ...]:
    """`a."b.c".d` -> ("a", "b.c", "d")."""
    parts = re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', key)
    return tuple(p.strip().strip("\"'").strip() for p in parts if p.strip())


_HEADER = re.compile(r"^\s*\[(?!\[)\s*([^\]]+?)\s*\]\s*(?:#.*)?$")
_BARE_OR_QUOTED = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line of each key and table of a TOML document, by full path (first occurrence)."""
    out: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    open_string: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if open_string is not None:
            if open_string in line:
                open_string = None
            continue
        m = _HEADER.match(line)
        if m is not None:
            table = _split_key(m.group(1))
            for i in range(1, len(table) + 1):
                out.setdefault(table[:i], n)
            continue
        m = _KEY.match(line)
        if m is None:
            continue
        path = table + _split_key(m.group(1))
        for i in range(len(table) + 1, len(path) + 1):
            out.setdefault(path[:i], n)
        rest = line[m.end() :]
        for quote in ('"""', "'''"):
            if rest.count(quote) == 1:
                open_string = quote
    return out


@dataclass
class TomlDoc:
    """A parsed TOML file: its data and the line of each key."""

    path: str
    data: dict[str, Any]
    lines: dict[tuple[str, ...], int]

    def origin(self, path: tuple[str, ...]) -> Origin:
        spelled = path[-1] if len(path) == 1 else f"[{'.'.join(path[:-1])}] {path[-1]}"
        return Origin("toml", self.path, self.lines.get(path, 1), spelled)


def read_toml(text: str, name: str) -> TomlDoc | Problem:
    """The document in `text` (named `name` in messages), or the problem with its syntax."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Problem("", name, f"not valid TOML: {exc}")
    return TomlDoc(name, data, key_lines(text))


_DOTENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_dotenv(text: str, name: str) -> tuple[dict[str, tuple[str, int]], list[Problem]]:
    """`KEY=VALUE` lines (`export ` before, `# comments`, '…' literal, "…" with escapes) as
    {KEY: (value, line)}, and a problem per line that is none of these. No `${VAR}` expansion."""
    out: dict[str, tuple[str, int]] = {}
    problems: list[Problem] = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("export "):
            s = s[len("export ") :].lstrip()
        key, sep, value = s.partition("=")
        key = key.strip()
        if not sep or not _DOTENV_KEY.fullmatch(key):
            problems.append(Problem("", f"{name}:{n}", "expected KEY=VALUE"))
            continue
        value = value.strip()
        if value[:1] in ("'", '"'):
            parsed = _quoted(value)
            if parsed is None:
                problems.append(Problem("", f"{name}:{n} {key}", "unterminated quoted value"))
                continue
            value = parsed
        else:
            value = re.split(r"\s#", value, maxsplit=1)[0].strip()
        out[key] = (value, n)
    return out, problems


def _quoted(value: str) -> str | None:
    quote, i = value[0], 1
    out: list[str] = []
    while i < len(value):
        c = value[i]
        if c == quote:
            return "".join(out)
        if c == "\\" and quote == '"' and i + 1 < len(value):
            out.append(_ESCAPES.get(value[i + 1], "\\" + value[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    return None


@dataclass
class Sources:
    """Everything a load reads, read once; `problems`: files and pairs that did not parse."""

    env: Mapping[str, str]
    toml: TomlDoc | None = None
    dotenv: dict[str, tuple[str, int]] = field(default_factory=dict)
    dotenv_name: str = DOTENV_FILE
    secrets_dir: Path | None = None
    overrides: list[tuple[str, str]] = field(default_factory=list)
    """`--set` pairs, in order (a later one wins)."""
    flags: dict[str, tuple[str, Any]] = field(default_factory=dict)
    """Command-line flags given, by dotted key: (flag, value); the server's options only."""
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def collect(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        toml_file: str | os.PathLike[str] | Auto | None = AUTO,
        toml: str | None = None,
        dotenv: str | os.PathLike[str] | Auto | None = AUTO,
        secrets_dir: str | os.PathLike[str] | Auto | None = AUTO,
        default_secrets_dir: str | None = None,
        overrides: Sequence[str] | Auto = AUTO,
    ) -> Sources:
        """Reads the sources. `AUTO` looks in the usual place: `$COVETPY_CONFIG_FILE`, else
        `covetpy.toml` in the working directory; `.env` there; `$COVETPY_SECRETS_DIR`, else
        `default_secrets_dir` (each only if it exists); `--set` pairs from `$COVETPY_SET`.
        None turns a source off; `toml` is the TOML text itself (named `<toml>`)."""
        env = os.environ if env is None else env
        out = cls(env=env)
        if toml is not None:
            out._add_toml(toml, "<toml>")
        else:
            if toml_file is AUTO:
                given = env.get(CONFIG_FILE_VAR)
                toml_file = given if given else (TOML_FILE if Path(TOML_FILE).is_file() else None)
            if toml_file is not None:
                out._read_toml(os.fspath(toml_file))
        if dotenv is AUTO:
            dotenv = DOTENV_FILE if Path(DOTENV_FILE).is_file() else None
        if dotenv is not None:
            out._read_dotenv(os.fspath(dotenv))
        if secrets_dir is AUTO:
            secrets_dir = env.get(SECRETS_DIR_VAR) or default_secrets_dir
            if secrets_dir is not None and not Path(secrets_dir).is_dir():
                secrets_dir = None
        if secrets_dir is not None:
            out.secrets_dir = Path(secrets_dir)
            if not out.secrets_dir.is_dir():
                out.problems.append(Problem("", f"--secrets-dir {secrets_dir}", "not a directory"))
                out.secrets_dir = None
        if overrides is AUTO:
            overrides = _overrides_from(env, out.problems)
        for pair in overrides:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                out.problems.append(Problem("", f"--set {pair}", "expected KEY=VALUE"))
                continue
            out.overrides.append((key.strip(), value))
        return out

    def _read_toml(self, path: str) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            self.problems.append(Problem("", path, f"cannot read the configuration file: {exc}"))
            return
        self._add_toml(text, path)

    def _add_toml(self, text: str, name: str) -> None:
        doc = read_toml(text, name)
        if isinstance(doc, Problem):
            self.problems.append(doc)
        else:
            self.toml = doc

    def _read_dotenv(self, path: str) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            self.problems.append(Problem("", path, f"cannot read the .env file: {exc}"))
            return
        self.dotenv, problems = parse_dotenv(text, path)
        self.dotenv_name = path
        self.problems.extend(problems)

    def secret_file(self, name: str) -> Path | None:
        """The file named `name` (any case) in the secrets directory, if there is one."""
        if self.secrets_dir is None:
            return None
        for candidate in (name.lower(), name, name.upper()):
            path = self.secrets_dir / candidate
            if path.is_file():
                return path
        return None


def _overrides_from(env: Mapping[str, str], problems: list[Problem]) -> list[str]:
    raw = env.get(SET_VAR)
    if not raw:
        return []
    try:
        pairs = json.loads(raw)
    except ValueError:
        pairs = None
    if not isinstance(pairs, list) or not all(isinstance(p, str) for p in pairs):
        problems.append(Problem("", f"{SET_VAR} (environment)", "expected a JSON list of strings"))
        return []
    return pairs
