"""Helpers of the event bus tests: servers, worker processes, waiting with deadlines."""
