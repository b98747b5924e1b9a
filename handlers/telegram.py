"""The Telegram channel: `POST /webhooks/telegram` and the `budgetbot telegram set-webhook` command. Parsing,
rendering and sending only; storing, de-duplicating, ordering, answering and retrying are the pipeline's.

Parsing: the secret token is checked, the body validated as an Update (python-telegram-bot's models). In a
private chat every message is answered (text; /start with the greeting, /help and unknown commands with help;
anything else with a "text only" notice). In a group only a command (for this bot), an `@botname` mention (the
name learned from getMe) or a reply to one of the assistant's messages is answered, the mention taken out;
memory is per person within the group. A tapped suggestion button is answered with its question, shown in bold
above the answer; the button's question comes from its callback data (`q:` inline) or, for the longer ones, from
the database (`h:` digest), so buttons keep working after a restart and on every instance. Subscriptions (issue
11): the buttons `sub:N` / `unsub:N`, the commands `/subscribe N` and `/unsubscribe [N]`, and the deep link
`/start sub_N` ask for that action.

Sending: one sendMessage per message, each recorded before the next (Telegram has no idempotency key, so a
crash between a send and its record repeats at most that one message); a callback query is answered first, so
the button's spinner stops. 429 RetryAfter is honoured. Every sendMessage waits its turn in this process (at
most 25 a second: Telegram allows a bot about 30), and a 403 (the user blocked the bot) is reported to the
pipeline as forbidden, which makes the notifications forget that person's subscriptions.
"""

from __future__ import annotations

import asyncio
import heapq
import hmac
import json
import logging
import re
import sys
import time
import warnings
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.answer import ActionKind, Answer, SubscriptionAction
from bot.settings import Settings
from handlers.channel import AppContext, WebhookChannel
from handlers.pipeline import (
    Attempt,
    EventOutcome,
    FailureReason,
    Ignored,
    InboundEvent,
    MalformedWebhook,
    OutboxMessage,
    Outgoing,
    Parsed,
    PushBatch,
    Rejection,
    ReplyHandle,
    SendResult,
)
from handlers.pipeline.policy import DeliveryPolicy
from handlers.telegram_render import (
    ERROR_NOTICE,
    EXPIRED_SUGGESTION_TEXT,
    SUBSCRIBE_DATA,
    TEXT_ONLY_NOTICE,
    UNSUBSCRIBE_DATA,
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
RESTART_INTERVAL = 10.0  # seconds between tries to reach Telegram after a failed start
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Notices (fixed replies) this adapter renders.
TEXT_ONLY = "text_only"
EXPIRED = "expired"
_NOTICES = {TEXT_ONLY: TEXT_ONLY_NOTICE, EXPIRED: EXPIRED_SUGGESTION_TEXT}
_GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)
SEND_INTERVAL = 1 / 25  # seconds between sendMessage calls: at most 25 a second (Telegram allows about 30)
START_SUBSCRIBE = "sub_"  # deep link: t.me/<bot>?start=sub_2571
NOTIFICATION_REF = "notify:"  # outbox refs of notification messages (handlers/notifications/store.py)


class SendPacer:
    """At most one start every `interval` seconds. Waiting callers are let through in order, the urgent ones (answers
    to someone who just wrote) before the others (notifications), so a notification to thousands of chats does not
    hold up a reply for minutes."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0  # time.monotonic() of the next free start
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = 0
        self._releaser: asyncio.Task[None] | None = None

    async def wait(self, *, urgent: bool) -> None:
        now = time.monotonic()
        if not self._waiting and now >= self._next:
            self._next = now + self.interval
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._order += 1
        heapq.heappush(self._waiting, (0 if urgent else 1, self._order, future))
        if self._releaser is None or self._releaser.done():
            self._releaser = asyncio.create_task(self._release(), name="telegram-pacer")
        await future

    async def _release(self) -> None:
        while self._waiting:
            delay = self._next - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            _, _, future = heapq.heappop(self._waiting)
            if future.done():  # its caller stopped waiting (shutdown): the slot goes to the next one
                continue
            future.set_result(None)
            self._next = time.monotonic() + self.interval


def callback_action(data: str) -> str | None:
    """The stored action of a subscription button's data (None: another kind of button)."""
    for prefix, kind in ((SUBSCRIBE_DATA, ActionKind.SUBSCRIBE), (UNSUBSCRIBE_DATA, ActionKind.UNSUBSCRIBE)):
        if data.startswith(prefix):
            return command_action(kind, data[len(prefix) :])
    return None


def command_action(kind: ActionKind, argument: str) -> str:
    """`/subscribe 2571`, `/unsubscribe`, `/unsubscribe 2571` as a stored action; a subscribe without a usable year
    is "subscribe:" (answered by asking which year)."""
    year = argument.strip().split()[0] if argument.strip() else ""
    if year.isdigit() and len(year) == 4:
        return SubscriptionAction(kind=kind, fiscal_year=int(year)).encode()
    return "unsubscribe:all" if kind is ActionKind.UNSUBSCRIBE else "subscribe:"


class StoredCallbacks(SuggestionCallbacks):
    """The renderer's callback map, also remembering which digests it handed out, so the pipeline stores them
    with the answer (see `taken`)."""

    def __init__(self) -> None:
        super().__init__()
        self._fresh: dict[str, str] = {}

    def encode(self, question: str) -> str:
        data = super().encode(question)
        if data.startswith("h:"):
            self._fresh[data[2:]] = question
        return data

    def taken(self) -> dict[str, str]:
        """The digests handed out since the last call (digest -> question)."""
        fresh, self._fresh = self._fresh, {}
        return fresh


class TelegramChannel(WebhookChannel):
    name = CHANNEL
    webhook_path = WEBHOOK_PATH
    webhook_summary = "Telegram Bot API webhook (secret token checked)"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.callbacks = StoredCallbacks()
        self.bot: Bot | None = None
        self._last_start_attempt: float | None = None
        self._stopping = False
        self.pacer = SendPacer(SEND_INTERVAL)

    forbidden_means_blocked = True  # a 403 on sendMessage: the user blocked the bot (or it was removed)

    @property
    def enabled(self) -> bool:
        return self.ctx.settings.telegram_enabled

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
        """Build and initialize the Bot (getMe: its username and id are how a group addresses it). A Telegram
        outage at boot must not take the service down: until it works the webhook answers 503 (Telegram resends)."""
        if self.bot is not None:
            return True
        now = time.monotonic()
        if self._stopping or (
            self._last_start_attempt is not None and now - self._last_start_attempt < RESTART_INTERVAL
        ):
            return False
        self._last_start_attempt = now
        settings = self.ctx.settings
        assert settings.telegram_bot_token
        policy = self.ctx.pipeline.policy if self.ctx.pipeline is not None else DeliveryPolicy()
        request = HTTPXRequest(
            connection_pool_size=policy.max_deliveries,
            read_timeout=policy.request_timeout,
            write_timeout=policy.request_timeout,
            connect_timeout=policy.request_timeout,
        )
        bot = Bot(settings.telegram_bot_token, base_url=settings.telegram_api_base_url, request=request)
        try:
            await bot.initialize()
        except Exception as exc:  # noqa: BLE001 - any failure leaves the channel unavailable, not the app
            log.error(
                "telegram start failed; webhooks get 503 until it works",
                extra={"channel": CHANNEL, "error": f"{type(exc).__name__}: {exc}"},
            )
            with suppress(Exception):
                await bot.shutdown()
            return False
        self.bot = bot
        log.info("telegram started", extra={"channel": CHANNEL, "bot_username": bot.username})
        return True

    async def stop(self) -> None:
        self._stopping = True
        bot, self.bot = self.bot, None
        if bot is not None:
            await bot.shutdown()

    # ----- parsing ---------------------------------------------------------------------------------

    async def ready(self) -> Rejection | None:
        if self.bot is None and not await self._try_start():
            return Rejection(503, "unavailable", "the Telegram channel is not ready; retry later")
        return None

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> Rejection | None:
        secret = self.ctx.settings.telegram_webhook_secret
        if not secret:
            return None
        header = headers.get(SECRET_HEADER.lower())
        # Bytes, because compare_digest refuses non-ASCII str (a header may hold anything).
        if header is not None and hmac.compare_digest(header.encode("utf-8"), secret.encode("utf-8")):
            return None
        return Rejection(403, "forbidden", "forbidden")

    async def parse(self, body: bytes, received_at: float) -> Parsed:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise MalformedWebhook("the body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise MalformedWebhook("the body must be a JSON object (a Telegram Update)")
        update_id = data.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
            raise MalformedWebhook("update_id must be a non-negative integer")
        problem = _wrong_field_type(data)
        if problem is not None:
            raise MalformedWebhook(problem)
        try:
            update = Update.de_json(data, self.bot)
        except Exception as exc:  # noqa: BLE001 - PTB raises KeyError/TypeError/AttributeError on bad shapes
            raise MalformedWebhook("the body is not a valid Telegram Update") from exc
        parsed = Parsed()
        try:
            event = await self._event(update, received_at, parsed)
        except Exception as exc:  # noqa: BLE001 - a shape PTB accepted but that makes no sense: still a 400
            raise MalformedWebhook(f"the update could not be read: {type(exc).__name__}") from exc
        if event is not None:
            parsed.events.append(event)
        return parsed

    async def _event(self, update: Update, received_at: float, parsed: Parsed) -> InboundEvent | None:
        event_id = str(update.update_id)

        def ignore(outcome: EventOutcome, why: str) -> None:
            parsed.ignored.append(Ignored(CHANNEL, event_id, outcome, why))

        if update.callback_query is not None:
            return await self._tap(update, received_at, ignore)
        message = update.message  # not edited messages or channel posts
        if message is None or message.from_user is None:
            ignore(EventOutcome.IGNORED, "not a new message or a button tap")
            return None
        chat = message.chat
        group = chat.type in _GROUPS
        if not group and chat.type != ChatType.PRIVATE:
            ignore(EventOutcome.IGNORED, "a channel")
            return None
        question: str | None = None
        notice_key: str | None = None
        action: str | None = None
        command, target, args = _command(message)
        if command is not None:
            if target and (self.bot is None or target.lower() != (self.bot.username or "").lower()):
                ignore(EventOutcome.NOT_ADDRESSED, "a command for another bot")
                return None
            question = WELCOME_QUESTION if command == "start" else HELP_QUESTION
            if command == "subscribe" or (command == "start" and args.startswith(START_SUBSCRIBE)):
                question = None
                action = command_action(ActionKind.SUBSCRIBE, args.removeprefix(START_SUBSCRIBE))
            elif command == "unsubscribe":
                question, action = None, command_action(ActionKind.UNSUBSCRIBE, args)
            elif command not in ("start", "help") and group:
                ignore(EventOutcome.NOT_ADDRESSED, "an unknown command in a group (maybe for another bot)")
                return None
        elif message.text:
            mentioned, text = self._without_mention(message)
            if group and not mentioned and not self._replies_to_us(message):
                ignore(EventOutcome.NOT_ADDRESSED, "group message not addressed to the assistant")
                return None
            question = text.strip() or WELCOME_QUESTION
        elif group and not self._replies_to_us(message):
            ignore(EventOutcome.NOT_ADDRESSED, "group message that is not text")
            return None
        else:
            notice_key = TEXT_ONLY
        return InboundEvent(
            channel=CHANNEL,
            event_id=event_id,
            lane=str(chat.id),
            conversation=f"{chat.id}:{message.from_user.id}" if group else str(chat.id),
            handle=ReplyHandle(to=str(chat.id), quote=str(message.message_id) if group else None, group=group),
            occurred_at=message.date.timestamp() if isinstance(message.date, datetime) else received_at,
            received_at=received_at,
            question=question,
            notice=notice_key,
            action=action,
        )

    async def _tap(self, update: Update, received_at: float, ignore: Any) -> InboundEvent | None:
        query = update.callback_query
        assert query is not None
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        group = query.message is not None and query.message.chat.type in _GROUPS
        action = callback_action(query.data or "")
        question = None if action is not None else await self._callback_question(query.data or "")
        return InboundEvent(
            channel=CHANNEL,
            event_id=str(update.update_id),
            lane=str(chat_id),
            conversation=f"{chat_id}:{query.from_user.id}" if group else str(chat_id),
            handle=ReplyHandle(to=str(chat_id), ack=query.id, heading=question, group=group),
            occurred_at=received_at,  # a tap carries no time of its own (the message it is under may be old)
            received_at=received_at,
            question=question,
            notice=None if question or action else EXPIRED,
            action=action,
        )

    async def _callback_question(self, data: str) -> str | None:
        question = self.callbacks.decode(data)
        if question is not None or not data.startswith("h:"):
            return question
        pipeline = self.ctx.pipeline
        if pipeline is None:
            return None
        try:
            return await pipeline.callback_question(data[2:])
        except Exception:  # noqa: BLE001 - the user is asked to type the question instead
            log.warning("could not look up a suggestion button", exc_info=True, extra={"channel": CHANNEL})
            return None

    def _without_mention(self, message: Message) -> tuple[bool, str]:
        """(whether the message mentions the assistant, its text without those mentions)."""
        text = message.text or ""
        username = (self.bot.username if self.bot is not None else "") or ""
        bot_id = self.bot.id if self.bot is not None else None
        spans: list[tuple[int, int]] = []
        for entity in message.entities:
            if entity.type == MessageEntity.MENTION:
                mentioned = message.parse_entity(entity)
                if username and mentioned.lstrip("@").lower() == username.lower():
                    spans.append((entity.offset, entity.length))
            elif entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot_id:
                spans.append((entity.offset, entity.length))
        if not spans:
            return False, text
        units = text.encode("utf-16-le")  # entity offsets count UTF-16 code units
        for offset, length in sorted(spans, reverse=True):
            units = units[: 2 * offset] + units[2 * (offset + length) :]
        return True, " ".join(units.decode("utf-16-le", "replace").split())

    def _replies_to_us(self, message: Message) -> bool:
        replied = message.reply_to_message
        return (
            self.bot is not None
            and replied is not None
            and replied.from_user is not None
            and replied.from_user.id == self.bot.id
        )

    # ----- rendering -------------------------------------------------------------------------------

    def render(self, event: InboundEvent, answer: Answer) -> Outgoing:
        messages = render_answer(answer, self.callbacks, heading=event.handle.heading)
        return self._outgoing(event.handle, messages, self.callbacks.taken())

    def render_notice(self, event: InboundEvent, notice_key: str) -> Outgoing:
        return self._outgoing(event.handle, [notice(_NOTICES.get(notice_key, ERROR_NOTICE))], {})

    def render_push(self, answer: Answer) -> Outgoing:
        """A notification's messages. Without suggestion buttons: their digests are stored with answers only."""
        messages = render_answer(answer.model_copy(update={"suggestions": []}), self.callbacks)
        self.callbacks.taken()
        return self._outgoing(ReplyHandle(to=""), messages, {})

    def push_batches(self, outgoing: Outgoing, recipients: list[str]) -> list[PushBatch]:
        """One message per chat, in that chat's lane (after its answers, in order)."""
        return [PushBatch(to=chat, parts=outgoing.parts, count=1, chat=chat) for chat in recipients]

    async def pace(self, message: OutboxMessage) -> None:
        """At most 25 sendMessage calls a second from this process; an answer waiting goes before notifications."""
        part = message.parts[message.parts_done] if message.parts_done < len(message.parts) else {}
        if part.get("method") == "sendMessage":
            await self.pacer.wait(urgent=not message.ref.startswith(NOTIFICATION_REF))

    @staticmethod
    def _outgoing(handle: ReplyHandle, messages: list[OutgoingMessage], callbacks: dict[str, str]) -> Outgoing:
        parts: list[dict[str, Any]] = []
        if handle.ack:
            parts.append({"method": "answerCallbackQuery", "callback_query_id": handle.ack})
        for i, message in enumerate(messages):
            part: dict[str, Any] = {"method": "sendMessage", "text": message.html}
            if message.keyboard is not None:
                part["reply_markup"] = message.keyboard.to_dict()
            if i == 0 and handle.quote:
                part["reply_to"] = handle.quote
            parts.append(part)
        return Outgoing(parts=parts, callbacks=callbacks)

    # ----- sending ---------------------------------------------------------------------------------

    async def send(self, message: OutboxMessage, attempt: Attempt) -> SendResult:
        bot = self.bot
        if bot is None:
            return SendResult.failed(FailureReason.CONNECTION)  # not started (Telegram down at boot): later
        part = message.parts[message.parts_done]
        last = message.parts_done == len(message.parts) - 1
        if part["method"] == "answerCallbackQuery":
            try:
                await bot.answer_callback_query(part["callback_query_id"])
            except TelegramError as exc:  # an old query cannot be answered any more: the answer still goes
                log.info("callback query not answered", extra={"channel": CHANNEL, "error": str(exc)})
            return SendResult.delivered("sent") if last else SendResult.part_sent()
        reply_to = part.get("reply_to")
        markup = part.get("reply_markup")
        try:
            await bot.send_message(
                chat_id=int(message.handle.to),
                text=part["text"],
                parse_mode=ParseMode.HTML,
                reply_markup=InlineKeyboardMarkup.de_json(markup, bot) if markup else None,
                link_preview_options=NO_PREVIEW,
                reply_parameters=(
                    ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True) if reply_to else None
                ),
                read_timeout=attempt.timeout,
                write_timeout=attempt.timeout,
            )
        except RetryAfter as exc:
            return SendResult.failed(FailureReason.RATE_LIMITED, retry_after=_retry_after_seconds(exc))
        except TelegramError as exc:
            return SendResult.failed(_failure_reason(exc))
        except Exception:  # noqa: BLE001 - never a crash
            log.exception("telegram send failed unexpectedly", extra={"channel": CHANNEL, "event_id": message.ref})
            return SendResult.failed(FailureReason.UNEXPECTED)
        return SendResult.delivered("sent") if last else SendResult.part_sent()


# ----- helpers -------------------------------------------------------------------------------------


def _command(message: Message) -> tuple[str | None, str | None, str]:
    """(command, the bot it names after '@' or None, the rest of the text) when the message starts with one."""
    entity = next(iter(message.entities), None)
    if entity is None or entity.type != MessageEntity.BOT_COMMAND or entity.offset != 0:
        return None, None, message.text or ""
    word = message.parse_entity(entity).lstrip("/")
    name, _, target = word.partition("@")
    return name.lower(), target or None, (message.text or "")[entity.length :].strip()


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


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the type will become timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _failure_reason(exc: TelegramError) -> FailureReason:
    """Subclasses first: BadRequest and TimedOut are NetworkErrors in PTB."""
    for kind, reason in (
        (Forbidden, FailureReason.FORBIDDEN),  # e.g. the user blocked the bot
        (InvalidToken, FailureReason.UNAUTHORIZED),
        (BadRequest, FailureReason.CLIENT_ERROR),
        (TimedOut, FailureReason.TIMEOUT),
        (NetworkError, FailureReason.CONNECTION),
    ):
        if isinstance(exc, kind):
            return reason
    return FailureReason.UNEXPECTED


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
