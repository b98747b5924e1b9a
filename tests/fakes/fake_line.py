"""A fake LINE Messaging API (and data API) on 127.0.0.1, plus builders for signed webhook bodies.

The fake is a small aiohttp app in a background thread. It records every request (method, path, headers,
raw body and JSON), answers like LINE does, and checks what LINE checks (message limits, the access token;
reply tokens are single-use and expire `reply_token_lifetime` seconds after they were issued by
`new_reply_token`, an unknown token is invalid; a push whose `X-Line-Retry-Key` was accepted before gets 409)
so a call that real LINE would reject is rejected here too. Multicast takes 1-500 user ids (`U` + 32 hex digits)
and, like push, an `X-Line-Retry-Key` that must be a UUID (409 when it was accepted before). The monthly quota
(`GET /v2/bot/message/quota` and `/quota/consumption`) is `set_quota(n)` (None: unlimited); every pushed or
multicast message counts once per recipient (replies are free, as on LINE), and a call past the quota gets 429
"You have reached your monthly limit." Failures can be scripted: the next N replies fail
with a 5xx, hang past the client's timeout, or get 400 "Invalid reply token"; every reply can be slowed down
(`delay_replies`), every call too (`slow_down`), and the whole API taken down for a while (`take_down`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.background import BackgroundServer

REPLY_PATH = "/v2/bot/message/reply"
PUSH_PATH = "/v2/bot/message/push"
MULTICAST_PATH = "/v2/bot/message/multicast"
QUOTA_PATH = "/v2/bot/message/quota"
CONSUMPTION_PATH = "/v2/bot/message/quota/consumption"
MAX_MULTICAST_IDS = 500  # LINE: "to" holds 1-500 user ids
LOADING_PATH = "/v2/bot/chat/loading/start"
RICH_MENU_PATH = "/v2/bot/richmenu"
DEFAULT_RICH_MENU_PREFIX = "/v2/bot/user/all/richmenu/"

DUMMY_REPLY_TOKENS = ("00000000000000000000000000000000", "ffffffffffffffffffffffffffffffff")
# Reply tokens handed out by new_reply_token() -> when (time.monotonic()): LINE issues them with the webhook.
_ISSUED: dict[str, float] = {}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any | None
    status: int  # what the fake answered; 0 while a scripted hang holds the answer back
    at: float = field(default_factory=time.monotonic)
    answer: Any | None = None  # the JSON body the fake answered with (why a 400 was a 400)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def message_errors(messages: Any) -> list[str]:
    """What LINE would reject in a list of message objects (the limits the SDK does not check)."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return ["messages: must be 1-5 message objects"]
    errors: list[str] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            errors.append(f"messages[{i}]: not an object")
            continue
        if msg.get("type") == "text":
            text = msg.get("text")
            if not isinstance(text, str) or not text or _utf16_len(text) > 5000:
                errors.append(f"messages[{i}].text: must be 1-5000 characters")
        if msg.get("type") == "flex":
            alt = msg.get("altText")
            if not isinstance(alt, str) or not alt or _utf16_len(alt) > 400:
                errors.append(f"messages[{i}].altText: must be 1-400 characters")
        items = (msg.get("quickReply") or {}).get("items")
        if items is not None:
            if not 1 <= len(items) <= 13:
                errors.append(f"messages[{i}].quickReply.items: must be 1-13 items")
            for j, item in enumerate(items):
                action = item.get("action") or {}
                label = action.get("label")
                if not isinstance(label, str) or not label or _utf16_len(label) > 20:
                    errors.append(f"messages[{i}].quickReply.items[{j}].action.label: must be 1-20 characters")
                if action.get("type") == "message":
                    text = action.get("text")
                    if not isinstance(text, str) or not text or _utf16_len(text) > 300:
                        errors.append(f"messages[{i}].quickReply.items[{j}].action.text: must be 1-300 characters")
    return errors


class FakeLine(BackgroundServer):
    """Use as a context manager: `with FakeLine(access_token="t") as line: ... line.url ...`."""

    thread_name = "fake-line"

    def __init__(self, access_token: str | None = None, *, reply_token_lifetime: float = 60.0) -> None:
        super().__init__()
        self.access_token = access_token
        self.reply_token_lifetime = reply_token_lifetime
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._used_reply_tokens: set[str] = set()
        self._accepted_retry_keys: set[str] = set()
        self._fail_replies: list[int] = []  # status codes for the next replies
        self._fail_pushes: list[int] = []
        self._hang_replies = 0
        self._hang_seconds = 30.0
        self._late_pushes: list[float] = []  # seconds: accepted at once, answered only after that long
        self._reply_delay = 0.0
        self._reject_tokens = False
        self._fail_multicasts: list[int] = []
        self._late_multicasts: list[float] = []
        self.quota: int | None = None  # messages a month; None: no limit ("type": "none")
        self.usage = 0  # messages counted against the quota this month
        self.rich_menus: dict[str, dict[str, Any]] = {}
        self.rich_menu_images: dict[str, tuple[str, bytes]] = {}
        self.default_rich_menu: str | None = None
        self._release: asyncio.Event | None = None

    # --- scripting failures ----------------------------------------------------------------------

    def fail_next_replies(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._fail_replies.extend([status] * count)

    def fail_next_pushes(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._fail_pushes.extend([status] * count)

    def fail_next_multicasts(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._fail_multicasts.extend([status] * count)

    def answer_next_multicasts_late(self, count: int, seconds: float = 30.0) -> None:
        """The next multicasts are accepted (sent, their retry keys recorded) but answered only after `seconds`:
        a server killed meanwhile does not know they went through."""
        with self._lock:
            self._late_multicasts.extend([seconds] * count)

    def set_quota(self, quota: int | None, usage: int | None = None) -> None:
        with self._lock:
            self.quota = quota
            if usage is not None:
                self.usage = usage

    def hang_next_replies(self, count: int, seconds: float = 30.0) -> None:
        """The next replies get no answer for `seconds` (then a 500): the client should time out first.

        A hung request is recorded at once, with status 0.
        """
        with self._lock:
            self._hang_replies += count
            self._hang_seconds = seconds

    def answer_next_pushes_late(self, count: int, seconds: float = 5.0) -> None:
        """The next pushes are accepted (their retry keys too) but answered only after `seconds`: a client
        that times out first does not know they went through."""
        with self._lock:
            self._late_pushes.extend([seconds] * count)

    def delay_replies(self, seconds: float) -> None:
        """Every reply is answered as usual, but only after `seconds` (a slow LINE API); 0 turns it off."""
        with self._lock:
            self._reply_delay = seconds

    def reject_reply_tokens(self, reject: bool = True) -> None:
        """Answer every reply with 400 Invalid reply token (as for an expired token)."""
        with self._lock:
            self._reject_tokens = reject

    # --- reading what was received ---------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, *, ok_only: bool = False) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (not ok_only or 200 <= r.status < 300)]

    def replies(self, *, ok_only: bool = True) -> list[RecordedRequest]:
        return self.requests_to(REPLY_PATH, ok_only=ok_only)

    def pushes(self, *, ok_only: bool = True) -> list[RecordedRequest]:
        return self.requests_to(PUSH_PATH, ok_only=ok_only)

    def multicasts(self, *, ok_only: bool = True) -> list[RecordedRequest]:
        return self.requests_to(MULTICAST_PATH, ok_only=ok_only)

    def multicast_recipients(self) -> list[str]:
        """Every user id of every accepted multicast, once per time it was sent to (duplicates kept)."""
        return [to for r in self.multicasts() for to in r.json["to"]]

    def wait_for(
        self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float = 10.0
    ) -> list[RecordedRequest]:
        """Poll the recorded requests until predicate holds (bounded); returns them, or raises."""
        deadline = time.monotonic() + timeout
        while True:
            recorded = self.requests
            if predicate(recorded):
                return recorded
            if time.monotonic() > deadline:
                summary = [(r.method, r.path, r.status) for r in recorded]
                raise AssertionError(f"fake LINE: condition not met in {timeout}s; received {summary}")
            time.sleep(0.02)

    def wait_for_requests(
        self, path: str, count: int = 1, *, ok_only: bool = False, timeout: float = 10.0
    ) -> list[RecordedRequest]:
        self.wait_for(lambda _: len(self.requests_to(path, ok_only=ok_only)) >= count, timeout)
        return self.requests_to(path, ok_only=ok_only)

    def reset_requests(self) -> None:
        """Forget what was received (scripted failures and faults stay)."""
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        self.reset_faults()
        with self._lock:
            self._requests.clear()
            self._fail_replies.clear()
            self._fail_pushes.clear()
            self._hang_replies = 0
            self._late_pushes.clear()
            self._reply_delay = 0.0
            self._reject_tokens = False
            self._fail_multicasts.clear()
            self._late_multicasts.clear()
            self.quota, self.usage = None, 0

    # --- server ----------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        self._release = asyncio.Event()
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def on_stop(self) -> None:
        if self._release is not None:
            self._release.set()  # let hanging handlers finish

    # --- request handling ------------------------------------------------------------------------

    def _record(self, request: web.Request, body: bytes, data: Any, status: int, answer: Any | None = None) -> None:
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            json=data,
            status=status,
            answer=answer,
        )
        with self._lock:
            self._requests.append(recorded)

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except ConnectionResetError:  # the client died sending (a server killed mid-request): nothing to answer
            return web.Response(status=400)
        try:
            data: Any | None = json.loads(body) if body and "json" in request.content_type else None
        except ValueError:
            data = None

        if request.method == "POST" and request.path == REPLY_PATH and self._take_hang():
            # Recorded on arrival with status 0 (no answer): the client gives up long before we answer.
            self._record(request, body, data, 0)
            assert self._release is not None
            try:
                await asyncio.wait_for(self._release.wait(), timeout=self._hang_seconds)
            except TimeoutError:
                pass
            return web.json_response({"message": "An error occurred in the internal server"}, status=500)
        if request.method == "POST" and request.path == REPLY_PATH and self._reply_delay > 0:
            await asyncio.sleep(self._reply_delay)  # recorded when answered, like a hang's end
        status, payload, headers = await self._respond(request, data)
        self._record(request, body, data, status, payload)
        if request.method == "POST" and request.path in (PUSH_PATH, MULTICAST_PATH) and status == 200:
            with self._lock:
                waiting = self._late_pushes if request.path == PUSH_PATH else self._late_multicasts
                late = waiting.pop(0) if waiting else 0.0
            if late:
                assert self._release is not None
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._release.wait(), timeout=late)
        return web.json_response(payload, status=status, headers=headers)

    def _take_hang(self) -> bool:
        with self._lock:
            if self._hang_replies > 0:
                self._hang_replies -= 1
                return True
            return False

    async def _respond(self, request: web.Request, data: Any) -> tuple[int, Any, dict[str, str]]:
        path, method = request.path, request.method
        if self.access_token is not None and request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return (
                401,
                {
                    "message": "Authentication failed. Confirm that the access token in the authorization header "
                    "is valid."
                },
                {},
            )
        request_id = {"x-line-request-id": str(uuid.uuid4())}
        if method == "POST" and path == REPLY_PATH:
            return await self._reply(data, request_id)
        if method == "POST" and path == PUSH_PATH:
            return self._push(request, data, request_id)
        if method == "POST" and path == MULTICAST_PATH:
            return self._multicast(request, data, request_id)
        if method == "GET" and path == QUOTA_PATH:
            with self._lock:
                quota = self.quota
            return 200, ({"type": "none"} if quota is None else {"type": "limited", "value": quota}), request_id
        if method == "GET" and path == CONSUMPTION_PATH:
            with self._lock:
                return 200, {"totalUsage": self.usage}, request_id
        if method == "POST" and path == LOADING_PATH:
            return 202, {}, request_id
        if method == "POST" and path == RICH_MENU_PATH:
            menu_id = f"richmenu-{secrets.token_hex(16)}"
            with self._lock:
                self.rich_menus[menu_id] = data if isinstance(data, dict) else {}
            return 200, {"richMenuId": menu_id}, request_id
        if method == "POST" and path == f"{RICH_MENU_PATH}/validate":
            return 200, {}, request_id
        if method == "GET" and path == f"{RICH_MENU_PATH}/list":
            with self._lock:
                menus = [{"richMenuId": k, **v} for k, v in self.rich_menus.items()]
            return 200, {"richmenus": menus}, request_id
        if method == "DELETE" and path.startswith(f"{RICH_MENU_PATH}/"):
            menu_id = path[len(RICH_MENU_PATH) + 1 :]
            with self._lock:
                if self.rich_menus.pop(menu_id, None) is None:
                    return 404, {"message": "Not found"}, request_id
                self.rich_menu_images.pop(menu_id, None)
            return 200, {}, request_id
        if method == "POST" and path.startswith(f"{RICH_MENU_PATH}/") and path.endswith("/content"):
            menu_id = path[len(RICH_MENU_PATH) + 1 : -len("/content")]
            if menu_id not in self.rich_menus:
                return 404, {"message": "Not found"}, request_id
            if request.content_type not in ("image/png", "image/jpeg"):
                return 415, {"message": "Unsupported Media Type"}, request_id
            body = await request.read()
            with self._lock:
                self.rich_menu_images[menu_id] = (request.content_type, body)
            return 200, {}, request_id
        if method == "POST" and path.startswith(DEFAULT_RICH_MENU_PREFIX):
            menu_id = path[len(DEFAULT_RICH_MENU_PREFIX) :]
            if menu_id not in self.rich_menus:
                return 404, {"message": "Not found"}, request_id
            with self._lock:
                self.default_rich_menu = menu_id
            return 200, {}, request_id
        return 404, {"message": "Not found"}, request_id

    async def _reply(self, data: Any, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            fail = self._fail_replies.pop(0) if self._fail_replies else None
            reject = self._reject_tokens
        if fail is not None:
            return fail, {"message": "An error occurred in the internal server"}, headers
        if not isinstance(data, dict) or not isinstance(data.get("replyToken"), str):
            return 400, {"message": "The request body has 1 error(s)", "details": [{"property": "replyToken"}]}, headers
        errors = message_errors(data.get("messages"))
        if errors:
            return 400, {"message": f"The request body has {len(errors)} error(s)", "details": errors}, headers
        token = data["replyToken"]
        issued = _ISSUED.get(token)
        with self._lock:
            if (
                reject
                or token in self._used_reply_tokens
                or issued is None  # never issued (this includes the console's dummy tokens)
                or time.monotonic() - issued > self.reply_token_lifetime
            ):
                return 400, {"message": "Invalid reply token"}, headers
            self._used_reply_tokens.add(token)  # single use, like LINE
        return 200, {"sentMessages": [{"id": str(i + 1)} for i in range(len(data["messages"]))]}, headers

    def _push(self, request: web.Request, data: Any, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        key = request.headers.get("X-Line-Retry-Key")
        refused = self._refused_by_retry_key(key, self._fail_pushes, headers)
        if refused is not None:
            return refused
        if not isinstance(data, dict) or not isinstance(data.get("to"), str):
            return 400, {"message": "The request body has 1 error(s)", "details": [{"property": "to"}]}, headers
        errors = message_errors(data.get("messages"))
        if errors:
            return 400, {"message": f"The request body has {len(errors)} error(s)", "details": errors}, headers
        with self._lock:
            if self._over_quota(1):
                return 429, {"message": "You have reached your monthly limit."}, headers
            self.usage += 1
            if key is not None:
                self._accepted_retry_keys.add(key)
        return 200, {"sentMessages": [{"id": str(i + 1)} for i in range(len(data["messages"]))]}, headers

    def _refused_by_retry_key(
        self, key: str | None, scripted: list[int], headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]] | None:
        """What LINE answers a push or multicast before reading it: a retry key that is not a UUID (400), one
        accepted before (409), or a scripted failure. None: go on."""
        if key is not None and not _is_uuid(key):
            return 400, {"message": "The value for the 'X-Line-Retry-Key' header is invalid"}, headers
        with self._lock:
            if key is not None and key in self._accepted_retry_keys:
                return (
                    409,
                    {"message": "The retry key is already accepted"},
                    {**headers, "x-line-accepted-request-id": "1"},
                )
            fail = scripted.pop(0) if scripted else None
        if fail is not None:
            return fail, {"message": "An error occurred in the internal server"}, headers
        return None

    def _over_quota(self, recipients: int) -> bool:
        return self.quota is not None and self.usage + recipients > self.quota

    def _multicast(self, request: web.Request, data: Any, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        key = request.headers.get("X-Line-Retry-Key")
        refused = self._refused_by_retry_key(key, self._fail_multicasts, headers)
        if refused is not None:
            return refused
        to = data.get("to") if isinstance(data, dict) else None
        if (
            not isinstance(to, list)
            or not 1 <= len(to) <= MAX_MULTICAST_IDS
            or not all(isinstance(u, str) and _USER_ID.fullmatch(u) for u in to)
        ):
            detail = [{"message": f"Size must be between 1 and {MAX_MULTICAST_IDS} user ids", "property": "to"}]
            return 400, {"message": "The request body has 1 error(s)", "details": detail}, headers
        errors = message_errors(data.get("messages"))
        if errors:
            return 400, {"message": f"The request body has {len(errors)} error(s)", "details": errors}, headers
        with self._lock:
            if self._over_quota(len(to)):
                return 429, {"message": "You have reached your monthly limit."}, headers
            self.usage += len(to)
            if key is not None:
                self._accepted_retry_keys.add(key)
        return 200, {}, headers


_USER_ID = re.compile(r"U[0-9a-f]{32}")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@contextmanager
def fake_line(access_token: str | None = None) -> Iterator[FakeLine]:
    with FakeLine(access_token) as fake:
        yield fake


# --- webhook bodies --------------------------------------------------------------------------------


def sign(body: bytes, channel_secret: str) -> str:
    """The X-Line-Signature LINE would send: base64(HMAC-SHA256(secret, raw body))."""
    return base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()


def signed_webhook(
    events: list[dict[str, Any]], channel_secret: str, destination: str = "Ubot0000000000000000000000000000"
) -> tuple[bytes, dict[str, str]]:
    """A webhook body and the headers LINE would send with it."""
    body = json.dumps({"destination": destination, "events": events}, ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json; charset=utf-8", "X-Line-Signature": sign(body, channel_secret)}


def new_reply_token() -> str:
    """A reply token as LINE issues one with a webhook event: the fake accepts it once, within its lifetime."""
    token = secrets.token_hex(16)
    _ISSUED[token] = time.monotonic()
    return token


def new_event_id() -> str:
    return "01" + secrets.token_hex(12).upper()  # LINE's ids are ULIDs; only uniqueness matters here


def user_source(user_id: str = "U" + "1" * 32) -> dict[str, Any]:
    return {"type": "user", "userId": user_id}


def _base(
    event_type: str,
    *,
    source: dict[str, Any] | None,
    event_id: str | None,
    redelivery: bool,
    reply_token: str | None,
    with_reply_token: bool = True,
) -> dict[str, Any]:
    """Every field the SDK requires: without them an event silently becomes UnknownEvent."""
    event: dict[str, Any] = {
        "type": event_type,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": source or user_source(),
        "webhookEventId": event_id or new_event_id(),
        "deliveryContext": {"isRedelivery": redelivery},
    }
    if with_reply_token:
        event["replyToken"] = reply_token or new_reply_token()
    return event


def text_event(
    text: str,
    *,
    source: dict[str, Any] | None = None,
    event_id: str | None = None,
    reply_token: str | None = None,
    redelivery: bool = False,
) -> dict[str, Any]:
    event = _base("message", source=source, event_id=event_id, redelivery=redelivery, reply_token=reply_token)
    event["message"] = {
        "id": str(secrets.randbelow(10**15)),
        "type": "text",
        "text": text,
        "quoteToken": secrets.token_urlsafe(16),
    }
    return event


def sticker_event(
    *, source: dict[str, Any] | None = None, event_id: str | None = None, reply_token: str | None = None
) -> dict[str, Any]:
    event = _base("message", source=source, event_id=event_id, redelivery=False, reply_token=reply_token)
    event["message"] = {
        "id": str(secrets.randbelow(10**15)),
        "type": "sticker",
        "packageId": "446",
        "stickerId": "1988",
        "stickerResourceType": "STATIC",
        "quoteToken": secrets.token_urlsafe(16),
    }
    return event


def image_event(*, source: dict[str, Any] | None = None, reply_token: str | None = None) -> dict[str, Any]:
    event = _base("message", source=source, event_id=None, redelivery=False, reply_token=reply_token)
    event["message"] = {
        "id": str(secrets.randbelow(10**15)),
        "type": "image",
        "contentProvider": {"type": "line"},
        "quoteToken": secrets.token_urlsafe(16),
    }
    return event


def follow_event(*, source: dict[str, Any] | None = None, reply_token: str | None = None) -> dict[str, Any]:
    event = _base("follow", source=source, event_id=None, redelivery=False, reply_token=reply_token)
    event["follow"] = {"isUnblocked": False}
    return event


def unfollow_event(*, source: dict[str, Any] | None = None) -> dict[str, Any]:
    return _base("unfollow", source=source, event_id=None, redelivery=False, reply_token=None, with_reply_token=False)


def postback_event(
    data: str, *, source: dict[str, Any] | None = None, reply_token: str | None = None
) -> dict[str, Any]:
    event = _base("postback", source=source, event_id=None, redelivery=False, reply_token=reply_token)
    event["postback"] = {"data": data}
    return event


def unknown_event(*, reply_token: str | None = None) -> dict[str, Any]:
    """A type no SDK knows (LINE adds event types over time)."""
    event = _base("somethingNew", source=None, event_id=None, redelivery=False, reply_token=reply_token)
    event["somethingNew"] = {"value": 1}
    return event
