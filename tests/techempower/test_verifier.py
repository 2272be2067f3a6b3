"""The TechEmpower test types' rules, checked the way TFB's toolset verifies a framework before
it is benchmarked: one test per rule, each naming the requirement it checks ("TFB <test type>
#n" is the numbered requirement of that test type in TFB's "Framework Tests" specification;
"TFB general" its general requirements and the toolset's header checks).

Every test takes `base_url`, and `database_url` where the database must be read back; the
fixtures in conftest.py serve examples/techempower/app.py. Overriding them verifies any server.
"""

from __future__ import annotations

import email.utils
import html.parser
import re
import socket
import time
from typing import Any

import httpx
import pytest

from benches.techempower.pg import FORTUNES
from tests.techempower.conftest import query

ADDITIONAL = "Additional fortune added at request time."
JSON_TYPE = re.compile(r"^application/json(; ?charset=(UTF|utf)-8)?$")
HTML_TYPE = re.compile(r"^text/html; ?charset=(UTF|utf)-8$")
PLAIN_TYPE = re.compile(r"^text/plain(; ?charset=(UTF|utf)-8)?$")
URLS = {
    "/json": JSON_TYPE,
    "/db": JSON_TYPE,
    "/queries?queries=2": JSON_TYPE,
    "/fortunes": HTML_TYPE,
    "/updates?queries=2": JSON_TYPE,
    "/cached-queries?count=2": JSON_TYPE,
    "/plaintext": PLAIN_TYPE,
}
# TFB's clamping cases for `queries` (and `count`): (query string, rows expected).
CLAMPED = [("queries=0", 1), ("queries=foo", 1), ("", 1), ("queries=501", 500), ("queries=20", 20)]


def get(base_url: str, path: str, **kwargs: Any) -> httpx.Response:
    """GET `path`, asserting a 200."""
    response = httpx.get(base_url + path, timeout=30, **kwargs)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response


def assert_world(item: object) -> tuple[int, int]:
    """TFB Single Database Query #3-#5: an object with exactly `id` and `randomNumber`
    (case matters, TFB general #3), integers in 1..10000; returns them."""
    assert isinstance(item, dict), item
    assert set(item) == {"id", "randomNumber"}, item
    wid, number = item["id"], item["randomNumber"]
    assert type(wid) is int and type(number) is int, item
    assert 1 <= wid <= 10000 and 1 <= number <= 10000, item
    return wid, number


def stat(database_url: str, column: str) -> int:
    """A counter of `pg_stat_user_tables` for `world` (what TFB's toolset reads to count the
    queries and updates a request really made)."""
    sql = f"SELECT {column} FROM pg_stat_user_tables WHERE relname = 'world'"
    return int(query(database_url, sql)[0][0])


def wait_for_stat(database_url: str, column: str, at_least: int) -> None:
    """Waits until the counter reaches `at_least`: backends publish their statistics when idle,
    not at commit, and at most once a second (else within PostgreSQL 15's 10 s idle flush)."""
    deadline = time.monotonic() + 30
    while (value := stat(database_url, column)) < at_least:
        assert time.monotonic() < deadline, f"{column} is {value}, expected >= {at_least}"
        time.sleep(0.1)


# -- general: headers ------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(URLS))
def test_server_and_date_headers(base_url: str, path: str) -> None:
    """TFB general (every test type's "must include Server and Date")."""
    headers = get(base_url, path).headers
    assert headers.get("server")
    assert headers.get("date")


@pytest.mark.parametrize("path", list(URLS))
def test_size_header(base_url: str, path: str) -> None:
    """TFB general ("must include either Content-Length or Transfer-Encoding"); when it is
    Content-Length, it is the body's length."""
    response = get(base_url, path)
    if "transfer-encoding" not in response.headers:
        assert int(response.headers["content-length"]) == len(response.content)


@pytest.mark.parametrize("path", list(URLS))
def test_content_type(base_url: str, path: str) -> None:
    """TFB JSON #6, Fortunes #18 and #13, Plaintext: the exact Content-Type values the toolset
    accepts (`text/html; charset=utf-8` for the page; JSON and text with an optional UTF-8)."""
    content_type = get(base_url, path).headers["content-type"]
    assert URLS[path].match(content_type), content_type


@pytest.mark.parametrize("path", list(URLS))
def test_no_gzip(base_url: str, path: str) -> None:
    """TFB JSON #9 and the others' "gzip compression is not permitted"."""
    headers = get(base_url, path, headers={"accept-encoding": "gzip"}).headers
    assert "content-encoding" not in headers


def test_date_is_http_date(base_url: str) -> None:
    """TFB general: the toolset parses Date as an HTTP date (RFC 9110 §5.6.7, IMF-fixdate)."""
    date = get(base_url, "/json").headers["date"]
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", date)
    assert email.utils.parsedate_to_datetime(date).tzinfo is not None


def test_date_is_not_frozen(base_url: str) -> None:
    """TFB general: the toolset warns when Date stays the same on requests seconds apart (a
    date cached once and never refreshed). Waits, with a deadline, for it to move on."""
    first = get(base_url, "/plaintext").headers["date"]
    deadline = time.monotonic() + 10
    while get(base_url, "/plaintext").headers["date"] == first:
        assert time.monotonic() < deadline, f"Date stuck at {first}"
        time.sleep(0.1)


# -- JSON serialization ---------------------------------------------------------------------


def test_json_body(base_url: str) -> None:
    """TFB JSON #1 and #4: exactly the object {"message": "Hello, World!"}, about 28 bytes."""
    response = get(base_url, "/json")
    assert response.json() == {"message": "Hello, World!"}
    assert len(response.content) <= 30


# -- single query ---------------------------------------------------------------------------


def test_db_is_one_world_object(base_url: str) -> None:
    """TFB Single Database Query #3 and #7: one World object (not a list) serialized to JSON."""
    assert_world(get(base_url, "/db").json())


def test_db_row_is_random_and_real(base_url: str, database_url: str) -> None:
    """TFB Single Database Query #5: a row selected by a random id, really from the table (its
    randomNumber is the one stored; a few requests give different ids)."""
    rows = [assert_world(get(base_url, "/db").json()) for _ in range(10)]
    assert len({wid for wid, _ in rows}) > 1, rows
    stored = dict(query(database_url, "SELECT id, randomnumber FROM world"))
    for wid, number in rows:
        assert stored[wid] == number


# -- multiple queries -----------------------------------------------------------------------


@pytest.mark.parametrize(("params", "rows"), CLAMPED)
def test_queries_clamped(base_url: str, params: str, rows: int) -> None:
    """TFB Multiple Queries #3: missing, not an integer, or below 1 means 1; above 500, 500;
    and #7-#8: a JSON array of that many World objects."""
    body = get(base_url, f"/queries?{params}").json()
    assert isinstance(body, list) and len(body) == rows
    for item in body:
        assert_world(item)


def test_queries_one_query_per_row(base_url: str, database_url: str) -> None:
    """TFB Multiple Queries #6: each row selected by a query of its own (no `WHERE id IN`):
    twenty rows are twenty index scans of `world`."""
    before = stat(database_url, "idx_scan")
    get(base_url, "/queries?queries=20")
    wait_for_stat(database_url, "idx_scan", before + 20)


# -- fortunes -------------------------------------------------------------------------------


class _Table(html.parser.HTMLParser):
    """The (id, message) cells of the page's table, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def fortunes(base_url: str) -> tuple[bytes, list[tuple[int, str]]]:
    """The page's bytes and its table rows."""
    response = get(base_url, "/fortunes")
    table = _Table()
    table.feed(response.content.decode("utf-8"))
    return response.content, [(int(i), m) for i, m in (r for r in table.rows if r)]


def test_fortunes_all_rows(base_url: str, database_url: str) -> None:
    """TFB Fortunes #4 and #6: every row of the table plus the one added: 13, as stored."""
    _, rows = fortunes(base_url)
    stored = {(r["id"], r["message"]) for r in query(database_url, "SELECT * FROM fortune")}
    assert len(rows) == len(FORTUNES) + 1 == 13
    assert set(rows) == stored | {(0, ADDITIONAL)}


def test_fortunes_added_at_request_time(base_url: str) -> None:
    """TFB Fortunes #6 and #7: the ephemeral fortune, id 0, with the exact message."""
    _, rows = fortunes(base_url)
    assert (0, ADDITIONAL) in rows


def test_fortunes_sorted_by_message(base_url: str) -> None:
    """TFB Fortunes #8: sorted by message (after the added one joined the list)."""
    _, rows = fortunes(base_url)
    messages = [m for _, m in rows]
    assert messages == sorted(messages)
    assert rows[0][0] == 11  # "<script>..." sorts first


def test_fortunes_escaped(base_url: str) -> None:
    """TFB Fortunes #15-#16: the messages are untrusted; `<`, `>` and quotes are escaped."""
    body, _ = fortunes(base_url)
    assert b"&lt;script&gt;" in body
    assert b"<script>" not in body
    assert b'alert("' not in body
    assert re.search(rb"alert\(&(quot|#34|#x22);This should not", body)


def test_fortunes_utf8(base_url: str) -> None:
    """TFB Fortunes #12-#14: the Japanese message (and the em dashes) sent as UTF-8."""
    body, _ = fortunes(base_url)
    assert "フレームワークのベンチマーク".encode() in body
    assert "— Donald Knuth".encode() in body


# -- updates --------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "rows"), CLAMPED)
def test_updates_clamped(base_url: str, params: str, rows: int) -> None:
    """TFB Updates: `queries` bounded like Multiple Queries #3; a JSON array of that many
    World objects."""
    body = get(base_url, f"/updates?{params}").json()
    assert isinstance(body, list) and len(body) == rows
    for item in body:
        assert_world(item)


def test_updates_persisted(base_url: str, database_url: str) -> None:
    """TFB Updates: each row gets a new randomNumber and the database then holds the numbers
    the response shows."""
    body = get(base_url, "/updates?queries=20").json()
    sent = dict(assert_world(item) for item in body)
    rows = query(
        database_url, "SELECT id, randomnumber FROM world WHERE id = ANY($1::int[])", list(sent)
    )
    assert dict(rows) == sent


def test_updates_write_every_row(base_url: str, database_url: str) -> None:
    """TFB Updates: every row read is written back (batched writes are allowed): twenty rows
    are twenty row updates of `world` (the toolset counts them the same way)."""
    before = stat(database_url, "n_tup_upd")
    get(base_url, "/updates?queries=20")
    wait_for_stat(database_url, "n_tup_upd", before + 20)


# -- cached queries -------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "rows"), CLAMPED)
def test_cached_queries_clamped(base_url: str, params: str, rows: int) -> None:
    """TFB Caching: `count` bounded to 1..500 like `queries`; a JSON array of World objects."""
    body = get(base_url, f"/cached-queries?{params.replace('queries', 'count')}").json()
    assert isinstance(body, list) and len(body) == rows
    for item in body:
        assert_world(item)


def test_cached_queries_are_cachedworld_rows(base_url: str, database_url: str) -> None:
    """TFB Caching: the objects come from the `CachedWorld` table (cached in process)."""
    stored = dict(query(database_url, "SELECT id, randomnumber FROM cachedworld"))
    for item in get(base_url, "/cached-queries?count=50").json():
        wid, number = assert_world(item)
        assert stored[wid] == number


# -- plaintext ------------------------------------------------------------------------------


def test_plaintext_body(base_url: str) -> None:
    """TFB Plaintext: the body is exactly `Hello, World!`."""
    assert get(base_url, "/plaintext").content == b"Hello, World!"


def test_plaintext_pipelined(base_url: str) -> None:
    """TFB Plaintext: the load generator pipelines 16 requests per connection; all 16 are
    answered, in order, on the one connection."""
    host, port = base_url.removeprefix("http://").split(":")
    request = f"GET /plaintext HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request * 16)
        received = b""
        while received.count(b"Hello, World!") < 16:
            chunk = conn.recv(65536)
            assert chunk, f"closed after {received.count(b'Hello, World!')} responses"
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 16


def test_random_ids_cover_the_table(base_url: str) -> None:
    """TFB Single Database Query #5: ids range over 1..10000 (a hundred rows from
    `/queries` do not all fall in one small corner of the table)."""
    ids = [assert_world(i)[0] for i in get(base_url, "/queries?queries=100").json()]
    assert min(ids) < 2500 and max(ids) > 7500, ids
