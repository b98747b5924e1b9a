"""The LINE webhook end to end: the real app and the real LINE SDK, talking to a fake LINE API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.settings import Settings
from handlers.app import create_app
from handlers.line import postback_question, verify_signature
from handlers.line_richmenu import (
    HEIGHT,
    WIDTH,
    create_rich_menu,
    draw_rich_menu_image,
    find_thai_font,
    has_thai_glyphs,
)
from handlers.pipeline import DeliveryPolicy
from tests.fakes.fake_line import (
    DUMMY_REPLY_TOKENS,
    PUSH_PATH,
    REPLY_PATH,
    FakeLine,
    RecordedRequest,
    follow_event,
    image_event,
    message_errors,
    new_event_id,
    postback_event,
    sign,
    signed_webhook,
    sticker_event,
    text_event,
    unfollow_event,
    unknown_event,
    user_source,
)
from tests.support.env import clean_bot_env
from tests.support.faults import metric_value, settle
from tests.support.server import base_env, line_env, running_server

SECRET = "test-channel-secret-0123456789ab"
OLD_SECRET = "old-channel-secret-0123456789abc"
TOKEN = "test-channel-access-token"
FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "line-webhook-events.json"
THAI = re.compile("[\u0e00-\u0e7f]")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Fast retries and a short client timeout so failure tests take fractions of a second.
FAST = DeliveryPolicy(request_timeout=1.0, backoff_first=0.05, backoff_jitter=0.0, shutdown_seconds=5.0)


# --- fixtures and helpers ------------------------------------------------------------------------


def _settings(tmp: Path, fake: FakeLine | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=tmp / "data",
        today=date(2026, 11, 21),
        watch_knowledge=False,
        telegram_bot_token=None,
        user_hash_salt="line-tests-salt-0123456789",
    )
    if fake is not None:
        values.update(
            line_channel_secret=SECRET,
            line_channel_secret_previous=OLD_SECRET,
            line_channel_access_token=TOKEN,
            line_api_base_url=fake.url,
            line_data_api_base_url=fake.url,
        )
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLine]:
    with FakeLine(access_token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def client(fake: FakeLine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as mp:
        clean_bot_env(mp)
        app = create_app(_settings(tmp_path_factory.mktemp("line"), fake), policy=FAST)
        with TestClient(app) as test_client:  # runs the lifespan: knowledge, service, LINE client
            yield test_client


@pytest.fixture(autouse=True)
def _clean_fake(request: pytest.FixtureRequest) -> Iterator[None]:
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").reset()
    yield


def post_events(client: TestClient, events: list[dict[str, Any]], secret: str = SECRET) -> httpx.Response:
    body, headers = signed_webhook(events, secret)
    return client.post("/webhooks/line", content=body, headers=headers)


def replies_to(fake: FakeLine, token: str, *, ok_only: bool = True) -> list[RecordedRequest]:
    return [r for r in fake.replies(ok_only=ok_only) if r.json and r.json.get("replyToken") == token]


def wait_reply(fake: FakeLine, token: str) -> RecordedRequest:
    fake.wait_for(lambda _: bool(replies_to(fake, token)), timeout=10)
    return replies_to(fake, token)[0]


def metric(client: TestClient, name: str, **labels: str) -> float:
    return metric_value(client.get("/metrics").text, name, **labels)


def assert_good_reply(messages: list[dict[str, Any]]) -> None:
    """What a LINE user sees: 1-5 valid messages, Thai text, quick replies to tap."""
    assert 1 <= len(messages) <= 5
    assert message_errors(messages) == []
    texts = [m["text"] for m in messages if m["type"] == "text"]
    assert texts and all(t.strip() for t in texts)
    assert THAI.search("".join(texts))
    items = messages[-1]["quickReply"]["items"]
    assert 1 <= len(items) <= 13
    assert all(i["action"]["type"] == "message" and i["action"]["text"] for i in items)


# --- pure helpers --------------------------------------------------------------------------------


def test_postback_data_is_the_question_or_a_q_parameter() -> None:
    assert postback_question("แนวทางมีอะไรบ้าง") == "แนวทางมีอะไรบ้าง"
    assert postback_question("q=%E0%B8%AA%E0%B8%A7%E0%B8%B1%E0%B8%AA%E0%B8%94%E0%B8%B5") == "สวัสดี"
    assert postback_question("src=menu&q=ใครขอได้บ้าง") == "ใครขอได้บ้าง"
    assert postback_question("q=") == ""


def test_signature_is_checked_on_the_raw_bytes_with_either_secret() -> None:
    body = '{"events":[], "x": "ไทย"}'.encode()
    assert verify_signature(body, sign(body, SECRET), [SECRET, OLD_SECRET])
    assert verify_signature(body, sign(body, OLD_SECRET), [SECRET, OLD_SECRET])
    assert not verify_signature(body, sign(body, OLD_SECRET), [SECRET, None])
    reserialized = json.dumps(json.loads(body)).encode()  # same JSON, different bytes
    assert not verify_signature(reserialized, sign(body, SECRET), [SECRET])
    assert not verify_signature(body, None, [SECRET])
    assert not verify_signature(body, "", [SECRET])


# --- the happy path ------------------------------------------------------------------------------


def test_text_message_gets_exactly_one_reply_with_quick_replies(client: TestClient, fake: FakeLine) -> None:
    event = text_event("ปีงบประมาณนี้ยังยื่นคำขอได้ไหม")
    response = post_events(client, [event])
    assert response.status_code == 200
    reply = wait_reply(fake, event["replyToken"])
    assert reply.headers["authorization"] == f"Bearer {TOKEN}"
    assert_good_reply(reply.json["messages"])
    settle(client)
    assert len(replies_to(fake, event["replyToken"], ok_only=False)) == 1
    assert fake.pushes(ok_only=False) == []
    for flex in (m for m in reply.json["messages"] if m["type"] == "flex"):
        assert flex["altText"].strip()  # a status card, if any, has alt text for notifications


def test_follow_gets_a_welcome_with_quick_replies(client: TestClient, fake: FakeLine) -> None:
    event = follow_event()
    assert post_events(client, [event]).status_code == 200
    assert_good_reply(wait_reply(fake, event["replyToken"]).json["messages"])


@pytest.mark.parametrize("make", [sticker_event, image_event], ids=["sticker", "image"])
def test_non_text_messages_get_a_short_thai_help(client: TestClient, fake: FakeLine, make: Any) -> None:
    event = make()
    assert post_events(client, [event]).status_code == 200
    messages = wait_reply(fake, event["replyToken"]).json["messages"]
    assert_good_reply(messages)
    assert len(messages) == 1


def test_postback_is_answered_as_the_question_it_carries(client: TestClient, fake: FakeLine) -> None:
    question = "แนวทางมีอะไรบ้าง"
    typed = text_event(question, source=user_source("U" + "a" * 32))
    plain = postback_event(question, source=user_source("U" + "b" * 32))
    query = postback_event("q=" + question, source=user_source("U" + "c" * 32))
    assert post_events(client, [typed, plain, query]).status_code == 200
    answers = [wait_reply(fake, e["replyToken"]).json["messages"] for e in (typed, plain, query)]
    for messages in answers:
        assert_good_reply(messages)
    # Tapping a postback button gives the same answer as typing its question.
    assert answers[1] == answers[0]
    assert answers[2] == answers[0]


def _group_text(
    text: str, mentionees: list[dict[str, Any]], *, group: str = "C" + "1" * 32, user: str
) -> dict[str, Any]:
    event = text_event(text, source={"type": "group", "groupId": group, "userId": user})
    if mentionees:
        event["message"]["mention"] = {"mentionees": mentionees}
    return event


def _self_mention(text: str, name: str) -> dict[str, Any]:
    at = "@" + name
    return {"index": text.index(at), "length": len(at), "type": "user", "userId": "Ubot", "isSelf": True}


def test_in_a_group_only_a_mention_of_the_assistant_is_answered(client: TestClient, fake: FakeLine) -> None:
    user = "U" + "2" * 32
    plain = _group_text("ปีงบ 70 ยังยื่นได้ไหม", [], user=user)
    other = _group_text(
        "@สมชาย ปีงบ 70 ยังยื่นได้ไหม",
        [{"index": 0, "length": 6, "type": "user", "userId": "U9", "isSelf": False}],
        user=user,
    )
    everyone = _group_text("@All ปีงบ 70 ยังยื่นได้ไหม", [{"index": 0, "length": 4, "type": "all"}], user=user)
    text = "@ผู้ช่วยงบ ปีงบ 70 ยังยื่นได้ไหม"
    addressed = _group_text(text, [_self_mention(text, "ผู้ช่วยงบ")], user=user)
    before = metric(client, "budgetbot_events_total", channel="line", outcome="not_addressed")
    assert post_events(client, [plain, other, everyone, addressed]).status_code == 200
    reply = wait_reply(fake, addressed["replyToken"])
    settle(client)
    assert [r.json["replyToken"] for r in fake.replies(ok_only=False)] == [addressed["replyToken"]]
    messages = reply.json["messages"]
    assert_good_reply_in_group(messages)
    # The asker's message is quoted, and the answer is about what was asked, the mention taken out.
    assert messages[0]["quoteToken"] == addressed["message"]["quoteToken"]
    assert "2570" in " ".join(m.get("text", "") + m.get("altText", "") for m in messages)
    assert metric(client, "budgetbot_events_total", channel="line", outcome="not_addressed") == before + 3


def assert_good_reply_in_group(messages: list[dict[str, Any]]) -> None:
    """In a group, suggestions are postbacks: a typed question without a mention would not reach the assistant."""
    assert 1 <= len(messages) <= 5 and message_errors(messages) == []
    items = messages[-1]["quickReply"]["items"]
    assert items and all(i["action"]["type"] == "postback" for i in items)
    assert all(i["action"]["data"] == i["action"]["displayText"] and i["action"]["data"] for i in items)


def test_joining_a_group_introduces_itself_and_says_how_to_ask(client: TestClient, fake: FakeLine) -> None:
    event = _base_join()
    assert post_events(client, [event]).status_code == 200
    messages = wait_reply(fake, event["replyToken"]).json["messages"]
    assert "@" in messages[0]["text"] and THAI.search(messages[0]["text"])
    assert_good_reply_in_group(messages)


def _base_join() -> dict[str, Any]:
    event = follow_event(source={"type": "group", "groupId": "C" + "3" * 32})
    event["type"] = "join"
    del event["follow"]
    return event


def test_memory_is_per_person_in_a_group(client: TestClient, fake: FakeLine) -> None:
    """One member asks about FY 2566, another asks "and 67?": without the first one's context that means
    nothing for the second; the first one's own follow-up continues their conversation."""
    group = "C" + "4" * 32
    first, second = "U" + "5" * 32, "U" + "6" * 32

    def ask(text: str, user: str) -> str:
        full = "@ผู้ช่วย " + text
        event = _group_text(full, [_self_mention(full, "ผู้ช่วย")], group=group, user=user)
        assert post_events(client, [event]).status_code == 200
        messages = wait_reply(fake, event["replyToken"]).json["messages"]
        return " ".join(m.get("text", "") + m.get("altText", "") for m in messages)

    assert "2566" in ask("ปีงบ 66 ยังยื่นได้ไหม", first)
    other = ask("แล้วปี 67 ล่ะ", second)
    own = ask("แล้วปี 67 ล่ะ", first)
    assert "2567" in own
    assert other != own


def test_previous_channel_secret_is_accepted_during_rotation(client: TestClient, fake: FakeLine) -> None:
    event = text_event("สวัสดี")
    assert post_events(client, [event], secret=OLD_SECRET).status_code == 200
    wait_reply(fake, event["replyToken"])


# --- what must not be answered -------------------------------------------------------------------


def test_bad_or_missing_signature_gets_400_and_no_reply(client: TestClient, fake: FakeLine) -> None:
    before = metric(client, "budgetbot_webhooks_total", channel="line", outcome="bad_signature")
    event = text_event("สวัสดี")
    body, headers = signed_webhook([event], "not-the-secret")
    assert client.post("/webhooks/line", content=body, headers=headers).status_code == 400
    assert client.post("/webhooks/line", content=body, headers={"Content-Type": "application/json"}).status_code == 400
    bad = {"Content-Type": "application/json", "X-Line-Signature": "%%% not base64 %%%"}
    assert client.post("/webhooks/line", content=body, headers=bad).status_code == 400
    # A valid signature of a different body (a replay with edited content) is refused too.
    tampered = body.replace("สวัสดี".encode(), "ลาก่อน".encode())
    assert (
        client.post(
            "/webhooks/line", content=tampered, headers={**headers, "X-Line-Signature": sign(body, SECRET)}
        ).status_code
        == 400
    )
    settle(client)
    assert fake.requests == []
    assert metric(client, "budgetbot_webhooks_total", channel="line", outcome="bad_signature") == before + 4


def test_redelivered_event_gets_no_second_reply(client: TestClient, fake: FakeLine) -> None:
    event_id = new_event_id()
    first = text_event("แนวทางมีอะไรบ้าง", event_id=event_id)
    assert post_events(client, [first]).status_code == 200
    wait_reply(fake, first["replyToken"])
    again = text_event("แนวทางมีอะไรบ้าง", event_id=event_id, redelivery=True)
    assert post_events(client, [again]).status_code == 200
    settle(client)
    assert replies_to(fake, again["replyToken"], ok_only=False) == []
    assert len(fake.replies(ok_only=False)) == 1


def test_unknown_unfollow_and_empty_events_get_200_and_nothing_sent(client: TestClient, fake: FakeLine) -> None:
    assert post_events(client, []).status_code == 200  # LINE's webhook verification request
    assert post_events(client, [unknown_event(), unfollow_event()]).status_code == 200
    # A shape no SDK model accepts (missing fields) is skipped, not a 500.
    assert post_events(client, [{"type": "message", "message": "?"}, {"junk": True}, 42]).status_code == 200
    settle(client)
    assert fake.requests == []


def test_console_verify_with_dummy_reply_tokens_gets_200_and_no_reply(client: TestClient, fake: FakeLine) -> None:
    events = [text_event("Hello, world", reply_token=token) for token in DUMMY_REPLY_TOKENS]
    assert post_events(client, events).status_code == 200
    settle(client)
    assert fake.requests == []


def test_the_sdk_fixture_with_every_event_type_is_taken_whole(client: TestClient, fake: FakeLine) -> None:
    failures_before = metric(client, "budgetbot_reply_failures_total", channel="line")
    body = FIXTURE.read_bytes()
    headers = {"Content-Type": "application/json", "X-Line-Signature": sign(body, SECRET)}
    assert client.post("/webhooks/line", content=body, headers=headers).status_code == 200
    settle(client)
    # Its events share one webhookEventId: at most the first gets a reply, and nothing fails.
    assert len(fake.replies(ok_only=False)) <= 1
    assert all(r.status == 200 for r in fake.requests)
    assert metric(client, "budgetbot_reply_failures_total", channel="line") == failures_before


def test_malformed_bodies_get_400(client: TestClient, fake: FakeLine) -> None:
    before = metric(client, "budgetbot_webhooks_total", channel="line", outcome="malformed")
    for body in (b"{not json", b"\xff\xfe\x00", b"[1, 2]", b'{"events": {"a": 1}}', b""):
        response = client.post("/webhooks/line", content=body, headers={"X-Line-Signature": sign(body, SECRET)})
        assert response.status_code == 400, body
        assert response.json()["detail"]
    settle(client)
    assert fake.requests == []
    assert metric(client, "budgetbot_webhooks_total", channel="line", outcome="malformed") == before + 5


def test_oversized_body_is_refused(client: TestClient, fake: FakeLine) -> None:
    body = json.dumps({"destination": "U", "events": [], "pad": "x" * 1_100_000}).encode()
    response = client.post("/webhooks/line", content=body, headers={"X-Line-Signature": sign(body, SECRET)})
    assert response.status_code == 413


# --- failures on the way out ---------------------------------------------------------------------


def test_reply_failing_with_500_is_retried(client: TestClient, fake: FakeLine) -> None:
    before = metric(client, "budgetbot_reply_failures_total", channel="line", reason="server_error")
    fake.fail_next_replies(1, status=500)
    event = text_event("ช่วยอะไรได้บ้าง")
    assert post_events(client, [event]).status_code == 200
    wait_reply(fake, event["replyToken"])
    settle(client)
    attempts = replies_to(fake, event["replyToken"], ok_only=False)
    assert [a.status for a in attempts] == [500, 200]
    assert fake.pushes(ok_only=False) == []
    assert metric(client, "budgetbot_reply_failures_total", channel="line", reason="server_error") == before + 1


def test_reply_timing_out_is_retried(client: TestClient, fake: FakeLine) -> None:
    before = metric(client, "budgetbot_reply_failures_total", channel="line", reason="timeout")
    fake.hang_next_replies(1, seconds=FAST.request_timeout + 2)
    event = text_event("ช่วยอะไรได้บ้าง")
    assert post_events(client, [event]).status_code == 200
    wait_reply(fake, event["replyToken"])
    settle(client)
    assert [r.status for r in replies_to(fake, event["replyToken"], ok_only=False)] == [0, 200]  # 0: never answered
    assert metric(client, "budgetbot_reply_failures_total", channel="line", reason="timeout") == before + 1


def test_invalid_reply_token_falls_back_to_push(client: TestClient, fake: FakeLine) -> None:
    before = metric(client, "budgetbot_reply_failures_total", channel="line", reason="invalid_reply_token")
    fake.reject_reply_tokens()
    user = "U" + "d" * 32
    event = text_event("แนวทางมีอะไรบ้าง", source=user_source(user))
    assert post_events(client, [event]).status_code == 200
    push = fake.wait_for_requests(PUSH_PATH, ok_only=True)[0]
    settle(client)
    assert push.json["to"] == user
    assert UUID_RE.match(push.headers["x-line-retry-key"])
    assert_good_reply(push.json["messages"])
    assert len(replies_to(fake, event["replyToken"], ok_only=False)) == 1  # not retried: it cannot work
    assert len(fake.pushes(ok_only=False)) == 1
    assert metric(client, "budgetbot_reply_failures_total", channel="line", reason="invalid_reply_token") == before + 1


def test_reply_failing_while_the_token_is_fresh_is_pushed_with_one_retry_key(tmp_path: Path, fake: FakeLine) -> None:
    # Replies are retried while the token is fresh (here 5 s: long enough for two attempts after a slow first
    # answer on a busy machine), then the answer is pushed; the push is retried with the same X-Line-Retry-Key,
    # so LINE could drop a duplicate if the first push did go through.
    policy = DeliveryPolicy(request_timeout=1.0, backoff_first=0.2, backoff_jitter=0.0, reply_token_seconds=5.0)
    fake.fail_next_replies(100, status=503)
    fake.fail_next_pushes(1, status=500)
    with TestClient(create_app(_settings(tmp_path, fake), policy=policy)) as app:
        event = text_event("ช่วยอะไรได้บ้าง")
        assert post_events(app, [event]).status_code == 200
        fake.wait_for_requests(PUSH_PATH, ok_only=True, timeout=60)  # the push's retry waits out the backoff
        settle(app)
        replies = replies_to(fake, event["replyToken"], ok_only=False)
        assert len(replies) >= 2 and {r.status for r in replies} == {503}
        assert replies[-1].at - replies[0].at < policy.reply_token_seconds + 0.5
        pushes = fake.pushes(ok_only=False)
        assert [p.status for p in pushes] == [500, 200]
        assert pushes[0].headers["x-line-retry-key"] == pushes[1].headers["x-line-retry-key"]
        assert metric(app, "budgetbot_reply_failures_total", channel="line", reason="server_error") == len(replies) + 1
        assert metric(app, "budgetbot_deliveries_total", channel="line", outcome="pushed") == 1
    fake.reset()


def test_a_reused_retry_key_is_delivered_not_sent_again(client: TestClient, fake: FakeLine) -> None:
    """A push whose first attempt went through but whose answer was lost: LINE answers the retry with 409,
    which counts as delivered."""
    fake.reject_reply_tokens()
    fake.answer_next_pushes_late(1, seconds=FAST.request_timeout + 2)
    user = "U" + "9" * 32
    event = text_event("แนวทางมีอะไรบ้าง", source=user_source(user))
    assert post_events(client, [event]).status_code == 200
    fake.wait_for(lambda _: any(p.status == 409 for p in fake.pushes(ok_only=False)), timeout=15)
    settle(client)
    statuses = [p.status for p in fake.pushes(ok_only=False)]
    assert statuses == [200, 409], statuses
    assert metric(client, "budgetbot_deliveries_total", channel="line", outcome="pushed") >= 1


def test_reply_rejected_for_other_reasons_is_not_retried_or_pushed(client: TestClient, fake: FakeLine) -> None:
    fake.fail_next_replies(1, status=400)
    event = text_event("ช่วยอะไรได้บ้าง")
    assert post_events(client, [event]).status_code == 200
    fake.wait_for_requests(REPLY_PATH)
    settle(client)
    assert len(fake.replies(ok_only=False)) == 1
    assert fake.pushes(ok_only=False) == []
    assert metric(client, "budgetbot_reply_failures_total", channel="line", reason="client_error") >= 1
    # ...and the worker is still alive for the next message.
    event = text_event("สวัสดี")
    assert post_events(client, [event]).status_code == 200
    wait_reply(fake, event["replyToken"])


def test_webhook_metrics_count_outcomes_and_latency(client: TestClient) -> None:
    before = metric(client, "budgetbot_webhooks_total", channel="line", outcome="ok")
    assert post_events(client, []).status_code == 200
    assert metric(client, "budgetbot_webhooks_total", channel="line", outcome="ok") == before + 1
    assert metric(client, "budgetbot_webhook_seconds_count", channel="line") >= 1


# --- separate apps: disabled channel, shutdown ---------------------------------------------------


def test_line_disabled_answers_404_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("LINE_", "TELEGRAM_")):
            monkeypatch.delenv(name)
    with TestClient(create_app(_settings(tmp_path, None))) as client:
        body, headers = signed_webhook([text_event("สวัสดี")], SECRET)
        response = client.post("/webhooks/line", content=body, headers=headers)
        assert response.status_code in (404, 503)
        assert "line" in response.json()["detail"] and "LINE_CHANNEL_SECRET" in response.json()["detail"]
        assert metric(client, "budgetbot_webhooks_total", channel="line", outcome="disabled") == 1


def test_shutdown_leaves_unfinished_replies_to_the_next_start(tmp_path: Path) -> None:
    """A reply still failing when the app stops is not cancelled half-way nor lost: it stays stored, and the
    next start sends it (its reply token still fresh), once."""
    with FakeLine(access_token=TOKEN) as fake:
        fake.hang_next_replies(1, seconds=0.3)  # the first attempt is in flight at shutdown (then a 500)
        event = text_event("ช่วยอะไรได้บ้าง")
        with TestClient(create_app(_settings(tmp_path, fake), policy=FAST)) as client:
            assert post_events(client, [event]).status_code == 200
            fake.wait_for_requests(REPLY_PATH)
        assert replies_to(fake, event["replyToken"]) == []
        with TestClient(create_app(_settings(tmp_path, fake), policy=FAST)) as client:
            wait_reply(fake, event["replyToken"])
            settle(client)
        assert len(replies_to(fake, event["replyToken"])) == 1


def test_an_event_whose_reply_token_is_no_longer_fresh_is_pushed_not_tried(client: TestClient, fake: FakeLine) -> None:
    # The token's age counts from the event's own timestamp (here 30 s ago: past BUDGETBOT_REPLY_TOKEN_SECONDS).
    user = "U" + "2" * 32
    before = metric(client, "budgetbot_reply_failures_total", channel="line", reason="reply_token_expired")
    late = text_event("แนวทางมีอะไรบ้าง", source=user_source(user))
    late["timestamp"] -= 30_000
    assert post_events(client, [late]).status_code == 200
    push = fake.wait_for_requests(PUSH_PATH, ok_only=True)[0]
    settle(client)
    assert push.json["to"] == user
    assert replies_to(fake, late["replyToken"], ok_only=False) == []
    assert metric(client, "budgetbot_reply_failures_total", channel="line", reason="reply_token_expired") == before + 1


def test_stale_events_are_acknowledged_and_not_answered(client: TestClient, fake: FakeLine) -> None:
    """Older than BUDGETBOT_MAX_EVENT_AGE (a day): a replayed signed body whose id was purged long ago, too."""
    before = metric(client, "budgetbot_events_total", channel="line", outcome="stale")
    old = text_event("ปีงบ 70 ยังยื่นได้ไหม")
    old["timestamp"] -= 86_400_000 + 60_000
    assert post_events(client, [old]).status_code == 200
    fresh = text_event("สวัสดี")
    assert post_events(client, [fresh]).status_code == 200  # a barrier: handled after the stale one
    wait_reply(fake, fresh["replyToken"])
    settle(client)
    assert replies_to(fake, old["replyToken"], ok_only=False) == []
    assert fake.pushes(ok_only=False) == []
    assert metric(client, "budgetbot_events_total", channel="line", outcome="stale") == before + 1


# --- the rich menu -------------------------------------------------------------------------------


def test_rich_menu_is_created_uploaded_and_made_default(tmp_path: Path) -> None:
    with FakeLine(access_token=TOKEN) as fake:
        settings = _settings(tmp_path, fake)
        image_out = tmp_path / "menu.png"
        assert asyncio.run(create_rich_menu(settings, image_out=image_out)) == 0
        paths = [(r.method, r.path) for r in fake.requests]
        assert len(fake.rich_menus) == 1
        menu_id, menu = next(iter(fake.rich_menus.items()))
        assert paths == [
            ("POST", "/v2/bot/richmenu"),
            ("POST", f"/v2/bot/richmenu/{menu_id}/content"),
            ("POST", f"/v2/bot/user/all/richmenu/{menu_id}"),
            ("GET", "/v2/bot/richmenu/list"),  # the menus it made before, to delete (none here)
        ]
        assert menu["size"] == {"width": 2500, "height": 843}
        questions = [a["action"]["text"] for a in menu["areas"]]
        assert questions == ["ปีไหนบ้างที่ยังเปิดรับคำขออยู่", "แนวทางมีอะไรบ้าง", "โครงการเราขอได้ไหม", "ช่วยอะไรได้บ้าง"]
        covered = sum(a["bounds"]["width"] * a["bounds"]["height"] for a in menu["areas"])
        assert covered == 2500 * 843  # every pixel is a button
        content_type, image = fake.rich_menu_images[menu_id]
        assert content_type == "image/png" and image == image_out.read_bytes()
        assert len(image) < 1_000_000  # LINE's limit
        assert fake.default_rich_menu == menu_id


def test_rich_menu_image_without_a_thai_font_still_draws() -> None:
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(draw_rich_menu_image(None)))
    assert image.size == (WIDTH, HEIGHT)


def test_thai_font_search_skips_fonts_without_thai(tmp_path: Path) -> None:
    found = find_thai_font()
    if found is not None:  # depends on the machine: when one is found it must really draw Thai
        assert has_thai_glyphs(found)
    dejavu = next(Path("/usr/share/fonts").rglob("DejaVuSans.ttf"), None)
    if dejavu is not None:
        assert not has_thai_glyphs(dejavu)  # DejaVu has no Thai
        (tmp_path / "DejaVuSans.ttf").write_bytes(dejavu.read_bytes())
        assert find_thai_font([tmp_path]) is None


def test_rich_menu_without_a_token_is_a_usage_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path, None, line_channel_access_token=None)
    assert asyncio.run(create_rich_menu(settings)) == 2


# --- the real server as a separate process --------------------------------------------------------


def test_real_server_process_replies_through_the_line_sdk(tmp_path: Path) -> None:
    with FakeLine(access_token=TOKEN) as fake:
        env = base_env(tmp_path)
        env.update(line_env(fake.url, SECRET, TOKEN))
        env.update(
            BUDGETBOT_WATCH_KNOWLEDGE="false",
        )
        with running_server(env, tmp_path) as server:
            event = text_event("ปีงบประมาณนี้ยังยื่นคำขอได้ไหม")
            body, headers = signed_webhook([event], SECRET)
            response = httpx.post(f"{server.base_url}/webhooks/line", content=body, headers=headers, timeout=5)
            assert response.status_code == 200
            reply = wait_reply(fake, event["replyToken"])
            assert_good_reply(reply.json["messages"])

            again = text_event("ปีงบประมาณนี้ยังยื่นคำขอได้ไหม", event_id=event["webhookEventId"], redelivery=True)
            body, headers = signed_webhook([again], SECRET)
            assert httpx.post(f"{server.base_url}/webhooks/line", content=body, headers=headers).status_code == 200
            bad = httpx.post(
                f"{server.base_url}/webhooks/line",
                content=body,
                headers={**headers, "X-Line-Signature": sign(body, "wrong")},
            )
            assert bad.status_code == 400
            junk = b"{oops"
            assert (
                httpx.post(
                    f"{server.base_url}/webhooks/line", content=junk, headers={"X-Line-Signature": sign(junk, SECRET)}
                ).status_code
                == 400
            )

            fake.reject_reply_tokens()
            lost = text_event("แนวทางมีอะไรบ้าง", source=user_source("U" + "e" * 32))
            body, headers = signed_webhook([lost], SECRET)
            assert httpx.post(f"{server.base_url}/webhooks/line", content=body, headers=headers).status_code == 200
            push = fake.wait_for_requests(PUSH_PATH, ok_only=True)[0]
            assert push.json["to"] == "U" + "e" * 32

            metrics_text = httpx.get(f"{server.base_url}/metrics").text
            assert 'budgetbot_reply_failures_total{channel="line",reason="invalid_reply_token"} 1.0' in metrics_text
            assert 'budgetbot_webhooks_total{channel="line",outcome="bad_signature"} 1.0' in metrics_text
            assert 'budgetbot_webhooks_total{channel="line",outcome="malformed"} 1.0' in metrics_text
            # The redelivery was not answered a second time.
            assert replies_to(fake, again["replyToken"], ok_only=False) == []
            assert "Traceback" not in server.log_text()
        assert len(replies_to(fake, event["replyToken"])) == 1
        assert uuid.UUID(push.headers["x-line-retry-key"])


# --- messages that answer no event (notifications, issue 11) -------------------------------------------------


def test_a_stored_notification_is_pushed_once_with_the_retry_key_stored_before_the_first_attempt(
    client: TestClient, fake: FakeLine
) -> None:
    """The outbox is open to messages that answer no event: stored with their retry key, pushed to the user,
    retried with the same key (LINE answers 409 once it has one: delivered, not sent twice)."""
    from functools import partial

    from handlers.pipeline import Outgoing

    user = "U" + "e" * 32
    pipeline = client.app.state.ctx.pipeline
    fake.answer_next_pushes_late(1, seconds=FAST.request_timeout + 2)  # accepted, but the answer comes too late
    outgoing = Outgoing(parts=[{"messages": [{"type": "text", "text": "ปีงบประมาณ 2571 เปิดรับคำขอแล้ว"}]}])
    assert client.portal is not None
    client.portal.call(partial(pipeline.enqueue, "line", user, outgoing, ref="notification-1"))
    fake.wait_for(lambda _: [p.status for p in fake.pushes(ok_only=False)] == [200, 409], timeout=20)
    settle(client)
    pushes = fake.pushes(ok_only=False)
    assert all(p.json["to"] == user for p in pushes)
    assert UUID_RE.match(pushes[0].headers["x-line-retry-key"])
    assert pushes[0].headers["x-line-retry-key"] == pushes[1].headers["x-line-retry-key"]


def test_messages_are_sent_as_the_sdk_would_serialise_them() -> None:
    """line_json (a fast path for the SDK's to_dict) gives LINE exactly the same JSON for every rendered answer
    of the evaluation set: text, Flex cards, quick replies."""
    from handlers.line import line_json
    from handlers.line_render import render_answer, render_error, render_help
    from tests.support.core import TODAY, shipped_assistant
    from tests.support.load import eval_questions

    assistant = shipped_assistant()
    renderings = [render_answer(assistant.respond(q, None, TODAY)[0]) for q in eval_questions()]
    renderings += [render_help(), render_error()]
    kinds = set()
    for messages in renderings:
        for message in messages:
            assert json.dumps(line_json(message), sort_keys=True) == json.dumps(message.to_dict(), sort_keys=True)
            kinds.add(message.type)
    assert {"text", "flex"} <= kinds
