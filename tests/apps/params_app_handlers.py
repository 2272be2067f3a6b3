"""The params app with exception handlers registered (every route then goes through the
Python endpoint, which applies them)."""

from __future__ import annotations

from covetpy import Request, Response
from covetpy.responses import JSONResponse
from tests.apps.params_app import AsyncTeapot, Teapot, app

app.debug = False


@app.exception_handler(Teapot)
def teapot(request: Request, exc: Teapot) -> Response:
    return JSONResponse({"teapot": str(exc), "path": request.path}, status_code=418)


@app.exception_handler(AsyncTeapot)
async def async_teapot(request: Request, exc: AsyncTeapot) -> Response:
    return JSONResponse({"teapot": str(exc)}, status_code=418)
