"""examples/orders: the order service publishes `orders.created`, the worker ships each order,
through Redis and through NATS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from covetpy.events.testing import LocalServer
from tests.conftest import ROOT, running_server
from tests.events.harness import isolated, start_server


@pytest.fixture(params=["redis", "nats"])
def broker(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    with start_server(request.param) as server:
        yield server


def test_orders_are_shipped_by_the_worker(
    broker: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVETPY_EVENTS_URL", isolated(broker))
    worker = subprocess.Popen(
        [sys.executable, "-m", "examples.orders.worker"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    shipped: list[str] = []
    errors: list[str] = []

    def pump(stream: object, into: list[str]) -> None:
        with stream:  # type: ignore[attr-defined]
            for line in stream:  # type: ignore[attr-defined]
                into.append(line)

    readers = [
        threading.Thread(target=pump, args=(worker.stdout, shipped), daemon=True),
        threading.Thread(target=pump, args=(worker.stderr, errors), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        with (
            running_server("examples.orders.service:app") as service,
            httpx.Client(base_url=service.url, timeout=10) as client,
        ):
            for customer in ("ada", "grace", "edsger"):
                r = client.post(
                    "/orders", json={"customer": customer, "lines": [{"sku": "pen", "quantity": 2}]}
                )
                assert r.status_code == 201, r.text
                assert r.json()["total"] == 3.0
            deadline = time.monotonic() + 20
            while len(shipped) < 3 and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.02)
        assert sorted(line.split(" to ")[1].split(":")[0] for line in shipped) == [
            "ada",
            "edsger",
            "grace",
        ], "".join(errors)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0, "".join(errors)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        for reader in readers:
            reader.join(5)
