"""`covetpy bench URL`: load-test an HTTP/1.1 or HTTP/2 server, over TCP or TLS, with the Rust
load generator (rust/bench/), print a readable report and, with `--json`, write it for CI. A
`ws://` URL runs a WebSocket load instead: echo (`--ws-mode echo`) or subscribers counting
deliveries (`--ws-mode subscribe`, with the bench's own publisher given `--publish-rate`)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "format_report", "parse_duration", "parse_header", "run"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)?")


def parse_duration(text: str) -> float:
    """`10s`, `500ms`, `1m`, `1.5h` or a plain number of seconds, in seconds."""
    m = _DURATION.fullmatch(text.strip())
    if m is None or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}: use e.g. 10s, 500ms, 1m")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def parse_header(text: str) -> tuple[str, str]:
    """`"name: value"` as `(name, value)`."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"bad header {text!r}: use -H 'name: value'")
    return name.strip(), value.strip()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _publish_rate(text: str) -> float | str:
    if text == "max":
        return text
    try:
        return _positive_float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"use messages/s or max, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `covetpy bench`."""
    parser.add_argument(
        "url", help="http://host[:port]/path, https://… (TLS), or ws://… (WebSocket)"
    )
    parser.add_argument(
        "-c", "--connections", type=_positive_int, default=64, help="connections (default: 64)"
    )
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument(
        "-d",
        "--duration",
        type=parse_duration,
        default=None,
        help="run this long: 10s, 500ms, 1m (default: 10s)",
    )
    stop.add_argument(
        "-n", "--requests", type=_positive_int, default=None, help="run this many requests"
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=None,
        help="constant rate in requests/s for all connections together; latency counts from "
        "each request's intended send time (corrects coordinated omission, like wrk2)",
    )
    parser.add_argument(
        "--pipeline",
        type=_positive_int,
        default=1,
        help="requests outstanding per connection, written together (default: 1)",
    )
    h2 = parser.add_argument_group("HTTP/2 and TLS")
    h2.add_argument(
        "--h2",
        action="store_true",
        help="HTTP/2: h2c with prior knowledge for http://, ALPN h2 for https:// (the server "
        "must select it)",
    )
    h2.add_argument(
        "--streams",
        type=_positive_int,
        default=None,
        help="with --h2: requests in flight per connection, each replaced as soon as it is "
        "answered (default: 1)",
    )
    h2.add_argument(
        "--new-conn",
        action="store_true",
        help="every request on a new connection, closed after it (TLS handshake included, no "
        "session resumption): measures connections per second",
    )
    h2.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help="https://: accept any server certificate, unchecked (default: verify it)",
    )
    h2.add_argument(
        "--cacert",
        type=Path,
        default=None,
        metavar="FILE",
        help="https://: verify the server against the CA certificates in this PEM file "
        "(default: the system's CA bundle)",
    )
    parser.add_argument(
        "-H",
        "--header",
        dest="headers",
        type=parse_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add a request header (repeatable)",
    )
    parser.add_argument("--method", default="GET", help="request method (default: GET)")
    parser.add_argument(
        "--body-file", type=Path, default=None, help="send this file's bytes as the body"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument(
        "-t", "--threads", type=_positive_int, default=1, help="load threads (default: 1)"
    )
    parser.add_argument(
        "--timeout",
        type=parse_duration,
        default=5.0,
        help="connect timeout, and longest wait for an answer (default: 5s)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line on stderr")
    ws = parser.add_argument_group("WebSocket (ws:// URLs)")
    ws.add_argument(
        "--ws-mode",
        choices=("echo", "subscribe"),
        default=None,
        help="echo: send messages and time their echoes (-n counts messages, --pipeline is "
        "the window in flight per socket, --rate the total messages/s); subscribe: only "
        "receive and count deliveries (default: echo)",
    )
    ws.add_argument(
        "--message-size",
        type=_positive_int,
        default=None,
        help="bytes per message sent (default: 1024)",
    )
    ws.add_argument("--binary", action="store_true", help="binary messages (default: text)")
    ws.add_argument(
        "--publish-rate",
        type=_publish_rate,
        default=None,
        metavar="RATE|max",
        help="subscribe mode: the bench also publishes, from one more socket, messages "
        "stamped with their send time (delivery latency), at RATE messages/s or with max "
        "(--pipeline messages in flight, each retired when its broadcast reaches the "
        "publisher); without it the publisher is another program",
    )


def _is_ws(url: str) -> bool:
    return url.lower().startswith("ws://")


def _ws_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `ws_*` keys of a ws:// run; a ValueError when WebSocket options meet an http URL."""
    given = {
        "--ws-mode": args.ws_mode is not None,
        "--message-size": args.message_size is not None,
        "--binary": args.binary,
        "--publish-rate": args.publish_rate is not None,
    }
    if not _is_ws(args.url):
        used = [flag for flag, on in given.items() if on]
        if used:
            raise ValueError(f"{', '.join(used)} only apply to ws:// URLs")
        return {}
    return {
        "ws_mode": args.ws_mode or "echo",
        "message_size": args.message_size or 1024,
        "binary": args.binary,
        "publish_rate": args.publish_rate,
    }


def _options(args: argparse.Namespace) -> dict[str, Any]:
    body = args.body_file.read_bytes() if args.body_file is not None else b""
    duration = args.duration
    if duration is None and args.requests is None:
        duration = 10.0
    return _ws_options(args) | {
        "url": args.url,
        "connections": args.connections,
        "threads": args.threads,
        "duration": duration,
        "requests": args.requests,
        "rate": args.rate,
        "pipeline": args.pipeline,
        "h2": args.h2,
        "streams": args.streams or 1,
        "new_conn": args.new_conn,
        "insecure": args.insecure,
        "cacert": None if args.cacert is None else str(args.cacert),
        "method": args.method,
        "headers": args.headers,
        "body": body,
        "timeout": args.timeout,
        "progress": not args.quiet,
    }


def _latency(us: float) -> str:
    if us < 1000:
        return f"{us:.0f} us"
    if us < 1_000_000:
        return f"{us / 1000:.2f} ms"
    return f"{us / 1_000_000:.2f} s"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _format_ws(r: dict[str, Any]) -> str:
    ws = r["ws"]
    kind = "echoes" if ws["mode"] == "echo" else "deliveries"
    lat = r["latency_us"]
    lines = [
        f"Messages    {r['requests']:,} {kind} in {r['duration_s']:.2f} s: "
        f"{r['requests_per_s']:,.1f} msg/s" + ("  (interrupted)" if r["interrupted"] else ""),
        f"Sockets     {ws['opened']:,} of {r['connections']:,} open at the start; "
        f"{ws['message_size']:,} B {'binary' if ws['binary'] else 'text'} messages",
        f"Transfer    {_size(r['bytes_read'])} read ({_size(r['bytes_read_per_s'])}/s), "
        f"{_size(r['bytes_written'])} written",
    ]
    if ws["mode"] == "subscribe":
        source = (
            "another program"
            if ws["publish_rate"] is None
            else f"the bench ({ws['published']:,} sent, rate {ws['publish_rate']})"
        )
        lines.append(f"Publisher   {source}")
    if r["rate"] is not None:
        lines.append(
            f"Rate        target {r['rate']:,.0f} msg/s; latency counts from intended send times"
        )
    if lat["max"]:
        what = "echo round trip" if ws["mode"] == "echo" else "publish to delivery"
        lines.append(
            f"Latency     {what}: mean {_latency(lat['mean'])}, stdev {_latency(lat['stdev'])}, "
            f"min {_latency(lat['min'])}, max {_latency(lat['max'])}"
        )
        for label, value in lat["percentiles"].items():
            lines.append(f"  {label + '%':>8}  {_latency(value)}")
    else:
        lines.append("Latency     not known (messages carry no timestamp of this process)")
    failed = {kind: n for kind, n in r["errors"].items() if n}
    if failed:
        detail = ", ".join(f"{kind} {n:,}" for kind, n in failed.items())
        lines.append(f"Errors      {r['errors_total']:,} lost: {detail}")
    else:
        lines.append("Errors      none")
    if r["reconnects"]:
        lines.append(f"Reconnects  {r['reconnects']:,}")
    return "\n".join(lines)


def _protocol(r: dict[str, Any]) -> str:
    """`h2 over TLSv1.3, 10 streams per connection`, `HTTP/1.1, pipeline 16`, ..."""
    proto = str(r.get("protocol", "HTTP/1.1"))
    text = proto + (f" over {r['tls_version']}" if r.get("tls_version") else "")
    if proto == "h2c":
        text += " (prior knowledge)"
    if r.get("new_conn"):
        return text + "; a new connection per request (latency includes the connect)"
    if proto == "HTTP/1.1":
        return text + (f", pipeline {r['pipeline']}" if r["pipeline"] > 1 else "")
    streams = r.get("streams", 1)
    return text + f", {streams} stream{'s' if streams > 1 else ''} per connection"


def format_report(r: dict[str, Any]) -> str:
    """The report as text: rates, latency percentiles, status counts, errors."""
    if "ws" in r:
        return _format_ws(r)
    lat = r["latency_us"]
    lines = [
        f"Requests    {r['requests']:,} in {r['duration_s']:.2f} s: "
        f"{r['requests_per_s']:,.1f} req/s" + ("  (interrupted)" if r["interrupted"] else ""),
        f"Protocol    {_protocol(r)}",
        f"Transfer    {_size(r['bytes_read'])} read ({_size(r['bytes_read_per_s'])}/s), "
        f"{_size(r['bytes_written'])} written",
    ]
    if r["rate"] is not None:
        lines.append(
            f"Rate        target {r['rate']:,.0f} req/s; latency counts from intended send times"
        )
    lines.append(
        f"Latency     mean {_latency(lat['mean'])}, stdev {_latency(lat['stdev'])}, "
        f"min {_latency(lat['min'])}, max {_latency(lat['max'])}"
    )
    for label, value in lat["percentiles"].items():
        lines.append(f"  {label + '%':>8}  {_latency(value)}")
    statuses = ", ".join(f"{code}: {n:,}" for code, n in r["status_counts"].items())
    lines.append(f"Status      {statuses or 'no responses'}")
    failed = {kind: n for kind, n in r["errors"].items() if n}
    if failed:
        detail = ", ".join(f"{kind} {n:,}" for kind, n in failed.items())
        lines.append(f"Errors      {r['errors_total']:,} failed requests: {detail}")
    else:
        lines.append("Errors      none")
    if r["reconnects"]:
        lines.append(f"Reconnects  {r['reconnects']:,}")
    return "\n".join(lines)


def _describe(opts: dict[str, Any]) -> str:
    if "ws_mode" in opts:
        return _describe_ws(opts)
    stop = f"{opts['requests']:,} requests" if opts["requests"] else f"{opts['duration']:g} s"
    pace = f"{opts['rate']:,g} req/s" if opts["rate"] else "closed loop"
    threads = f"{opts['threads']} thread" + ("s" if opts["threads"] > 1 else "")
    if opts["new_conn"]:
        depth = ("HTTP/2, " if opts["h2"] else "") + "a new connection per request"
    elif opts["h2"]:
        depth = f"HTTP/2, {opts['streams']} stream" + ("s" if opts["streams"] > 1 else "")
    else:
        depth = f"pipeline {opts['pipeline']}"
    return (
        f"{opts['method']} {opts['url']}: {opts['connections']} connections, {threads}, "
        f"{depth}, {stop}, {pace}"
    )


def _describe_ws(opts: dict[str, Any]) -> str:
    stop = f"{opts['requests']:,} messages" if opts["requests"] else f"{opts['duration']:g} s"
    threads = f"{opts['threads']} thread" + ("s" if opts["threads"] > 1 else "")
    kind = "binary" if opts["binary"] else "text"
    head = f"WS {opts['ws_mode']} {opts['url']}: {opts['connections']} sockets, {threads}, "
    if opts["ws_mode"] == "echo":
        pace = f"{opts['rate']:,g} msg/s" if opts["rate"] else "closed loop"
        return head + (
            f"{opts['message_size']} B {kind}, window {opts['pipeline']}, {stop}, {pace}"
        )
    rate = opts["publish_rate"]
    publisher = (
        "outside publisher"
        if rate is None
        else f"publishing {opts['message_size']} B {kind} "
        + ("closed loop" if rate == "max" else f"at {rate:,g} msg/s")
    )
    return head + f"{publisher}, {stop}"


def run(args: argparse.Namespace) -> int:
    """Runs `covetpy bench`; returns the exit code (2 for unusable options)."""
    from covetpy import _core

    try:
        opts = _options(args)
    except OSError as exc:
        print(f"covetpy bench: cannot read the body file: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"covetpy bench: {exc}", file=sys.stderr)
        return 2
    print(_describe(opts), flush=True)
    try:
        report = _core.run_bench(opts)
    except (ValueError, OSError) as exc:
        print(f"covetpy bench: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 130 if report["interrupted"] else 0
