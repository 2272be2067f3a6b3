"""The TechEmpower test types on CovetPy's peers, one module per framework, all doing their
database and template work through `common` (run from benches/.venv by
benches/techempower/bench.py)."""
