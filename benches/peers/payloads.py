"""The answers of the suite's hostile scenarios (benches/suite/scenarios.py), shared by every
app so each server sends the same document: a ~10 KiB JSON list of records (compressible the
way real API answers are, for `json-10k-gzip`) and a 64 KiB text body (what the slow readers
of `slow-mix` ask for, large enough to fill a socket buffer)."""

from typing import Any

UPLOAD_BYTES = 20 * 1024 * 1024
"""The size of the `upload-20m` body: the handlers answer how many bytes they read."""

GZIP_LEVEL = 5
"""CovetPy's gzip level (rust/middleware/compress/mod.rs, `Levels`); every peer whose gzip
middleware takes a level, and nginx, is set to it so each compresses as hard."""


def _json_10k() -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "name": f"item number {i:03d}",
            "price": round(1.25 * i, 2),
            "in_stock": i % 3 != 0,
            "tags": ["stationery", f"batch-{i % 7}", "pen" if i % 2 else "ink"],
        }
        for i in range(100)
    ]


JSON_10K: list[dict[str, Any]] = _json_10k()
"""About 10 KiB once encoded compactly (100 records)."""

BIG = b"".join(b"%05d: text for the slow readers of the suite\n" % i for i in range(1500))[:65536]
"""64 KiB of text."""
