"""Secret[T] never shows its value (covetpy.settings.secret)."""

from __future__ import annotations

import logging
import pickle
import traceback

import msgspec
import pytest

from covetpy import Secret
from covetpy.settings.secret import dec_hook, enc_hook

VALUE = "hunter2-do-not-print"


def test_repr_and_str_are_redacted() -> None:
    s = Secret(VALUE)
    assert repr(s) == "Secret('**********')"
    assert str(s) == "**********"
    assert f"{s}" == "**********"
    assert s.get_secret_value() == VALUE


def test_equality_compares_values() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret("other")
    assert Secret(b"k") == Secret(b"k")
    assert Secret(1) == Secret(1)
    assert Secret(VALUE) != VALUE


def test_logs_and_tracebacks_do_not_show_it(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(VALUE)
    logging.getLogger("covetpy.test").warning("connecting with %s / %r", secret, secret)
    try:
        raise RuntimeError(f"cannot connect with {secret!r}")
    except RuntimeError:
        text = traceback.format_exc()
    assert VALUE not in caplog.text and VALUE not in text
    assert "**********" in caplog.text


def test_it_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(VALUE))


def test_msgspec_hooks() -> None:
    class Login(msgspec.Struct):
        user: str
        password: Secret[str]

    login = msgspec.json.decode(
        b'{"user": "ann", "password": "%s"}' % VALUE.encode(), type=Login, dec_hook=dec_hook
    )
    assert login.password.get_secret_value() == VALUE
    encoded = msgspec.json.encode(login, enc_hook=enc_hook)
    assert encoded == b'{"user":"ann","password":"**********"}'
    # An encoder without the hook refuses it: a request fails rather than leaking the value.
    with pytest.raises(TypeError) as exc:
        msgspec.json.encode(login)
    assert VALUE not in str(exc.value)
    port = msgspec.convert("5432", Secret[int], dec_hook=dec_hook, strict=False)
    assert port.get_secret_value() == 5432
