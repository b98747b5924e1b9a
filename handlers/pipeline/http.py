"""The HTTP side every webhook shares: one error body shape, reading a bounded body, rejections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send


def error_body(message: str) -> dict[str, Any]:
    """The body of every refused request, on every route: `ok` false, a readable `message`, and the same text
    as `detail` (where FastAPI clients look)."""
    return {"ok": False, "message": message, "detail": message}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(message), status_code=status, headers=headers)


@dataclass(frozen=True)
class Rejection:
    """Why a webhook request is refused: the status, the outcome label for the metric, and the message."""

    status: int
    outcome: str
    message: str

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, {"Retry-After": "5"} if self.status == 503 else None)


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body (signatures cover these exact bytes), refusing more than `limit` bytes without reading them.
    Raises BodyTooLarge, or ClientDisconnect when the client went away half-way."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


class WebhookDispatch:
    """ASGI middleware: POSTs to the webhook paths go straight to their handler, before FastAPI's routing.

    Why: they are the hot path (every message), and FastAPI's per-request machinery around an endpoint (route
    resolution over every route of the app, dependency solving, its exit stack) cost several times what the bare
    endpoint of bench/bare_app.py does. Added as the innermost middleware, so the app's own middleware (body limit,
    proxy headers, security headers) still applies; the routes stay registered with FastAPI as well."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, Callable[[Request], Awaitable[Response]]]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.routes.get(scope["path"])
            if handler is not None:
                response = await handler(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


__all__ = [
    "BodyTooLarge",
    "ClientDisconnect",
    "Rejection",
    "WebhookDispatch",
    "error_body",
    "error_response",
    "read_body",
]
