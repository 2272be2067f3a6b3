"""Files, redirects and cookies."""

from __future__ import annotations

import os
from pathlib import Path

from covetpy import App, Response
from covetpy.responses import FileResponse, RedirectResponse

app = App(openapi_url=None)
DATA = Path(os.environ.get("COVETPY_TEST_FILE", "/tmp/covetpy-test-file.bin"))


@app.get("/file")
def file() -> FileResponse:
    return FileResponse(DATA, media_type="application/octet-stream")


@app.get("/download")
def download() -> FileResponse:
    return FileResponse(DATA, filename="report 1.bin")


@app.get("/missing-file")
def missing_file() -> FileResponse:
    return FileResponse("/nonexistent/file")


@app.get("/redirect")
def redirect() -> RedirectResponse:
    return RedirectResponse("/target?x=1")


@app.get("/cookie")
def cookie() -> Response:
    r = Response("ok")
    r.set_cookie("sid", "abc", httponly=True, max_age=60)
    r.delete_cookie("old")
    return r
