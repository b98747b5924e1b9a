"""Faults on the way out and underneath: a flaky LINE API, a database that goes away, a shutdown mid-reply.

What a user would notice: everyone still gets exactly one answer, quickly, even when someone else's reply is
stuck; operators see each failure once in the log and counted in /metrics; the service heals by itself.
The LINE API is the fake from tests/fakes (with per-token failures from tests/support/faults.py); the
database outage is a TCP proxy in front of the test PostgreSQL that the test cuts and restores.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.settings import Settings
from handlers.app import create_app
from handlers.pipeline import DeliveryPolicy
from handlers.telegram import SECRET_HEADER
from tests.fakes.fake_line import FakeLine, RecordedRequest, signed_webhook, text_event, user_source
from tests.fakes.fake_telegram import FakeTelegram, text_update
from tests.support.env import clean_bot_env
from tests.support.faults import (
    HANG,
    INVALID_TOKEN,
    FaultyLine,
    TcpProxy,
    json_logs,
    lines_for,
    metric_value,
    parse_json_lines,
    reply_token_of,
    settle,
    wait_until,
)
from tests.support.server import base_env, line_env, running_server

SECRET = "faults-channel-secret-0123456789"
TOKEN = "faults-channel-access-token"
TG_TOKEN = "7000000001:AAFaultsFaultsFaultsFaultsFaults-xyz"
TG_SECRET = "faults_webhook_secret-0123"
# Short timeouts so a hang costs two seconds, and a reply token that counts as fresh for 3.5 s only: after a hang
# (2 s) there is time for one more reply attempt, after two hangs (4.1 s) the answer is pushed instead.
POLICY = DeliveryPolicy(
    request_timeout=2.0, backoff_first=0.1, backoff_jitter=0.0, reply_token_seconds=3.5, shutdown_seconds=10.0
)
# Another user's reply must not wait for a stuck one: each arrives well inside one request timeout.
OTHERS_BOUND = 1.5


def _user(n: int) -> str:
    return "U" + f"{n:032x}"


# --- the in-process app with a faulty LINE API --------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FaultyLine]:
    with FaultyLine(access_token=TOKEN, hang_seconds=8.0) as server:
        yield server


@pytest.fixture(scope="module")
def client(fake: FaultyLine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("faults")
    with pytest.MonkeyPatch.context() as mp:
        clean_bot_env(mp)
        mp.chdir(tmp)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            line_channel_secret=SECRET,
            line_channel_access_token=TOKEN,
            line_api_base_url=fake.url,
            line_data_api_base_url=fake.url,
            telegram_bot_token=None,
            data_dir=tmp / "data",
            today=date(2026, 11, 21),
            watch_knowledge=False,
            user_hash_salt="faults-tests-salt-0123456789",
        )
        with TestClient(create_app(settings, policy=POLICY)) as test_client:
            yield test_client


@pytest.fixture(autouse=True)
def _fresh_fake(request: pytest.FixtureRequest) -> Iterator[None]:
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").reset()
    yield


def metrics(client: TestClient) -> str:
    return client.get("/metrics").text


def failures(metrics_text: str, reason: str) -> float:
    return metric_value(metrics_text, "budgetbot_reply_failures_total", channel="line", reason=reason)


def attempts(fake: FakeLine, token: str) -> list[RecordedRequest]:
    return [r for r in fake.replies(ok_only=False) if reply_token_of(r) == token]


def deliveries(fake: FakeLine, token: str, user: str) -> list[RecordedRequest]:
    """What reached the user: accepted replies with their token, accepted pushes to them."""
    replies = [r for r in fake.replies() if reply_token_of(r) == token]
    pushes = [p for p in fake.pushes() if isinstance(p.json, dict) and p.json.get("to") == user]
    return replies + pushes


def test_one_users_failing_reply_does_not_hold_up_the_others(client: TestClient, fake: FaultyLine) -> None:
    """Nine users write at once (one webhook, as LINE batches them). Five replies fail in different ways;
    everyone gets exactly one answer, the healthy ones at once, and each failure is logged and counted once."""
    before = metrics(client)
    plan: dict[str, tuple[Any, ...]] = {
        "hang_then_ok": (HANG,),  # timeout: retried, the retry works
        "hang_twice": (HANG, HANG),  # token would expire before a third try: pushed instead
        "5xx_then_ok": (500, 503),  # retried with growing backoff, then works
        "5xx_always": (500,) * 30,  # every reply fails while the token is fresh: then pushed
        "dead_token": (INVALID_TOKEN,),  # cannot work: pushed at once, not retried
    }
    healthy = ["ok1", "ok2", "ok3", "ok4"]
    users = {name: _user(i + 1) for i, name in enumerate([*plan, *healthy])}
    events = {name: text_event("ช่วยอะไรได้บ้าง", source=user_source(users[name])) for name in users}
    for name, outcomes in plan.items():
        fake.script(events[name]["replyToken"], *outcomes)

    with json_logs() as logs:
        body, headers = signed_webhook(list(events.values()), SECRET)
        posted = time.monotonic()
        response = client.post("/webhooks/line", content=body, headers=headers)
        assert response.status_code == 200
        assert time.monotonic() - posted < OTHERS_BOUND  # answered before any reply is sent

        # The healthy users are answered while two replies are still hanging.
        fake.wait_for(lambda _: all(deliveries(fake, events[n]["replyToken"], users[n]) for n in healthy), timeout=5)
        for name in healthy:
            (reply,) = deliveries(fake, events[name]["replyToken"], users[name])
            assert reply.at - posted < OTHERS_BOUND, (name, reply.at - posted)
        assert not deliveries(fake, events["hang_then_ok"]["replyToken"], users["hang_then_ok"])  # still stuck
        settle(client)
        records = logs.records()
    after = metrics(client)

    # Everyone got exactly one answer, by reply or by push.
    for name in users:
        got = deliveries(fake, events[name]["replyToken"], users[name])
        assert len(got) == 1, (name, [(r.path, r.status) for r in got])

    def statuses(name: str) -> list[int]:
        return [r.status for r in attempts(fake, events[name]["replyToken"])]

    assert statuses("hang_then_ok") == [0, 200]
    assert statuses("hang_twice") == [0, 0]  # no third try with a nearly expired token...
    assert statuses("5xx_then_ok") == [500, 503, 200]
    always = attempts(fake, events["5xx_always"]["replyToken"])
    assert len(always) >= 3 and {r.status for r in always} == {500}  # retried with growing pauses...
    assert always[-1].at - posted < POLICY.reply_token_seconds + 0.5  # ...only while the token was fresh
    assert statuses("dead_token") == [400]  # never retried
    for name in ("hang_twice", "5xx_always", "dead_token"):  # ...they were pushed instead
        (push,) = [d for d in deliveries(fake, events[name]["replyToken"], users[name]) if d.path.endswith("/push")]
        assert push.headers.get("x-line-retry-key")
    for name in healthy:
        assert statuses(name) == [200]

    # Retries back off, and the wait grows.
    tries = attempts(fake, events["5xx_then_ok"]["replyToken"])
    first_gap, second_gap = tries[1].at - tries[0].at, tries[2].at - tries[1].at
    assert first_gap >= POLICY.backoff_first * 0.9
    assert second_gap >= 2 * POLICY.backoff_first * 0.9

    # Each failed event: one warning line, with what finally happened; healthy events: none.
    expected_outcomes = {
        "hang_then_ok": "replied",
        "hang_twice": "pushed",
        "5xx_then_ok": "replied",
        "5xx_always": "pushed",
        "dead_token": "pushed",
    }
    for name, outcome in expected_outcomes.items():
        lines = lines_for(records, events[name]["webhookEventId"])
        assert len(lines) == 1, (name, lines)
        assert lines[0]["outcome"] == outcome and lines[0]["channel"] == "line"
        assert lines[0]["reasons"], lines[0]
    for name in healthy:
        assert lines_for(records, events[name]["webhookEventId"]) == []

    # Counted by reason: the server errors, 3 timeouts, 1 dead token.
    assert failures(after, "server_error") - failures(before, "server_error") == 2 + len(always)
    assert failures(after, "timeout") - failures(before, "timeout") == 3
    assert failures(after, "invalid_reply_token") - failures(before, "invalid_reply_token") == 1


def test_every_third_reply_failing_still_answers_everyone_once(client: TestClient, fake: FaultyLine) -> None:
    before = metrics(client)
    fake.fail_every(3, status=500)
    users = [_user(100 + i) for i in range(9)]
    questions = ["สวัสดี", "แนวทางมีอะไรบ้าง", "ช่วยอะไรได้บ้าง"] * 3
    events = [text_event(q, source=user_source(u)) for u, q in zip(users, questions, strict=True)]
    with json_logs() as logs:
        body, headers = signed_webhook(events, SECRET)
        assert client.post("/webhooks/line", content=body, headers=headers).status_code == 200
        settle(client)
        records = logs.records()
    after = metrics(client)

    server_errors = [r for r in fake.replies(ok_only=False) if r.status == 500]
    assert server_errors, "the fake should have failed some replies"
    for event, user in zip(events, users, strict=True):
        assert len(deliveries(fake, event["replyToken"], user)) == 1
        failed = any(reply_token_of(r) == event["replyToken"] for r in server_errors)
        assert len(lines_for(records, event["webhookEventId"])) == (1 if failed else 0)
    assert failures(after, "server_error") - failures(before, "server_error") == len(server_errors)


# --- the database goes away and comes back (PostgreSQL behind a TCP proxy) -------------------------------


def _post_line(base_url: str, event: dict[str, Any]) -> httpx.Response:
    body, headers = signed_webhook([event], SECRET)
    return httpx.post(f"{base_url}/webhooks/line", content=body, headers=headers, timeout=10)


def _post_telegram(base_url: str, update: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{base_url}/webhooks/telegram",
        content=json.dumps(update, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json", SECRET_HEADER: TG_SECRET},
        timeout=10,
    )


def _readyz(base_url: str) -> httpx.Response:
    return httpx.get(f"{base_url}/readyz", timeout=10)


class _Line:
    """Talks to the server's LINE webhook as users would, and watches the fake for what they receive."""

    def __init__(self, base_url: str, fake: FakeLine) -> None:
        self.base_url = base_url
        self.fake = fake

    def replied(self, token: str) -> bool:
        return any(reply_token_of(r) == token for r in self.fake.replies())

    def ask(
        self, user: int, question: str, *, event_id: str | None = None, timeout: float = 10
    ) -> tuple[dict[str, Any], float]:
        """Post one message and wait for its reply; returns the event and the seconds until the reply."""
        event = text_event(question, source=user_source(_user(user)), event_id=event_id)
        started = time.monotonic()
        assert _post_line(self.base_url, event).status_code == 200
        self.fake.wait_for(lambda _: self.replied(event["replyToken"]), timeout=timeout)
        return event, time.monotonic() - started

    def redeliver(self, event: dict[str, Any]) -> dict[str, Any]:
        again = text_event(
            event["message"]["text"], source=event["source"], event_id=event["webhookEventId"], redelivery=True
        )
        assert _post_line(self.base_url, again).status_code == 200
        return again


@pytest.mark.postgres
def test_database_outage_degrades_then_recovers_by_itself(postgres_url: str, tmp_path: Path) -> None:
    """Two outages: connections refused (the database is down) and silence (a network partition: nothing
    is refused, nothing answers). During both, webhooks get 200 and answers go out promptly; afterwards the
    server is ready again and uses the database again, with nobody restarting anything."""
    real = make_url(postgres_url)
    check = create_engine(real, poolclass=NullPool)  # straight to PostgreSQL, not through the proxy

    def in_database(marker: str, event_id: str) -> tuple[list[str], int]:
        with check.connect() as connection:
            logged = (
                connection.execute(text("SELECT channel FROM question_log WHERE question = :q"), {"q": marker})
                .scalars()
                .all()
            )
            claimed = connection.execute(
                text("SELECT count(*) FROM processed_events WHERE channel = 'line' AND event_id = :e"),
                {"e": event_id},
            ).scalar_one()
        return list(logged), int(claimed)

    def recovered(line: _Line, user: int) -> dict[str, Any]:
        """Ask fresh questions until one is logged in the database (bounded): the server has recovered.
        The log is written in batches about once a second, so any question asked so far may be the one."""
        found: list[dict[str, Any]] = []
        asked: list[tuple[str, dict[str, Any]]] = []

        def one_more() -> bool:
            marker = f"ยื่นคำขอได้ถึงเมื่อไร {uuid.uuid4().hex[:8]}"
            event, _ = line.ask(user, marker)
            asked.append((marker, event))
            found.extend(e for m, e in asked if in_database(m, e["webhookEventId"]) == (["line"], 1))
            return bool(found)

        wait_until(one_more, 20, interval=0.5, message="questions logged in the database again")
        return found[0]

    with (
        FakeLine(access_token=TOKEN) as fake,
        FakeTelegram(token=TG_TOKEN) as tg,
        TcpProxy(real.host or "127.0.0.1", real.port or 5432) as proxy,
    ):
        env = base_env(tmp_path)
        env.update(line_env(fake.url, SECRET, TOKEN))
        env.update(
            TELEGRAM_BOT_TOKEN=TG_TOKEN,
            TELEGRAM_WEBHOOK_SECRET=TG_SECRET,
            TELEGRAM_API_BASE_URL=tg.base_url,
            BUDGETBOT_WATCH_KNOWLEDGE="false",
            BUDGETBOT_DATABASE_URL=real.set(port=proxy.port).render_as_string(hide_password=False),
        )
        with running_server(env, tmp_path) as server:
            url = server.base_url
            line = _Line(url, fake)
            line.ask(201, "สวัสดี")

            # --- outage 1: the database refuses connections ---
            proxy.cut()
            wait_until(lambda: _readyz(url).status_code == 503, 10, message="/readyz 503 during the outage")
            assert _readyz(url).json()["database"]["reachable"] is False
            during, seconds = line.ask(202, "แนวทางมีอะไรบ้าง")
            assert seconds < 3, seconds
            assert _post_telegram(url, text_update(9_001, "สวัสดี", chat_id=5_000_001)).status_code == 200
            tg.wait_for_messages(5_000_001, timeout=10)
            ask = httpx.post(f"{url}/api/ask", json={"question": "ช่วยอะไรได้บ้าง"}, timeout=10)
            assert ask.status_code == 200 and ask.json()["text"]
            again = line.redeliver(during)  # recognised in memory while the database is away
            assert proxy.refused > 0  # the server really tried, and really was turned away

            proxy.restore()
            wait_until(lambda: _readyz(url).status_code == 200, 20, message="/readyz back to 200")
            assert _readyz(url).json()["database"]["reachable"] is True
            after = recovered(line, 203)
            # Redeliveries now: neither the event the database saw nor the one it missed is answered twice.
            late = [line.redeliver(after), line.redeliver(during)]

            # --- outage 2: a partition; connections open, nothing comes back ---
            proxy.blackhole()
            _, first = line.ask(204, "ช่วยอะไรได้บ้าง", timeout=20)
            _, second = line.ask(205, "แนวทางมีอะไรบ้าง", timeout=20)
            # The first answer waits for storage at most a few seconds (not connect timeouts, one per store),
            # and the next ones do not wait for the silent database at all.
            assert first < 6, first
            assert second < 1.5, second
            started = time.monotonic()
            assert _post_telegram(url, text_update(9_002, "สวัสดี", chat_id=5_000_002)).status_code == 200
            assert time.monotonic() - started < 1.5
            tg.wait_for_messages(5_000_002, timeout=10)

            proxy.restore()
            wait_until(lambda: _readyz(url).status_code == 200, 20, message="/readyz back to 200 after the partition")
            recovered(line, 206)

            line.ask(207, "สวัสดี")  # a barrier: handled after the redeliveries posted before it
            tokens = {reply_token_of(r) for r in fake.requests if reply_token_of(r)}
            log_text = server.log_text()
    check.dispose()
    assert again["replyToken"] not in tokens
    assert not {e["replyToken"] for e in late} & tokens
    records = parse_json_lines(log_text)
    messages = {r.get("message") for r in records}
    assert "storage unavailable: events answered from memory (not durable)" in messages  # refused
    assert "storage too slow: events answered from memory for now (not durable)" in messages  # the partition


# --- graceful shutdown --------------------------------------------------------------------------------


def test_sigterm_finishes_replies_in_flight(tmp_path: Path) -> None:
    with FakeLine(access_token=TOKEN) as line:
        line.delay_replies(1.5)  # every reply is still on its way when SIGTERM comes
        env = base_env(tmp_path)
        env.update(line_env(line.url, SECRET, TOKEN))
        env.update(
            BUDGETBOT_WATCH_KNOWLEDGE="false",
        )
        events = [
            text_event(q, source=user_source(_user(300 + i)))
            for i, q in enumerate(["สวัสดี", "แนวทางมีอะไรบ้าง", "ช่วยอะไรได้บ้าง", "ปีงบประมาณนี้ยังยื่นคำขอได้ไหม"])
        ]
        with running_server(env, tmp_path) as server:
            for event in events:
                assert _post_line(server.base_url, event).status_code == 200
            server.process.send_signal(signal.SIGTERM)
            try:
                returncode = server.process.wait(timeout=20)
            except Exception:  # noqa: BLE001 - report the log with the failure
                raise AssertionError(f"server did not exit after SIGTERM:\n{server.log_text()}") from None
            log_text = server.log_text()
        delivered = {reply_token_of(r) for r in line.replies()}
        assert {e["replyToken"] for e in events} <= delivered, log_text
        assert returncode == 0, log_text
    records = parse_json_lines(log_text)
    assert not any(r.get("message") == "LINE replies cancelled at shutdown" for r in records)
