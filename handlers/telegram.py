"""The Telegram channel: `POST /webhooks/telegram`, the python-telegram-bot Application behind it, and the
`budgetbot telegram set-webhook` command.

Flow: the webhook checks the secret token, validates the body, claims the update_id (Telegram resends an
update it got no 2xx for), puts the Update on the Application's queue and answers 200 at once. The
Application's background task then runs the handlers, which ask `AssistantService` and send the reply.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import sys
import time
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from contextlib import suppress
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from telegram import Bot, BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from bot.settings import Settings
from handlers.channel import AppContext, Channel
from handlers.telegram_render import (
    ERROR_NOTICE,
    EXPIRED_SUGGESTION_TEXT,
    TEXT_ONLY_NOTICE,
    OutgoingMessage,
    SuggestionCallbacks,
    notice,
    render_answer,
)

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
WELCOME_QUESTION = "สวัสดี"  # /start: the greeting answer, with its suggestions
HELP_QUESTION = "ช่วยอะไรได้บ้าง"  # /help and unknown commands
BOT_COMMANDS = [BotCommand("start", "เริ่มต้นใช้งาน"), BotCommand("help", "ถามอะไรได้บ้าง")]
MAX_CONCURRENT_UPDATES = 16
RESTART_INTERVAL = 10.0  # seconds between tries to reach Telegram after a failed start
MAX_RETRY_AFTER = 10.0  # on a 429, wait and retry once if Telegram asks for at most this long
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

TgApp = Application[Any, Any, Any, Any, Any, Any]


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, one at a time within a chat.

    Why: a slow send to one chat must not hold up everyone else, but two messages from the same chat
    must be answered in order (and update that chat's conversation memory in order).
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}  # chat id -> updates holding or waiting for its lock

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] = self._users.get(chat.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:  # drop idle chats so the maps stay small
                del self._users[chat.id]
                del self._locks[chat.id]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class TelegramChannel(Channel):
    name = CHANNEL

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.callbacks = SuggestionCallbacks()
        self._app: TgApp | None = None
        self._start_lock = asyncio.Lock()
        self._last_start_attempt: float | None = None
        self._stopping = False  # after stop(), a late webhook must not start the Application again
        # update_id -> monotonic time the webhook got it, for the reply-latency metric (bounded).
        self._received: OrderedDict[int, float] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ctx.settings.telegram_enabled

    @property
    def application(self) -> TgApp | None:
        return self._app

    # ----- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        if not self.ctx.settings.telegram_webhook_secret:
            log.warning(
                "TELEGRAM_WEBHOOK_SECRET is not set: anyone who knows the webhook URL can post updates",
                extra={"channel": CHANNEL},
            )
        await self._try_start()

    async def _try_start(self) -> bool:
        """Build, initialize (getMe) and start the Application. A Telegram outage at boot must not take
        the whole service down: on failure the webhook answers 503 (Telegram retries) and tries again."""
        async with self._start_lock:
            if self._app is not None:
                return True
            if self._stopping:
                return False
            now = time.monotonic()
            if self._last_start_attempt is not None and now - self._last_start_attempt < RESTART_INTERVAL:
                return False
            self._last_start_attempt = now
            app = self._build()
            try:
                await app.initialize()
                await app.start()
            except Exception as exc:  # noqa: BLE001 - any failure leaves the channel unavailable, not the app
                log.error(
                    "telegram start failed; webhooks get 503 until it works",
                    extra={"channel": CHANNEL, "error": f"{type(exc).__name__}: {exc}"},
                )
                with suppress(Exception):
                    await app.shutdown()
                return False
            self._app = app
            log.info("telegram started", extra={"channel": CHANNEL, "bot_username": app.bot.username})
            return True

    async def stop(self) -> None:
        async with self._start_lock:  # not while a lazy start is half done
            self._stopping = True
            app, self._app = self._app, None  # new webhooks now get 503; Telegram will resend them
        if app is None:
            return
        try:
            if app.running:
                await app.stop()  # waits for queued and in-flight updates
        finally:
            await app.shutdown()

    def _build(self) -> TgApp:
        settings = self.ctx.settings
        assert settings.telegram_bot_token  # only called when enabled
        app: TgApp = (
            Application.builder()
            .token(settings.telegram_bot_token)
            .base_url(settings.telegram_api_base_url)
            .updater(None)
            .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES))
            .build()
        )
        new_message = filters.UpdateType.MESSAGE  # not edited messages or channel posts
        private = filters.ChatType.PRIVATE
        app.add_handler(CommandHandler("start", self._on_start, filters=new_message))
        app.add_handler(CommandHandler("help", self._on_help, filters=new_message))
        app.add_handler(CallbackQueryHandler(self._on_callback))
        app.add_handler(MessageHandler(new_message & filters.TEXT & ~filters.COMMAND, self._on_text))
        # In groups a command may be meant for another bot: only answer unknown commands in private.
        app.add_handler(MessageHandler(new_message & private & filters.COMMAND, self._on_help))
        app.add_handler(MessageHandler(new_message & private & ~filters.TEXT, self._on_not_text))
        app.add_error_handler(self._on_error)
        return app

    # ----- webhook ---------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(tags=["telegram"])

        @router.post(WEBHOOK_PATH, summary="Telegram Bot API webhook (secret token checked)")
        async def telegram_webhook(request: Request) -> JSONResponse:
            started = time.perf_counter()
            outcome, response = await self._handle_webhook(request)
            self.ctx.metrics.webhooks.labels(channel=CHANNEL, outcome=outcome).inc()
            self.ctx.metrics.webhook_latency.labels(channel=CHANNEL).observe(time.perf_counter() - started)
            return response

        return router

    async def _handle_webhook(self, request: Request) -> tuple[str, JSONResponse]:
        if not self.enabled:
            return "disabled", _error(404, "the Telegram channel is not configured (TELEGRAM_BOT_TOKEN is not set)")
        header = request.headers.get(SECRET_HEADER)
        if not self._secret_ok(header):
            log.warning(
                "telegram webhook: wrong or missing secret token",
                extra={"channel": CHANNEL, "header_present": header is not None, "client": _client(request)},
            )
            return "forbidden", _error(403, "forbidden")

        body = await _read_body(request, self.ctx.settings.max_body_bytes)
        if body is None:
            log.warning("telegram webhook: body too large", extra={"channel": CHANNEL})
            return "malformed", _error(413, f"the body is larger than {self.ctx.settings.max_body_bytes} bytes")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            log.warning("telegram webhook: body is not JSON", extra={"channel": CHANNEL})
            return "malformed", _error(400, "the body is not valid JSON")
        if not isinstance(data, dict):
            log.warning("telegram webhook: body is not an object", extra={"channel": CHANNEL})
            return "malformed", _error(400, "the body must be a JSON object (a Telegram Update)")
        update_id = data.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
            log.warning("telegram webhook: no valid update_id", extra={"channel": CHANNEL})
            return "malformed", _error(400, "update_id must be a non-negative integer")
        try:
            Update.de_json(data, None)  # validate before anything else, so bad input is always a 400
        except Exception as exc:  # noqa: BLE001 - PTB raises KeyError/TypeError/AttributeError on bad shapes
            log.warning(
                "telegram webhook: not a valid Update",
                extra={"channel": CHANNEL, "event_id": update_id, "error": f"{type(exc).__name__}: {exc}"},
            )
            return "malformed", _error(400, "the body is not a valid Telegram Update")
        problem = _wrong_field_type(data)
        if problem is not None:
            log.warning(
                "telegram webhook: wrong field type",
                extra={"channel": CHANNEL, "event_id": update_id, "error": problem},
            )
            return "malformed", _error(400, problem)

        if self._app is None and not await self._try_start():
            return "unavailable", _error(503, "the Telegram channel is not ready; retry later")
        app, service = self._app, self.ctx.service
        if app is None or service is None:  # stopped or not started yet: a 503 makes Telegram resend
            return "unavailable", _error(503, "the Telegram channel is not ready; retry later")

        try:
            first = await service.claim_event(CHANNEL, str(update_id))
        except Exception:  # noqa: BLE001 - better a rare duplicate answer than no answer at all
            log.warning(
                "event ledger failed; handling the update without de-duplication",
                exc_info=True,
                extra={"channel": CHANNEL, "event_id": update_id},
            )
            first = True
        if not first:
            log.info("telegram webhook: duplicate update", extra={"channel": CHANNEL, "event_id": update_id})
            return "duplicate", JSONResponse({"ok": True, "duplicate": True})

        self._received[update_id] = time.monotonic()
        while len(self._received) > 1024:  # updates no handler answers never pop their entry
            self._received.popitem(last=False)
        app.update_queue.put_nowait(Update.de_json(data, app.bot))
        return "ok", JSONResponse({"ok": True})

    def _secret_ok(self, header: str | None) -> bool:
        secret = self.ctx.settings.telegram_webhook_secret
        if not secret:
            return True
        if header is None:
            return False
        # Bytes, because compare_digest refuses non-ASCII str (a header may hold anything).
        return hmac.compare_digest(header.encode("utf-8"), secret.encode("utf-8"))

    # ----- handlers --------------------------------------------------------------------------------

    async def _on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._answer(update, context, WELCOME_QUESTION)

    async def _on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._answer(update, context, HELP_QUESTION)

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or not message.text:
            return
        await self._answer(update, context, message.text)

    async def _on_not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat_id = _chat_id(update)
        if chat_id is not None:
            await self._send(context.bot, update.update_id, chat_id, [notice(TEXT_ONLY_NOTICE)])

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer()  # stops the button's spinner; Telegram expects every query answered
        except TelegramError as exc:  # still answer the question itself
            self._reply_failed(update.update_id, exc)
        chat_id = _chat_id(update)
        if chat_id is None:
            return
        question = self.callbacks.decode(query.data or "")
        if question is None:
            log.info(
                "telegram: unknown or expired suggestion", extra={"channel": CHANNEL, "event_id": update.update_id}
            )
            await self._send(context.bot, update.update_id, chat_id, [notice(EXPIRED_SUGGESTION_TEXT)])
            return
        await self._answer(update, context, question, heading=question)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Handler exceptions: log them with the update id, count them, and tell the user."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error(
            "telegram update failed",
            exc_info=context.error,
            extra={"channel": CHANNEL, "event_id": update_id},
        )
        self.ctx.metrics.reply_failures.labels(channel=CHANNEL, reason="handler_error").inc()
        chat_id = _chat_id(update) if isinstance(update, Update) else None
        if chat_id is not None:
            with suppress(TelegramError):
                await context.bot.send_message(chat_id=chat_id, text=ERROR_NOTICE)

    # ----- answering and sending -------------------------------------------------------------------

    async def _answer(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, *, heading: str | None = None
    ) -> None:
        chat_id = _chat_id(update)
        if chat_id is None:
            return
        started = time.perf_counter()
        answer = await self.ctx.require_service().ask(question, channel=CHANNEL, user=str(chat_id))
        self.ctx.metrics.observe_answer(answer, time.perf_counter() - started)
        await self._send(context.bot, update.update_id, chat_id, render_answer(answer, self.callbacks, heading=heading))

    async def _send(self, bot: Bot, update_id: int, chat_id: int, messages: Sequence[OutgoingMessage]) -> bool:
        for message in messages:
            if not await self._send_one(bot, update_id, chat_id, message):
                return False  # the rest would read out of context
        received = self._received.pop(update_id, None)
        if received is not None:
            self.ctx.metrics.reply_latency.labels(channel=CHANNEL).observe(time.monotonic() - received)
        return True

    async def _send_one(self, bot: Bot, update_id: int, chat_id: int, message: OutgoingMessage) -> bool:
        for attempt in (1, 2):
            try:
                await bot.send_message(
                    chat_id=chat_id,
                    text=message.html,
                    parse_mode=ParseMode.HTML,
                    reply_markup=message.keyboard,
                    link_preview_options=NO_PREVIEW,
                )
                return True
            except RetryAfter as exc:
                delay = _retry_after_seconds(exc)
                if attempt == 1 and delay <= MAX_RETRY_AFTER:
                    await asyncio.sleep(delay)
                    continue
                self._reply_failed(update_id, exc)
                return False
            except TelegramError as exc:
                self._reply_failed(update_id, exc)
                return False
        return False

    def _reply_failed(self, update_id: int, exc: TelegramError) -> None:
        reason = _failure_reason(exc)
        self.ctx.metrics.reply_failures.labels(channel=CHANNEL, reason=reason).inc()
        log.warning(
            "telegram reply failed",
            extra={"channel": CHANNEL, "event_id": update_id, "reason": reason, "error": str(exc)},
        )


# ----- helpers -------------------------------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "message": message}, status_code=status)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None when it is over `limit` bytes (without reading it all into memory)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _wrong_field_type(data: dict[str, Any]) -> str | None:
    """PTB does not check field types: refuse an update whose text, callback data, chat id or user id (what
    the handlers use as a question and as keys) is not what Telegram sends. None when all is well."""
    parts: list[tuple[str, Any]] = [
        (key, data.get(key)) for key in ("message", "edited_message", "channel_post", "edited_channel_post")
    ]
    query = data.get("callback_query")
    if isinstance(query, dict):
        if "data" in query and not isinstance(query["data"], str):
            return "callback_query.data must be a string"
        if "from" in query and not _has_int_id(query["from"]):
            return "callback_query.from.id must be an integer"
        parts.append(("callback_query.message", query.get("message")))
    for where, message in parts:
        if not isinstance(message, dict):
            continue
        if "text" in message and not isinstance(message["text"], str):
            return f"{where}.text must be a string"
        for field in ("chat", "from"):
            if field in message and not _has_int_id(message[field]):
                return f"{where}.{field}.id must be an integer"
    return None


def _has_int_id(value: Any) -> bool:
    ident = value.get("id") if isinstance(value, dict) else None
    return isinstance(ident, int) and not isinstance(ident, bool)


def _chat_id(update: Update) -> int | None:
    """Where to answer, and the conversation key: the chat, else (no message attached) the user."""
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return None


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the type will become timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _failure_reason(exc: TelegramError) -> str:
    """A small fixed set of metric labels (subclasses first: BadRequest and TimedOut are NetworkErrors)."""
    for kind, reason in (
        (RetryAfter, "rate_limited"),
        (Forbidden, "forbidden"),  # e.g. the user blocked the bot
        (InvalidToken, "invalid_token"),
        (BadRequest, "bad_request"),
        (TimedOut, "timeout"),
        (NetworkError, "network"),
    ):
        if isinstance(exc, kind):
            return reason
    return "telegram_error"


# ----- CLI: budgetbot telegram set-webhook URL -----------------------------------------------------


async def set_webhook(settings: Settings, url: str) -> int:
    """Register `url` as the bot's webhook with the secret token; print the result. Returns an exit code."""
    token = settings.telegram_bot_token
    secret = settings.telegram_webhook_secret
    if not token:
        print("error: TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    if not secret:
        print(
            "error: TELEGRAM_WEBHOOK_SECRET is not set; without it anyone can post to the webhook",
            file=sys.stderr,
        )
        return 2
    if not SECRET_PATTERN.fullmatch(secret):
        print("error: TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -", file=sys.stderr)
        return 2
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        print(f"error: the webhook URL must be https://... (Telegram only calls HTTPS), got {url!r}", file=sys.stderr)
        return 2
    if not parts.path.rstrip("/").endswith(WEBHOOK_PATH):
        print(f"warning: the service listens on {WEBHOOK_PATH}; {url} does not end with it", file=sys.stderr)

    bot = Bot(token, base_url=settings.telegram_api_base_url)
    try:
        async with bot:  # initialize() calls getMe, which also checks the token
            await bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
            await bot.set_my_commands(BOT_COMMANDS)
            info = await bot.get_webhook_info()
            username = bot.username
    except TelegramError as exc:
        print(f"error: Telegram refused: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a CLI reports, it does not dump a traceback
        print(f"error: could not reach Telegram: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"webhook set for @{username}: {info.url or url}")
    print(f"  allowed updates: {', '.join(info.allowed_updates or ALLOWED_UPDATES)}")
    print(f"  pending updates: {info.pending_update_count}")
    if info.last_error_message:
        print(f"  last error from Telegram: {info.last_error_message}")
    return 0
