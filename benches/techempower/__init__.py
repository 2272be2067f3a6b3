"""The TechEmpower Framework Benchmarks test types: a throwaway PostgreSQL (`pg.py`), the
driver measurement behind ADR 0021 (`driver.py`), and the load runs against CovetPy and its
peers."""
