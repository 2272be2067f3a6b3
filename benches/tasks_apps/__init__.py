"""The systems of benches/tasks.py, one module each: the no-op task as each system declares
it (its body is `recorder.record`), and the producer that enqueues it (`python -m
benches.tasks_apps.<system>_app produce …`, see producer.py)."""
