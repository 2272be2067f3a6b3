"""An app with settings, served by `covetpy run` and read by `covetpy config` in the tests."""

from __future__ import annotations

import enum

import msgspec

from covetpy import App, Depends, Secret, Settings
from covetpy.settings import ByteSize, Duration


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Db(msgspec.Struct):
    host: str = "localhost"
    port: int = 5432


class Config(Settings, prefix="SHOP_", secrets_dir=None):
    database_url: Secret[str]
    page_size: int = 20
    features: list[str] = msgspec.field(default_factory=list)
    level: Level = Level.LOW
    timeout: Duration = 30.0
    max_upload: ByteSize = 1 << 20
    db: Db = msgspec.field(default_factory=Db)


app = App(settings=Config)


@app.get("/page-size")
def page_size(cfg: Config = Depends(Config)) -> dict[str, int]:
    return {"page_size": cfg.page_size}


@app.get("/boom")
def boom(cfg: Config = Depends(Config)) -> None:
    url = cfg.database_url  # in the frame's locals when the traceback is logged
    raise RuntimeError(f"cannot connect to {url} with {cfg!r}")
