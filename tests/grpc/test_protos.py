"""protos.load: compiled once into the cache, imported under protoc's names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from covetpy.grpc import protos

PROTO = """
syntax = "proto3";
package covetpy.tests.{name};
import "google/protobuf/timestamp.proto";
service {Name} {{ rpc Get(Ask) returns (Answer); }}
message Ask {{ string key = 1; }}
message Answer {{ google.protobuf.Timestamp at = 1; }}
"""


def write(where: Path, name: str) -> Path:
    path = where / f"{name}.proto"
    path.write_text(PROTO.format(name=name, Name=name.title()))
    return path


def test_load_compiles_once_and_imports(tmp_path: Path) -> None:
    proto = write(tmp_path, "loadone")
    cache = tmp_path / "cache"
    messages, services = protos.load(proto, cache=cache)
    assert messages.__name__ == "loadone_pb2" and services.__name__ == "loadone_pb2_grpc"
    assert messages.Ask(key="k").key == "k"
    assert hasattr(services, "add_LoadoneServicer_to_server")
    [compiled] = cache.iterdir()  # one directory per distinct file, nothing left over
    assert compiled.name.startswith("loadone-")
    assert protos.load(proto, cache=cache) == (messages, services)  # same modules again
    assert sys.modules["loadone_pb2"] is messages


def test_cached_code_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proto = write(tmp_path, "loadtwo")
    monkeypatch.setenv("COVETPY_PROTO_CACHE", str(tmp_path / "cache"))
    protos.load(proto)
    for name in ("loadtwo_pb2", "loadtwo_pb2_grpc"):
        del sys.modules[name]  # as in a new process

    def no_protoc(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(protos, "_compile", no_protoc)
    messages, _ = protos.load(proto)
    assert messages.Ask(key="k").key == "k"


def test_compile_errors_are_reported(tmp_path: Path) -> None:
    proto = tmp_path / "broken.proto"
    proto.write_text('syntax = "proto3";\nmessage Broken { strin x = 1; }\n')
    with pytest.raises(protos.ProtoError, match=r"protoc failed on .*broken\.proto:\n.*strin"):
        protos.load(proto, cache=tmp_path / "cache")
    assert "broken_pb2" not in sys.modules
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # no half-written output


def test_same_name_from_elsewhere_is_refused(tmp_path: Path) -> None:
    protos.load(write(tmp_path, "loadthree"), cache=tmp_path / "cache")
    other = tmp_path / "other"
    other.mkdir()
    proto = other / "loadthree.proto"
    proto.write_text(write(tmp_path, "loadthree").read_text() + "\nmessage Extra {}\n")
    with pytest.raises(protos.ProtoError, match="a module named loadthree_pb2 is loaded"):
        protos.load(proto, cache=tmp_path / "cache")


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COVETPY_PROTO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert protos.cache_dir() == tmp_path / "covetpy" / "protos"
    monkeypatch.setenv("COVETPY_PROTO_CACHE", "/somewhere")
    assert protos.cache_dir() == Path("/somewhere")
