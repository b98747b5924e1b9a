"""The admin API (`/admin/...`): the review list, usage statistics and knowledge reload, plus a small admin page.

Off unless BUDGETBOT_ADMIN_TOKEN is set: then no /admin route exists at all (404, like any unknown path). When on,
every JSON route needs `Authorization: Bearer <token>`, checked by one dependency on the whole router, compared in
constant time; without it every /admin path (known or not) gets the same 401, so nothing is revealed. The page
itself (HTML, JS, CSS) is served without the token because a browser cannot send a bearer header when navigating:
it holds no data, asks for the token (kept in sessionStorage) and calls the JSON routes with the header.
"""

from __future__ import annotations

import functools
import hmac
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.knowledge.watch import reload_in_thread
from bot.review import ReviewGroup, SingleFlight, review_groups
from bot.stats import QuestionStats, question_stats
from bot.storage import Database
from bot.workers import ADMIN
from handlers.channel import AppContext
from handlers.notifications import store as notification_store
from handlers.notifications.service import MAX_ANNOUNCEMENT_CHARS

log = logging.getLogger(__name__)

PREFIX = "/admin"
STATIC_DIR = Path(__file__).resolve().parent / "static"
# The only files served, from a fixed list: no request path ever reaches the file system.
_PAGES: dict[str, tuple[str, str]] = {
    f"{PREFIX}/": ("admin.html", "text/html; charset=utf-8"),
    f"{PREFIX}/admin.js": ("admin.js", "text/javascript; charset=utf-8"),
    f"{PREFIX}/admin.css": ("admin.css", "text/css; charset=utf-8"),
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# One body for a missing, malformed or wrong token: the caller learns nothing else.
UNAUTHORIZED_DETAIL = "admin token required: send the header Authorization: Bearer <BUDGETBOT_ADMIN_TOKEN>"
_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="budgetbot-admin"', "Cache-Control": "no-store"}
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
MAX_DAYS = 366
MAX_LIMIT = 500


def bearer_matches(authorization: str | None, expected: bytes) -> bool:
    """True when the header is `Bearer <expected>`; constant time in the token's content."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    # Starlette decodes header bytes as latin-1: encoding back gives exactly the bytes that were sent.
    candidate = credentials.strip().encode("latin-1", "replace")
    same = hmac.compare_digest(candidate, expected)  # always compared, even for a missing header
    return scheme.lower() == "bearer" and same


def _json(content: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers={"Cache-Control": "no-store"})


def _unavailable(what: str) -> JSONResponse:
    return _json({"detail": f"{what} is unavailable, try again shortly"}, 503)


class _LoggedValidationRoute(APIRoute):
    """A bad query parameter gets a 422 that does not echo the input, and a log line."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
                log.warning("bad admin request", extra={"path": request.url.path, "problems": errors})
                return _json({"detail": errors}, 422)

        return guarded


class Announcement(BaseModel):
    """POST /admin/announce: DGA's text to the subscribers of a fiscal year (null, said explicitly: to every
    subscriber). Strict: a sloppy body ("dry_run": 0, an unknown field, no `fiscal_year`) is refused, never guessed
    at, since a wrong guess sends for real."""

    model_config = ConfigDict(strict=True, extra="forbid")

    # Not only spaces: said in the schema (a character class every regex engine reads alike), so the schema and
    # the check agree.
    text: str = Field(min_length=1, max_length=MAX_ANNOUNCEMENT_CHARS, pattern=r"[^ \t\n\r\f\v]")
    # Required, though it may be null: forgetting the key must not reach every subscriber.
    fiscal_year: int | None = Field(ge=2500, le=2700)
    dry_run: bool = False

    @field_validator("fiscal_year", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # JSON's number 2571.0 is the integer 2571 (as JSON Schema says); "2571" or true is not a year.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


def admin_router(ctx: AppContext) -> APIRouter:
    router = APIRouter()
    token = (ctx.settings.admin_token or "").strip()
    if not token:
        return router  # admin API off: no routes, so every /admin path is a plain 404
    expected = token.encode("utf-8")

    async def require_admin(request: Request) -> None:
        if not bearer_matches(request.headers.get("authorization"), expected):
            reason = "missing" if "authorization" not in request.headers else "invalid"
            client = request.client.host if request.client else None
            log.warning("admin request refused", extra={"path": request.url.path, "reason": reason, "client": client})
            raise HTTPException(401, detail=UNAUTHORIZED_DETAIL, headers=_UNAUTHORIZED_HEADERS)

    # --- the page: no data in it, so no token needed to load it ----------------------------------------------

    def page_route(path: str, file: Path, media: str) -> None:
        async def serve() -> Response:
            # Read on each request: the files are tiny, and an edited page shows without a restart.
            headers = {
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            }
            if media.startswith("text/html"):
                headers["Content-Security-Policy"] = _CSP
            return Response(file.read_bytes(), media_type=media, headers=headers)

        router.add_api_route(path, serve, methods=["GET"], include_in_schema=False, name=f"admin:{file.name}")

    for path, (name, media) in _PAGES.items():
        page_route(path, STATIC_DIR / name, media)

    # --- the JSON API: every route behind the token -------------------------------------------------------------

    api = APIRouter(
        prefix=PREFIX, tags=["admin"], dependencies=[Depends(require_admin)], route_class=_LoggedValidationRoute
    )

    # One review and one statistics report computed at a time (whatever the number of admins or their clicks),
    # on the admin threads: callers with the same parameters share the result of the one being computed.
    reviews: SingleFlight[tuple[int, int], list[ReviewGroup]] = SingleFlight()
    reports: SingleFlight[tuple[int, int], QuestionStats] = SingleFlight()

    async def compute_review(db: Database, days: int, limit: int) -> list[ReviewGroup]:
        await ctx.flush_question_log()  # include what was asked in the last second
        started = time.monotonic()
        groups = await ADMIN.run(review_groups, db, days, limit, max_rows=ctx.settings.review_max_rows)
        log.info(
            "admin review computed",
            extra={
                "days": days,
                "limit": limit,
                "groups": len(groups),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return groups

    async def compute_stats(db: Database, days: int, top: int) -> QuestionStats:
        await ctx.flush_question_log()
        return await ADMIN.run(question_stats, db, days, top=top)

    @api.get("/review", summary="Questions that got a fallback or a low-confidence answer, grouped")
    async def review(
        days: int = Query(7, ge=1, le=MAX_DAYS), limit: int = Query(50, ge=1, le=MAX_LIMIT)
    ) -> JSONResponse:
        if ctx.db is None:
            return _unavailable("the question log")
        try:
            groups = await reviews.run((days, limit), functools.partial(compute_review, ctx.db, days, limit))
        except Exception:  # noqa: BLE001 - database down: say so, do not 500
            log.warning("admin review: cannot read the question log", exc_info=True)
            return _unavailable("the question log")
        return _json({"days": days, "limit": limit, "groups": [g.model_dump(mode="json") for g in groups]})

    @api.get("/stats", summary="Questions per day (Bangkok dates), fallback rate, top topics")
    async def stats(days: int = Query(7, ge=1, le=MAX_DAYS), top: int = Query(10, ge=1, le=50)) -> JSONResponse:
        if ctx.db is None:
            return _unavailable("the question log")
        try:
            result = await reports.run((days, top), functools.partial(compute_stats, ctx.db, days, top))
        except Exception:  # noqa: BLE001
            log.warning("admin stats: cannot read the question log", exc_info=True)
            return _unavailable("the question log")
        return _json(result.model_dump(mode="json"))

    @api.post("/reload", summary="Load knowledge/*.yaml again; on any problem keep the version answering now")
    async def reload() -> JSONResponse:
        if ctx.runtime is None:
            return _unavailable("the knowledge")
        result = await reload_in_thread(ctx.runtime, trigger="admin")
        if result.ok:
            return _json({"ok": True, "version": result.version, "changed": result.changed})
        problems = [asdict(p) for p in result.problems]  # file, line (1-based or null), message
        return _json({"ok": False, "version": result.version, "problems": problems}, 422)

    # --- subscriptions and notifications (issue 11) --------------------------------------------------------------

    @api.get(
        "/subscriptions",
        summary="Subscribers per fiscal year and channel, and distinct people per channel",
        responses={503: {"description": "Storage is unavailable; try again shortly"}},
    )
    async def subscriptions() -> JSONResponse:
        notifications = ctx.notifications
        if notifications is None or ctx.db is None:
            return _unavailable("the subscriptions")
        try:
            years, total = await notifications.read(notification_store.subscription_counts)
        except Exception:  # noqa: BLE001 - database down: say so, do not 500
            log.warning("admin subscriptions: cannot read them", exc_info=True)
            return _unavailable("the subscriptions")
        return _json(
            {
                "fiscal_years": {str(y): notifications.per_channel(c) for y, c in years.items()},
                "total": notifications.per_channel(total),
            }
        )

    @api.post(
        "/announce",
        summary="Send DGA's announcement to subscribers (dry_run: count them only)",
        responses={
            400: {"description": "The body could not be read (not UTF-8 JSON)"},
            503: {"description": "Storage is unavailable: nothing was sent; try again shortly"},
        },
    )
    async def announce(body: Announcement) -> JSONResponse:
        notifications = ctx.notifications
        if notifications is None or ctx.db is None:
            return _unavailable("notifications")
        try:
            created = await notifications.announce(body.text, body.fiscal_year, dry_run=body.dry_run)
        except Exception:  # noqa: BLE001
            log.warning("admin announce: could not store the announcement", exc_info=True)
            return _unavailable("notifications")
        log.info(
            "announcement",
            extra={"fiscal_year": body.fiscal_year, "dry_run": body.dry_run, "recipients": created.recipients},
        )
        return _json(
            {
                "id": created.id or None,
                "recipients": created.recipients,
                "dry_run": body.dry_run,
                "preview": created.preview,
            }
        )

    @api.get(
        "/notifications",
        summary="Notifications sent and pending, with messages delivered / failed / held",
        responses={503: {"description": "Storage is unavailable; try again shortly"}},
    )
    async def notifications_list(limit: int = Query(50, ge=1, le=MAX_LIMIT)) -> JSONResponse:
        notifications = ctx.notifications
        if notifications is None or ctx.db is None:
            return _unavailable("notifications")
        try:
            rows = await notifications.read(lambda tx: notification_store.list_notifications(tx, limit))
        except Exception:  # noqa: BLE001
            log.warning("admin notifications: cannot read them", exc_info=True)
            return _unavailable("notifications")
        return _json({"notifications": [notifications.describe(r) for r in rows]})

    # Last: any other /admin path is a 404 too, but only after the token check, so it reveals no route names.
    @api.api_route("/{rest:path}", methods=_ALL_METHODS, include_in_schema=False)
    async def not_found(rest: str) -> JSONResponse:
        return _json({"detail": "Not Found"}, 404)

    router.include_router(api)
    return router
