"""The Telegram channel end to end: webhook in, python-telegram-bot out, to a fake Bot API on 127.0.0.1.

Most tests share one in-process app (`with TestClient(...)` runs the lifespan, so the real Application is
initialized and started) and one fake; each test uses its own chat ids and update ids. Replies are sent
in the background after the webhook's 200, so tests poll the fake's recorded calls with a bounded wait.

"Nothing was sent" is checked against a barrier: a later update in the same chat. Updates of one chat are
handled in order, so once the barrier's callback query is answered, anything the earlier request could
have caused would already be recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bot.answer import Answer, AnswerKind, SourceRef
from bot.settings import Settings
from handlers.app import create_app
from handlers.telegram import SECRET_HEADER, set_webhook
from handlers.telegram_render import (
    MAX_CALLBACK_BYTES,
    SuggestionCallbacks,
    render_answer,
    telegram_length,
)
from tests.fakes.fake_telegram import (
    BotApiCall,
    FakeTelegram,
    callback_update,
    html_errors,
    photo_update,
    text_update,
)
from tests.support.env import clean_bot_env
from tests.support.server import base_env, running_server

REPO = Path(__file__).resolve().parents[1]
THAI = re.compile(r"[\u0E00-\u0E7F]")
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-test"
SECRET = "budgetbot_Webhook-secret_0123456789"
PATH = "/webhooks/telegram"
QUESTION = "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร"

_ids = itertools.count(100_000)


def next_id() -> int:
    return next(_ids)


def new_chat() -> int:
    return next(_ids) * 10


def make_settings(tmp: Path, fake: FakeTelegram | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_webhook_secret": SECRET,
        "telegram_api_base_url": fake.base_url if fake else "http://127.0.0.1:9/bot",
        "line_channel_secret": None,
        "line_channel_access_token": None,
        "knowledge_dir": REPO / "knowledge",
        "data_dir": tmp / "data",
        "today": date(2026, 11, 21),
        "watch_knowledge": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No channel credentials from the developer's shell or a .env file."""
    tmp = tmp_path_factory.mktemp("telegram")
    with pytest.MonkeyPatch.context() as mp:
        clean_bot_env(mp)
        mp.chdir(tmp)
        yield tmp


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as tg:
        yield tg


@pytest.fixture(scope="module")
def client(clean_env: Path, fake: FakeTelegram) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(clean_env, fake))) as test_client:
        yield test_client


def post(client: TestClient | httpx.Client, body: Any, *, secret: str | None = SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
    return client.post(PATH, content=content, headers=headers)


def barrier(client: TestClient | httpx.Client, fake: FakeTelegram, chat_id: int) -> int:
    """Tap a button in `chat_id`, wait until it is answered and its answer sent; returns the index of the
    answerCallbackQuery in fake.calls (everything the chat caused before is recorded before it)."""
    query_id = f"barrier-{next_id()}"
    data = SuggestionCallbacks().encode("สวัสดี")  # short enough to travel inline: no state needed
    assert post(client, callback_update(next_id(), data, chat_id=chat_id, query_id=query_id)).status_code == 200
    calls = fake.wait_for(lambda cs: any(_is_answer_to(c, query_id) for c in cs))
    index = next(i for i, c in enumerate(calls) if _is_answer_to(c, query_id))
    fake.wait_for(lambda cs: any(c.method == "sendMessage" and c.chat_id == chat_id for c in cs[index:]))
    return index


def _is_answer_to(call: BotApiCall, query_id: str) -> bool:
    return call.method == "answerCallbackQuery" and call.params.get("callback_query_id") == query_id


def messages_before(fake: FakeTelegram, index: int, chat_id: int) -> list[BotApiCall]:
    return [c for c in fake.calls[:index] if c.method == "sendMessage" and c.chat_id == chat_id]


def metric(client: TestClient, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def assert_good_reply(call: BotApiCall) -> None:
    """What any reply must be: to our bot token, Thai, valid HTML, within Telegram's limits."""
    assert call.ok, call
    assert call.token == TOKEN
    assert call.params.get("parse_mode") == "HTML"
    assert html_errors(call.text) is None
    assert THAI.search(call.visible_text), call.visible_text
    assert 0 < telegram_length(call.visible_text) <= 4096
    for button in call.buttons:
        assert button["text"].strip()
        assert 1 <= len(button["callback_data"].encode("utf-8")) <= MAX_CALLBACK_BYTES


def first_line(text: str) -> str:
    return next(line.strip() for line in text.splitlines() if line.strip())


def ask_console(client: TestClient, question: str) -> dict[str, Any]:
    response = client.post("/api/ask", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


# ----- security: the secret token ----------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [None, "wrong-secret", SECRET[:-1], SECRET + "x", ""],
    ids=["missing", "wrong", "prefix", "longer", "empty"],
)
def test_wrong_or_missing_secret_is_forbidden_and_nothing_is_sent(
    client: TestClient, fake: FakeTelegram, secret: str | None
) -> None:
    chat = new_chat()
    before = metric(client, "budgetbot_webhooks_total", channel="telegram", outcome="forbidden")
    response = post(client, text_update(next_id(), QUESTION, chat_id=chat), secret=secret)
    assert response.status_code == 403
    assert response.json()["ok"] is False
    index = barrier(client, fake, chat)
    assert messages_before(fake, index, chat) == []
    assert metric(client, "budgetbot_webhooks_total", channel="telegram", outcome="forbidden") == before + 1


def test_no_secret_configured_accepts_updates_without_the_header(clean_env: Path, fake: FakeTelegram) -> None:
    with TestClient(create_app(make_settings(clean_env, fake, telegram_webhook_secret=None))) as client:
        chat = new_chat()
        assert post(client, text_update(next_id(), QUESTION, chat_id=chat), secret=None).status_code == 200
        assert_good_reply(fake.wait_for_messages(chat)[0])


# ----- answering -----------------------------------------------------------------------------------


def test_text_message_gets_the_answer_with_an_inline_keyboard(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    response = post(client, text_update(next_id(), QUESTION, chat_id=chat))
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    replies = fake.wait_for_messages(chat)
    for reply in replies:
        assert_good_reply(reply)
    # The same answer the service gives on any channel (here: the JSON API, a fresh conversation).
    expected = ask_console(client, QUESTION)
    shown = "\n".join(r.visible_text for r in replies)
    assert first_line(expected["text"]) in shown
    # Suggestions become buttons under the last message; a tap sends back something that fits 64 bytes.
    assert expected["suggestions"], "the test question should come with follow-up suggestions"
    assert replies[-1].buttons
    assert all(not r.buttons for r in replies[:-1])
    assert len(replies[-1].buttons) == min(len(set(expected["suggestions"])), 8)
    for source in expected["sources"][:1]:
        assert source["title"][:20] in shown, "the answer names its source"
    assert shown.count("ที่มา:") == (1 if expected["sources"] else 0), "sources are listed once"


def test_start_welcomes_with_suggestions_and_help_answers(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    assert post(client, text_update(next_id(), "/start", chat_id=chat)).status_code == 200
    welcome = fake.wait_for_messages(chat)
    assert_good_reply(welcome[-1])
    assert welcome[-1].buttons, "the welcome offers questions to tap"
    greeting = ask_console(client, "สวัสดี")
    assert greeting["kind"] == AnswerKind.GREETING.value
    assert first_line(greeting["text"]) in welcome[0].visible_text

    count = len(welcome)
    assert post(client, text_update(next_id(), "/help", chat_id=chat)).status_code == 200
    helped = fake.wait_for_messages(chat, count + 1)
    assert_good_reply(helped[count])
    assert helped[count].visible_text != ""


def test_help_command_addressed_to_the_bot_in_a_group(client: TestClient, fake: FakeTelegram) -> None:
    group = -new_chat()
    command = f"/help@{fake.username}"
    assert post(client, text_update(next_id(), command, chat_id=group, user_id=4242)).status_code == 200
    assert_good_reply(fake.wait_for_messages(group)[0])


def test_repeated_update_id_is_answered_once(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    update = text_update(next_id(), "สวัสดี", chat_id=chat)
    before = metric(client, "budgetbot_webhooks_total", channel="telegram", outcome="duplicate")
    first, second = post(client, update), post(client, update)
    assert first.status_code == 200 and second.status_code == 200  # a non-2xx would make Telegram resend
    assert second.json().get("duplicate") is True
    index = barrier(client, fake, chat)
    replies = messages_before(fake, index, chat)
    assert len(replies) == 1, [r.visible_text[:40] for r in replies]
    assert metric(client, "budgetbot_webhooks_total", channel="telegram", outcome="duplicate") == before + 1


def test_tapping_a_suggestion_answers_the_query_and_the_question(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    assert post(client, text_update(next_id(), "/start", chat_id=chat)).status_code == 200
    welcome = fake.wait_for_messages(chat)
    button = welcome[-1].buttons[0]
    query_id = f"tap-{next_id()}"
    response = post(client, callback_update(next_id(), button["callback_data"], chat_id=chat, query_id=query_id))
    assert response.status_code == 200

    replies = fake.wait_for_messages(chat, len(welcome) + 1)
    calls = fake.calls
    answered = [i for i, c in enumerate(calls) if _is_answer_to(c, query_id)]
    assert len(answered) == 1, "the callback query is answered exactly once"
    reply = replies[len(welcome)]
    assert calls.index(reply) > answered[0], "the spinner stops before the answer arrives"
    assert_good_reply(reply)
    # The chat shows which question was tapped, then its answer.
    label = button["text"].rstrip("…")
    assert reply.visible_text.startswith(label)
    assert len(reply.visible_text) > len(button["text"]) + 10


def test_long_thai_suggestion_round_trips_through_64_byte_callback_data(client: TestClient, fake: FakeTelegram) -> None:
    """Thai is 3 bytes a character: a typical suggestion is far over 64 bytes but still works when tapped."""
    chat = new_chat()
    assert post(client, text_update(next_id(), QUESTION, chat_id=chat)).status_code == 200
    replies = fake.wait_for_messages(chat)
    long_buttons = [b for b in replies[-1].buttons if len(b["text"].encode("utf-8")) > MAX_CALLBACK_BYTES - 2]
    assert long_buttons, "some suggestion should be longer than 64 bytes in UTF-8"
    button = long_buttons[0]
    assert len(button["callback_data"].encode("utf-8")) <= MAX_CALLBACK_BYTES
    assert post(client, callback_update(next_id(), button["callback_data"], chat_id=chat)).status_code == 200
    reply = fake.wait_for_messages(chat, len(replies) + 1)[len(replies)]
    assert_good_reply(reply)
    assert reply.visible_text.startswith(button["text"].rstrip("…"))


def test_expired_suggestion_gets_a_polite_notice(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    query_id = f"old-{next_id()}"
    assert (
        post(client, callback_update(next_id(), "h:0123456789abcdef", chat_id=chat, query_id=query_id)).status_code
        == 200
    )
    reply = fake.wait_for_messages(chat)[0]
    assert any(_is_answer_to(c, query_id) for c in fake.calls)
    assert_good_reply(reply)


def test_photo_in_private_chat_gets_a_text_only_notice(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    assert post(client, photo_update(next_id(), chat_id=chat)).status_code == 200
    assert_good_reply(fake.wait_for_messages(chat)[0])


# ----- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe\x00",
        b"[1, 2, 3]",
        b'"an update"',
        b"null",
        b"{}",
        b'{"update_id": "12"}',
        b'{"update_id": -5}',
        b'{"update_id": true}',
        b'{"update_id": 12, "message": "hi"}',
        b'{"update_id": 12, "message": {"text": "no chat, no date"}}',
        b'{"update_id": 12, "callback_query": {"id": "x"}}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=[
        "not-json",
        "not-utf8",
        "array",
        "string",
        "null",
        "empty-object",
        "string-id",
        "negative-id",
        "bool-id",
        "message-not-object",
        "message-missing-fields",
        "callback-missing-fields",
        "deep-nesting",
    ],
)
def test_malformed_body_gets_400(client: TestClient, body: bytes) -> None:
    before = metric(client, "budgetbot_webhooks_total", channel="telegram", outcome="malformed")
    response = post(client, body)
    assert response.status_code == 400, response.text
    assert response.json()["ok"] is False
    assert response.json()["message"]
    assert metric(client, "budgetbot_webhooks_total", channel="telegram", outcome="malformed") == before + 1


def test_invalid_update_for_a_real_chat_sends_nothing(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    body = {"update_id": next_id(), "message": {"chat": {"id": chat, "type": "private"}, "text": "สวัสดี"}}
    assert post(client, body).status_code == 400  # no message_id, no date
    index = barrier(client, fake, chat)
    assert messages_before(fake, index, chat) == []


def test_oversized_body_is_refused(client: TestClient) -> None:
    body = json.dumps({"update_id": next_id(), "padding": "x" * 1_100_000}).encode()
    assert post(client, body).status_code == 413


def test_disabled_channel_answers_404_with_a_message(clean_env: Path, fake: FakeTelegram) -> None:
    calls_before = len(fake.calls)
    with TestClient(create_app(make_settings(clean_env, fake, telegram_bot_token=None))) as client:
        response = post(client, text_update(next_id(), QUESTION, chat_id=new_chat()))
        assert response.status_code in (404, 503)
        assert "configured" in response.json()["detail"]
        assert metric(client, "budgetbot_webhooks_total", channel="telegram", outcome="disabled") == 1
    assert len(fake.calls) == calls_before, "a disabled channel never calls Telegram"


# ----- failures ------------------------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_send_failure_is_counted_and_logged_with_the_update_id(clean_env: Path) -> None:
    records = _Records()
    logger = logging.getLogger("handlers.pipeline")  # the app's logging set-up only replaces root handlers
    logger.addHandler(records)
    try:
        with FakeTelegram(token=TOKEN) as tg:
            with TestClient(create_app(make_settings(clean_env, tg))) as client:
                tg.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
                update_id, chat = next_id(), new_chat()
                assert post(client, text_update(update_id, QUESTION, chat_id=chat)).status_code == 200
                # Generous waits: on a busy machine the first answer of a new app can take several seconds.
                tg.wait_for_calls("sendMessage", timeout=60)
                deadline = time.monotonic() + 30
                while metric(client, "budgetbot_reply_failures_total", channel="telegram", reason="forbidden") < 1:
                    assert time.monotonic() < deadline, "reply failure not counted"
                    time.sleep(0.05)
                # The next message in that chat is answered normally.
                assert post(client, text_update(next_id(), "สวัสดี", chat_id=chat)).status_code == 200
                assert_good_reply(tg.wait_for_messages(chat, timeout=60)[0])
    finally:
        logger.removeHandler(records)
    # Blocked: not worth retrying. Given up at once, in one log line naming the update.
    failures = [r for r in records.records if r.getMessage() == "delivery given up"]
    assert len(failures) == 1 and failures[0].event_id == str(update_id) and failures[0].reason == "forbidden"
    assert all(TOKEN not in str(r.__dict__) for r in records.records)


def test_telegram_down_at_start_gives_503_not_a_crash(clean_env: Path) -> None:
    """getMe fails at boot (nothing listens there): the app still serves, the webhook asks Telegram to retry."""
    with TestClient(create_app(make_settings(clean_env, None))) as client:
        assert client.get("/healthz").status_code == 200
        response = post(client, text_update(next_id(), QUESTION, chat_id=new_chat()))
        assert response.status_code == 503
        assert response.json()["message"]


# ----- rendering limits (pure: no network) ---------------------------------------------------------


def test_long_answer_is_split_into_valid_messages_within_4096_characters() -> None:
    paragraph = "งบประมาณโครงการดิจิทัล <ระยะที่ 2> & การบูรณาการข้อมูลภาครัฐ ที่ต้องเสนอผ่าน สพร. ก่อนสิ้นปี " * 12
    text = "\n\n".join([paragraph] * 12) + "\n" + "ก้" * 3000  # a last part with no break at all
    suggestion = "โครงการของหน่วยงานเข้าข่ายแนวทางที่ 2 ของแผนงานบูรณาการรัฐบาลดิจิทัลหรือไม่"
    answer = Answer(
        kind=AnswerKind.FAQ,
        text=text,
        confidence=0.9,
        suggestions=[suggestion, "ปีนี้เปิดรับหรือยัง"],
        sources=[SourceRef(id="plan", title="แผนงานบูรณาการรัฐบาลดิจิทัล ปีงบประมาณ พ.ศ. 2570", posted=date(2025, 10, 3))],
    )
    callbacks = SuggestionCallbacks()
    messages = render_answer(answer, callbacks)
    assert len(messages) > 1
    visible = []
    for message in messages:
        assert html_errors(message.html) is None
        call = BotApiCall("sendMessage", TOKEN, {"text": message.html, "parse_mode": "HTML"}, "POST", "", 200)
        assert 0 < telegram_length(call.visible_text) <= 4096
        assert not re.match(r"[\u0E31\u0E34-\u0E3A\u0E47-\u0E4E]", call.visible_text), (
            "no chunk starts with a Thai mark"
        )
        visible.append(call.visible_text)
    assert all(m.keyboard is None for m in messages[:-1])
    assert messages[-1].keyboard is not None
    joined = "".join("".join(visible).split())
    assert "".join(text.split()) in joined, "nothing is lost or reordered"
    assert "3 ต.ค. 2568" in visible[-1]
    buttons = [b for row in messages[-1].keyboard.inline_keyboard for b in row]
    assert [callbacks.decode(b.callback_data) for b in buttons] == [suggestion, "ปีนี้เปิดรับหรือยัง"]
    assert all(len(b.callback_data.encode("utf-8")) <= MAX_CALLBACK_BYTES for b in buttons)


# ----- set-webhook CLI ---------------------------------------------------------------------------


def test_set_webhook_registers_the_url_with_the_secret_token(
    clean_env: Path, fake: FakeTelegram, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "https://budgetbot.example.go.th/webhooks/telegram"
    assert asyncio.run(set_webhook(make_settings(clean_env, fake), url)) == 0
    call = fake.calls_to("setWebhook", ok_only=True)[-1]
    assert call.token == TOKEN
    assert call.params["url"] == url
    assert call.params["secret_token"] == SECRET
    assert sorted(call.param("allowed_updates")) == ["callback_query", "message"]
    assert fake.webhook_url == url
    out = capsys.readouterr()
    assert url in out.out
    assert SECRET not in out.out + out.err and TOKEN not in out.out + out.err


@pytest.mark.parametrize(
    ("overrides", "url", "code"),
    [
        ({"telegram_webhook_secret": "has spaces and ไทย"}, "https://bot.example.go.th/webhooks/telegram", 2),
        ({"telegram_webhook_secret": "x" * 257}, "https://bot.example.go.th/webhooks/telegram", 2),
        ({"telegram_webhook_secret": None}, "https://bot.example.go.th/webhooks/telegram", 2),
        ({"telegram_bot_token": None}, "https://bot.example.go.th/webhooks/telegram", 2),
        ({}, "http://bot.example.go.th/webhooks/telegram", 2),
        ({"telegram_bot_token": "7012345678:wrong-token"}, "https://bot.example.go.th/webhooks/telegram", 1),
    ],
    ids=["bad-characters", "too-long", "no-secret", "no-token", "not-https", "token-refused"],
)
def test_set_webhook_refuses_bad_settings(
    clean_env: Path,
    fake: FakeTelegram,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, Any],
    url: str,
    code: int,
) -> None:
    before = len(fake.calls_to("setWebhook"))
    assert asyncio.run(set_webhook(make_settings(clean_env, fake, **overrides), url)) == code
    assert len(fake.calls_to("setWebhook")) == before
    assert "error" in capsys.readouterr().err


# ----- the real server in its own process --------------------------------------------------------


def test_separate_process_server_answers_telegram(tmp_path: Path) -> None:
    with FakeTelegram(token=TOKEN) as tg:
        env = base_env(tmp_path)
        env.update(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TELEGRAM_API_BASE_URL": tg.base_url,
                "BUDGETBOT_KNOWLEDGE_DIR": str(REPO / "knowledge"),
            }
        )
        with running_server(env, tmp_path) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
            chat = new_chat()
            assert post(http, text_update(next_id(), QUESTION, chat_id=chat), secret="nope").status_code == 403
            update = text_update(next_id(), QUESTION, chat_id=chat)
            assert post(http, update).status_code == 200
            assert post(http, update).json().get("duplicate") is True
            index = barrier(http, tg, chat)
            replies = messages_before(tg, index, chat)
            assert replies, "the question is answered"
            for reply in replies:
                assert_good_reply(reply)
            assert replies[-1].buttons
            log_text = server.log_text()
        assert TOKEN not in log_text and SECRET not in log_text, "secrets never reach the log"
        assert any(c.method == "getMe" for c in tg.calls)
