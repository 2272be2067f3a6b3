"""`App(settings=Config)`: `app.settings`, `Depends(Config)` and a parameter annotated `Config`
are one instance, loaded once."""

from __future__ import annotations

import pytest

from covetpy import App, ConfigError, Depends, Secret, Settings
from covetpy.testing import TestClient


class Config(Settings, prefix="DEP_", secrets_dir=None):
    token: Secret[str]
    page_size: int = 20


def test_one_instance_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEP_TOKEN", "t0ken-value")
    monkeypatch.setenv("DEP_PAGE_SIZE", "7")
    loads = []
    real = Config.from_sources.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Config], sources: object) -> object:
        loads.append(cls)
        return real(cls, sources)

    monkeypatch.setattr(Config, "from_sources", classmethod(counting))
    app = App(settings=Config, openapi_url=None)

    def size(cfg: Config = Depends(Config)) -> int:
        return cfg.page_size

    @app.get("/a")
    def a(cfg: Config = Depends(Config), n: int = Depends(size)) -> dict[str, object]:
        return {"same": cfg is app.settings, "n": n}

    @app.get("/b")
    def b(cfg: Config) -> dict[str, object]:
        return {"same": cfg is app.settings, "token": str(cfg.token)}

    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/a").json() == {"same": True, "n": 7}
            assert client.get("/b").json() == {"same": True, "token": "**********"}
    assert loads == [Config]


def test_overrides_replace_the_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEP_TOKEN", "x")
    app = App(settings=Config)

    @app.get("/size")
    def size(cfg: Config) -> int:
        return cfg.page_size

    app.dependency_overrides[Config] = lambda: Config(token=Secret("y"), page_size=3)
    with TestClient(app) as client:
        assert client.get("/size").json() == 3
        # Not a query parameter, not in the OpenAPI document.
        operation = client.get("/openapi.json").json()["paths"]["/size"]["get"]
        assert "parameters" not in operation


def test_without_settings() -> None:
    app = App()
    with pytest.raises(ConfigError, match=r"App\(settings=...\)"):
        _ = app.settings
    with pytest.raises(TypeError, match="takes a Settings subclass"):
        App(settings=dict)  # type: ignore[arg-type]
