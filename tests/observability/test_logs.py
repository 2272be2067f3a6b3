"""covetpy.observability.logs: JSON lines with the trace and request they were written under."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from covetpy.events import context as events_context
from covetpy.mesh import context as mesh
from covetpy.observability import logs, tracing
from tests.observability.spans import PARENT, TRACE, TRACEPARENT


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("covetpy.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_one_json_object_per_line(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = log
    logger.info("paid %s", 42)
    logger.warning("second")
    first, second = lines(out)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first.pop("time"))
    assert isinstance(first.pop("pid"), int)
    assert first == {"level": "INFO", "logger": "covetpy.test.logs", "message": "paid 42"}
    assert second["level"] == "WARNING"


def test_ids_of_the_call_being_served(
    clean_env: pytest.MonkeyPatch, log: tuple[logging.Logger, io.StringIO]
) -> None:
    logger, out = log
    with mesh.use(mesh.CallContext(request_id="r-1", traceparent=TRACEPARENT)):
        logger.info("in a request")
    (line,) = lines(out)
    assert (line["trace_id"], line["span_id"], line["request_id"]) == (TRACE, PARENT, "r-1")


def test_ids_of_the_current_span_while_tracing(
    spans: InMemorySpanExporter, log: tuple[logging.Logger, io.StringIO]
) -> None:
    logger, out = log
    with mesh.use(mesh.CallContext(request_id="r-2")):
        with tracing.server_span("GET /", traceparent=TRACEPARENT) as server:
            logger.info("serving")
            with tracing.outbound_span("GET") as client:
                logger.info("calling")
    assert server is not None and client is not None
    serving, calling = lines(out)
    assert (serving["trace_id"], serving["span_id"]) == (TRACE, server[36:52])
    assert (calling["trace_id"], calling["span_id"]) == (TRACE, client[36:52])
    assert serving["request_id"] == calling["request_id"] == "r-2"


def test_event_context_variables_are_a_fallback(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = log
    token = events_context.request_id.set("r-3")
    try:
        logger.info("legacy")
    finally:
        events_context.request_id.reset(token)
    assert lines(out)[0]["request_id"] == "r-3"


def test_extra_fields_and_exceptions(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = log

    class Thing:
        def __str__(self) -> str:
            return "a thing"

    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logger.exception("failed", extra={"order": 42, "thing": Thing(), "level": "custom"})
    assert len(out.getvalue().splitlines()) == 1
    (line,) = lines(out)
    assert line["order"] == 42 and line["thing"] == "a thing" and line["level_"] == "custom"
    assert line["level"] == "ERROR"
    assert "Traceback" in line["exception"] and "ValueError: bad\nvalue" in line["exception"]


def test_values_that_do_not_encode_are_shown_as_repr(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = log

    class Unshowable:
        def __str__(self) -> str:
            raise RuntimeError("no")

        def __repr__(self) -> str:
            raise RuntimeError("no")

    loop: list[Any] = []
    loop.append(loop)
    logger.info("odd", extra={"pairs": {(1, 2): "x"}, "loop": loop, "bad": Unshowable()})
    (line,) = lines(out)
    assert line["pairs"] == "{(1, 2): 'x'}"
    assert line["loop"] == "[[...]]"
    assert line["bad"] == "<Unshowable that cannot be shown>"


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_configure_installs_one_handler_on_the_root_logger(root: logging.Logger) -> None:
    out = io.StringIO()
    handler = logs.configure("json", "debug", stream=out)
    assert root.handlers == [handler] and root.level == logging.DEBUG
    logging.getLogger("covetpy.test.configure").debug("hello")
    assert json.loads(out.getvalue())["message"] == "hello"

    text = io.StringIO()
    logs.configure("text", logging.INFO, stream=text)
    assert len(root.handlers) == 1
    logging.getLogger("covetpy.test.configure").info("plain")
    assert re.fullmatch(r"INFO covetpy\[\d+\]: plain\n", text.getvalue())
    with pytest.raises(ValueError, match="text or json"):
        logs.configure("yaml", "info")  # type: ignore[arg-type]
