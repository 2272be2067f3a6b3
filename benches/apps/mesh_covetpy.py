"""examples/hello.py's `/` with `App(mesh=True)` (the call-context middleware and the
built-in RequestId), for the cost of carrying context:

    .venv/bin/python -m benches.cpu_per_request examples.hello:app \\
        benches.apps.mesh_covetpy:app
"""

from __future__ import annotations

from covetpy import App

app = App(mesh=True)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
