"""Swagger UI's "Authorize" in a real browser: headless Chromium (Debian's package, `make
services` installs it) loads `/docs` from a `covetpy run` server with a `JWTAuth` layer, and
a token typed into the Authorize dialog is sent by "Try it out" (everything offline)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest

from tests.apps.swagger_auth import SECRET
from tests.auth._browser import Browser, find_chromium
from tests.conftest import StartServer

OPERATION = "#operations-default-whoami_get"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hs256_token(subject: str, secret: bytes = SECRET) -> str:
    """A compact JWS (RFC 7515 §7.1) signed with HMAC SHA-256, valid for an hour."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"sub": subject, "iat": now, "exp": now + 3600}).encode())
    signature = hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"


@pytest.fixture
def browser() -> Iterator[Browser]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium binary (apt-get install chromium, or `make services`)")
    with Browser(binary) as b:
        yield b


def _execute(browser: Browser) -> tuple[str, str]:
    """Clicks Execute on the (expanded, "Try it out") operation and returns the status and
    body Swagger UI shows for the response."""
    shown = f"{OPERATION} .live-responses-table .response .response-col_status"
    if browser.evaluate(f"document.querySelector('{OPERATION} .btn-clear') !== null"):
        # The previous answer is still shown: clear it, so the next one is the new one.
        browser.click(f"{OPERATION} .btn-clear")
        browser.wait_for(f"document.querySelector('{shown}') === null")
    browser.click(f"{OPERATION} .btn.execute")
    browser.wait_for(f"document.querySelector('{shown}') !== null")
    status = browser.text(shown).strip()
    body = browser.text(f"{OPERATION} .live-responses-table .response-col_description pre")
    return status, body


def _open_operation(browser: Browser) -> None:
    browser.click(f"{OPERATION} .opblock-summary-control")
    browser.click(f"{OPERATION} .try-out__btn")


def test_authorize_sends_the_bearer_token(start_server: StartServer, browser: Browser) -> None:
    server = start_server("tests.apps.swagger_auth:app")
    token = hs256_token("alice")
    browser.goto(f"{server.url}/docs")
    browser.wait_for(f"document.querySelector('{OPERATION}') !== null")

    # Not authorized yet: the server refuses the call.
    _open_operation(browser)
    status, body = _execute(browser)
    assert status == "401", body
    assert "alice" not in body

    browser.click(".auth-wrapper .btn.authorize")
    browser.type_into(".auth-container input[type=text], .auth-container input", token)
    browser.click(".auth-container .btn.modal-btn.auth.authorize")
    # Authorized: the dialog now offers "Logout" for the scheme.
    browser.wait_for(
        "Array.from(document.querySelectorAll('.auth-container button'))"
        ".some(b => b.innerText.trim() === 'Logout')"
    )
    browser.click(".auth-btn-wrapper .btn-done")

    status, body = _execute(browser)
    assert status == "200", body
    answer = json.loads(body)
    assert answer == {"subject": "alice", "authorization": f"Bearer {token}"}
    sent = [
        e["request"]["headers"]
        for e in browser.events("Network.requestWillBeSent")
        if e["request"]["url"] == f"{server.url}/whoami"
    ]
    assert [h.get("Authorization") for h in sent] == [None, f"Bearer {token}"]

    # persistAuthorization: after a reload the token is still there and still sent.
    browser.goto(f"{server.url}/docs")
    browser.wait_for(f"document.querySelector('{OPERATION}') !== null")
    _open_operation(browser)
    status, body = _execute(browser)
    assert status == "200", body
    assert json.loads(body)["subject"] == "alice"
