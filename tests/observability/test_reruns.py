"""Tracing turned on by the environment stays on for every run of the same App: each run's
shutdown turns it off (flushing its spans), so the next run must turn it on again."""

from __future__ import annotations

import pytest

from covetpy import App
from covetpy.observability import tracing
from covetpy.testing import TestClient


def test_tracing_from_the_environment_is_on_in_every_run(clean_env: pytest.MonkeyPatch) -> None:
    # The console exporter writes spans to stdout (captured by pytest); any exporter named by
    # the environment would do.
    clean_env.setenv("OTEL_TRACES_EXPORTER", "console")
    app = App()

    @app.get("/traced")
    def traced() -> dict[str, bool]:
        return {"on": tracing.enabled()}

    for run in range(3):
        with TestClient(app) as client:
            assert client.get("/traced").json() == {"on": True}, f"run {run}"
        assert not tracing.enabled(), "a run's shutdown turns tracing off"
