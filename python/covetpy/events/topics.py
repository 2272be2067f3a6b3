"""Topics and the patterns that subscribe to them.

A topic is a dot-separated subject, `orders.created`, as in NATS: tokens are non-empty and
hold no whitespace, `*` or `>`. A pattern may use two wildcards, with NATS's meaning, so a
pattern is passed to JetStream unchanged and matches the same topics on every backend:

- `*` stands for exactly one token: `orders.*` matches `orders.created`, not `orders.a.b`;
- `>` stands for one or more tokens and must be last: `orders.>` matches `orders.created`
  and `orders.a.b`, not `orders`.
"""

from __future__ import annotations

from functools import lru_cache

from covetpy.exceptions import CovetError

__all__ = ["TopicError", "compile_pattern", "matches", "validate_pattern", "validate_topic"]

_FORBIDDEN = frozenset(" \t\r\n\x00")


class TopicError(CovetError, ValueError):
    """A topic or pattern that is not well formed (a ValueError too, as it was first)."""


def _tokens(text: str, what: str) -> list[str]:
    if not text:
        raise TopicError(f"empty {what}")
    tokens = text.split(".")
    for token in tokens:
        if not token:
            raise TopicError(f"{what} {text!r} has an empty token")
        if _FORBIDDEN.intersection(token):
            raise TopicError(f"{what} {text!r} contains whitespace or NUL")
    return tokens


def validate_topic(topic: str) -> str:
    """Returns `topic` if it is a concrete topic (no wildcard), else raises `TopicError`."""
    for token in _tokens(topic, "topic"):
        if "*" in token or ">" in token:
            raise TopicError(f"topic {topic!r} has a wildcard: publish to a concrete topic")
    return topic


def validate_pattern(pattern: str) -> str:
    """Returns `pattern` if it is a valid subscription pattern, else raises `TopicError`."""
    tokens = _tokens(pattern, "pattern")
    for i, token in enumerate(tokens):
        if token in ("*", ">"):
            if token == ">" and i != len(tokens) - 1:
                raise TopicError(f"pattern {pattern!r}: '>' must be the last token")
        elif "*" in token or ">" in token:
            raise TopicError(f"pattern {pattern!r}: a wildcard must be a whole token")
    return pattern


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> tuple[tuple[str, ...], bool]:
    """`(tokens, tail)`: the tokens to compare one by one (`*` matches any) and whether a
    trailing `>` accepts one or more further tokens."""
    tokens = validate_pattern(pattern).split(".")
    if tokens[-1] == ">":
        return tuple(tokens[:-1]), True
    return tuple(tokens), False


def matches(pattern: str, topic: str) -> bool:
    """Whether `topic` is delivered to a subscription on `pattern`."""
    head, tail = compile_pattern(pattern)
    parts = topic.split(".")
    if tail:
        if len(parts) <= len(head):
            return False
    elif len(parts) != len(head):
        return False
    return all(p == "*" or p == t for p, t in zip(head, parts, strict=False))
