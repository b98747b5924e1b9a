"""The web console (a Thai chat page at `/`) and the JSON API it uses (`POST /api/ask`)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException  # what FastAPI raises for an unreadable body

from bot.answer import Answer
from handlers.channel import AppContext
from handlers.rate_limits import AskRateLimits, WelcomeCache

log = logging.getLogger(__name__)

CHANNEL = "web"
MAX_QUESTION_CHARS = 2000
MAX_SESSION_CHARS = 128
STATIC_DIR = Path(__file__).resolve().parent / "static"

# The only files served: a fixed list, so no request path ever reaches the file system.
_STATIC_FILES: dict[str, tuple[str, str]] = {
    "/": ("console.html", "text/html; charset=utf-8"),
    "/static/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/static/console.css": ("console.css", "text/css; charset=utf-8"),
}
# The page loads nothing from elsewhere and only talks to this server.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    question: str = Field(max_length=MAX_QUESTION_CHARS, description="The question, in Thai or English")
    # Optional: the console keeps one per browser tab; a missing (or empty) one gets a fresh random id.
    session: str | None = Field(
        default=None,
        max_length=MAX_SESSION_CHARS,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="Conversation id: up to 128 characters of A-Z a-z 0-9 _ -",
    )


class AskResponse(Answer):
    """The Answer, field for field, plus the session id to send with the next question."""

    session: str


class Problem(BaseModel):
    """The body of a refused request: a readable `message` and/or FastAPI-style `detail`."""

    message: str | None = None
    detail: Any = None


# Every status /api/ask can answer with, documented so clients (and the schema tests) can rely on it.
_ASK_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body could not be read (not UTF-8 JSON)"},
    413: {"model": Problem, "description": "The body is larger than BUDGETBOT_MAX_BODY_BYTES"},
    429: {
        "model": Problem,
        "description": "Too many questions from this client or session; retry after `Retry-After` seconds",
    },
    503: {"model": Problem, "description": "The service is still starting; try again shortly"},
}


class _ClearValidationRoute(APIRoute):
    """Bad requests get a 422 with a readable `message` (and FastAPI's `detail`) and a log line."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = list(exc.errors())
                message = "; ".join(_describe(e) for e in errors) or "invalid request"
                # Never echo the input back: it may be 10,000 characters (or something worse).
                detail = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in errors]
                return _bad_request(request, 422, message, detail)
            except HTTPException as exc:
                if exc.status_code != 400:
                    raise
                # FastAPI's answer to a body it cannot decode at all (e.g. not UTF-8).
                return _bad_request(request, 400, "the body could not be read: send UTF-8 JSON", exc.detail)

        return guarded


def _bad_request(request: Request, status: int, message: str, detail: Any) -> JSONResponse:
    log.warning("bad api request", extra={"channel": CHANNEL, "path": request.url.path, "problem": message})
    return JSONResponse(status_code=status, content=jsonable_encoder({"message": message, "detail": detail}))


def _describe(error: dict[str, Any]) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    field = ".".join(loc)
    kind = error.get("type", "")
    if kind == "json_invalid":
        return "the body is not valid JSON"
    if kind == "string_too_long" and field == "question":
        return f"question is too long: at most {MAX_QUESTION_CHARS:,} characters"
    if kind == "string_too_long" and field == "session":
        return f"session is too long: at most {MAX_SESSION_CHARS} characters"
    if kind == "string_pattern_mismatch" and field == "session":
        return "session may only contain A-Z, a-z, 0-9, '_' and '-'"
    if kind == "missing" and field:
        return f"{field} is required"
    if kind in ("model_attributes_type", "dict_type", "missing") and not field:
        return 'the body must be a JSON object like {"question": "..."}'
    return f"{field or 'body'}: {error.get('msg', 'invalid')}"


def console_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(route_class=_ClearValidationRoute)
    pages = {route: (STATIC_DIR / name, media) for route, (name, media) in _STATIC_FILES.items()}
    limits = AskRateLimits(ctx.settings.ask_rate_per_client, ctx.settings.ask_rate_per_session)
    welcomes = WelcomeCache()

    @router.post(
        "/api/ask",
        tags=["api"],
        response_model=AskResponse,
        responses=_ASK_RESPONSES,
        summary="Ask a question; the answer comes back as JSON",
    )
    async def ask(body: AskRequest, request: Request) -> JSONResponse:
        if ctx.service is None:  # a request that beat start-up: say so rather than a 500
            return JSONResponse({"message": "starting, try again shortly"}, status_code=503)
        client = request.client.host if request.client else "unknown"  # X-Forwarded-For from trusted proxies
        refused = limits.check(client, body.session or None)
        if refused is not None:
            ctx.metrics.rate_limited.labels(route="/api/ask", limit=refused.scope).inc()
            log.info("api/ask rate limited", extra={"channel": CHANNEL, "limit": refused.scope})
            return JSONResponse(
                {"message": f"too many questions from this {refused.scope}; retry in {refused.retry_after} s"},
                status_code=429,
                headers={"Retry-After": str(refused.retry_after)},
            )
        # Without a session the question is one-off: it gets an answer and a session id to continue with, but
        # leaves no conversation row behind (a script calling the API in a loop must not fill the database).
        remember = bool(body.session)
        session = body.session or secrets.token_urlsafe(16)
        started = time.perf_counter()
        answer = await ctx.require_service().ask(body.question, channel=CHANNEL, user=session, remember=remember)
        ctx.metrics.observe_answer(answer, time.perf_counter() - started)
        return JSONResponse({**answer.model_dump(mode="json"), "session": session})

    @router.get("/api/welcome", tags=["api"], response_model=Answer, summary="The greeting a new console shows")
    async def welcome() -> JSONResponse:
        # A page load is not a question: no question-log row, no conversation, and one computation a day.
        if ctx.service is None or ctx.runtime is None:
            return JSONResponse({"message": "starting, try again shortly"}, status_code=503)
        service = ctx.require_service()
        key = (ctx.runtime.version, service.clock())
        answer = welcomes.get(key)
        if answer is None:
            answer = welcomes.put(key, await service.welcome())
        return JSONResponse(answer.model_dump(mode="json"))

    def static_route(path: str) -> None:
        file, media = pages[path]

        async def serve() -> Response:
            # Read on each request: the files are tiny, and an edited page shows without a restart.
            headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
            if media.startswith("text/html"):
                headers["Content-Security-Policy"] = _CSP
            return Response(file.read_bytes(), media_type=media, headers=headers)

        router.add_api_route(path, serve, methods=["GET"], include_in_schema=False, name=f"console:{file.name}")

    for path in pages:
        static_route(path)
    return router
