"""The FastAPI service: one app hosting the LINE and Telegram webhooks, the web console and the JSON API."""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot import __version__
from bot.clock import clock_for
from bot.knowledge.loader import KnowledgeLoadError
from bot.knowledge.runtime import KnowledgeRuntime
from bot.knowledge.watch import watch_knowledge
from bot.service import AssistantService
from bot.settings import Settings
from bot.storage import (
    BufferedQuestionLog,
    Database,
    SqlConversationStore,
    SqlEventLedger,
    SqlQuestionLog,
    open_database,
    purge_periodically,
)
from bot.workers import ADMIN, STORAGE
from handlers.admin import admin_router
from handlers.channel import AppContext, Channel, DisabledChannel
from handlers.console import console_router
from handlers.limits import BodySizeLimit, SecurityHeaders
from handlers.logs import AccessLog, configure_logging, say_ready
from handlers.metrics import Metrics
from handlers.notifications.service import Notifications
from handlers.ops import ops_router
from handlers.pipeline import DeliveryPolicy, Pipeline
from handlers.pipeline.http import WebhookDispatch

log = logging.getLogger("budgetbot")


class ConfigurationError(RuntimeError):
    """Settings the server refuses to start with; the message says what to set."""


def create_app(
    settings: Settings | None = None, *, console_url: str | None = None, policy: DeliveryPolicy | None = None
) -> FastAPI:
    """The app. `console_url` is where `budgetbot serve` listens, named in the start-up log for a person.
    `policy`: the message pipeline's timing and limits (default: from the settings)."""
    settings = settings or Settings()
    # Several workers (`budgetbot serve --workers N`) share a port bound before they start: each says it is ready.
    console_url = console_url or os.environ.get("BUDGETBOT_CONSOLE_URL")
    problems = settings.startup_problems()
    if problems:
        raise ConfigurationError("; ".join(problems))
    ctx = AppContext(settings=settings, metrics=Metrics())
    ctx.pipeline = pipeline = Pipeline(ctx, policy or DeliveryPolicy.from_settings(settings))
    ctx.notifications = notifications = Notifications(ctx, pipeline, clock_for(settings.today))
    pipeline.hooks = notifications  # subscriptions carried out with their replies; batches counted when done
    channels = _channels(ctx)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, secrets=_secrets(settings), log_format=settings.log_format)
        _tune_process()
        # Load and warm in a thread: building the tokenizer's dictionary takes a few hundred ms.
        try:
            ctx.runtime = await ADMIN.run(
                KnowledgeRuntime, settings.knowledge_dir, settings.polite_particle, settings.sources_dir
            )
        except KnowledgeLoadError as exc:  # no last good version yet: nothing to answer from
            log.error(
                f"cannot start: the knowledge base has errors:\n{exc}",
                extra={"problems": [str(p) for p in exc.problems]},
            )
            raise
        ctx.metrics.watch_knowledge(ctx.runtime)
        await ADMIN.run(ctx.runtime.assistant.warm)
        ctx.db = db = await STORAGE.run(open_database, settings, migrate=False)
        background: list[asyncio.Task[None]] = []
        try:
            await STORAGE.run(db.migrate)
        except Exception:  # noqa: BLE001 - a database that is down must not keep the assistant from answering
            log.warning("database unavailable at start-up", exc_info=True, extra={"database": db.safe_url})
            background.append(asyncio.create_task(_migrate_until_done(db)))
        background.append(asyncio.create_task(_purge_after_migration(db, settings)))
        ctx.question_log = BufferedQuestionLog(SqlQuestionLog.from_settings(db, settings))
        background.append(asyncio.create_task(ctx.question_log.run()))
        ctx.service = AssistantService(
            ctx.runtime,
            conversations=SqlConversationStore.from_settings(db, settings),
            ledger=SqlEventLedger(db),
            question_log=ctx.question_log,
            clock=clock_for(settings.today),
            user_salt=settings.user_hash_salt,
        )
        if settings.watch_knowledge:  # edits to knowledge/*.yaml take effect without a restart
            background.append(asyncio.create_task(watch_knowledge(ctx.runtime, settings.knowledge_dir)))
        for channel in channels:
            if channel.enabled:
                await channel.start()
                pipeline.register(channel)  # type: ignore[arg-type]  # enabled channels are adapters
                notifications.register(channel)
        await pipeline.start()  # resumes whatever a previous run left unfinished (notification batches too)
        notifications.start()  # start-up is a knowledge load: windows not notified yet go out now
        # What start-up built (the knowledge, its indexes) lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise walk it all every so often and stall every request meanwhile.
        gc.freeze()
        log.info(
            "budgetbot started",
            extra={
                "channels_on": [c.name for c in channels if c.enabled],
                "channels_off": [c.name for c in channels if not c.enabled],
                "knowledge_version": ctx.runtime.version,
                "database": db.safe_url,
            },
        )
        if settings.default_salt:
            log.warning(
                "BUDGETBOT_USER_HASH_SALT is not set: user ids are hashed with the public development key. "
                "Set it before turning a chat channel on (the server refuses to start with a channel and no salt)."
            )
        if console_url:
            say_ready(console_url)
        try:
            yield
        finally:
            await notifications.stop()
            await pipeline.stop()  # stop taking work; what is unfinished stays stored for the next start
            for channel in channels:
                if channel.enabled:
                    try:
                        await channel.stop()
                    except Exception:  # noqa: BLE001 - one channel's failure must not block the others
                        log.exception("channel stop failed", extra={"channel": channel.name})
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            try:
                await ctx.flush_question_log()
            except Exception:  # noqa: BLE001 - the database may be down; nothing more to do
                log.warning("question log rows lost at shutdown", exc_info=True)
            await STORAGE.run(db.dispose)

    docs = settings.api_docs  # the schema lists every route, admin ones included: private unless asked for
    app = FastAPI(
        title="budgetbot",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.ctx = ctx
    # Innermost: the webhooks skip FastAPI's routing (the hot path); every middleware added after still applies.
    app.add_middleware(WebhookDispatch, routes={p: h for c in channels for p, h in c.webhook_routes().items()})
    # Outermost last: X-Forwarded-For is read first (from trusted proxies only), the headers go on everything.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)  # outermost: every request, refused ones too
    app.include_router(ops_router(ctx))
    app.include_router(console_router(ctx))
    app.include_router(admin_router(ctx))
    for channel in channels:
        app.include_router(channel.router())
    return app


def _tune_process() -> None:
    """Process-wide settings for serving (here, so every worker process gets them)."""
    # Answers are computed in worker threads; the event loop (every other request) gets the GIL back after at
    # most 1 ms instead of Python's default 5 ms, so a burst of long questions cannot hold up a webhook's
    # acknowledgement or /healthz by more than a few milliseconds.
    sys.setswitchinterval(0.001)
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how to see where a stuck server is stuck.
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)


def _channels(ctx: AppContext) -> list[Channel]:
    """The chat channels, each the real adapter when its credentials are set (SDKs imported only then)."""
    settings = ctx.settings
    channels: list[Channel] = []
    if settings.line_enabled:
        from handlers.line import LineChannel

        channels.append(LineChannel(ctx))
    else:
        channels.append(
            DisabledChannel(ctx, "line", "/webhooks/line", "LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN")
        )
    if settings.telegram_enabled:
        from handlers.telegram import TelegramChannel

        channels.append(TelegramChannel(ctx))
    else:
        channels.append(DisabledChannel(ctx, "telegram", "/webhooks/telegram", "TELEGRAM_BOT_TOKEN"))
    return channels


async def _migrate_until_done(db: Database, retry_seconds: float = 5.0) -> None:
    """Bring the schema up to date; if the database is down at start-up, keep trying in the background
    (answers go out meanwhile, without memory or log) instead of refusing to start."""
    while True:
        try:
            await STORAGE.run(db.migrate)
            return
        except Exception:  # noqa: BLE001
            log.warning("database not ready; migration will be retried", exc_info=True, extra={"database": db.safe_url})
            await asyncio.sleep(retry_seconds)


async def _purge_after_migration(db: Database, settings: Settings) -> None:
    while not db.migrated:  # the tables must exist first
        await asyncio.sleep(1.0)
    await purge_periodically(db, settings)


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
