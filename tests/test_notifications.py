"""Subscriptions and notifications end to end (issue 11): real server processes, the fake LINE and Telegram APIs.

- 600 LINE subscribers (some unsubscribed, some unfollowed) and a few on Telegram (one blocked the bot); a window
  added to a copy of the knowledge the way DGA staff would, and reloaded: each remaining subscriber gets exactly
  one message, nobody else any, no multicast carries more than 500 ids; the same again with kill -9 in the
  middle of the sending and a restart; SQLite and PostgreSQL.
- Reminders and the opening day on fixed dates (the clock moved by BUDGETBOT_TODAY across restarts).
- Announcements: dry run, for real, and held by LINE's monthly quota with the reason on the admin route.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from tests.fakes.fake_line import FakeLine, text_event, user_source
from tests.fakes.fake_telegram import FakeTelegram
from tests.support.notify import (
    TG_TOKEN,
    TOKEN,
    YEAR,
    TelegramUpdates,
    admin,
    knowledge_copy,
    line_postbacks,
    line_unfollows,
    line_user,
    multicast_texts,
    notifications,
    notify_env,
    post_line,
    server,
    settled,
    subscriptions,
)
from tests.support.server import ServerProcess

OPENS, CLOSES = date(2026, 12, 1), date(2027, 1, 15)
THAI_OPENS = "1 ธันวาคม 2569"  # OPENS in Thai
LINE_SUBSCRIBERS = 600
UNSUBSCRIBED = range(0, 40)  # of the LINE subscribers: unsubscribed again (a postback)
UNFOLLOWED = range(40, 60)  # unfollowed the official account
NEVER = [line_user(10_000 + i) for i in range(5)]  # wrote to the bot, never subscribed
TG_CHATS = [7001, 7002, 7003]  # subscribe with /subscribe N, the sub:N button and /start sub_N
TG_BLOCKED = 7004  # subscribes, then blocks the bot: the notification's 403 forgets them


def _remaining() -> set[str]:
    gone = set(UNSUBSCRIBED) | set(UNFOLLOWED)
    return {line_user(i) for i in range(LINE_SUBSCRIBERS) if i not in gone}


def _subscribe_everyone(s: ServerProcess, line: FakeLine, tg: FakeTelegram) -> None:
    users = [line_user(i) for i in range(LINE_SUBSCRIBERS)]
    post_line(s, line_postbacks(users, f"action=subscribe&fy={YEAR}"))
    post_line(s, [text_event("สวัสดีค่ะ", source=user_source(u)) for u in NEVER])
    updates = TelegramUpdates(s)
    updates.text(TG_CHATS[0], f"/subscribe {YEAR}")
    updates.tap(TG_CHATS[1], f"sub:{YEAR}")
    updates.text(TG_CHATS[2], f"/start sub_{YEAR}")
    updates.text(TG_BLOCKED, f"แจ้งเตือนเมื่อปีงบ {YEAR} เปิดรับ")  # in words
    settled(s)
    post_line(s, line_postbacks([line_user(i) for i in UNSUBSCRIBED], f"action=unsubscribe&fy={YEAR}"))
    post_line(s, line_unfollows([line_user(i) for i in UNFOLLOWED]))
    settled(s)
    tg.block(TG_BLOCKED)


def _assert_each_once(line: FakeLine, tg: FakeTelegram) -> None:
    sent = Counter(line.multicast_recipients())
    assert set(sent) == _remaining(), "exactly the remaining LINE subscribers, nobody else"
    assert max(sent.values()) == 1, f"someone got it twice: {[u for u, n in sent.items() if n > 1][:5]}"
    assert all(len(r.json["to"]) <= 500 for r in line.multicasts(ok_only=False))
    assert not line.pushes(), "notifications are multicasts, never one push each"
    assert THAI_OPENS in multicast_texts(line)[0] and str(YEAR) in multicast_texts(line)[0]
    windows = [c for c in tg.sent_messages() if "🔔" in c.text]
    assert Counter(c.chat_id for c in windows) == Counter(TG_CHATS)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _database(backend: str, request: pytest.FixtureRequest) -> str | None:
    return None if backend == "sqlite" else str(request.getfixturevalue("postgres_url"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_window_reaches_each_subscriber_once(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _database(backend, request)
    kb = knowledge_copy(tmp_path)
    with FakeLine(access_token=TOKEN) as line, FakeTelegram(token=TG_TOKEN) as tg:
        home = tmp_path / "home"
        with server(notify_env(home, kb, line, tg, database_url=url), home) as s:
            # A status answer without information offers the subscription (LINE postback, Telegram button).
            post_line(s, [text_event(f"ปีงบ {YEAR} ยื่นได้ไหม", source=user_source(NEVER[0]))])
            reply = line.wait_for_requests("/v2/bot/message/reply", 1, ok_only=True, timeout=60)[-1]
            items = reply.json["messages"][-1]["quickReply"]["items"]
            offer = items[0]["action"]
            assert offer["type"] == "postback" and offer["data"] == f"action=subscribe&fy={YEAR}"
            assert str(YEAR) in offer["displayText"]
            TelegramUpdates(s).text(7999, f"ปีงบ {YEAR} ยื่นได้ไหม")
            answer = tg.wait_for_messages(7999, 1, timeout=60)[-1]
            assert any(b.get("callback_data") == f"sub:{YEAR}" for b in answer.buttons)
            line.reset_requests()

            _subscribe_everyone(s, line, tg)
            confirmations = line.replies()
            assert len(confirmations) == LINE_SUBSCRIBERS + len(NEVER) + len(UNSUBSCRIBED)
            confirm = confirmations[0].json["messages"][0]["text"]
            assert str(YEAR) in confirm and "ยกเลิกการแจ้งเตือน" in confirm  # what, and how to stop
            counts = subscriptions(s)
            assert counts["fiscal_years"] == {str(YEAR): {"line": len(_remaining()), "telegram": 4}}

            kb.add_window(YEAR, OPENS, CLOSES)
            started = time.monotonic()
            reload = admin(s, "POST", "/reload")
            assert reload.status_code == 200 and reload.json()["ok"]
            assert time.monotonic() - started < 20, "the reload answers at once; sending goes on in the background"
            line.wait_for(lambda _: len(line.multicast_recipients()) >= len(_remaining()), timeout=60)
            tg.wait_for(lambda _: sum("🔔" in c.text for c in tg.sent_messages()) >= len(TG_CHATS), timeout=60)
            settled(s)
            _assert_each_once(line, tg)
            # The blocked chat answered 403: every subscription of theirs is gone.
            assert subscriptions(s)["total"] == {"line": len(_remaining()), "telegram": len(TG_CHATS)}
            [made] = notifications(s)
            assert made["kind"] == "window" and made["delivered"] == {"line": len(_remaining()), "telegram": 3}
            assert made["failed"]["telegram"] == 1 and made["status"] == "sent"

            # The same window loaded again: nothing more goes out.
            assert admin(s, "POST", "/reload").status_code == 200
            time.sleep(2)
            settled(s)
            _assert_each_once(line, tg)
            assert len(notifications(s)) == 1
