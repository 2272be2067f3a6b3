"""The Python parsers of client bytes in `covetpy.auth` on generated input: a Basic
credential, a session cookie, a session document. Each either gives a value or refuses the
way it documents; no other exception escapes (a client must not be able to cause a 500)."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from covetpy.auth import AuthFailed, BasicAuth
from covetpy.auth.sessions import Session, SessionSigner

KEY = b"k" * 40
signer = SessionSigner([KEY], "session")
basic = BasicAuth(verify=lambda user, password: True)


@settings(max_examples=500, deadline=None)
@given(
    st.text(max_size=300)
    | st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())
    | st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
)
def test_basic_credentials_decode_or_refuse(credential: str) -> None:
    try:
        user, _password = basic.decode(credential)
    except AuthFailed as exc:
        assert exc.status_code == 401 and exc.reason == "malformed"
    else:
        assert ":" not in user


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=400))
def test_session_cookies_verify_or_refuse(value: str) -> None:
    payload, why = signer.unsign(value, 3600)
    assert (payload is None) == (why != "ok")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_signed_garbage_documents_give_no_session_or_a_session(data: bytes) -> None:
    # A document the server signed itself is trusted by the signature; its shape is still
    # checked, so a malformed one is no session rather than an exception.
    session = Session.decode(data)
    assert session is None or isinstance(session, Session)


def test_a_signed_value_round_trips() -> None:
    value = signer.sign(b"payload")
    assert signer.unsign(value, 3600) == (b"payload", "ok")
    assert signer.unsign(value[:-2] + "xx", 3600)[0] is None
