"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.workers import STORAGE
from handlers.channel import AppContext


def ops_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        runtime = ctx.runtime
        if runtime is None or ctx.service is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        kb = runtime.assistant.kb
        db_ok = ctx.db is not None and await STORAGE.run(ctx.db.ping)
        return JSONResponse(
            {
                "status": "ready" if db_ok else "degraded",
                "knowledge": {"version": kb.version, "loaded_at": kb.loaded_at.isoformat()},
                "database": {"reachable": db_ok},
            },
            status_code=200 if db_ok else 503,
        )

    @router.get("/metrics", response_class=PlainTextResponse)  # documented as text/plain, as it is
    async def metrics() -> Response:
        return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
