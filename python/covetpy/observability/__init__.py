"""What a service shows of itself: Prometheus metrics, OpenTelemetry traces, JSON logs."""
