"""Helpers for the notification tests: a knowledge copy a window is added to (the way DGA staff would), servers
with both fake APIs, subscribing many people through real webhooks, and reading the admin routes."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import yaml

from bot.settings import DEFAULT_SOURCES_DIR
from tests.fakes.fake_line import FakeLine, postback_event, signed_webhook, unfollow_event, user_source
from tests.fakes.fake_telegram import FakeTelegram, callback_update, post_update, text_update
from tests.support.core import copy_knowledge
from tests.support.server import (
    ServerProcess,
    base_env,
    database_env,
    line_env,
    running_server,
    telegram_env,
)

SECRET = "notify-channel-secret-0123456789"
TOKEN = "notify-access-token"
TG_TOKEN = "555000111:notify-test-token"
TG_SECRET = "notify-webhook-secret"
ADMIN = "notify-admin-token"
YEAR = 2571
EVENTS_PER_WEBHOOK = 100


def line_user(i: int) -> str:
    return "U" + f"{i:032x}"


@dataclass
class Knowledge:
    """A writable copy of the knowledge and of the sources folder."""

    knowledge: Path
    sources: Path

    def add_window(self, year: int, opens: date, closes: date | None, *, name: str = "announcement") -> None:
        """As DGA staff would: the announcement's file in the sources folder, its entry in sources.yaml, the
        window in fiscal_years.yaml."""
        source_id = f"dga-{name}-fy{year}"
        file = f"{source_id}.txt"
        (self.sources / file).write_text(
            f"ประกาศ สพร. เรื่องการรับคำขอ ปีงบประมาณ พ.ศ. {year}: เปิดรับ {opens.isoformat()}"
            + (f" ถึง {closes.isoformat()}" if closes else "")
            + "\n",
            encoding="utf-8",
        )
        sources_yaml = self.knowledge / "sources.yaml"
        data = yaml.safe_load(sources_yaml.read_text(encoding="utf-8"))
        data["sources"] = [s for s in data["sources"] if s["id"] != source_id] + [
            {
                "id": source_id,
                "title": f"ประกาศ สพร. การรับคำขอปีงบประมาณ พ.ศ. {year}",
                "posted": opens.isoformat(),
                "file": file,
                "url": f"https://www.dga.or.th/news/{source_id}",
                "summary": f"ช่วงเวลารับคำขอปีงบ {year}",
            }
        ]
        sources_yaml.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        years_yaml = self.knowledge / "fiscal_years.yaml"
        years = yaml.safe_load(years_yaml.read_text(encoding="utf-8"))
        window: dict[str, Any] = {"opens": opens.isoformat(), "sources": [source_id]}
        if closes is not None:
            window["closes"] = closes.isoformat()
        entries = [e for e in years["fiscal_years"] if e["year"] != year]
        years["fiscal_years"] = entries + [{"year": year, "window": window, "sources": [source_id]}]
        years_yaml.write_text(yaml.safe_dump(years, allow_unicode=True, sort_keys=False), encoding="utf-8")


def knowledge_copy(tmp_path: Path) -> Knowledge:
    sources = tmp_path / "sources"
    shutil.copytree(DEFAULT_SOURCES_DIR, sources)
    return Knowledge(copy_knowledge(tmp_path), sources)


def notify_env(
    home: Path,
    kb: Knowledge,
    line: FakeLine | None,
    telegram: FakeTelegram | None,
    *,
    database_url: str | None = None,
    today: str = "2026-11-21",
) -> dict[str, str]:
    env = base_env(home)
    env.update(
        {
            "BUDGETBOT_KNOWLEDGE_DIR": str(kb.knowledge),
            "BUDGETBOT_SOURCES_DIR": str(kb.sources),
            "BUDGETBOT_WATCH_KNOWLEDGE": "false",
            "BUDGETBOT_ADMIN_TOKEN": ADMIN,
            "BUDGETBOT_TODAY": today,
            **database_env(database_url),
        }
    )
    if line is not None:
        env.update(line_env(line.url, SECRET, TOKEN))
    if telegram is not None:
        env.update(telegram_env(telegram.base_url, TG_TOKEN, TG_SECRET))
    return env


@contextmanager
def server(env: dict[str, str], home: Path) -> Iterator[ServerProcess]:
    home.mkdir(parents=True, exist_ok=True)
    with running_server(env, home) as proc:
        yield proc


def admin(server: ServerProcess, method: str, path: str, body: Any = None, timeout: float = 30.0) -> httpx.Response:
    return httpx.request(
        method,
        f"{server.base_url}/admin{path}",
        json=body,
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=timeout,
    )


def post_line(server: ServerProcess, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), EVENTS_PER_WEBHOOK):
        body, headers = signed_webhook(events[i : i + EVENTS_PER_WEBHOOK], SECRET)
        response = httpx.post(f"{server.base_url}/webhooks/line", content=body, headers=headers, timeout=30.0)
        assert response.status_code == 200, response.text


def line_postbacks(users: Iterable[str], data: str) -> list[dict[str, Any]]:
    return [postback_event(data, source=user_source(u)) for u in users]


def line_unfollows(users: Iterable[str]) -> list[dict[str, Any]]:
    return [unfollow_event(source=user_source(u)) for u in users]


class TelegramUpdates:
    """Update ids for one test (each update once)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.next_id = int(time.time() * 1000) % 1_000_000_000

    def _post(self, update: dict[str, Any]) -> None:
        response = post_update(self.server.base_url, update, TG_SECRET)
        assert response.status_code == 200, response.text

    def text(self, chat: int, text: str) -> None:
        self.next_id += 1
        self._post(text_update(self.next_id, text, chat_id=chat))

    def tap(self, chat: int, data: str) -> None:
        self.next_id += 1
        self._post(callback_update(self.next_id, data, chat_id=chat))


def wait_replies(line: FakeLine, count: int, timeout: float = 120.0) -> None:
    """Until LINE has accepted `count` replies (the confirmations of subscribing, say)."""
    line.wait_for(lambda _: len(line.replies()) >= count, timeout=timeout)


def settled(server: ServerProcess, *fakes: FakeLine | FakeTelegram, timeout: float = 120.0, quiet: float = 2.0) -> None:
    """Until every notification is sent (none pending or held) and the fake APIs got no call for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while True:
        calls = sum(len(f.requests) if isinstance(f, FakeLine) else len(f.calls) for f in fakes)
        if calls != last:
            last, since = calls, time.monotonic()
        sent = all(n["status"] == "sent" for n in notifications(server))
        if sent and time.monotonic() - since >= quiet:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"notifications not settled in {timeout}s: {notifications(server)}")
        time.sleep(0.2)


def wait_subscriptions(server: ServerProcess, expected: dict[str, Any], timeout: float = 60.0) -> None:
    """Until GET /admin/subscriptions says `expected` (subscribing is done once its reply is composed)."""
    deadline = time.monotonic() + timeout
    while (got := subscriptions(server)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"subscriptions: {got}, expected {expected}")
        time.sleep(0.2)


def subscriptions(server: ServerProcess) -> dict[str, Any]:
    response = admin(server, "GET", "/subscriptions")
    assert response.status_code == 200, response.text
    return dict(response.json())


def notifications(server: ServerProcess) -> list[dict[str, Any]]:
    response = admin(server, "GET", "/notifications")
    assert response.status_code == 200, response.text
    return list(response.json()["notifications"])


def multicast_texts(line: FakeLine) -> list[str]:
    return [m["text"] for r in line.multicasts() for m in r.json["messages"] if m.get("type") == "text"]


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)
