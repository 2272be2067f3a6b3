"""Waiting for the sidecar proxy before serving and before calling out.

Behind Envoy, Istio, Linkerd or Dapr every connection goes through the sidecar; a service
that reports ready (or calls another) before its sidecar is up gets its first requests
refused. The presets are each proxy's own readiness endpoint on its documented default port.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse

from covetpy.exceptions import CovetError

__all__ = ["PRESETS", "SidecarNotReady", "sidecar_ready", "wait_for_sidecar"]

logger = logging.getLogger("covetpy")

PRESETS = {
    # Envoy's admin interface answers /ready 200 once it is LIVE (port set by the bootstrap;
    # 9901 is the documentation's).
    "envoy": "http://127.0.0.1:9901/ready",
    # istio-proxy's pilot-agent: 200 once Envoy has its configuration.
    "istio": "http://127.0.0.1:15021/healthz/ready",
    # linkerd-proxy's admin server.
    "linkerd": "http://127.0.0.1:4191/ready",
    # daprd: 204 once its outbound (app-to-sidecar) side is ready.
    "dapr": "http://127.0.0.1:3500/v1.0/healthz/outbound",
}


class SidecarNotReady(CovetError):
    """The sidecar did not report ready within the timeout."""


def _url(target: str) -> str:
    return PRESETS.get(target.lower(), target)


async def sidecar_ready(target: str, timeout: float = 1.0) -> bool:
    """One check: whether `target` (a preset name or a URL) answers 2xx now."""
    url = urllib.parse.urlsplit(_url(target))
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"a sidecar readiness URL must be http://host[:port]/path, not {target!r}")
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(url.hostname, url.port or 80)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            status_line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
    parts = status_line.split()
    return len(parts) >= 2 and parts[1][:1] == b"2"


async def wait_for_sidecar(target: str, timeout: float = 60.0, interval: float = 0.2) -> None:
    """Returns once `target` (envoy, istio, linkerd, dapr, or an http:// URL) answers 2xx;
    raises `SidecarNotReady` after `timeout` seconds."""
    url = _url(target)
    start = time.monotonic()
    logger.info("waiting for the sidecar at %s (up to %g s)", url, timeout)
    while True:
        if await sidecar_ready(url, min(1.0, timeout)):
            logger.info("sidecar ready after %.2f s", time.monotonic() - start)
            return
        if time.monotonic() - start + interval > timeout:
            raise SidecarNotReady(f"the sidecar at {url} was not ready within {timeout:g} s")
        await asyncio.sleep(interval)
