"""Every ```python block of the user guide (docs/) and of README.md runs, so no example drifts
from the code.

The blocks of one page run in order in one module namespace (a page builds an app in one block
and tests it with `TestClient` in the next). A block that cannot run here is marked on the line
before its fence with `<!-- test: skip REASON -->`; the reason is required and the skips are
counted below. Tracebacks point at the page and line the failing statement is on.
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"^<!--\s*test:\s*skip\b\s*(.*?)\s*-->\s*$")
# The guide's examples need no Redis, NATS or upstream service: a skip is for a block that
# only shows the shape of something (a deployment, a process of its own). Raise this only
# with a reason in the page.
MAX_SKIPS = 8


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the first line of code, 1-based
    code: str
    skip: str | None  # the reason, when marked


def blocks(page: Path) -> list[Block]:
    """The ```python blocks of `page`, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if m.group(1) == "python":
            marker = _SKIP.match(lines[i - 1].strip()) if i > 0 else None
            found.append(
                Block(page, start + 1, "\n".join(lines[start:end]), marker and marker.group(1))
            )
        i = end + 1
    return found


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _close_clients(namespace: dict[str, object]) -> None:
    """Stops any test server a page left open (a page should use `with`; this is the net)."""
    for value in list(namespace.values()):
        if isinstance(value, httpx.Client) and not value.is_closed:
            value.close()


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=_name)
def test_page_examples_run(page: Path) -> None:
    """Runs a page's examples in order; the assertions are the examples' own (every page
    with runnable examples has some), so a failing example fails here."""
    name = "docs_example_" + re.sub(r"\W", "_", _name(page).removesuffix(".md"))
    module = types.ModuleType(name)
    module.__file__ = str(page)
    # Registered, so what looks a handler's module up by name (type hints, msgspec) finds it.
    sys.modules[name] = module
    try:
        for block in blocks(page):
            if block.skip is not None:
                continue
            # Padded so a traceback names the page's own line numbers.
            source = "\n" * (block.line - 1) + block.code
            exec(compile(source, str(page), "exec"), module.__dict__)
    finally:
        _close_clients(module.__dict__)
        del sys.modules[name]


def test_skips_are_few_and_justified() -> None:
    skipped = [b for p in PAGES for b in blocks(p) if b.skip is not None]
    unexplained = [f"{_name(b.page)}:{b.line}" for b in skipped if not b.skip]
    assert not unexplained, f"skip markers without a reason: {unexplained}"
    assert len(skipped) <= MAX_SKIPS, [f"{_name(b.page)}:{b.line}: {b.skip}" for b in skipped]


def test_every_guide_page_has_a_checked_example() -> None:
    # The guide's pages say what the code does; each shows it with at least one example run.
    pages = [p for p in PAGES if p.parent != ROOT]
    assert pages, "docs/ has no pages"
    bare = [_name(p) for p in pages if not any(b.skip is None for b in blocks(p))]
    assert not bare, f"pages without an executed example: {bare}"


def test_the_parser_finds_marked_blocks(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n"
        "<!-- test: skip needs Redis -->\n```python\nraise SystemExit\n```\n"
        "```sh\nmake run\n```\n",
        encoding="utf-8",
    )
    found = blocks(page)
    assert [(b.line, b.code, b.skip) for b in found] == [
        (3, "x = 1", None),
        (7, "raise SystemExit", "needs Redis"),
    ]
