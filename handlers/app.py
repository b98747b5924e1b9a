"""The FastAPI service: one app hosting the LINE and Telegram webhooks, the web console and the JSON API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bot.clock import clock_for
from bot.knowledge.runtime import KnowledgeRuntime
from bot.service import AssistantService
from bot.settings import Settings
from handlers.channel import AppContext, Channel
from handlers.console import console_router
from handlers.limits import BodySizeLimit
from handlers.line import LineChannel
from handlers.logs import configure_logging
from handlers.metrics import Metrics
from handlers.ops import ops_router
from handlers.telegram import TelegramChannel

log = logging.getLogger("budgetbot")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    ctx = AppContext(settings=settings, metrics=Metrics())
    channels: list[Channel] = [LineChannel(ctx), TelegramChannel(ctx)]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, secrets=_secrets(settings))
        # Load and warm in a thread: building the tokenizer's dictionary takes a few hundred ms.
        ctx.runtime = await asyncio.to_thread(KnowledgeRuntime, settings.knowledge_dir)
        await asyncio.to_thread(ctx.runtime.assistant.warm)
        ctx.service = AssistantService(ctx.runtime, clock=clock_for(settings.today))
        for channel in channels:
            if channel.enabled:
                await channel.start()
        log.info(
            "budgetbot started",
            extra={
                "channels_on": [c.name for c in channels if c.enabled],
                "channels_off": [c.name for c in channels if not c.enabled],
                "knowledge_version": ctx.runtime.version,
            },
        )
        try:
            yield
        finally:
            for channel in channels:
                if channel.enabled:
                    try:
                        await channel.stop()
                    except Exception:  # noqa: BLE001 - one channel's failure must not block the others
                        log.exception("channel stop failed", extra={"channel": channel.name})

    app = FastAPI(title="budgetbot", version="0.1.0", lifespan=lifespan)
    app.state.ctx = ctx
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(ops_router(ctx))
    app.include_router(console_router(ctx))
    for channel in channels:
        app.include_router(channel.router())
    return app


def _secrets(settings: Settings) -> list[str]:
    values = [
        settings.line_channel_secret,
        settings.line_channel_secret_previous,
        settings.line_channel_access_token,
        settings.telegram_bot_token,
        settings.telegram_webhook_secret,
        settings.admin_token,
        settings.user_hash_salt,
    ]
    return [v for v in values if v]
