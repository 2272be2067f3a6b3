"""A Flask app for the WSGI hosting tests: served by `covetpy run --interface wsgi` and by
wsgiref, and the answers compared (test_wsgi_flask.py)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    make_response,
    redirect,
    request,
    send_file,
    stream_with_context,
    url_for,
)

app = Flask(__name__)

# A file for send_file: 300 KiB, so both the gathered path (< 1 MiB) and, with ?big=1, a
# streamed one (3 MiB) are exercised.
_DATA_DIR = Path(os.environ.get("FLASK_APP_DIR", "/tmp"))


def _data_file(size: int) -> Path:
    path = _DATA_DIR / f"covetpy-flask-{size}.bin"
    if not path.exists() or path.stat().st_size != size:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(bytes(i % 253 for i in range(size)))
        tmp.replace(path)
    return path


@app.get("/")
def index() -> str:
    return "hello from flask"


@app.get("/items/<int:item_id>")
def item(item_id: int) -> Any:
    return jsonify(id=item_id, q=request.args.get("q"), tags=request.args.getlist("tag"))


@app.get("/users/<name>/posts/<path:rest>")
def user_path(name: str, rest: str) -> Any:
    return jsonify(name=name, rest=rest, script_root=request.script_root, path=request.path)


@app.post("/json")
def echo_json() -> Any:
    body = request.get_json()
    return jsonify(received=body, keys=sorted(body) if isinstance(body, dict) else None), 201


@app.post("/form")
def form() -> Any:
    return jsonify(fields={k: request.form.getlist(k) for k in request.form})


@app.post("/upload")
def upload() -> Any:
    files = {}
    for name, f in request.files.items():
        data = f.read()
        files[name] = {
            "filename": f.filename,
            "content_type": f.content_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    return jsonify(files=files, fields=request.form.to_dict())


@app.get("/stream")
def stream() -> Response:
    count = int(request.args.get("n", "5"))

    def lines() -> Iterator[str]:
        for i in range(count):
            # request is usable inside: stream_with_context keeps the context alive.
            yield f"line {i} of {request.args.get('n', '5')}\n"

    return Response(stream_with_context(lines()), mimetype="text/plain")


@app.get("/missing")
def missing() -> Any:
    abort(404)


@app.get("/teapot")
def teapot() -> Any:
    abort(418, description="short and stout")


@app.get("/boom")
def boom() -> Any:
    raise RuntimeError("this handler fails")


@app.get("/file")
def file() -> Any:
    size = 3 * 1024 * 1024 if request.args.get("big") else 300 * 1024
    return send_file(_data_file(size), mimetype="application/octet-stream", etag=False)


@app.get("/cookie/set")
def set_cookie() -> Any:
    resp = make_response("cookie set")
    resp.set_cookie("session_id", "abc123", httponly=True)
    resp.set_cookie("theme", "dark")
    return resp


@app.get("/cookie/get")
def get_cookie() -> Any:
    return jsonify(cookies=request.cookies.to_dict())


@app.get("/redirect")
def go() -> Any:
    return redirect(url_for("item", item_id=3, q="from-redirect"))


@app.route("/methods", methods=["GET", "PUT", "DELETE"])
def methods() -> Any:
    return jsonify(method=request.method, length=len(request.get_data()))


@app.get("/headers")
def headers() -> Any:
    return jsonify(
        agent=request.headers.get("X-Agent"),
        many=request.headers.get("X-Many"),
        scheme=request.scheme,
        host=request.host,
        url=request.url,
    )


@app.get("/environ")
def environ() -> Any:
    env = request.environ
    return jsonify(
        {k: env[k] for k in ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD")}
    )
