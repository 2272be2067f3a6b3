"""Topics, patterns and the CloudEvents envelope."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from covetpy.events import Envelope, TopicError, matches
from covetpy.events.envelope import decode_envelope, encode_data, encode_envelope
from covetpy.events.retry import Backoff, RetryPolicy
from covetpy.events.topics import validate_pattern, validate_topic


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("orders.created", "orders.created", True),
        ("orders.created", "orders.paid", False),
        ("orders.*", "orders.created", True),
        ("orders.*", "orders", False),
        ("orders.*", "orders.eu.created", False),
        ("*.created", "orders.created", True),
        ("*.created", "orders.eu.created", False),
        ("orders.*.created", "orders.eu.created", True),
        ("orders.>", "orders.created", True),
        ("orders.>", "orders.eu.created", True),
        ("orders.>", "orders", False),
        (">", "orders", True),
        (">", "orders.eu.created", True),
        ("*", "orders", True),
        ("*", "orders.created", False),
        ("*.*.>", "a.b.c", True),
        ("*.*.>", "a.b", False),
        ("orders", "orders.created", False),
    ],
)
def test_matches(pattern: str, topic: str, expected: bool) -> None:
    assert matches(pattern, topic) is expected


@pytest.mark.parametrize("topic", ["", "orders.", ".orders", "a..b", "orders.*", "a.>", "a b"])
def test_bad_topics(topic: str) -> None:
    with pytest.raises(TopicError):
        validate_topic(topic)


@pytest.mark.parametrize("pattern", ["", "a.>.b", "or*ders", "a.b>", "a..b", "> .a"])
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(TopicError):
        validate_pattern(pattern)


def test_envelope_is_cloudevents_structured_json() -> None:
    env = Envelope(
        id="e1",
        source="/orders",
        type="orders.created",
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        data=encode_data({"order_id": 1}),
        partitionkey="1",
        requestid="r-1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    doc = msgspec.json.decode(encode_envelope(env))
    assert doc == {
        "specversion": "1.0",
        "id": "e1",
        "source": "/orders",
        "type": "orders.created",
        "time": "2026-01-02T03:04:05Z",
        "datacontenttype": "application/json",
        "data": {"order_id": 1},
        "partitionkey": "1",
        "requestid": "r-1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    # Every extension attribute name is valid CloudEvents: [a-z0-9]{1,20}.
    for name in Envelope.__struct_fields__:
        assert name.isalnum() and name.islower() and len(name) <= 20
    back = decode_envelope(encode_envelope(env))
    assert back.id == "e1" and back.topic == "orders.created"
    assert back.decode() == {"order_id": 1}


def test_envelope_refuses_other_specversions() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_envelope(
            b'{"specversion":"0.3","id":"x","source":"/s","type":"t","time":"2026-01-01T00:00:00Z"}'
        )
    with pytest.raises(msgspec.DecodeError):
        decode_envelope(b"not json")


def test_backoff_grows_to_its_maximum() -> None:
    b = Backoff(initial=0.1, factor=2, maximum=1.0, jitter=0)
    assert [b.delay(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    jittered = Backoff(initial=1.0, jitter=0.1)
    assert all(0.9 <= jittered.delay(1) <= 1.1 for _ in range(100))


def test_dead_letter_topics() -> None:
    policy = RetryPolicy()
    assert policy.dead_letter_topic("orders.created") == "dlq.orders.created"
    assert policy.dead_letter_topic("dlq.orders.created") is None  # no dlq.dlq.…
    assert RetryPolicy(dead_letter="failed.{topic}").dead_letter_topic("a.b") == "failed.a.b"
    assert RetryPolicy(dead_letter=None).dead_letter_topic("a.b") is None
    with pytest.raises(ValueError):
        RetryPolicy(max_deliveries=0)
