"""Checked by `mypy --strict` in `make lint` (not run by pytest): the public API used the way
a user would, so a change that breaks user code's typing fails CI."""

from __future__ import annotations

from typing import assert_type

import msgspec

from covetpy import (
    App,
    Cookie,
    Depends,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    Router,
)
from covetpy.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    StreamingResponse,
)
from covetpy.testing import AsyncTestClient, TestClient


class Item(msgspec.Struct):
    name: str
    price: float


app = App(title="typed", version="1")
router = Router(prefix="/r", tags=["r"])


def get_limit(limit: int = Query(10, ge=1)) -> int:
    return limit


@router.get("/{item_id:int}")
async def read(
    item_id: int,
    request: Request,
    limit: int = Depends(get_limit),
    ua: str = Header("x", alias="user-agent"),
    sid: str | None = Cookie(None),
) -> Item:
    assert_type(request.headers.get("x"), str | None)
    assert_type(request.query_params.getlist("a"), list[str])
    assert_type(request.client, tuple[str, int] | None)
    body: bytes = await request.body()
    if not body and item_id < 0:
        raise HTTPException(404, "no")
    return Item("x", 1.0)


@router.post("", status_code=201)
def create(item: Item) -> Item:
    return item


app.include_router(router)


@app.get("/responses")
def responses(kind: int = 0) -> Response:
    if kind == 1:
        return JSONResponse({"a": 1})
    if kind == 2:
        return HTMLResponse("<p/>")
    if kind == 3:
        return PlainTextResponse("x")
    if kind == 4:
        return RedirectResponse("/")
    if kind == 5:
        return StreamingResponse(iter([b"a"]))
    if kind == 6:
        return FileResponse(__file__)
    r = Response(b"x", status_code=200, headers={"a": "b"}, media_type="text/plain")
    r.set_cookie("k", "v", httponly=True)
    r.headers["x-a"] = "1"
    r.headers.append("set-cookie", "b=2")
    del r.headers["a"]
    assert_type(r.headers.get("x-a"), str | None)
    assert_type(r.headers.getlist("set-cookie"), list[str])
    return r


def use_clients() -> None:
    with TestClient(app) as client:
        r = client.get("/r/1")
        assert_type(r.status_code, int)


async def use_async_client() -> None:
    async with AsyncTestClient(app) as client:
        r = await client.get("/r/1")
        assert_type(r.status_code, int)


assert_type(app.url_for("read", item_id=1), str)
