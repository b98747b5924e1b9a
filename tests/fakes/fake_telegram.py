"""A fake Telegram Bot API on 127.0.0.1, plus builders for webhook Update bodies.

The fake is a small aiohttp app in a background thread serving `/bot<TOKEN>/<method>` like
api.telegram.org. It records every call (method, token from the path, params from the query string,
form or JSON body; `reply_markup` and other objects arrive as JSON strings in forms) and answers like
Telegram: `{"ok": true, "result": ...}` with realistic results, or `{"ok": false, "error_code": ...,
"description": ...}`. It checks what Telegram checks (the token, text of 1-4,096 characters after HTML
parsing, well-formed HTML, callback data of 1-64 bytes), so a message real Telegram would refuse is
refused here too. A chat that blocked the bot (`block(chat_id)`) gets 403 "Forbidden: bot was blocked by the
user"; more than `rate_limit` sendMessage calls in one second (per bot, Telegram's ~30/s) get 429 with
`parameters.retry_after`. Failures can be scripted with `fail_next`.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.background import BackgroundServer

BOT_USERNAME = "budget_guide_test_bot"
_HTML_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
    "tg-emoji",
}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")


@dataclass(frozen=True)
class BotApiCall:
    method: str  # as sent, e.g. "sendMessage"
    token: str  # from the path /bot<TOKEN>/<method>
    params: dict[str, Any]  # form values are strings; JSON bodies keep their types
    http_method: str
    content_type: str
    status: int  # what the fake answered
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def param(self, name: str) -> Any:
        """A parameter with JSON-string encoding undone (form fields carry objects and lists as JSON)."""
        value = self.params.get(name)
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    @property
    def chat_id(self) -> int | str | None:
        value = self.params.get("chat_id")
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return value

    @property
    def text(self) -> str:
        return str(self.params.get("text") or "")

    @property
    def visible_text(self) -> str:
        """The text a user sees: HTML tags removed and entities decoded when parse_mode is HTML."""
        if str(self.params.get("parse_mode") or "").upper() == "HTML":
            return html.unescape(_TAG.sub("", self.text))
        return self.text

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        markup = self.param("reply_markup")
        return markup if isinstance(markup, dict) else None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Inline keyboard buttons, row after row (empty when there is no inline keyboard)."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def html_errors(text: str) -> str | None:
    """Why Telegram would refuse this parse_mode=HTML text, or None."""
    stack: list[str] = []
    pos = 0
    for match in _TAG.finditer(text):
        chunk = text[pos : match.start()]
        if "<" in chunk or ">" in chunk:
            return "Bad Request: can't parse entities: unexpected < or > in text"
        if "&" in _ENTITY.sub("", chunk):
            return "Bad Request: can't parse entities: unescaped &"
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in _HTML_TAGS:
            return f'Bad Request: can\'t parse entities: unsupported start tag "{name}"'
        if closing:
            if not stack or stack.pop() != name:
                return f'Bad Request: can\'t parse entities: unmatched end tag "{name}"'
        else:
            stack.append(name)
        pos = match.end()
    tail = text[pos:]
    if "<" in tail or ">" in tail:
        return "Bad Request: can't parse entities: unexpected < or > in text"
    if "&" in _ENTITY.sub("", tail):
        return "Bad Request: can't parse entities: unescaped &"
    if stack:
        return f"Bad Request: can't parse entities: can't find end tag corresponding to start tag \"{stack[-1]}\""
    return None


class FakeTelegram(BackgroundServer):
    """Use as a context manager: `with FakeTelegram(token=T) as tg: ... tg.base_url ...`.

    `base_url` ends in "/bot" like https://api.telegram.org/bot: python-telegram-bot appends the token.
    With `token` set, calls with another token get 401 Unauthorized (as from Telegram).
    """

    thread_name = "fake-telegram"

    def __init__(self, token: str | None = None, *, username: str = BOT_USERNAME, rate_limit: int = 30) -> None:
        super().__init__()
        self.rate_limit = rate_limit  # sendMessage calls a second per bot before 429
        self.blocked: set[int] = set()
        self._recent_sends: list[float] = []  # time.monotonic() of the accepted sendMessage calls of the last second
        self.token = token
        self.username = username
        self._lock = threading.Lock()
        self._calls: list[BotApiCall] = []
        self._failures: dict[str, list[tuple[int, str]]] = {}
        self._message_ids = 0
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None
        self.commands: list[dict[str, Any]] = []

    # --- scripting failures ----------------------------------------------------------------------

    def fail_next(
        self, method: str, count: int = 1, *, status: int = 400, description: str = "Bad Request: chat not found"
    ) -> None:
        """The next `count` calls of `method` get this error (e.g. 403 "Forbidden: bot was blocked by the user")."""
        with self._lock:
            self._failures.setdefault(method.lower(), []).extend([(status, description)] * count)

    def block(self, chat_id: int) -> None:
        """That user blocked the bot: every sendMessage to the chat gets 403 from now on."""
        with self._lock:
            self.blocked.add(chat_id)

    # --- reading what was received ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def calls(self) -> list[BotApiCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str, *, ok_only: bool = False) -> list[BotApiCall]:
        return [c for c in self.calls if c.method.lower() == method.lower() and (not ok_only or c.ok)]

    def sent_messages(self, chat_id: int | None = None) -> list[BotApiCall]:
        """Accepted sendMessage calls, optionally to one chat."""
        return [c for c in self.calls_to("sendMessage", ok_only=True) if chat_id is None or c.chat_id == chat_id]

    def wait_for(self, predicate: Callable[[list[BotApiCall]], bool], timeout: float = 10.0) -> list[BotApiCall]:
        """Poll the recorded calls until `predicate` holds (bounded); returns them, or raises."""
        deadline = time.monotonic() + timeout
        while True:
            recorded = self.calls
            if predicate(recorded):
                return recorded
            if time.monotonic() > deadline:
                summary = [(c.method, c.status, c.params.get("chat_id")) for c in recorded]
                raise AssertionError(f"fake Telegram: condition not met in {timeout}s; received {summary}")
            time.sleep(0.02)

    def wait_for_calls(
        self, method: str, count: int = 1, *, ok_only: bool = False, timeout: float = 10.0
    ) -> list[BotApiCall]:
        self.wait_for(lambda _: len(self.calls_to(method, ok_only=ok_only)) >= count, timeout)
        return self.calls_to(method, ok_only=ok_only)

    def wait_for_messages(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[BotApiCall]:
        self.wait_for(lambda _: len(self.sent_messages(chat_id)) >= count, timeout)
        return self.sent_messages(chat_id)

    def reset(self) -> None:
        self.reset_faults()
        with self._lock:
            self._calls.clear()
            self._failures.clear()
            self.blocked.clear()
            self._recent_sends.clear()

    # --- server ----------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        return app

    # --- request handling ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({k: v if isinstance(v, str) else "<file>" for k, v in form.items()})
        status, payload = self._respond(token, method, params)
        with self._lock:
            self._calls.append(BotApiCall(method, token, params, request.method, request.content_type, status))
        return web.json_response(payload, status=status)

    def _respond(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.token is not None and token != self.token:
            return _fail(401, "Unauthorized")
        name = method.lower()
        with self._lock:
            scripted = self._failures.get(name)
            if scripted:
                status, description = scripted.pop(0)
                return _fail(status, description)
        call = BotApiCall(method, token, params, "POST", "", 200)
        if name == "getme":
            return _ok(self._bot_user(token))
        if name == "sendmessage":
            return self._send_message(token, call)
        if name == "answercallbackquery":
            if not params.get("callback_query_id"):
                return _fail(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
            return _ok(True)
        if name == "setwebhook":
            url = str(params.get("url") or "")
            if url and not url.startswith("https://"):
                return _fail(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
            with self._lock:
                self.webhook_url = url
                self.webhook_secret = params.get("secret_token")
                allowed = call.param("allowed_updates")
                self.webhook_allowed_updates = allowed if isinstance(allowed, list) else None
            return _ok(True, description="Webhook was set")
        if name == "deletewebhook":
            with self._lock:
                self.webhook_url, self.webhook_secret, self.webhook_allowed_updates = "", None, None
            return _ok(True, description="Webhook was deleted")
        if name == "getwebhookinfo":
            info: dict[str, Any] = {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0}
            if self.webhook_allowed_updates is not None:
                info["allowed_updates"] = self.webhook_allowed_updates
            return _ok(info)  # Telegram never returns the secret token
        if name == "setmycommands":
            commands = call.param("commands")
            with self._lock:
                self.commands = commands if isinstance(commands, list) else []
            return _ok(True)
        if name == "getmycommands":
            return _ok(self.commands)
        if name in ("sendchataction", "deletemessage", "editmessagereplymarkup"):
            return _ok(True)
        return _fail(404, "Not Found")

    def _bot_user(self, token: str) -> dict[str, Any]:
        prefix = token.split(":", 1)[0]
        return {
            "id": int(prefix) if prefix.isdigit() else 1234567890,
            "is_bot": True,
            "first_name": "ผู้ช่วยงบประมาณ",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _send_message(self, token: str, call: BotApiCall) -> tuple[int, dict[str, Any]]:
        chat_id = call.chat_id
        if chat_id in (None, ""):
            return _fail(400, "Bad Request: chat not found")
        with self._lock:
            if chat_id in self.blocked:
                return _fail(403, "Forbidden: bot was blocked by the user")
            now = time.monotonic()
            self._recent_sends = [t for t in self._recent_sends if now - t < 1.0]
            if len(self._recent_sends) >= self.rate_limit:
                wait = max(1, round(1.0 - (now - self._recent_sends[0]) + 0.5))
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {wait}",
                    "parameters": {"retry_after": wait},
                }
            self._recent_sends.append(now)
        if str(call.params.get("parse_mode") or "").upper() == "HTML":
            problem = html_errors(call.text)
            if problem:
                return _fail(400, problem)
        visible = call.visible_text
        if not visible.strip():
            return _fail(400, "Bad Request: message text is empty")
        if utf16_len(visible) > 4096:
            return _fail(400, "Bad Request: message is too long")
        for button in call.buttons:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                return _fail(400, "Bad Request: BUTTON_DATA_INVALID")
            if not str(button.get("text") or "").strip():
                return _fail(400, "Bad Request: text buttons are unallowed in the inline keyboard")
        with self._lock:
            self._message_ids += 1
            message_id = self._message_ids
        if isinstance(chat_id, int) and chat_id > 0:
            chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": "ผู้ใช้"}
        else:
            chat = {"id": chat_id, "type": "supergroup", "title": "กลุ่มทดสอบ"}
        result: dict[str, Any] = {
            "message_id": message_id,
            "from": self._bot_user(token),
            "chat": chat,
            "date": int(time.time()),
            "text": visible,
        }
        if call.reply_markup:
            result["reply_markup"] = call.reply_markup
        return _ok(result)


def _ok(result: Any, description: str | None = None) -> tuple[int, dict[str, Any]]:
    payload: dict[str, Any] = {"ok": True, "result": result}
    if description:
        payload["description"] = description
    return 200, payload


def _fail(status: int, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"ok": False, "error_code": status, "description": description}


# --- webhook Update builders ---------------------------------------------------------------------


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "สมหญิง", "language_code": "th"}


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "สมหญิง"}
    return {"id": chat_id, "type": "supergroup", "title": "ทีมงบประมาณ"}


def text_update(update_id: int, text: str, *, chat_id: int, user_id: int | None = None) -> dict[str, Any]:
    """A new text message; a leading /command gets its bot_command entity (CommandHandler needs it)."""
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": _chat(chat_id),
        "from": _user(user_id or abs(chat_id)),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


def photo_update(update_id: int, *, chat_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": _user(abs(chat_id)),
            "photo": [{"file_id": "AgAC-photo", "file_unique_id": "AQAD-photo", "width": 90, "height": 90}],
        },
    }


def callback_update(update_id: int, data: str, *, chat_id: int, query_id: str | None = None) -> dict[str, Any]:
    """A tap on an inline button under one of the bot's messages in `chat_id`."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id or f"cbq-{update_id}",
            "from": _user(abs(chat_id)),
            "chat_instance": f"ci-{chat_id}",
            "data": data,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": _chat(chat_id),
                "from": {"id": 1234567890, "is_bot": True, "first_name": "ผู้ช่วยงบประมาณ", "username": BOT_USERNAME},
                "text": "คำตอบก่อนหน้า",
            },
        },
    }


def post_update(base_url: str, update: dict[str, Any], secret: str | None) -> Any:
    """POST an Update to a server's Telegram webhook as Telegram does (JSON, with the secret token header)."""
    import httpx

    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    content = json.dumps(update, ensure_ascii=False).encode()
    return httpx.post(f"{base_url}/webhooks/telegram", content=content, headers=headers, timeout=10)
