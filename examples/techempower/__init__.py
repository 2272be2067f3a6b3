"""The TechEmpower Framework Benchmarks test types as a CovetPy app (docs/techempower.md)."""
