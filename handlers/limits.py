"""ASGI middleware for every request: a body size limit enforced while the body streams in (chunked bodies
included), and the security headers every response carries."""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handlers.pipeline.http import error_body

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Pure ASGI middleware: 413 before the app reads more than `max_bytes` of a request body.

    A declared Content-Length over the limit is refused at once. A streamed (chunked) body declares no size,
    so it is read here first, up to the limit, and replayed to the app: that way every route refuses an
    oversized one alike, including routes that never read their body and routes where FastAPI would turn
    an error raised while reading into a 400.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, send)
            return
        if declared is None and b"transfer-encoding" in headers:
            buffered = await self._read_up_to_limit(receive)
            if buffered is None:
                await self._reject(scope, send)
                return
            receive = _replay(buffered, receive)

        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, send)

    async def _read_up_to_limit(self, receive: Receive) -> list[Message] | None:
        """The request's body messages (merged) and a disconnect if one came; None once over the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: hand it on after what was read
                return [{"type": "http.request", "body": b"".join(chunks), "more_body": False}, message]
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def _reject(self, scope: Scope, send: Send) -> None:
        log.warning("request body too large", extra={"path": scope.get("path"), "limit": self.max_bytes})
        body = json.dumps(error_body(f"request body larger than {self.max_bytes} bytes")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives `messages` first, then whatever the server sends next (e.g. a disconnect)."""
    queue = list(messages)

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


class SecurityHeaders:
    """`X-Content-Type-Options: nosniff` on every response (errors, 413s and JSON included), so no browser
    ever guesses a type for something we serve."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-content-type-options"]
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
