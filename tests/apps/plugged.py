"""An app with plugins registered out of dependency order, for tests/test_plugins.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from covetpy import App, Request, Response
from covetpy.middleware import CallNext

calls: list[str] = []


class Database:
    name = "database"

    def on_app_init(self, app: App) -> None:
        calls.append("database.init")

        @app.command("migrate")
        def migrate(args: list[str]) -> int:
            print("migrating", *args)
            return 0

    async def on_startup(self) -> None:
        calls.append("database.startup")

    def on_shutdown(self) -> None:
        calls.append("database.shutdown")


class Audit:
    name = "audit"
    requires = ("database",)

    def on_app_init(self, app: App) -> None:
        calls.append("audit.init")

        async def stamp(request: Request, call_next: CallNext) -> Response:
            response: Response = await call_next(request)
            response.set_header("x-audited", "yes")
            return response

        app.add_middleware(stamp)

        @app.get("/audit/calls")
        def audit_calls() -> list[str]:
            return calls

    def on_startup(self) -> None:
        calls.append("audit.startup")

    async def on_ready(self) -> None:
        calls.append("audit.ready")

    async def on_drain(self) -> None:
        # Takes longer than an idle worker's HTTP drain: the worker must wait for it.
        await asyncio.sleep(0.2)
        logging.getLogger("covetpy").warning("plugin audit: draining")

    async def on_shutdown(self) -> None:
        calls.append("audit.shutdown")


def build(**kwargs: Any) -> App:
    app = App(openapi_url=None, plugins=[Audit(), Database()], **kwargs)

    @app.get("/")
    def root() -> str:
        return "root"

    return app


app = build()
