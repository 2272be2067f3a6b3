"""Tracing on, into an in-memory exporter, for the tests that ask for `spans`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from covetpy.observability import tracing

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No OTEL_* variable from the environment the tests run in; tracing off afterwards."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    tracing.shutdown(5.0)


@pytest.fixture
def spans(clean_env: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Tracing on for the test; the spans it ended are in `spans.get_finished_spans()`."""
    exporter = InMemorySpanExporter()
    assert tracing.setup("test-service", exporter=exporter)
    return exporter
