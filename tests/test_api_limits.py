"""`POST /api/ask` from one client or one session is limited (429 with Retry-After); the client is the
connection's address, or X-Forwarded-For only when the connection comes from a trusted proxy. A question
without a session leaves no conversation behind, and loading the console is not a question."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.storage.models import Conversation, QuestionLogEntry
from tests.support.app import app_client
from tests.support.server import base_env, running_server

QUESTION = "แนวทางมีอะไรบ้าง"


def _rows(client: TestClient) -> tuple[int, int]:
    """(conversation rows, question-log rows), after the buffered question log is written."""
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    client.portal.call(ctx.flush_question_log)  # type: ignore[union-attr]
    with ctx.db.engine.connect() as connection:
        conversations = connection.execute(select(func.count()).select_from(Conversation)).scalar_one()
        questions = connection.execute(select(func.count()).select_from(QuestionLogEntry)).scalar_one()
    return conversations, questions


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[TestClient]:
    with app_client(tmp_path, ask_rate_per_client=6, ask_rate_per_session=3) as client:
        yield client


def test_a_session_past_its_limit_gets_429_with_retry_after(limited: TestClient) -> None:
    statuses = [limited.post("/api/ask", json={"question": QUESTION, "session": "s1"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = limited.post("/api/ask", json={"question": QUESTION, "session": "s1"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "session" in refused.json()["message"]
    # Another session of the same client still has its own allowance.
    assert limited.post("/api/ask", json={"question": QUESTION, "session": "s2"}).status_code == 200


def test_a_client_past_its_limit_gets_429_whatever_session_it_sends(limited: TestClient) -> None:
    sessions = [f"rotating-{i}" for i in range(8)]  # a fresh session each time does not escape the client limit
    statuses = [limited.post("/api/ask", json={"question": QUESTION, "session": s}).status_code for s in sessions]
    assert statuses[:6] == [200] * 6 and statuses[6:] == [429, 429]


def test_a_question_without_a_session_leaves_no_conversation_row(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        for _ in range(5):
            response = client.post("/api/ask", json={"question": "ปีงบ 66 ยังยื่นได้ไหม"})
            assert response.status_code == 200 and response.json()["session"]
        assert _rows(client) == (0, 5)  # logged as questions, but no conversation kept
        client.post("/api/ask", json={"question": "ปีงบ 66 ยังยื่นได้ไหม", "session": "kept"})
        assert _rows(client) == (1, 6)


def test_loading_the_console_is_not_a_question(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        for _ in range(3):  # three page loads
            welcome = client.get("/api/welcome")
            assert welcome.status_code == 200
            assert welcome.json()["kind"] == "greeting" and welcome.json()["suggestions"]
        assert _rows(client) == (0, 0)


# --- through a real server: which address is the client ---------------------------------------------------


def _ask_as(base_url: str, forwarded_for: str) -> int:
    body = {"question": QUESTION, "session": "s-" + forwarded_for.replace(".", "-")}
    return httpx.post(
        f"{base_url}/api/ask", json=body, headers={"X-Forwarded-For": forwarded_for}, timeout=30
    ).status_code


@pytest.mark.parametrize(("trusted", "shared"), [("127.0.0.1", False), ("10.99.0.1", True)], ids=["proxy", "not-proxy"])
def test_x_forwarded_for_names_the_client_only_from_a_trusted_proxy(tmp_path: Path, trusted: str, shared: bool) -> None:
    env = base_env(tmp_path)
    env.update(
        {
            "BUDGETBOT_TRUSTED_PROXIES": trusted,
            "BUDGETBOT_ASK_RATE_PER_CLIENT": "2",
            "BUDGETBOT_WATCH_KNOWLEDGE": "false",
        }
    )
    with running_server(env, tmp_path) as server:
        statuses = [_ask_as(server.base_url, f"203.0.113.{i}") for i in range(1, 5) for _ in range(2)]
    if shared:
        # Not from a trusted proxy: the header is ignored and every request is the one loopback client.
        assert statuses[:2] == [200, 200] and set(statuses[2:]) == {429}
    else:
        # From the trusted proxy: four clients, each with its own two requests.
        assert statuses == [200] * 8
