"""The app the parameter, body, dependency and error tests run against."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypedDict

import msgspec

from covetpy import (
    App,
    Body,
    Cookie,
    Depends,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    Router,
    UploadFile,
)
from covetpy.responses import HTMLResponse, JSONResponse

app = App(title="params", openapi_url=None)
events: list[str] = []


class Color(enum.Enum):
    red = "red"
    blue = "blue"


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


@app.get("/query")
def query(
    q: str | None = None,
    n: int = 1,
    f: float = 0.5,
    flag: bool = False,
    color: Color = Color.red,
    when: datetime.datetime | None = None,
    ident: uuid.UUID | None = None,
    tag: list[str] = Query([]),
    limit: int = Query(10, ge=1, le=100),
    name: str = Query("x", max_length=5, alias="the-name"),
) -> dict[str, Any]:
    return {
        "q": q, "n": n, "f": f, "flag": flag, "color": color, "when": when, "ident": ident,
        "tag": tag, "limit": limit, "name": name,
    }  # fmt: skip


@app.get("/required")
def required(needed: int) -> int:
    return needed


@app.get("/headers")
def headers(
    user_agent: str = Header(alias="user-agent"),
    x_count: int = Header(0),
    x_multi: list[str] = Header([]),
    session: str | None = Cookie(None),
) -> dict[str, Any]:
    return {"ua": user_agent, "count": x_count, "multi": x_multi, "session": session}


@app.post("/struct", status_code=201)
def struct(item: Item) -> Item:
    return item


@app.post("/dataclass")
def dataclass_(point: Point) -> Point:
    return point


@app.post("/typeddict")
def typeddict(movie: Movie) -> Movie:
    return movie


@app.post("/dict")
def dict_(data: dict[str, int]) -> dict[str, int]:
    return data


@app.post("/list")
def list_(items: list[Item]) -> int:
    return len(items)


@app.post("/bytes")
def bytes_(payload: bytes) -> dict[str, int]:
    return {"len": len(payload)}


@app.post("/text")
def text(payload: str = Body()) -> str:
    return payload.upper()


@app.post("/optional-body")
def optional_body(item: Item | None = None) -> dict[str, Any]:
    return {"item": item}


@app.post("/form")
def form(name: str = Form(), age: int = Form()) -> dict[str, Any]:
    return {"name": name, "age": age}


@app.post("/form-struct")
def form_struct(point: Point = Form()) -> Point:
    return point


@app.post("/mixed/{item_id}")
async def mixed(item_id: int, item: Item, q: int = 0) -> dict[str, Any]:
    return {"item_id": item_id, "item": item, "q": q}


# -- dependencies ------------------------------------------------------------------------------

calls = {"db": 0}


def get_db() -> Iterator[str]:
    calls["db"] += 1
    events.append("db open")
    try:
        yield "db"
    finally:
        events.append("db close")


async def get_user(db: str = Depends(get_db), token: str = Header("anon", alias="x-token")) -> str:
    events.append(f"user from {db}")
    return f"user:{token}"


async def get_session() -> AsyncIterator[str]:
    events.append("session open")
    yield "session"
    events.append("session close")


def get_settings() -> dict[str, str]:
    return {"env": "prod"}


@app.get("/deps")
async def deps(
    user: str = Depends(get_user),
    db: str = Depends(get_db),
    session: str = Depends(get_session),
    settings: dict[str, str] = Depends(get_settings),
) -> dict[str, Any]:
    events.append("handler")
    return {"user": user, "db": db, "session": session, "settings": settings}


@app.get("/deps-sync")
def deps_sync(db: str = Depends(get_db), settings: dict[str, str] = Depends(get_settings)) -> str:
    return f"{db} {settings['env']}"


@app.get("/deps-fail")
def deps_fail(db: str = Depends(get_db)) -> str:
    raise HTTPException(409, "conflict inside")


@app.get("/events")
def get_events() -> dict[str, Any]:
    out = {"events": list(events), "db_calls": calls["db"]}
    events.clear()
    calls["db"] = 0
    return out


def require_key(x_key: str = Header(alias="x-key")) -> None:
    if x_key != "secret":
        raise HTTPException(403, "bad key")


admin = Router(prefix="/admin", tags=["admin"], dependencies=[Depends(require_key)])


@admin.get("/stats", name="stats")
def stats() -> dict[str, int]:
    return {"users": 3}


inner = Router(prefix="/inner")


@inner.get("/{thing_id:int}/detail", name="detail")
def detail(thing_id: int) -> dict[str, int]:
    return {"thing": thing_id}


admin.include_router(inner)
app.include_router(admin)


@app.get("/url-for")
def url_for() -> dict[str, str]:
    return {"stats": app.url_for("stats"), "detail": app.url_for("detail", thing_id=7)}


# -- responses and errors ----------------------------------------------------------------------


@app.get("/html", response_class=HTMLResponse)
def html() -> str:
    return "<p>hi</p>"


@app.get("/created", status_code=201)
def created() -> dict[str, bool]:
    return {"ok": True}


@app.get("/accepted-none", status_code=202)
def accepted_none() -> None:
    return None


@app.get("/encoded")
def encoded() -> dict[str, Any]:
    return {
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "id": uuid.UUID("6f9619ff-8b86-d011-b42d-00cf4fc964ff"),
        "point": Point(1, 2),
    }


@app.get("/json-response")
def json_response() -> JSONResponse:
    return JSONResponse({"a": 1}, status_code=202, headers={"x-a": "1"})


class Teapot(Exception):
    pass


class AsyncTeapot(Exception):
    pass


@app.get("/raise-teapot")
def raise_teapot() -> str:
    raise Teapot("short")


@app.get("/raise-async-teapot")
async def raise_async_teapot() -> str:
    raise AsyncTeapot("stout")


@app.get("/raise-key")
def raise_key() -> str:
    raise KeyError("secret-detail")


# -- blocking handlers -------------------------------------------------------------------------


@app.get("/blocking", sync_to_thread=True)
def blocking() -> str:
    # Logs when it starts and the monotonic clock when it returns, for ordering checks.
    print("blocking started", file=sys.stderr, flush=True)
    time.sleep(3)
    print(f"blocking returns at {time.monotonic():.6f}", file=sys.stderr, flush=True)
    return "slept"


@app.get("/quick")
async def quick(request: Request) -> str:
    await asyncio.sleep(0)
    return request.method


@app.post("/request-and-body")
def request_and_body(request: Request, item: Item) -> dict[str, Any]:
    return {"ct": request.headers["content-type"], "name": item.name}


@app.get("/response-object")
def response_object(n: int = 1) -> Response:
    return Response(str(n), media_type="text/plain")


@app.get("/optional-constrained")
def optional_constrained(q: str | None = Query(None, max_length=3)) -> dict[str, str | None]:
    return {"q": q}


@app.post("/pep604-body")
def pep604_body(item: Item | None = None) -> dict[str, Any]:
    return {"item": item}


@app.post("/upload")
async def upload(file: UploadFile, note: str = Form("none")) -> dict[str, Any]:
    head = await file.read(5)
    return {
        "name": file.filename, "size": file.size, "ct": file.content_type, "note": note,
        "in_memory": file.in_memory, "head": head.decode(),
    }  # fmt: skip


@app.post("/uploads")
def uploads(files: list[UploadFile] = File()) -> list[int]:
    return [f.size for f in files]
