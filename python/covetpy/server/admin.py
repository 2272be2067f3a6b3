"""The admin port (`--admin-port`): probes and `/metrics`, served by the supervisor.

It runs in the supervisor, not in a worker, so one scrape sees every worker (the metrics are
summed from their shared files, `covetpy.observability.metrics`) and it answers while workers
restart. Readiness is asked of the workers through the service port (a worker answers from
Rust state), and fails at once when the supervisor begins to shut down.
"""

from __future__ import annotations

import http.client
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from covetpy.config import ServerConfig

logger = logging.getLogger("covetpy")

__all__ = ["AdminServer"]


class AdminServer:
    """Serves the admin endpoints on a thread of the supervisor."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.stopping = False
        admin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, ctype, body = admin.answer(self.path.split("?", 1)[0])
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.send_header("cache-control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes and probes every few seconds are not news

        self.httpd = ThreadingHTTPServer((config.host, config.admin_port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        """Starts serving on its thread."""
        self._thread.start()
        logger.info("admin endpoints on %s:%d", self.config.host, self.port)

    def stop(self) -> None:
        """Stops serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for `path`."""
        cfg = self.config
        if path == (cfg.livez_path or "/livez"):
            return 200, "application/json", b'{"status":"alive"}'
        if path in (cfg.readyz_path or "/readyz", cfg.startupz_path or "/startupz"):
            if self.stopping and path != cfg.startupz_path:
                return 503, "application/json", b'{"status":"shutting down"}'
            return self._ask_worker(path)
        if path == cfg.metrics_path and cfg.metrics_dir:
            from covetpy.observability.metrics import CONTENT_TYPE, render

            return 200, CONTENT_TYPE, render(Path(cfg.metrics_dir))
        return 404, "application/json", b'{"status":"not found"}'

    def _ask_worker(self, path: str) -> tuple[int, str, bytes]:
        cfg = self.config
        try:
            if cfg.uds:
                return 503, "application/json", b'{"status":"unknown (unix socket)"}'
            conn = http.client.HTTPConnection(cfg.host, cfg.port, timeout=1.0)
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                return r.status, "application/json", r.read()
            finally:
                conn.close()
        except OSError as exc:
            return 503, "application/json", f'{{"status":"no worker answers: {exc}"}}'.encode()
