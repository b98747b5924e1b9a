"""The admin API and page: the token gate, the review list and the usage statistics.

The real app (TestClient runs its lifespan) on a real SQLite database under tmp_path, with a copy of the shipped
knowledge; questions go in through the public API (`POST /api/ask`) like a user's would.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from bot.answer import Answer, AnswerKind
from bot.service import LoggedQuestion
from bot.settings import Settings
from bot.stats import question_stats
from bot.storage import Database, SqlQuestionLog
from handlers.app import create_app
from tests.support.core import copy_knowledge
from tests.support.env import clean_bot_env

TOKEN = "admin-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BANGKOK = ZoneInfo("Asia/Bangkok")
IN_SCOPE = "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร"
# Out of scope: a user asking about the weather and about food, the first in three similar wordings.
WEATHER = ["พยากรณ์อากาศพรุ่งนี้เป็นอย่างไร", "พยากรณ์อากาศพรุ่งนี้เป็นอย่างไร", "พยากรณ์อากาศพรุ่งนี้เป็นยังไง"]
FOOD = "ร้านก๋วยเตี๋ยวอร่อยแถวกระทรวงอยู่ที่ไหน"
# Every JSON route, a bad query, an unknown path and a wrong method: all behind the same gate.
GATED = [
    ("GET", "/admin/review"),
    ("GET", "/admin/stats"),
    ("POST", "/admin/reload"),
    ("GET", "/admin/subscriptions"),
    ("POST", "/admin/announce"),
    ("GET", "/admin/notifications"),
    ("GET", "/admin/review?days=not-a-number"),
    ("GET", "/admin/stats?days=7&top=3"),
    ("GET", "/admin/no-such-route"),
    ("DELETE", "/admin/review"),
    ("POST", "/admin/"),
]
PAGE = ["/admin/", "/admin/admin.js", "/admin/admin.css"]


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        knowledge_dir=copy_knowledge(tmp),
        data_dir=tmp / "data",
        today=date(2026, 11, 21),
        watch_knowledge=False,
        admin_token=TOKEN,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def clean_env() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        # No credentials or admin token from the developer's shell or a .env file.
        clean_bot_env(mp)
        yield mp


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, clean_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("admin")
    clean_env.chdir(tmp)
    with TestClient(create_app(make_settings(tmp))) as test_client:
        yield test_client


def ask(client: TestClient, question: str, session: str) -> dict[str, Any]:
    response = client.post("/api/ask", json={"question": question, "session": session})
    assert response.status_code == 200, response.text
    return response.json()


def needs_review(answer: dict[str, Any]) -> bool:
    """What `budgetbot review` lists: a fallback, or any answer below 0.6 confidence."""
    return answer["kind"] == AnswerKind.FALLBACK.value or answer["confidence"] < 0.6


# --- the token gate ------------------------------------------------------------------------------------------


def test_every_admin_route_answers_401_without_a_valid_token_and_reveals_nothing(client: TestClient) -> None:
    bad_headers: list[dict[str, Any]] = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer ไม่ใช่โทเคน".encode()},  # non-ASCII bytes
    ]
    bodies = set()
    for method, path in GATED:
        for headers in bad_headers:
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            bodies.add(response.content)
    # The same body for a missing token, a wrong one and every route: nothing to learn from it.
    assert len(bodies) == 1, bodies
    assert TOKEN not in bodies.pop().decode()


def test_the_right_token_opens_every_route(client: TestClient) -> None:
    assert client.get("/admin/review", headers=AUTH).status_code == 200
    assert client.get("/admin/stats", headers=AUTH).status_code == 200
    # The scheme is case-insensitive (RFC 7235).
    assert client.get("/admin/stats", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    # Behind the gate, bad input is a 4xx, never a 500.
    assert client.get("/admin/review?days=0", headers=AUTH).status_code == 422
    assert client.get("/admin/stats?days=abc", headers=AUTH).status_code == 422
    assert client.get("/admin/no-such-route", headers=AUTH).status_code == 404


def test_the_page_loads_without_a_token_and_holds_no_data(client: TestClient) -> None:
    asked = ask(client, FOOD, "page-check")
    for path in PAGE:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-cache"
        # Neither questions, nor the knowledge version, nor anything from elsewhere.
        assert FOOD not in response.text
        assert asked["knowledge_version"] not in response.text
        assert "https://" not in response.text and "http://" not in response.text
    page = client.get("/admin/")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert re.search(r"[\u0E00-\u0E7F]", page.text), "Thai labels"
    assert client.get("/admin/admin.js").headers["content-type"].startswith("text/javascript")
    assert ".innerHTML" not in client.get("/admin/admin.js").text  # text goes in with textContent


def test_admin_is_off_without_a_configured_token(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.chdir(tmp_path)
    with TestClient(create_app(make_settings(tmp_path, admin_token=None))) as off:
        for method, path in [*GATED, *[("GET", p) for p in PAGE], ("GET", "/admin")]:
            for headers in ({}, AUTH):
                response = off.request(method, path, headers=headers)
                assert response.status_code == 404, (method, path, response.text)
        # The rest of the service is unaffected.
        assert off.get("/readyz").status_code == 200


def test_with_the_database_down_the_log_routes_say_so_and_reload_still_works(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.chdir(tmp_path)
    with socket.socket() as s:  # a port nothing listens on: connections are refused at once
        s.bind(("127.0.0.1", 0))
        dead = f"postgresql+psycopg://postgres@127.0.0.1:{s.getsockname()[1]}/budgetbot"
    with TestClient(create_app(make_settings(tmp_path, database_url=dead))) as down:
        for path in ("/admin/review", "/admin/stats"):
            response = down.get(path, headers=AUTH)
            assert response.status_code == 503, response.text
            assert "unavailable" in response.json()["detail"]
        reload = down.post("/admin/reload", headers=AUTH)
        assert reload.status_code == 200 and reload.json()["ok"] is True


# --- review and statistics -----------------------------------------------------------------------------------


def test_review_lists_grouped_out_of_scope_questions(client: TestClient) -> None:
    answers = [ask(client, q, "review-user") for q in [*WEATHER, FOOD, IN_SCOPE]]
    assert [needs_review(a) for a in answers[:4]] == [True] * 4, "out-of-scope questions are fallbacks"
    before = datetime.now(timezone.utc)

    response = client.get("/admin/review", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    assert data["days"] == 7 and data["limit"] == 50
    groups = data["groups"]
    weather = next(g for g in groups if WEATHER[0] in g["variants"])
    # The two wordings are one group, the most asked wording representing it.
    assert weather["representative"] == WEATHER[0]
    assert set(weather["variants"]) == set(WEATHER)
    assert weather["count"] == 3
    assert "fallback" in weather["kinds"]
    last_seen = datetime.fromisoformat(weather["last_seen"].replace("Z", "+00:00"))
    assert abs((before - last_seen).total_seconds()) < 60
    food = next(g for g in groups if g["representative"] == FOOD)
    assert food["count"] >= 1
    # Most frequent first.
    assert [g["count"] for g in groups] == sorted((g["count"] for g in groups), reverse=True)
    if not needs_review(answers[4]):
        assert all(IN_SCOPE not in g["variants"] for g in groups), "a confident answer needs no review"

    limited = client.get("/admin/review?limit=1", headers=AUTH).json()["groups"]
    assert len(limited) == 1 and limited[0]["count"] == groups[0]["count"]


def test_review_reads_at_most_the_configured_number_of_wordings(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env.chdir(tmp_path)
    assert Settings(_env_file=None).review_max_rows == 20_000  # type: ignore[call-arg]  # the default
    monkeypatch.setenv("BUDGETBOT_REVIEW_MAX_ROWS", "2")
    settings = make_settings(tmp_path)
    assert settings.review_max_rows == 2  # from the environment variable
    with TestClient(create_app(settings)) as small:
        for question in [*WEATHER, FOOD, "ราคาน้ำมันวันนี้เท่าไร"]:  # out of scope: all fallbacks
            assert needs_review(ask(small, question, "max-rows"))
        groups = small.get("/admin/review", headers=AUTH).json()["groups"]
    # The two most recently asked wordings only; the weather, asked first (and most), is not read at all.
    assert sorted(g["representative"] for g in groups) == sorted([FOOD, "ราคาน้ำมันวันนี้เท่าไร"])
    assert all(WEATHER[0] not in g["variants"] for g in groups)


def test_stats_count_questions_per_day_and_the_fallback_rate(client: TestClient) -> None:
    before = client.get("/admin/stats", headers=AUTH).json()
    answers = [ask(client, q, "stats-user") for q in [IN_SCOPE, FOOD, "ปีงบประมาณ 2570 เปิดรับคำของบประมาณหรือยัง", FOOD]]
    after_response = client.get("/admin/stats?days=7", headers=AUTH)
    assert after_response.status_code == 200
    after = after_response.json()

    fallbacks = sum(a["kind"] == "fallback" for a in answers)
    assert fallbacks >= 2
    assert after["questions"] - before["questions"] == len(answers)
    assert after["fallbacks"] - before["fallbacks"] == fallbacks
    assert after["fallback_rate"] == pytest.approx(after["fallbacks"] / after["questions"], abs=1e-4)
    assert 0 <= after["low_confidence_rate"] <= 1
    # Seven Bangkok days, oldest first, ending today; the per-day counts add up to the total.
    days = [date.fromisoformat(d["day"]) for d in after["per_day"]]
    assert len(days) == 7 and days == sorted(days)
    assert days[-1] in {datetime.now(BANGKOK).date(), datetime.now(BANGKOK).date() - timedelta(days=1)}
    assert sum(d["questions"] for d in after["per_day"]) == after["questions"]
    assert after["per_day"][-1]["questions"] >= len(answers) or days[-1] != datetime.now(BANGKOK).date()
    # Top topics: the entries that answered, and the answer kinds.
    entry_ids = {a["entry_id"] for a in answers if a["entry_id"]}
    assert entry_ids <= {t["key"] for t in after["top_entries"]}
    kinds = {t["key"]: t["count"] for t in after["top_kinds"]}
    assert kinds["fallback"] == after["fallbacks"]
    assert sum(kinds.values()) == after["questions"]


def _logged(at: datetime, kind: AnswerKind, confidence: float, entry_id: str | None = None) -> LoggedQuestion:
    answer = Answer(kind=kind, text="คำตอบ", confidence=confidence, entry_id=entry_id)
    return LoggedQuestion(at=at, channel="web", user="u1", question="คำถาม", answer=answer)


def test_stats_use_bangkok_days_on_every_database(database: Database) -> None:
    """Counted in SQL, per Bangkok date (UTC+7), on SQLite and PostgreSQL alike."""
    log = SqlQuestionLog(database, salt="s")
    utc = timezone.utc
    rows = [
        _logged(datetime(2026, 3, 1, 5, 0, tzinfo=utc), AnswerKind.FAQ, 0.9, "old"),  # outside the 7 days
        _logged(datetime(2026, 3, 9, 16, 30, tzinfo=utc), AnswerKind.FALLBACK, 0.1),  # 23:30 on 9 Mar in Bangkok
        _logged(datetime(2026, 3, 9, 17, 30, tzinfo=utc), AnswerKind.FAQ, 0.95, "plan-what"),  # 00:30 on 10 Mar
        _logged(datetime(2026, 3, 10, 3, 0, tzinfo=utc), AnswerKind.FAQ, 0.4, "plan-what"),  # low confidence
        _logged(datetime(2026, 3, 10, 4, 0, tzinfo=utc), AnswerKind.FISCAL_YEAR_STATUS, 0.9),
    ]
    for row in rows:
        log.record_sync(row)

    stats = question_stats(database, 7, now=datetime(2026, 3, 10, 5, 0, tzinfo=utc))
    assert stats.first_day == date(2026, 3, 4) and stats.last_day == date(2026, 3, 10)
    per_day = {d.day: (d.questions, d.fallbacks) for d in stats.per_day}
    assert len(per_day) == 7
    assert per_day[date(2026, 3, 9)] == (1, 1)
    assert per_day[date(2026, 3, 10)] == (3, 0)
    assert sum(q for q, _ in per_day.values()) == stats.questions == 4
    assert stats.fallbacks == 1 and stats.fallback_rate == 0.25
    assert stats.low_confidence == 1 and stats.low_confidence_rate == 0.25
    assert [(t.key, t.count) for t in stats.top_entries] == [("plan-what", 2)]
    assert [(t.key, t.count) for t in stats.top_kinds] == [("faq", 2), ("fallback", 1), ("fiscal_year_status", 1)]

    empty = question_stats(database, 1, now=datetime(2027, 1, 1, tzinfo=utc))
    assert empty.questions == 0 and empty.fallback_rate == 0.0 and len(empty.per_day) == 1


# --- the page in a real browser ------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.browser
def test_admin_page_in_a_browser(tmp_path: Path) -> None:
    """Log in with the token, see the review list and the statistics, reload, and see a bad edit's file:line."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run scripts/install-browser (Debian's chromium package)")
    import httpx
    from playwright.sync_api import expect, sync_playwright

    from tests.support.server import base_env, running_server

    knowledge = copy_knowledge(tmp_path)
    env = base_env(tmp_path)
    env.update(BUDGETBOT_ADMIN_TOKEN=TOKEN, BUDGETBOT_KNOWLEDGE_DIR=str(knowledge), BUDGETBOT_WATCH_KNOWLEDGE="false")
    tricky = '<img src=x onerror="window.hacked=1"> พยากรณ์อากาศพรุ่งนี้'
    with running_server(env, tmp_path) as server, sync_playwright() as p:
        for question in (tricky, tricky, FOOD):
            assert httpx.post(f"{server.base_url}/api/ask", json={"question": question}).status_code == 200
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            expect.set_options(timeout=15_000)
            page = browser.new_context(locale="th-TH").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.base_url}/admin/")
            expect(page.get_by_test_id("dashboard")).to_be_hidden()

            page.get_by_test_id("token-input").fill("wrong-token")
            page.get_by_test_id("login-button").click()
            expect(page.get_by_test_id("login-error")).to_be_visible()
            expect(page.get_by_test_id("dashboard")).to_be_hidden()

            page.get_by_test_id("token-input").fill(TOKEN)
            page.get_by_test_id("login-button").click()
            expect(page.get_by_test_id("dashboard")).to_be_visible()
            expect(page.get_by_test_id("total")).to_have_text("3")
            rows = page.get_by_test_id("review-rows").locator("tr")
            expect(rows.first).to_contain_text(tricky)  # shown literally: text, never HTML
            expect(rows.first).to_contain_text("2")
            assert page.locator("#review img").count() == 0 and page.evaluate("() => window.hacked") is None
            expect(page.get_by_test_id("version")).not_to_have_text("-")
            # The token stays in this tab only.
            assert page.evaluate("() => sessionStorage.getItem('budgetbot.adminToken')") == TOKEN

            page.get_by_test_id("reload").click()
            expect(page.get_by_test_id("reload-result")).to_contain_text("ไม่มีการเปลี่ยนแปลง")

            # Notifications: subscribers per year (none here), an announcement previewed with its dry-run count
            # before it can be sent, then listed.
            expect(page.get_by_test_id("total-line")).to_have_text("0")
            expect(page.get_by_test_id("announce-send")).to_be_disabled()
            page.get_by_test_id("announce-text").fill("<b>ประกาศ</b> ทดสอบ")
            page.get_by_test_id("announce-year").fill("2571")
            page.get_by_test_id("announce-preview").click()
            expect(page.get_by_test_id("announce-count")).to_contain_text("LINE 0 คน")
            expect(page.get_by_test_id("announce-preview-text")).to_contain_text("<b>ประกาศ</b> ทดสอบ")
            assert httpx.get(f"{server.base_url}/admin/notifications", headers=AUTH).json()["notifications"] == []
            page.get_by_test_id("announce-send").click()
            expect(page.get_by_test_id("announce-result")).to_contain_text("ส่งประกาศแล้ว")
            expect(page.get_by_test_id("notification-rows").locator("tr")).to_have_count(1)

            faq = knowledge / "faq_plan.yaml"
            lines = faq.read_text(encoding="utf-8").splitlines(keepends=True)
            lines.insert(3, "    bad: a: b\n")
            faq.write_text("".join(lines), encoding="utf-8")
            page.get_by_test_id("reload").click()
            problem = page.get_by_test_id("reload-result").get_by_test_id("problem").first
            expect(problem).to_contain_text("knowledge/faq_plan.yaml:4")
            page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)
            assert not errors, f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()
