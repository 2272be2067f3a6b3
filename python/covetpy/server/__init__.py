"""Running an app: `worker` serves in one process, `supervisor` runs and restarts workers.

Nothing is imported here so `python -m covetpy.server.worker` starts cleanly.
"""
