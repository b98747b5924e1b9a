"""The HTTP side every webhook shares: one error body shape, reading a bounded body, rejections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect


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


__all__ = ["BodyTooLarge", "ClientDisconnect", "Rejection", "error_body", "error_response", "read_body"]
