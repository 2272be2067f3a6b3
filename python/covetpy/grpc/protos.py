"""Generated gRPC code made at run time from a `.proto` file, so none is committed.

```python
inventory_pb2, inventory_pb2_grpc = protos.load(Path(__file__).with_name("inventory.proto"))
```

`load` runs grpcio-tools' protoc once per distinct file (the output is cached on disk, keyed by
a hash of the file, its include path and the tool versions) and imports the two modules under
the names protoc gives them (`inventory_pb2`, `inventory_pb2_grpc`), which the generated code
itself imports by. Hence two different protos with the same file name cannot both be loaded in
one process (protobuf's descriptor pool would refuse the second anyway). A proto that imports
another of yours needs that one loaded first; the well-known types (`google/protobuf/*.proto`)
are always on the include path.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from covetpy.exceptions import CovetError, require

__all__ = ["ProtoError", "Protos", "cache_dir", "load"]


class ProtoError(CovetError):
    """protoc could not compile a `.proto` file (its messages are in the exception)."""


class Protos(NamedTuple):
    """The two generated modules of a `.proto` file."""

    messages: ModuleType
    """`foo_pb2`: the message classes and the file's `DESCRIPTOR`."""
    services: ModuleType
    """`foo_pb2_grpc`: the stubs, servicer base classes and `add_FooServicer_to_server`."""


def cache_dir() -> Path:
    """Where generated code is kept: `$COVETPY_PROTO_CACHE`, else `covetpy/protos` in the
    user's cache directory (`$XDG_CACHE_HOME`, `~/.cache`)."""
    configured = os.environ.get("COVETPY_PROTO_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "covetpy" / "protos"


def load(
    proto: str | os.PathLike[str],
    *,
    include: tuple[str | os.PathLike[str], ...] = (),
    cache: str | os.PathLike[str] | None = None,
) -> Protos:
    """The generated modules of the `proto` file, compiled on first use (see the module
    docstring). `include` adds directories its imports are found in (its own directory
    always is); `cache` overrides `cache_dir()`. Raises ProtoError if protoc fails."""
    require("covetpy.grpc.protos.load", "grpc", "grpc_tools", "google.protobuf")
    path = Path(proto).resolve()
    stem = path.stem
    names = f"{stem}_pb2", f"{stem}_pb2_grpc"
    includes = (path.parent, *(Path(p).resolve() for p in include))
    root = Path(cache) if cache is not None else cache_dir()
    out = root / _key(path, includes)
    if not (out / f"{names[1]}.py").exists():
        _compile(path, includes, root, out)
    messages, services = (_import(name, out / f"{name}.py") for name in names)
    return Protos(messages, services)


def _key(path: Path, includes: tuple[Path, ...]) -> str:
    digest = hashlib.sha256(path.read_bytes())
    for part in (
        path.name,
        *map(str, includes),
        version("grpcio-tools"),
        version("protobuf"),
    ):
        digest.update(b"\0" + part.encode())
    return f"{path.stem}-{digest.hexdigest()[:16]}"


def _compile(path: Path, includes: tuple[Path, ...], root: Path, out: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    # Into a directory of its own, then renamed: workers that import the app at the same time
    # each compile, and the first rename wins; nobody sees a half-written module.
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        well_known = importlib.resources.files("grpc_tools") / "_proto"
        command = [sys.executable, "-m", "grpc_tools.protoc"]
        command += [f"-I{p}" for p in (*includes, well_known)]
        command += [f"--python_out={work}", f"--grpc_python_out={work}", str(path)]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ProtoError(f"protoc failed on {path}:\n{result.stderr.strip()}")
        try:
            work.rename(out)
        except OSError:
            if not out.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _import(name: str, file: Path) -> ModuleType:
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(loaded.__file__ or "") == file:
            return loaded
        raise ProtoError(
            f"cannot load {file.name} from {file.parent}: a module named {name} is loaded "
            f"already, from {loaded.__file__} (a different .proto of the same name?)"
        )
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: the _pb2_grpc module imports the _pb2
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
