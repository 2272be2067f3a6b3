"""A headless Chromium driven over the Chrome DevTools Protocol (a WebSocket speaking JSON-RPC),
with the `websockets` package: enough to load a page, click, type and read it back. No
Selenium or Playwright (nothing is downloaded: the browser is Debian's `chromium`)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from websockets.sync.client import ClientConnection, connect

__all__ = ["Browser", "find_chromium"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def find_chromium() -> str | None:
    """The Chromium binary: `$CHROMIUM`, else the first of the usual names on PATH."""
    given = os.environ.get("CHROMIUM")
    if given:
        return given
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class CDPError(Exception):
    """The browser answered a command with an error."""


class Browser:
    """A fresh headless Chromium (its own profile, so nothing persists between tests) with one
    page attached. `wait_for(js)` polls an expression until it is truthy: the page is a
    React app that renders asynchronously, and a poll waits only as long as it must."""

    def __init__(self, binary: str, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="covetpy-chromium-")
        self._proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",  # tests run as root in containers
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._ids = itertools.count(1)
        self._reader: threading.Thread | None = None
        self._events: list[dict[str, Any]] = []
        self._ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()
        try:
            browser_url = self._devtools_url()
            self._ws = self._stack.enter_context(
                connect(browser_url, max_size=None, open_timeout=timeout)
            )
            target = self._call("Target.createTarget", url="about:blank")["targetId"]
            self._session = self._call("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
            for domain in ("Page", "Runtime", "Network"):
                self.send(f"{domain}.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_url(self) -> str:
        assert self._proc.stderr is not None
        found: list[str] = []
        lines: list[str] = []

        def read() -> None:
            assert self._proc.stderr is not None
            for line in self._proc.stderr:
                lines.append(line)
                m = _LISTENING.search(line)
                if m:
                    found.append(m.group(1))
                    break
            # Keep draining, so a chatty browser never blocks on a full pipe.
            for _ in self._proc.stderr:
                pass

        reader = self._reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + self.timeout
        while not found and reader.is_alive() and time.monotonic() < deadline:
            reader.join(0.05)
        if not found:
            raise RuntimeError("chromium did not start:\n" + "".join(lines[-20:]))
        return found[0]

    def _call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer to {method}")
            reply = json.loads(self._ws.recv(timeout=left))
            if reply.get("id") == ident:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Sends a command to the page and returns its result."""
        return self._call(method, self._session, **params)

    def events(self, method: str) -> list[dict[str, Any]]:
        """The parameters of the page's events called `method` received so far."""
        return [e["params"] for e in self._events if e.get("method") == method]

    def goto(self, url: str) -> None:
        """Navigates and waits for the page's load event."""
        seen = len(self.events("Page.loadEventFired"))
        self.send("Page.navigate", url=url)
        self.wait_until(lambda: len(self.events("Page.loadEventFired")) > seen, "page load")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, check: Callable[[], bool], what: str) -> None:
        """Polls `check` (draining the browser's events) until it holds."""
        deadline = time.monotonic() + self.timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            self.send("Runtime.evaluate", expression="0")  # collects pending events
            time.sleep(0.05)

    def wait_for(self, expression: str) -> Any:
        """Polls a JavaScript expression until it is truthy and returns its value."""
        value: list[Any] = [None]

        def check() -> bool:
            value[0] = self.evaluate(expression)
            return bool(value[0])

        self.wait_until(check, expression)
        return value[0]

    def click(self, selector: str) -> None:
        """Waits for the element matching the CSS `selector`, then clicks it."""
        self.wait_for(f"document.querySelector({json.dumps(selector)}) !== null")
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def type_into(self, selector: str, text: str) -> None:
        """Focuses the element and types `text` as keyboard input (so the page's own input
        handlers see it, as they would a user's)."""
        self.wait_for(f"document.querySelector({json.dumps(selector)}) !== null")
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=text)

    def text(self, selector: str) -> str:
        """The rendered text of the element matching `selector` ("" when there is none)."""
        sel = json.dumps(selector)
        value = self.evaluate(f"(document.querySelector({sel}) || {{innerText: ''}}).innerText")
        return str(value)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stops the browser and removes its profile."""
        self._stack.close()
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._reader is not None:
            self._reader.join(5)
        if self._proc.stderr is not None:
            self._proc.stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)
