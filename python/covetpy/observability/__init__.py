"""What a service shows of itself: Prometheus metrics, OpenTelemetry traces, JSON logs.

- `tracing`: spans, off unless `OTEL_TRACES_EXPORTER` names an exporter (`setup()`); the SDK
  is loaded only then (`_otel`).
- `middleware`: `TracingMiddleware` (HTTP server spans) and `MeshContextMiddleware` (the call
  context without spans).
- `logs`: `JsonFormatter` (one JSON object per line, with trace and request ids), `configure`.
- `metrics`: one Prometheus scrape of the Rust server's metrics and the Python ones, across
  worker processes; the event bus's metrics.

The optional dependencies (`pip install covetpy[observability]`) are imported only when used.
"""
