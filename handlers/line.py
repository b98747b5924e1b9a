"""The LINE channel: `POST /webhooks/line`, answered 200 at once, replies sent from background tasks.

Flow: verify `X-Line-Signature` on the raw body (current or previous channel secret) -> parse events with
the SDK models -> answer 200 -> per conversation, in order: de-duplicate on `webhookEventId`, ask the
service, render, reply with the event's reply token. A reply that fails is retried while that is safe
(5xx, timeout) and, when the token can no longer be used, sent as a push message instead.

Follow (and join, when added to a group) events get the welcome: the answer to "สวัสดี". Stickers, images
and other non-text messages get a short Thai help text. Unfollow, leave, unsend and unknown types: nothing.

Postback data: either the question itself ("แนวทางมีอะไรบ้าง") or a query string carrying it
("q=แนวทางมีอะไรบ้าง", URL-encoded; other keys are ignored). Rich menus and Flex buttons may use either.

The loading animation is not shown: answers take milliseconds, so it would only add a request per message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    Message,
    PushMessageRequest,
    ReplyMessageRequest,
)
from linebot.v3.messaging.exceptions import ApiException
from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    GroupSource,
    JoinEvent,
    MessageEvent,
    PostbackEvent,
    RoomSource,
    TextMessageContent,
    UserSource,
)
from starlette.requests import ClientDisconnect

from bot.answer import Answer
from handlers import line_render
from handlers.channel import AppContext, Channel
from handlers.line_render import render_answer, render_error, render_help

log = logging.getLogger(__name__)

CHANNEL = "line"
WELCOME_QUESTION = "สวัสดี"
# The console's Verify button sends events with these tokens; they can never be replied to.
DUMMY_REPLY_TOKENS = frozenset({"0" * 32, "f" * 32})


@dataclass(frozen=True)
class ReplyPolicy:
    """Timeouts and retries for outgoing calls. Tests may swap `REPLY_POLICY` before `create_app`."""

    request_timeout: float = 5.0  # seconds for one API call
    reply_attempts: int = 3
    push_attempts: int = 3
    backoff: float = 0.5  # first retry delay, doubled each time
    # A reply token is good for about a minute from when LINE sent the webhook; keep a margin.
    token_lifetime: float = 50.0
    shutdown_timeout: float = 10.0  # how long stop() waits for in-flight replies
    # Events answered at once. The webhook answers 200 before the work, so a burst must queue here: with
    # thousands of events in flight the event loop falls behind and every reply call times out.
    max_concurrent_events: int = 16


REPLY_POLICY = ReplyPolicy()

# Failure reasons (the `reason` label of reply_failures).
INVALID_TOKEN = "invalid_reply_token"
TOKEN_EXPIRED = "reply_token_expired"  # queued past the token's life; never sent
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
CONNECTION = "connection"
RATE_LIMITED = "rate_limited"
UNAUTHORIZED = "unauthorized"
CLIENT_ERROR = "client_error"
UNEXPECTED = "unexpected"
_RETRYABLE = frozenset({SERVER_ERROR, TIMEOUT, CONNECTION})


class BodyTooLarge(Exception):
    pass


# --- pure helpers --------------------------------------------------------------------------------


def verify_signature(body: bytes, signature: str | None, secrets: Iterable[str | None]) -> bool:
    """True when `signature` is base64(HMAC-SHA256(secret, body)) for one of the secrets."""
    if not signature:
        return False
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    ok = False
    for secret in secrets:
        if secret:
            expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
            ok = hmac.compare_digest(expected, given) or ok  # no early exit: same work for every secret
    return ok


def postback_question(data: str) -> str:
    """The question a postback carries: `q=<question>` (query string) or the data itself."""
    data = data.strip()
    if data.startswith("q=") or "&q=" in data:
        values = parse_qs(data, keep_blank_values=True).get("q") or [""]
        return values[0].strip()  # empty: the caller sends the help text
    return data


def source_id(event: Event) -> str | None:
    """The conversation an event belongs to: the user for one-to-one chats, else the group or room."""
    source = getattr(event, "source", None)
    if isinstance(source, UserSource):
        return source.user_id
    if isinstance(source, GroupSource):
        return source.group_id
    if isinstance(source, RoomSource):
        return source.room_id
    return None


def parse_events(payload: dict[str, Any]) -> list[Event]:
    """SDK event models for the recognised events; anything else is skipped with a log line."""
    events: list[Event] = []
    for raw in payload.get("events") or []:
        try:
            events.append(Event.from_dict(raw))
        except Exception:  # noqa: BLE001 - new or malformed event types are ignored, never a 500
            kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
            log.info("LINE event not understood, ignored", extra={"channel": CHANNEL, "event_type": str(kind)})
    return events


def classify(exc: BaseException) -> str:
    """A failure reason for an exception from a Messaging API call."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        body = exc.body if isinstance(exc.body, str) else ""
        if status == 400 and "reply token" in body.lower():
            return INVALID_TOKEN
        if status >= 500:
            return SERVER_ERROR
        if status == 429:
            return RATE_LIMITED
        if status in (401, 403):
            return UNAUTHORIZED
        return CLIENT_ERROR
    if isinstance(exc, TimeoutError):  # asyncio and aiohttp timeouts are TimeoutError subclasses
        return TIMEOUT
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return CONNECTION
    return UNEXPECTED


@dataclass(frozen=True)
class _Work:
    """What to do for one event: ask a question, or send a fixed reply."""

    question: str | None  # None: reply with the help text


def _work_for(event: Event) -> _Work | None:
    """None for events that get no reply (unfollow, leave, unsend, unknown types...)."""
    if isinstance(event, MessageEvent):
        if isinstance(event.message, TextMessageContent) and event.message.text.strip():
            return _Work(event.message.text)
        return _Work(None)  # stickers, images, files, locations: a short help reply
    if isinstance(event, PostbackEvent):
        question = postback_question(event.postback.data or "")
        return _Work(question or None)
    if isinstance(event, (FollowEvent, JoinEvent)):
        return _Work(WELCOME_QUESTION)
    return None


@dataclass(frozen=True)
class _Target:
    event_id: str
    reply_token: str
    push_to: str | None
    received_at: float  # time.monotonic() when the webhook arrived


# --- the channel ---------------------------------------------------------------------------------


class LineChannel(Channel):
    name = CHANNEL

    def __init__(self, ctx: AppContext, policy: ReplyPolicy | None = None) -> None:
        super().__init__(ctx)
        self.policy = policy or REPLY_POLICY
        self._client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.policy.max_concurrent_events)
        self._stopping = False

    @property
    def enabled(self) -> bool:
        return self.ctx.settings.line_enabled

    async def start(self) -> None:
        settings = self.ctx.settings
        # AsyncApiClient opens an aiohttp session, which needs the running loop: hence here, not __init__.
        configuration = Configuration(host=settings.line_api_base_url, access_token=settings.line_channel_access_token)
        self._client = AsyncApiClient(configuration)
        self._api = AsyncMessagingApi(self._client)
        self._stopping = False
        await asyncio.to_thread(line_render.warm)

    async def stop(self) -> None:
        self._stopping = True
        pending = set(self._tasks)
        if pending:
            log.info("waiting for in-flight LINE replies", extra={"channel": CHANNEL, "count": len(pending)})
            _, still = await asyncio.wait(pending, timeout=self.policy.shutdown_timeout)
            for task in still:
                task.cancel()
            if still:
                await asyncio.gather(*still, return_exceptions=True)
                log.warning("LINE replies cancelled at shutdown", extra={"channel": CHANNEL, "count": len(still)})
        if self._client is not None:
            await self._client.close()
        self._client = None
        self._api = None

    # --- webhook ---------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(tags=["line"])
        router.add_api_route("/webhooks/line", self._webhook, methods=["POST"], response_class=JSONResponse)
        return router

    async def _webhook(self, request: Request) -> JSONResponse:
        started = time.monotonic()
        outcome = "ok"
        try:
            response, outcome = await self._accept(request, started)
            return response
        finally:
            self.ctx.metrics.webhooks.labels(channel=CHANNEL, outcome=outcome).inc()
            self.ctx.metrics.webhook_latency.labels(channel=CHANNEL).observe(time.monotonic() - started)

    async def _accept(self, request: Request, received_at: float) -> tuple[JSONResponse, str]:
        settings = self.ctx.settings
        if not self.enabled or self._api is None:
            return JSONResponse(
                {"detail": "LINE is not configured: set LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN"},
                status_code=404,
            ), "disabled"
        if self._stopping:
            # LINE redelivers (when enabled) what gets no 2xx: better than dropping it half-done.
            return JSONResponse({"detail": "shutting down"}, status_code=503), "unavailable"
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except BodyTooLarge:
            log.warning("LINE webhook body too large", extra={"channel": CHANNEL})
            return JSONResponse({"detail": "request body too large"}, status_code=413), "too_large"
        except ClientDisconnect:
            return JSONResponse({"detail": "incomplete request"}, status_code=400), "malformed"
        signature = request.headers.get("x-line-signature")
        secrets = (settings.line_channel_secret, settings.line_channel_secret_previous)
        if not verify_signature(body, signature, secrets):
            log.warning(
                "LINE webhook rejected: bad signature",
                extra={"channel": CHANNEL, "reason": "missing" if not signature else "mismatch"},
            )
            return JSONResponse({"detail": "invalid signature"}, status_code=400), "bad_signature"
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # also UnicodeDecodeError; RecursionError: nested too deep
            log.warning("LINE webhook rejected: body is not JSON", extra={"channel": CHANNEL})
            return JSONResponse({"detail": "malformed JSON"}, status_code=400), "malformed"
        if not isinstance(payload, dict) or not isinstance(payload.get("events", []), list):
            log.warning("LINE webhook rejected: no events list", extra={"channel": CHANNEL})
            return JSONResponse({"detail": "malformed webhook body"}, status_code=400), "malformed"
        self._dispatch(parse_events(payload), received_at)
        return JSONResponse({}), "ok"

    def _dispatch(self, events: Sequence[Event], received_at: float) -> None:
        """One background task per conversation, so one user's messages are handled in order."""
        by_conversation: dict[str, list[Event]] = {}
        for event in events:
            by_conversation.setdefault(source_id(event) or "", []).append(event)
        for group in by_conversation.values():
            self._spawn(group, received_at)

    def _spawn(self, events: list[Event], received_at: float) -> None:
        # Tracked so stop() can wait for replies in flight; _handle_all never lets an exception out.
        task = asyncio.create_task(self._handle_all(events, received_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_all(self, events: list[Event], received_at: float) -> None:
        async with self._slots:
            await self._handle_in_order(events, received_at)

    async def _handle_in_order(self, events: list[Event], received_at: float) -> None:
        for event in events:
            try:
                await self._handle(event, received_at)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception(
                    "LINE event handling failed",
                    extra={"channel": CHANNEL, "event_id": getattr(event, "webhook_event_id", None)},
                )

    async def _handle(self, event: Event, received_at: float) -> None:
        event_id: str = getattr(event, "webhook_event_id", None) or ""
        work = _work_for(event)
        extra: dict[str, Any] = {"channel": CHANNEL, "event_id": event_id, "event_type": getattr(event, "type", "?")}
        if work is None:
            log.debug("LINE event ignored", extra=extra)
            return
        mode = getattr(event, "mode", None)
        if getattr(mode, "value", mode) == "standby":
            log.debug("LINE event in standby mode ignored", extra=extra)  # another channel owns the chat
            return
        reply_token: str | None = getattr(event, "reply_token", None)
        if not reply_token or reply_token in DUMMY_REPLY_TOKENS:
            log.info("LINE event without a usable reply token (verification?) ignored", extra=extra)
            return
        service = self.ctx.require_service()
        if event_id and not await service.claim_event(CHANNEL, event_id):
            redelivery = bool(getattr(getattr(event, "delivery_context", None), "is_redelivery", False))
            log.info("LINE event already handled, skipped", extra={**extra, "redelivery": redelivery})
            return
        conversation = source_id(event)
        messages = await self._messages_for(work, conversation or "unknown", extra)
        await self._deliver(_Target(event_id, reply_token, conversation, received_at), messages)

    async def _messages_for(self, work: _Work, user: str, extra: dict[str, Any]) -> list[Message]:
        if work.question is None:
            return render_help()
        started = time.monotonic()
        try:
            answer: Answer = await self.ctx.require_service().ask(work.question, channel=CHANNEL, user=user)
        except Exception:  # noqa: BLE001 - the user still gets a reply, the log gets the trace
            log.exception("answering failed", extra=extra)
            return render_error()
        self.ctx.metrics.observe_answer(answer, time.monotonic() - started)
        try:
            return render_answer(answer)
        except Exception:  # noqa: BLE001
            log.exception("rendering the answer for LINE failed", extra=extra)
            return render_error()

    # --- delivery --------------------------------------------------------------------------------

    async def _deliver(self, target: _Target, messages: list[Message]) -> None:
        """Reply; retry what is safe to retry; push when the reply token cannot be used any more.

        Every failed call is counted; the event's failure is logged once, with what finally happened.
        """
        reasons: list[str] = []
        ambiguous = False  # an earlier attempt may have been delivered (timeout, 5xx)
        outcome = "gave_up"
        attempts = self.policy.reply_attempts
        if time.monotonic() - target.received_at + self.policy.request_timeout > self.policy.token_lifetime:
            # Queued so long (an overload) that the reply token is dead: push straight away.
            reasons.append(TOKEN_EXPIRED)
            self._count_failure(TOKEN_EXPIRED)
            outcome = await self._push(target, messages, reasons)
            attempts = 0
        for attempt in range(1, attempts + 1):
            reason = await self._call(
                lambda: self._require_api().reply_message(
                    ReplyMessageRequest(reply_token=target.reply_token, messages=messages),
                    _request_timeout=self.policy.request_timeout,
                )
            )
            if reason is None:
                self.ctx.metrics.reply_latency.labels(channel=CHANNEL).observe(time.monotonic() - target.received_at)
                outcome = "replied"
                break
            reasons.append(reason)
            self._count_failure(reason)
            if reason == INVALID_TOKEN:
                # After an attempt that may have gone through, "invalid" most likely means "already used".
                outcome = "probably_delivered" if ambiguous else await self._push(target, messages, reasons)
                break
            if reason not in _RETRYABLE:
                break
            ambiguous = True
            delay = self.policy.backoff * 2 ** (attempt - 1)
            token_age = time.monotonic() - target.received_at
            if (
                attempt == self.policy.reply_attempts
                or token_age + delay + self.policy.request_timeout > self.policy.token_lifetime
            ):
                outcome = await self._push(target, messages, reasons)
                break
            await asyncio.sleep(delay)
        if reasons:
            log.warning(
                "LINE reply failed",
                extra={"channel": CHANNEL, "event_id": target.event_id, "reasons": reasons, "outcome": outcome},
            )

    async def _push(self, target: _Target, messages: list[Message], reasons: list[str]) -> str:
        """Send as a push message; the retry key lets LINE drop our own duplicates. Returns the outcome."""
        if not target.push_to:
            return "no_push_target"
        retry_key = str(uuid.uuid4())
        for attempt in range(1, self.policy.push_attempts + 1):
            reason = await self._call(
                lambda: self._require_api().push_message(
                    PushMessageRequest(to=target.push_to or "", messages=messages),
                    x_line_retry_key=retry_key,
                    _request_timeout=self.policy.request_timeout,
                )
            )
            if reason is None:
                self.ctx.metrics.reply_latency.labels(channel=CHANNEL).observe(time.monotonic() - target.received_at)
                return "pushed"
            reasons.append(f"push_{reason}")
            self._count_failure(f"push_{reason}")
            if reason not in _RETRYABLE or attempt == self.policy.push_attempts:
                break
            await asyncio.sleep(self.policy.backoff * 2 ** (attempt - 1))
        return "push_failed"

    async def _call(self, send: Callable[[], Awaitable[object]]) -> str | None:
        """Run one API call; None on success, else the failure reason. 409 on a push = already accepted."""
        try:
            await send()
            return None
        except asyncio.CancelledError:
            raise
        except ApiException as exc:
            if exc.status == 409:  # X-Line-Retry-Key already accepted: the earlier push went through
                return None
            return classify(exc)
        except Exception as exc:  # noqa: BLE001 - any transport failure is a reason, not a crash
            return classify(exc)

    def _count_failure(self, reason: str) -> None:
        self.ctx.metrics.reply_failures.labels(channel=CHANNEL, reason=reason).inc()

    def _require_api(self) -> AsyncMessagingApi:
        if self._api is None:
            raise RuntimeError("LINE channel not started")
        return self._api


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body (the signature covers these exact bytes), refusing more than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
