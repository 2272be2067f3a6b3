"""The server's own options (`ServerConfig`, plus `--workers`) from the same sources as an
app's settings, in the same order, with the command-line flags on top:

defaults < `[server]` in the TOML file < `.env` < `COVETPY_<OPTION>` < `--set server.<option>=…`
< `--<option>` flags.

Secret files are not read for them (nothing in them is secret; the TLS key is a path). Seconds
take durations ("30s", "1m"), byte counts take sizes ("10MiB"). Unknown `COVETPY_*` variables are
ignored without a warning: several (`COVETPY_IO`'s neighbours such as `COVETPY_LISTEN`) steer
tests and benches rather than name options.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import typing
from typing import Annotated, Any

import msgspec

from covetpy.config import ServerConfig
from covetpy.settings.errors import Problem, SettingsError
from covetpy.settings.loader import Entry, Leaf, gather
from covetpy.settings.model import SERVER_TABLE
from covetpy.settings.sources import CONFIG_FILE_VAR, SECRETS_DIR_VAR, SET_VAR, Origin, Sources
from covetpy.settings.units import ByteSize, Duration

__all__ = [
    "ENV_PREFIX",
    "ServerOptions",
    "export_source_options",
    "flags_from",
    "load_server",
    "options_from",
    "server_leaves",
]

ENV_PREFIX = "COVETPY_"
# Set by the supervisor, never by a user.
_INTERNAL = ("fd", "metrics_dir")
_SIZES = frozenset(
    {
        "max_request_line",
        "max_header_bytes",
        "max_body_size",
        "ws_max_message",
        "ws_compression_min_size",
        "h2_initial_stream_window",
        "h2_initial_connection_window",
        "h2_max_frame_size",
        "h2_max_header_list_size",
    }
)
Workers = Annotated[int, msgspec.Meta(ge=1)]


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """What `covetpy run` serves with: the config, the worker count, and where each came from."""

    config: ServerConfig
    workers: int
    entries: list[Entry]


@functools.cache
def server_leaves() -> list[Leaf]:
    """One leaf per option: `server.port`, `COVETPY_PORT`, `[server] port`."""
    hints = typing.get_type_hints(ServerConfig)
    out = []
    for f in dataclasses.fields(ServerConfig):
        if f.name in _INTERNAL:
            continue
        tp: Any = hints[f.name]
        if tp is float:
            tp = Duration
        elif tp is int and f.name in _SIZES:
            tp = ByteSize
        if f.default is not dataclasses.MISSING:
            value = f.default
            default = functools.partial(lambda v: v, value)
        else:  # `io`: its factory reads $COVETPY_IO, which is the env source here already
            default = functools.partial(lambda v: v, "auto")
        out.append(_leaf(f.name, tp, default))
    out.append(_leaf("workers", Workers, functools.partial(lambda v: v, 1)))
    return out


def _leaf(name: str, tp: Any, default: Any) -> Leaf:
    return Leaf(
        (SERVER_TABLE, name),
        tp,
        default,
        ENV_PREFIX + name.upper(),
        (SERVER_TABLE, name),
        secret_file=False,
    )


def flags_from(args: argparse.Namespace) -> dict[str, tuple[str, Any]]:
    """The option flags given on the command line (an absent one is None), by dotted key."""
    out = {}
    for leaf in server_leaves():
        value = getattr(args, leaf.path[-1], None)
        if value is not None:
            out[leaf.key] = ("--" + leaf.path[-1].replace("_", "-"), value)
    return out


def load_server(sources: Sources) -> ServerOptions:
    """The server's options from `sources`; raises SettingsError listing every bad one."""
    outcome = gather(
        server_leaves(),
        sources,
        toml_root=(SERVER_TABLE,),
        set_prefix=SERVER_TABLE + ".",
        env_prefix="",
    )
    problems = [*sources.problems, *outcome.problems]
    if problems:
        raise SettingsError(problems, "server options")
    values = {leaf.path[-1]: leaf.default() for leaf in server_leaves()}  # type: ignore[operator]
    values.update({path[-1]: value for path, value in outcome.values.items()})
    workers = values.pop("workers")
    try:
        config = ServerConfig(**values)
    except ValueError as exc:
        # The checks across fields name the option first ("port must be 0-65535, ..."): the
        # error names where that option's value came from.
        message = str(exc)
        name = message.split(" ", 1)[0]
        origin = outcome.origins.get((SERVER_TABLE, name))
        where = origin.where() if origin is not None else Origin("default", spelled=name).where()
        raise SettingsError([Problem(f"server.{name}", where, message)], "server options") from None
    return ServerOptions(config, workers, outcome.entries)


def export_source_options(args: argparse.Namespace) -> None:
    """`--config`, `--set` and `--secrets-dir` into this process's environment, where every
    load reads them: here, and in the workers, which inherit it."""
    if getattr(args, "config", None):
        os.environ[CONFIG_FILE_VAR] = args.config
    if getattr(args, "set", None):
        before = os.environ.get(SET_VAR)
        pairs = json.loads(before) if before else []
        os.environ[SET_VAR] = json.dumps([*pairs, *args.set])
    if getattr(args, "secrets_dir", None):
        os.environ[SECRETS_DIR_VAR] = args.secrets_dir


def options_from(args: argparse.Namespace) -> ServerOptions:
    """The server's options for `covetpy run ARGS` (flags on top of the sources)."""
    export_source_options(args)
    sources = Sources.collect(secrets_dir=None)
    sources.flags = flags_from(args)
    return load_server(sources)
