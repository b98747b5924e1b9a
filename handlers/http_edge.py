"""Limits the HTTP server enforces on every connection, before a request reaches the app.

uvicorn's httptools protocol accepts headers of any size, gives a client all the time it wants to send a
request, and keeps every idle connection until the process runs out of file descriptors. Measured on this
service: a 16 MB header was accepted, 20 unterminated ones cost 361 MB, 300 slow connections were held for
20 s, and past 1,024 idle connections /healthz was refused. This protocol adds what nginx does by default:

- the request line and headers together at most `max_header_bytes` (431 past it);
- a whole request (headers and body) received within `request_timeout` of its first byte, and a new
  connection sending its first byte within that time too (408, then the connection is closed);
- idle keep-alive connections closed after `keepalive_timeout` (uvicorn's own timer);
- at most `max_connections` connections: past it the oldest idle (or still-incomplete) ones are closed to
  make room, so a flood of idle sockets cannot lock real requests out.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdgeLimits:
    max_header_bytes: int = 16_384
    request_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            request_timeout=settings.request_timeout,
            keepalive_timeout=settings.keepalive_timeout,
            max_connections=settings.max_connections,
        )


class _EdgeProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with the limits above (`limits` is set on the subclass `protocol_for` makes)."""

    limits: EdgeLimits = EdgeLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0  # request line and headers received so far, up to their blank line
        self._tail = b""  # the last bytes of the headers so far, to find a blank line split across reads
        self._headers_done = False
        self._request_timer: asyncio.TimerHandle | None = None
        self._last_active = time.monotonic()

    # --- connection ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_request_timer()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_request_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._last_active = time.monotonic()
        if not self._headers_done:
            if self._request_timer is None:
                self._arm_request_timer()
            # Measured before the parser sees the bytes, whether the headers end in this read or not: headers
            # that arrive whole in one read would otherwise never look "incomplete".
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            if end == -1:
                self._header_bytes += len(data)
                self._tail = seen[-3:]
            else:
                self._header_bytes += end + 4 - len(self._tail)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large", "request headers too large")
                return
        super().data_received(data)

    # --- parser callbacks ------------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._headers_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next request on this connection starts its own count and its own clock.
        self._headers_done = False
        self._header_bytes = 0
        self._tail = b""
        self._cancel_request_timer()

    def on_response_complete(self) -> None:
        self._last_active = time.monotonic()
        super().on_response_complete()

    # --- limits ----------------------------------------------------------------------------------

    def _arm_request_timer(self) -> None:
        self._cancel_request_timer()
        self._request_timer = self.loop.call_later(self.limits.request_timeout, self._request_timed_out)

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        self._request_timer = None
        if self.transport.is_closing():
            return
        if self._idle():
            # Connected but never sent a byte of a new request: close quietly, as nginx does.
            self.transport.close()
            return
        self._refuse(408, "Request Timeout", "request not received in time")

    def _idle(self) -> bool:
        """No request in progress: between requests, or connected and silent."""
        cycle = self.cycle
        return self._header_bytes == 0 and (cycle is None or cycle.response_complete)

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer `status` if no response has started on this connection, then close it."""
        self._cancel_request_timer()
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            body = message.encode("ascii")
            head = (
                f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\nx-content-type-options: nosniff\r\n\r\n"
            )
            self.transport.write(head.encode("ascii") + body)
        elif not cycle.response_started:
            cycle.disconnected = True  # the app sees a disconnect instead of waiting for the rest of the body
        log.info("connection refused at the HTTP edge", extra={"status": status, "reason": message})
        self.transport.close()

    def _make_room(self) -> None:
        """Close the oldest idle connections, then the oldest incomplete ones, until under the limit."""
        excess = len(self.connections) - self.limits.max_connections
        others = [c for c in self.connections if c is not self and isinstance(c, _EdgeProtocol)]
        idle = sorted((c for c in others if c._idle()), key=lambda c: c._last_active)
        incomplete = sorted(
            (c for c in others if not c._idle() and not c._headers_done and c.cycle is None),
            key=lambda c: c._last_active,
        )
        closed = 0
        for victim in [*idle, *incomplete][:excess]:
            if not victim.transport.is_closing():
                victim.transport.close()
                closed += 1
        if closed:
            log.info("idle connections closed to make room", extra={"closed": closed, "limit": excess})


class EnvHttpProtocol(_EdgeProtocol):
    """The protocol for several worker processes, which uvicorn names by import string: each worker reads the
    limits from its own environment (the same variables) at its first connection."""

    limits: EdgeLimits | None = None  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if type(self).limits is None:
            type(self).limits = EdgeLimits.from_settings(Settings())
        super().__init__(*args, **kwargs)


def protocol_for(limits: EdgeLimits) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn (`http=`), bound to these limits."""
    return type("BudgetbotHttpProtocol", (_EdgeProtocol,), {"limits": limits})


def uvicorn_options(settings: Settings, *, workers: int = 1) -> dict[str, Any]:
    """Keyword arguments for uvicorn.run / uvicorn.Config that apply the edge limits."""
    limits = EdgeLimits.from_settings(settings)
    return {
        # Worker processes are spawned: they need a class they can import, not one made here.
        "http": protocol_for(limits) if workers == 1 else f"{__name__}:EnvHttpProtocol",
        "timeout_keep_alive": max(1, round(limits.keepalive_timeout)),
        # The app reads X-Forwarded-For itself, from BUDGETBOT_TRUSTED_PROXIES only (handlers/app.py); uvicorn's
        # own middleware would trust FORWARDED_ALLOW_IPS from the environment instead.
        "proxy_headers": False,
        "server_header": False,
        "backlog": 2048,
    }


def raise_file_limit() -> int:
    """Raise the soft open-files limit to the hard one (each connection is a descriptor). Returns the limit."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        return soft
    except (ValueError, OSError):  # not allowed here: keep what we have
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
