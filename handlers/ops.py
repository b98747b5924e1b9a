"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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
        return JSONResponse(
            {
                "status": "ready",
                "knowledge": {"version": kb.version, "loaded_at": kb.loaded_at.isoformat()},
            }
        )

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
