"""Two server processes sharing one PostgreSQL database behave as one bot.

Two real `budgetbot serve` processes (each with its own data directory) share BUDGETBOT_DATABASE_URL and one fake
LINE API. The same webhook event delivered to both (as after a load balancer retry or a LINE redelivery landing
elsewhere) is answered exactly once, and a conversation begun on one instance continues on the other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.fake_line import (
    PUSH_PATH,
    REPLY_PATH,
    FakeLine,
    RecordedRequest,
    new_event_id,
    signed_webhook,
    text_event,
    user_source,
)
from tests.support.server import ServerProcess, base_env, running_server

pytestmark = pytest.mark.postgres

SECRET = "two-instances-channel-secret-0123"
TOKEN = "two-instances-access-token"
WEBHOOK = "/webhooks/line"
SKIPPED = "already handled"  # what an instance logs when the shared ledger says another one has the event
ROUNDS = 5


@dataclass
class Pair:
    a: ServerProcess
    b: ServerProcess
    line: FakeLine


@pytest.fixture
def pair(postgres_url: str, tmp_path: Path) -> Iterator[Pair]:
    with FakeLine(access_token=TOKEN) as line, ExitStack() as stack:
        starting = []
        for name in ("a", "b"):
            home = tmp_path / name
            home.mkdir()
            env = base_env(home)  # its own data dir; no credentials from the shell
            env.update(
                {
                    "BUDGETBOT_DATABASE_URL": postgres_url,
                    "LINE_CHANNEL_SECRET": SECRET,
                    "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
                    "LINE_API_BASE_URL": line.url,
                    "LINE_DATA_API_BASE_URL": line.url,
                    "BUDGETBOT_WATCH_KNOWLEDGE": "false",
                }
            )
            starting.append(running_server(env, home))
        # Started together, as in a deployment: both migrate the same empty database at once, and it takes half
        # the time of starting them one after the other.
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(server.__enter__) for server in starting]
        servers: list[ServerProcess] = []
        for server, future in zip(starting, futures, strict=True):
            if future.exception() is None:
                stack.push(server)  # stopped by the ExitStack, also when the other one failed to start
                servers.append(future.result())

        def stop_together() -> None:
            for running in servers:
                running.process.terminate()

        # Runs first on the way out: both get SIGTERM at once and shut down side by side.
        stack.callback(stop_together)
        for future in futures:
            if (error := future.exception()) is not None:
                raise error
        yield Pair(servers[0], servers[1], line)


def deliver(server: ServerProcess, body: bytes, headers: dict[str, str]) -> int:
    return httpx.post(f"{server.base_url}{WEBHOOK}", content=body, headers=headers, timeout=10).status_code


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


def texts(value: Any) -> list[str]:
    """The message texts in LINE message objects (text, Flex texts, alt text), without quick-reply buttons:
    a suggested follow-up naming a year is not an answer about it."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("text", "altText") and isinstance(v, str)]
        return found + [t for k, v in value.items() if k != "quickReply" for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def sent(request: RecordedRequest) -> dict[str, Any]:
    assert isinstance(request.json, dict), request.body
    return request.json


def reply_for(line: FakeLine, token: str) -> RecordedRequest:
    def matching() -> list[RecordedRequest]:
        return [r for r in line.replies() if r.json and r.json.get("replyToken") == token]

    wait_until(lambda: bool(matching()), f"a reply with token {token}")
    return matching()[0]


def test_two_instances_answer_as_one_bot(pair: Pair) -> None:
    """One test, one pair of servers (starting two processes is the slow part): de-duplication, then memory."""
    the_same_event_sent_to_both_instances_is_answered_once(pair)
    a_conversation_started_on_one_instance_continues_on_the_other(pair)


def the_same_event_sent_to_both_instances_is_answered_once(pair: Pair) -> None:
    tokens = []
    for n in range(ROUNDS):
        event = text_event(
            "ปีงบประมาณ 2570 เปิดรับคำของบประมาณหรือยัง", source=user_source(f"U{n:032d}"), event_id=new_event_id()
        )
        tokens.append(event["replyToken"])
        body, headers = signed_webhook([event], SECRET)
        start = threading.Barrier(2)

        def send(
            server: ServerProcess,
            body: bytes = body,
            headers: dict[str, str] = headers,
            start: threading.Barrier = start,
        ) -> int:
            start.wait(5)  # both requests leave together
            return deliver(server, body, headers)

        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(send, [pair.a, pair.b]))
        assert statuses == [200, 200]  # both acknowledge, as LINE expects

    # Each event: one instance replied, the other logged that it was already handled.
    wait_until(lambda: len(pair.line.replies()) >= ROUNDS, f"{ROUNDS} replies")
    wait_until(
        lambda: pair.a.log_text().count(SKIPPED) + pair.b.log_text().count(SKIPPED) >= ROUNDS,
        "every second delivery skipped",
    )
    replies = pair.line.requests_to(REPLY_PATH)  # every attempt, accepted or not
    assert sorted(sent(r)["replyToken"] for r in replies) == sorted(tokens), "exactly one reply per event"
    assert all(r.status == 200 for r in replies)
    assert pair.line.requests_to(PUSH_PATH) == []


def a_conversation_started_on_one_instance_continues_on_the_other(pair: Pair) -> None:
    already = len(pair.line.requests_to(REPLY_PATH))
    user = user_source("U" + "7" * 32)
    first = text_event("ปีงบ 66 ยังยื่นได้ไหม", source=user)
    body, headers = signed_webhook([first], SECRET)
    assert deliver(pair.a, body, headers) == 200
    first_reply = " ".join(texts(sent(reply_for(pair.line, first["replyToken"]))["messages"]))
    assert "2566" in first_reply

    # Alone, "and year 67?" means nothing; only the conversation stored by instance A gives it its subject.
    follow_up = text_event("แล้วปี 67 ล่ะ", source=user)
    body, headers = signed_webhook([follow_up], SECRET)
    assert deliver(pair.b, body, headers) == 200
    second_reply = " ".join(texts(sent(reply_for(pair.line, follow_up["replyToken"]))["messages"]))
    assert "2567" in second_reply, second_reply
    assert len(pair.line.requests_to(REPLY_PATH)) == already + 2
