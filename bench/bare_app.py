"""The ceiling for bench/webhooks.py: a FastAPI app whose webhook reads the body and answers 200, nothing else.

    .venv/bin/python -m uvicorn --app-dir bench bare_app:app --host 127.0.0.1 --port 8001 --workers 2

Same server stack as `budgetbot serve` (uvicorn with uvloop/httptools when installed, FastAPI, JSONResponse),
so the difference to budgetbot is the work budgetbot does per webhook.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI(title="bare", docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/webhooks/line")
async def webhook(request: Request) -> JSONResponse:
    await request.body()  # a real webhook must read the body (to check its signature): so does the ceiling
    return JSONResponse({})


@app.get("/readyz")
async def readyz() -> JSONResponse:
    return JSONResponse({"status": "ok"})
