"""The LINE channel: `POST /webhooks/line`. Parsing, rendering and sending only; everything else (storing,
de-duplicating, ordering, answering, retrying, counting) is the pipeline's (handlers/pipeline/).

Parsing: verify `X-Line-Signature` on the raw body (current or previous channel secret), parse the events with
the SDK's models. A text message is a question; a postback carries one (`q=<question>` or the data itself);
follow gets the welcome (the answer to "สวัสดี"); stickers, images and other messages get a short help text.
In a group or room only a message that mentions the assistant (`mention.mentionees[]` with `isSelf: true`) is
answered, with the mention taken out of the question and the asker's message quoted; joining a group gets a
short introduction that says how to ask. Memory is per person within a group. A postback
`action=subscribe&fy=N` / `action=unsubscribe&fy=N` (issue 11) asks for that action; an unfollow (no reply token)
asks for every subscription of the person to be forgotten. Leave, unsend, standby and verification events (dummy
reply tokens) get nothing.

Sending: while the reply token is fresh, a reply; otherwise (or once LINE refuses the token) a push with the
message's stored `X-Line-Retry-Key`, so LINE drops our own duplicates (409 = delivered). "Invalid reply token"
after an attempt that may have gone through counts as delivered. One answer is one API call. A notification is
a multicast (up to 500 user ids a call) with its stored retry key; before it the month's quota is read
(`GET /v2/bot/message/quota` and `/quota/consumption`) and a batch that would exceed it is held (retried later,
the reason stored for the admin page). Broadcast and narrowcast are never used: they reach people who did not
subscribe.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import ssl
import urllib.request
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from linebot.v3.messaging import (
    AsyncApiClient,
    Configuration,
)
from linebot.v3.messaging.exceptions import ApiException
from pydantic.v1 import BaseModel as SdkModel  # the LINE SDK's models are pydantic v1

from bot.answer import ActionKind, Answer, SubscriptionAction
from handlers import line_render
from handlers.channel import AppContext, WebhookChannel
from handlers.line_render import DEFAULT_QUESTIONS, render_answer, render_error, render_help, render_text
from handlers.pipeline import (
    FORGET,
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

log = logging.getLogger(__name__)

CHANNEL = "line"
WEBHOOK_PATH = "/webhooks/line"
WELCOME_QUESTION = "สวัสดี"
# The console's Verify button sends events with these tokens; they can never be replied to.
DUMMY_REPLY_TOKENS = frozenset({"0" * 32, "f" * 32})
REPLY_PATH = "/v2/bot/message/reply"
PUSH_PATH = "/v2/bot/message/push"
MULTICAST_PATH = "/v2/bot/message/multicast"
QUOTA_PATH = "/v2/bot/message/quota"
CONSUMPTION_PATH = "/v2/bot/message/quota/consumption"
MAX_MULTICAST_IDS = 500  # LINE's limit on `to` of a multicast
MULTICAST_TO = "multicast"  # ReplyHandle.to of a multicast (its user ids travel in the message's part)
# Notices (fixed replies) this adapter renders.
HELP = "help"
JOIN = "join"
# The introduction in a group, in the assistant's voice (BUDGETBOT_POLITE_PARTICLE: particle, first person).
_VOICES = {"ค่ะ": ("ค่ะ", "ดิฉัน"), "ครับ": ("ครับ", "ผม"), "none": ("", "เรา")}


def join_text(particle: str) -> str:
    ending, me = _VOICES.get(particle, _VOICES["ค่ะ"])
    return (
        f"สวัสดี{ending} {me}เป็นผู้ช่วยตอบคำถามเรื่องการของบประมาณแผนงานบูรณาการรัฐบาลดิจิทัล (สพร.) 🙏\n"
        f'ในกลุ่มนี้ ถาม{me}ได้โดยพิมพ์ @ แล้วเลือกชื่อ{me} ตามด้วยคำถาม เช่น "@ผู้ช่วย ปีงบนี้ยังยื่นได้ไหม" '
        "หรือแตะคำถามด้านล่าง"
    )


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


def postback_action(data: str) -> str | None:
    """The stored action of a postback `action=subscribe&fy=N` / `action=unsubscribe[&fy=N]` (None: not one).
    A subscribe without a usable year comes back as "subscribe:" (answered by asking which year)."""
    if not data.startswith("action=") and "&action=" not in data:
        return None
    values = parse_qs(data, keep_blank_values=True)
    kind = (values.get("action") or [""])[0]
    if kind not in (ActionKind.SUBSCRIBE.value, ActionKind.UNSUBSCRIBE.value):
        return None
    year = (values.get("fy") or [""])[0].strip()
    if year.isdigit() and len(year) == 4:
        return SubscriptionAction(kind=ActionKind(kind), fiscal_year=int(year)).encode()
    return "unsubscribe:all" if kind == ActionKind.UNSUBSCRIBE.value else "subscribe:"


def without_self_mentions(text: str, mention: Any) -> tuple[bool, str]:
    """(whether the assistant is mentioned, the text without its mentions), from a text message's `mention`.
    Mentions of others, or of everyone (`all`), do not address it. LINE counts `index` and `length` in UTF-16
    code units."""
    mentionees = mention.get("mentionees") if isinstance(mention, dict) else None
    spans = [
        (m["index"], m["length"])
        for m in (mentionees if isinstance(mentionees, list) else [])
        if isinstance(m, dict)
        and m.get("type") == "user"
        and m.get("isSelf") is True
        and _count(m.get("index")) is not None
        and _count(m.get("length"))
    ]
    if not spans:
        return False, text
    units = text.encode("utf-16-le", "surrogatepass")
    for index, length in sorted(spans, reverse=True):
        units = units[: 2 * index] + units[2 * (index + length) :]
    return True, " ".join(units.decode("utf-16-le", "replace").split())


def _count(value: Any, limit: int = 2**31) -> int | None:
    """A non-negative int below `limit` (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < limit else None


def classify(exc: BaseException) -> FailureReason:
    """The failure reason for an exception from a Messaging API call."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body or "")
        if status == 400 and "reply token" in body.lower():
            return FailureReason.INVALID_REPLY_TOKEN
        if status >= 500:
            return FailureReason.SERVER_ERROR
        if status == 429:
            if "monthly limit" in body.lower():
                return FailureReason.QUOTA_EXCEEDED
            return FailureReason.RATE_LIMITED
        if status == 401:
            return FailureReason.UNAUTHORIZED
        if status == 403:
            return FailureReason.FORBIDDEN
        return FailureReason.CLIENT_ERROR
    if isinstance(exc, TimeoutError):  # asyncio and aiohttp timeouts are TimeoutError subclasses
        return FailureReason.TIMEOUT
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return FailureReason.CONNECTION
    return FailureReason.UNEXPECTED


def _chat(source: Any) -> tuple[str | None, str | None, bool]:
    """(chat id, sender id, is a group or room) of an event's source."""
    if not isinstance(source, dict):
        return None, None, False
    kind, user = source.get("type"), source.get("userId")
    user = user if isinstance(user, str) and user else None
    key = {"user": "userId", "group": "groupId", "room": "roomId"}.get(kind) if isinstance(kind, str) else None
    chat = source.get(key) if key else None
    if not isinstance(chat, str) or not chat:
        return None, None, False
    return chat, user, kind != "user"


def line_json(model: Any) -> Any:
    """An SDK model as the JSON LINE gets (aliases, no None fields): what `model.to_dict()` gives, measured equal
    over every rendered answer, about ten times faster (the generated to_dict goes through pydantic v1's dict())."""
    if isinstance(model, SdkModel):
        values = model.__dict__
        return {
            field.alias: line_json(values[name])
            for name, field in model.__fields__.items()
            if values.get(name) is not None
        }
    if isinstance(model, list):
        return [line_json(item) for item in model]
    if isinstance(model, Enum):
        return model.value
    return model


def _for_group(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """In a group a typed message reaches the assistant only with a mention, so suggestion buttons send a
    postback (always addressed to it) carrying the question, shown in the chat as if typed. (New dicts: the
    rendered messages may be shared, see RenderCache.)"""
    out = []
    for message in messages:
        quick = message.get("quickReply")
        if quick:
            items = []
            for item in quick.get("items", []):
                action = item.get("action") or {}
                if action.get("type") == "message" and action.get("text"):
                    text = action["text"]
                    item = {
                        **item,
                        "action": {"type": "postback", "label": action["label"], "data": text, "displayText": text},
                    }
                items.append(item)
            message = {**message, "quickReply": {**quick, "items": items}}
        out.append(message)
    return out


def _quoting(messages: list[dict[str, Any]], quote: str) -> list[dict[str, Any]]:
    """The first text message quotes the asker's message (new dicts, as above)."""
    out = list(messages)
    for i, message in enumerate(out):
        if message.get("type") == "text":
            out[i] = {**message, "quoteToken": quote}
            break
    return out


class RenderCache:
    """Rendered answers (LINE message JSON) by the answer they render, least recently used dropped.

    Why: most questions arrive the same way again and again (rich-menu buttons and quick replies send fixed
    texts), so the same answers are rendered over and over; rendering and serialising one costs about a third of
    a millisecond, a lookup a few microseconds. The renderer is a pure function of the Answer, which is the key
    (all of it: a knowledge reload changes its version, a new day its as_of)."""

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._rendered: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def messages(self, answer: Answer) -> list[dict[str, Any]]:
        key = answer.model_dump_json()
        rendered = self._rendered.get(key)
        if rendered is None:
            self.misses += 1
            rendered = [line_json(m) for m in render_answer(answer)]
            self._rendered[key] = rendered
            if len(self._rendered) > self.capacity:
                self._rendered.popitem(last=False)
        else:
            self.hits += 1
            self._rendered.move_to_end(key)
        return rendered


# --- sending -------------------------------------------------------------------------------------


class LineApi:
    """Reply and push through the SDK's API client, with message payloads kept as stored (plain JSON).

    Why not `AsyncMessagingApi.reply_message`: it validates and re-serialises pydantic models on every call
    (about 0.8 ms a reply); the answer was rendered and serialised once already, when it was stored. And the
    SDK's aiohttp session trusts the environment, which costs two thread hand-offs per call (netrc and proxy
    look-ups): it is replaced by one that does not, with the proxy (if any) read once at start."""

    def __init__(self, client: AsyncApiClient, base_url: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": client.user_agent,
            **client.default_headers,  # the channel access token
        }

    @classmethod
    async def open(cls, base_url: str, access_token: str, *, max_connections: int) -> LineApi:
        """The client, with its session replaced (needs the running loop)."""
        configuration = Configuration(host=base_url, access_token=access_token)
        client = AsyncApiClient(configuration)
        rest = client.rest_client
        sdk_session = rest.pool_manager
        rest.pool_manager = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=max_connections, ssl=ssl.create_default_context(cafile=configuration.ssl_ca_cert)
            ),
            trust_env=False,
        )
        rest.proxy = _proxy_for(base_url)
        await sdk_session.close()
        return cls(client, base_url)

    async def close(self) -> None:
        await self.client.close()

    async def reply(self, token: str, messages: list[dict[str, Any]], timeout: float) -> None:
        await self._post(REPLY_PATH, {"replyToken": token, "messages": messages}, {}, timeout)

    async def push(self, to: str, messages: list[dict[str, Any]], retry_key: str, timeout: float) -> None:
        await self._post(PUSH_PATH, {"to": to, "messages": messages}, {"X-Line-Retry-Key": retry_key}, timeout)

    async def multicast(self, to: list[str], messages: list[dict[str, Any]], retry_key: str, timeout: float) -> None:
        await self._post(MULTICAST_PATH, {"to": to, "messages": messages}, {"X-Line-Retry-Key": retry_key}, timeout)

    async def quota_left(self, timeout: float) -> tuple[int | None, int]:
        """(the month's message quota, None when unlimited; messages used so far this month)."""
        quota = await self._get(QUOTA_PATH, timeout)
        if quota.get("type") != "limited":
            return None, 0
        used = await self._get(CONSUMPTION_PATH, timeout)
        return int(quota.get("value") or 0), int(used.get("totalUsage") or 0)

    async def _get(self, path: str, timeout: float) -> dict[str, Any]:
        response = await self.client.rest_client.get_request(
            self.base_url + path, headers=self.headers, _request_timeout=timeout
        )
        data = json.loads(response.data or b"{}")
        return data if isinstance(data, dict) else {}

    async def _post(self, path: str, body: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
        # The SDK's REST layer: JSON body, the session above, ApiException on any status but 2xx. (Its generic
        # call_api would walk the stored JSON again to "sanitise" it and decode an answer nobody reads.)
        await self.client.rest_client.post_request(
            self.base_url + path, headers={**self.headers, **headers}, body=body, _request_timeout=timeout
        )


def _proxy_for(url: str) -> str | None:
    """The HTTPS proxy the environment names for this URL (HTTPS_PROXY / NO_PROXY), read once."""
    host = urlsplit(url).hostname or ""
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(urlsplit(url).scheme or "https")


# --- the channel ---------------------------------------------------------------------------------


class LineChannel(WebhookChannel):
    name = CHANNEL
    webhook_path = WEBHOOK_PATH
    webhook_summary = "LINE webhook (signed)"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.api: LineApi | None = None
        self.rendered = RenderCache()
        # One quota check at a time in this process, counting the recipients of multicasts in flight as used, so
        # two batches cannot both pass the same check.
        self._quota_lock = asyncio.Lock()
        self._in_flight = 0

    @property
    def enabled(self) -> bool:
        return self.ctx.settings.line_enabled

    async def start(self) -> None:
        settings = self.ctx.settings
        assert settings.line_channel_access_token
        policy = self.ctx.pipeline.policy if self.ctx.pipeline is not None else DeliveryPolicy()
        # The SDK's client opens an aiohttp session, which needs the running loop: hence here, not __init__.
        self.api = await LineApi.open(
            settings.line_api_base_url, settings.line_channel_access_token, max_connections=policy.max_deliveries
        )
        line_render.warm()

    async def stop(self) -> None:
        if self.api is not None:
            await self.api.close()
        self.api = None

    # --- parsing ---------------------------------------------------------------------------------

    async def ready(self) -> Rejection | None:
        if self.api is None:
            return Rejection(503, "unavailable", "the LINE channel is not started; retry later")
        return None

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> Rejection | None:
        settings = self.ctx.settings
        signature = headers.get("x-line-signature")
        if verify_signature(body, signature, (settings.line_channel_secret, settings.line_channel_secret_previous)):
            return None
        reason = "missing signature" if not signature else "invalid signature"
        return Rejection(400, "bad_signature", reason)

    async def parse(self, body: bytes, received_at: float) -> Parsed:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError; RecursionError: nested too deep
            raise MalformedWebhook("malformed JSON") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("events", []), list):
            raise MalformedWebhook("malformed webhook body: no events list")
        parsed = Parsed()
        for raw in payload.get("events") or []:
            try:
                self._parse_event(raw, received_at, parsed)
            except Exception:  # noqa: BLE001 - a shape nobody foresaw: that event is ignored, never a 500
                log.warning("LINE event not understood, ignored", exc_info=True, extra={"channel": CHANNEL})
                parsed.ignored.append(Ignored(CHANNEL, None, EventOutcome.IGNORED, "not understood"))
        return parsed

    def _parse_event(self, raw: Any, received_at: float, parsed: Parsed) -> None:
        """One event, read straight from the JSON with its types checked (the SDK's pydantic models cost a fifth
        of a millisecond an event). Anything not understood is acknowledged and ignored, never a 500."""
        event = raw if isinstance(raw, dict) else {}
        kind, event_id, timestamp = event.get("type"), event.get("webhookEventId"), event.get("timestamp")
        event_id = event_id if isinstance(event_id, str) else ""

        def ignore(outcome: EventOutcome, why: str) -> None:
            parsed.ignored.append(Ignored(CHANNEL, event_id or None, outcome, why))

        occurred_at = timestamp / 1000 if _count(timestamp, 2**53) else None  # milliseconds
        if not isinstance(kind, str) or not event_id or occurred_at is None:
            return ignore(EventOutcome.IGNORED, f"not understood: {str(kind)[:40]}")
        if event.get("mode") == "standby":
            return ignore(EventOutcome.IGNORED, "standby: another channel owns the chat")
        chat, sender, group = _chat(event.get("source"))
        token = event.get("replyToken")
        if not chat:
            return ignore(EventOutcome.IGNORED, "no chat")
        if kind == "unfollow" and not group:  # the person blocked the official account: forget their subscriptions
            parsed.events.append(
                InboundEvent(
                    channel=CHANNEL,
                    event_id=event_id,
                    lane=chat,
                    conversation=chat,
                    handle=ReplyHandle(to=chat),
                    occurred_at=occurred_at,
                    received_at=received_at,
                    action=FORGET,
                )
            )
            return None
        if not isinstance(token, str) or not token or token in DUMMY_REPLY_TOKENS:
            return ignore(EventOutcome.IGNORED, "no usable reply token (verification?)")
        question: str | None = None
        notice: str | None = None
        quote: str | None = None
        action: str | None = None
        if kind == "message":
            message = event.get("message")
            message = message if isinstance(message, dict) else {}
            text = message.get("text")
            if message.get("type") == "text" and isinstance(text, str):
                mentioned, text = without_self_mentions(text, message.get("mention"))
                if group and not mentioned:
                    return ignore(EventOutcome.NOT_ADDRESSED, "group message without a mention of the assistant")
                question = text.strip() or WELCOME_QUESTION
                quote_token = message.get("quoteToken")
                quote = quote_token if group and isinstance(quote_token, str) and quote_token else None
            elif group:
                return ignore(EventOutcome.NOT_ADDRESSED, "group message that is not text")
            else:
                notice = HELP  # stickers, images, files, locations: a short help reply
        elif kind == "postback":
            postback = event.get("postback")
            data = postback.get("data") if isinstance(postback, dict) else None
            action = postback_action(data.strip()) if isinstance(data, str) else None
            if action is None:
                question = postback_question(data) if isinstance(data, str) else None
                question = question or None
                notice = None if question else HELP
        elif kind == "follow":
            question = WELCOME_QUESTION
        elif kind == "join":
            notice = JOIN
        else:
            return ignore(EventOutcome.IGNORED, f"nothing to answer: {kind[:40]}")
        delivery = event.get("deliveryContext")
        parsed.events.append(
            InboundEvent(
                channel=CHANNEL,
                event_id=event_id,
                lane=chat,
                conversation=f"{chat}:{sender}" if group and sender else chat,
                handle=ReplyHandle(to=chat, token=token, quote=quote, group=group),
                occurred_at=occurred_at,
                received_at=received_at,
                question=question,
                notice=notice,
                redelivery=isinstance(delivery, dict) and delivery.get("isRedelivery") is True,
                action=action,
            )
        )

    # --- rendering -------------------------------------------------------------------------------

    def render(self, event: InboundEvent, answer: Answer) -> Outgoing:
        return self._outgoing(event.handle, self.rendered.messages(answer))

    def render_notice(self, event: InboundEvent, notice: str) -> Outgoing:
        if notice == HELP:
            messages = render_help()
        elif notice == JOIN:
            messages = render_text(join_text(self.ctx.settings.polite_particle), DEFAULT_QUESTIONS)
        else:
            messages = render_error()
        return self._outgoing(event.handle, [line_json(m) for m in messages])

    def render_push(self, answer: Answer) -> Outgoing:
        """A notification's messages (the same for every recipient of one language)."""
        return Outgoing(parts=[{"messages": self.rendered.messages(answer)}])

    def push_batches(self, outgoing: Outgoing, recipients: list[str]) -> list[PushBatch]:
        """Multicasts of at most 500 user ids each (never broadcast or narrowcast: they reach non-subscribers)."""
        messages = outgoing.parts[0]["messages"]
        return [
            PushBatch(
                to=MULTICAST_TO,
                parts=[{"messages": messages, "to": list(recipients[i : i + MAX_MULTICAST_IDS])}],
                count=len(recipients[i : i + MAX_MULTICAST_IDS]),
            )
            for i in range(0, len(recipients), MAX_MULTICAST_IDS)
        ]

    @staticmethod
    def _outgoing(handle: ReplyHandle, messages: list[dict[str, Any]]) -> Outgoing:
        if handle.group:
            messages = _for_group(messages)
        if handle.quote:
            messages = _quoting(messages, handle.quote)
        return Outgoing(parts=[{"messages": messages}])

    # --- sending ---------------------------------------------------------------------------------

    async def send(self, message: OutboxMessage, attempt: Attempt) -> SendResult:
        api = self.api
        if api is None:
            return SendResult.failed(FailureReason.CONNECTION)  # stopped: try again after the restart
        messages = message.parts[0]["messages"]
        to = message.parts[0].get("to")
        if isinstance(to, list):
            return await self._multicast(api, to, messages, message.retry_key, attempt)
        handle = message.handle
        if handle.token and not attempt.token_dead:
            if not attempt.token_fresh:
                return SendResult.failed(FailureReason.REPLY_TOKEN_EXPIRED, retry_now=True)
            try:
                await api.reply(handle.token, messages, attempt.timeout)
            except Exception as exc:  # noqa: BLE001 - every failure is a reason, never a crash
                reason = classify(exc)
                if reason is FailureReason.INVALID_REPLY_TOKEN:
                    if attempt.maybe_sent:  # most likely used by that earlier attempt
                        return SendResult.delivered("probably_delivered", counted=(reason,))
                    return SendResult.failed(reason, retry_now=True)
                return SendResult.failed(reason)
            return SendResult.delivered("replied")
        try:
            await api.push(handle.to, messages, message.retry_key, attempt.timeout)
        except ApiException as exc:
            if exc.status == 409:  # this retry key was accepted before: an earlier push went through
                return SendResult.delivered("pushed")
            return SendResult.failed(classify(exc))
        except Exception as exc:  # noqa: BLE001
            return SendResult.failed(classify(exc))
        return SendResult.delivered("pushed")

    async def _multicast(
        self, api: LineApi, to: list[str], messages: list[dict[str, Any]], retry_key: str, attempt: Attempt
    ) -> SendResult:
        """One batch of a notification: the quota first, then the multicast with the batch's stored retry key."""
        # Checked before every attempt, also of a batch resumed after a restart (all batches are: they are stored
        # before any instance takes them). One that did go through before a crash and is now held by a full quota
        # is resolved by the 409 once the quota allows; nobody gets it twice.
        recheck = self.ctx.settings.quota_recheck_seconds
        async with self._quota_lock:  # one check at a time, counting the batches in flight as used
            try:
                quota, used = await api.quota_left(attempt.timeout)
            except Exception as exc:  # noqa: BLE001
                return SendResult.failed(classify(exc))
            if quota is not None and used + self._in_flight + len(to) > quota:
                detail = f"{len(to)} recipients, {used} of the month's {quota} messages used"
                log.warning("multicast held: the monthly quota would be exceeded", extra={"channel": CHANNEL})
                return SendResult.failed(FailureReason.QUOTA_EXCEEDED, retry_after=recheck, detail=detail)
            reserved = len(to)
            self._in_flight += reserved
        try:
            await api.multicast(to, messages, retry_key, attempt.timeout)
        except ApiException as exc:
            if exc.status == 409:  # this retry key was accepted before: an earlier attempt went through
                return SendResult.delivered("multicast")
            reason = classify(exc)
            if reason is FailureReason.QUOTA_EXCEEDED:
                return SendResult.failed(reason, retry_after=recheck, detail="LINE: monthly limit")
            return SendResult.failed(reason)
        except Exception as exc:  # noqa: BLE001
            return SendResult.failed(classify(exc))
        finally:
            self._in_flight -= reserved
        return SendResult.delivered("multicast")
