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
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import pytest

from bot.storage.database import Database
from bot.storage.direct import DirectDatabase
from handlers.notifications.store import subscribe
from tests.fakes.fake_line import FakeLine, text_event, user_source
from tests.fakes.fake_telegram import FakeTelegram
from tests.support.env import TEST_SALT
from tests.support.notify import (
    TG_TOKEN,
    TOKEN,
    YEAR,
    Knowledge,
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
    wait_replies,
    wait_subscriptions,
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
    wait_replies(line, LINE_SUBSCRIBERS + len(NEVER))
    everyone = {"line": LINE_SUBSCRIBERS, "telegram": 4}
    wait_subscriptions(s, {"fiscal_years": {str(YEAR): everyone}, "total": everyone})
    post_line(s, line_postbacks([line_user(i) for i in UNSUBSCRIBED], f"action=unsubscribe&fy={YEAR}"))
    post_line(s, line_unfollows([line_user(i) for i in UNFOLLOWED]))
    wait_replies(line, LINE_SUBSCRIBERS + len(NEVER) + len(UNSUBSCRIBED))
    left = {"line": len(_remaining()), "telegram": 4}
    wait_subscriptions(s, {"fiscal_years": {str(YEAR): left}, "total": left})
    tg.block(TG_BLOCKED)


def _assert_each_once(line: FakeLine, tg: FakeTelegram) -> None:
    sent = Counter(line.multicast_recipients())
    assert set(sent) == _remaining(), "exactly the remaining LINE subscribers, nobody else"
    assert max(sent.values()) == 1, f"someone got it twice: {[u for u, n in sent.items() if n > 1][:5]}"
    assert all(len(r.json["to"]) <= 500 for r in line.multicasts(ok_only=False))
    assert not line.pushes(), "notifications are multicasts, never one push each"
    assert THAI_OPENS in multicast_texts(line)[0] and str(YEAR) in multicast_texts(line)[0]
    assert "https://www.dga.or.th/news/" in multicast_texts(line)[0], "the source's url beside its citation"
    windows = [c for c in tg.sent_messages() if "🔔" in c.text]
    assert Counter(c.chat_id for c in windows) == Counter(TG_CHATS)
    assert '<a href="https://www.dga.or.th/news/' in windows[0].text


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
            settled(s, line, tg)
            _assert_each_once(line, tg)
            # The blocked chat answered 403: every subscription of theirs is gone.
            assert subscriptions(s)["total"] == {"line": len(_remaining()), "telegram": len(TG_CHATS)}
            [made] = notifications(s)
            assert made["kind"] == "window" and made["delivered"] == {"line": len(_remaining()), "telegram": 3}
            assert made["failed"]["telegram"] == 1 and made["status"] == "sent"

            # The same window loaded again: nothing more goes out.
            assert admin(s, "POST", "/reload").status_code == 200
            time.sleep(2)
            settled(s, line, tg)
            _assert_each_once(line, tg)
            assert len(notifications(s)) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_in_the_middle_of_sending_then_a_restart(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _database(backend, request)
    kb = knowledge_copy(tmp_path)
    users = [line_user(i) for i in range(LINE_SUBSCRIBERS)]
    with FakeLine(access_token=TOKEN) as line:
        home = tmp_path / "home"
        env = notify_env(home, kb, line, None, database_url=url)
        with server(env, home) as s:
            post_line(s, line_postbacks(users, f"action=subscribe&fy={YEAR}"))
            wait_replies(line, len(users))
            kb.add_window(YEAR, OPENS, CLOSES)
            # The first multicast goes through at LINE, but its answer never reaches the server: killed meanwhile.
            line.answer_next_multicasts_late(1, seconds=30.0)
            assert admin(s, "POST", "/reload").status_code == 200
            line.wait_for(lambda _: len(line.multicasts()) >= 1, timeout=60)
            s.process.kill()  # kill -9
            s.process.wait(10)
        killed_at = len(line.multicasts(ok_only=False))
        # Restarted with the same database (no reload): the pending batches are resumed with their stored keys.
        with server(env, home) as s:
            line.wait_for(lambda _: len(set(line.multicast_recipients())) >= len(users), timeout=90)
            settled(s, line)
            sent = Counter(line.multicast_recipients())
            assert set(sent) == set(users) and max(sent.values()) == 1, "everyone once, across the kill"
            resumed = line.multicasts(ok_only=False)[killed_at:]
            accepted_keys = {r.headers["x-line-retry-key"] for r in line.multicasts()}
            duplicates = [r for r in resumed if r.status == 409]
            assert duplicates, "the batch that went through before the kill was retried with its stored key"
            assert all(r.headers["x-line-retry-key"] in accepted_keys for r in duplicates)
            [made] = notifications(s)
            assert made["delivered"]["line"] == len(users) and made["status"] == "sent"


@pytest.mark.postgres
def test_two_instances_on_one_postgresql_send_once_between_them(tmp_path: Path, postgres_url: str) -> None:
    kb = knowledge_copy(tmp_path)
    users = [line_user(i) for i in range(LINE_SUBSCRIBERS)]
    with FakeLine(access_token=TOKEN) as line, ExitStack() as stack:
        servers = []
        for name in ("a", "b"):
            home = tmp_path / name
            servers.append(
                stack.enter_context(server(notify_env(home, kb, line, None, database_url=postgres_url), home))
            )
        a, b = servers
        post_line(a, line_postbacks(users[: len(users) // 2], f"action=subscribe&fy={YEAR}"))
        post_line(b, line_postbacks(users[len(users) // 2 :], f"action=subscribe&fy={YEAR}"))
        wait_replies(line, len(users))
        kb.add_window(YEAR, OPENS, CLOSES)
        with ThreadPoolExecutor(2) as pool:  # both reload at once: one of them tells the subscribers
            statuses = list(pool.map(lambda s: admin(s, "POST", "/reload").status_code, servers))
        assert statuses == [200, 200]
        line.wait_for(lambda _: len(line.multicast_recipients()) >= len(users), timeout=60)
        time.sleep(2)
        settled(a, line)
        settled(b, line)
        sent = Counter(line.multicast_recipients())
        assert set(sent) == set(users) and max(sent.values()) == 1
        assert len(notifications(a)) == len(notifications(b)) == 1


def _restart_on(day: str, kb: Knowledge, line: FakeLine, home: Path) -> list[str]:
    """Start the server with "today" = day, let it do what is due, stop it; the texts multicast meanwhile."""
    before = len(line.multicasts())
    with server(notify_env(home, kb, line, None, today=day), home) as s:
        settled(s, line)  # the notifier looks at start-up
    return multicast_texts_since(line, before)


def multicast_texts_since(line: FakeLine, index: int) -> list[str]:
    return [m["text"] for r in line.multicasts()[index:] for m in r.json["messages"] if m.get("type") == "text"]


def test_opening_day_and_reminders_on_fixed_dates(tmp_path: Path) -> None:
    kb = knowledge_copy(tmp_path)
    kb.add_window(YEAR, date(2026, 12, 1), date(2026, 12, 20))  # known before anyone subscribes
    thai, english = line_user(1), line_user(2)
    home = tmp_path / "home"
    with FakeLine(access_token=TOKEN) as line:
        with server(notify_env(home, kb, line, None, today="2026-11-21"), home) as s:
            post_line(s, line_postbacks([thai], f"action=subscribe&fy={YEAR}"))
            post_line(s, [text_event(f"notify me when FY{YEAR} opens", source=user_source(english))])
            wait_replies(line, 2)
            replies = [r.json["messages"][0]["text"] for r in line.replies()]
            # Subscribing to a year whose window is known: the window is in the confirmation.
            assert any(THAI_OPENS in r and "20 ธันวาคม 2569" in r for r in replies)
            assert any("1 December 2026" in r or "December" in r for r in replies), replies
            assert not line.multicasts(), "the window was known before they subscribed: no separate message"
        opening = _restart_on("2026-12-01", kb, line, home)
        assert len(opening) == 2 and all("เปิดรับคำขอแล้ว" in t or "now accepting" in t for t in opening)
        assert _restart_on("2026-12-05", kb, line, home) == []
        seven = _restart_on("2026-12-13", kb, line, home)
        assert len(seven) == 2 and any("อีก 7 วัน" in t for t in seven)
        assert _restart_on("2026-12-13", kb, line, home) == [], "once, however many restarts that day"
        one = _restart_on("2026-12-19", kb, line, home)
        assert len(one) == 2 and any("พรุ่งนี้" in t for t in one)
        assert _restart_on("2026-12-21", kb, line, home) == []
        sent = Counter(line.multicast_recipients())
        assert sent == {thai: 3, english: 3}  # opening, 7 days, 1 day
        assert all(len(r.json["to"]) == 1 for r in line.multicasts())


def test_announcements_dry_run_for_real_and_held_by_the_quota(tmp_path: Path) -> None:
    kb = knowledge_copy(tmp_path)
    this_year = [line_user(i) for i in range(5)]
    next_year = [line_user(4), line_user(5), line_user(6)]  # user 4 follows both years
    with FakeLine(access_token=TOKEN) as line, FakeTelegram(token=TG_TOKEN) as tg:
        home = tmp_path / "home"
        env = notify_env(home, kb, line, tg)
        # A held batch is looked at again every second here, and deliveries are given up after 30 s: a batch held
        # by the quota must outlive that deadline (LINE's quota resets monthly) and go once the quota allows.
        env.update({"BUDGETBOT_QUOTA_RECHECK_SECONDS": "1", "BUDGETBOT_DELIVERY_DEADLINE": "30"})
        with server(env, home) as s:
            post_line(s, line_postbacks(this_year, f"action=subscribe&fy={YEAR}"))
            post_line(s, line_postbacks(next_year, f"action=subscribe&fy={YEAR + 1}"))
            updates = TelegramUpdates(s)
            updates.text(8001, f"/subscribe {YEAR}")
            updates.tap(8002, f"sub:{YEAR}")
            wait_replies(line, len(this_year) + len(next_year))
            tg.wait_for(lambda _: len(tg.sent_messages()) >= 2, timeout=60)
            assert subscriptions(s) == {
                "fiscal_years": {str(YEAR): {"line": 5, "telegram": 2}, str(YEAR + 1): {"line": 3, "telegram": 0}},
                "total": {"line": 7, "telegram": 2},
            }
            text = "สพร. ขยายเวลารับฟังความคิดเห็นถึงวันศุกร์นี้"
            dry = admin(s, "POST", "/announce", {"text": text, "fiscal_year": YEAR, "dry_run": True}).json()
            assert dry["recipients"] == {"line": 5, "telegram": 2} and dry["id"] is None
            everyone = admin(s, "POST", "/announce", {"text": text, "fiscal_year": None, "dry_run": True}).json()
            assert everyone["recipients"] == {"line": 7, "telegram": 2}
            time.sleep(1)
            assert not line.multicasts() and notifications(s) == [], "a dry run sends nothing"

            real = admin(s, "POST", "/announce", {"text": text, "fiscal_year": YEAR})
            assert real.status_code == 200 and real.json()["recipients"] == {"line": 5, "telegram": 2}
            line.wait_for(lambda _: len(line.multicast_recipients()) >= 5, timeout=30)
            tg.wait_for(lambda _: sum(text in c.text for c in tg.sent_messages()) >= 2, timeout=30)
            settled(s, line, tg)
            assert sorted(line.multicast_recipients()) == sorted(this_year)
            assert all(text in t and "📢" in t for t in multicast_texts(line))

            # LINE's monthly quota has room for 3 more messages: the 7-person announcement is held, and says why.
            line.set_quota(line.usage + 3)
            held_at = time.monotonic()
            held = admin(s, "POST", "/announce", {"text": "ประกาศที่สอง", "fiscal_year": None})
            assert held.status_code == 200 and held.json()["recipients"] == {"line": 7, "telegram": 2}
            deadline = time.monotonic() + 30
            while True:
                latest = notifications(s)[0]
                if latest["held"]["line"] == 7 or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert latest["held"] == {"line": 7, "telegram": 0} and latest["status"] == "pending"
            assert any("quota_exceeded" in r and "8 messages" in r for r in latest["reasons"]), latest["reasons"]
            assert len(line.multicasts()) == 1, "nothing more was multicast"

            time.sleep(max(0.0, held_at + 33 - time.monotonic()))  # past its delivery deadline: held, not given up
            latest = notifications(s)[0]
            assert latest["held"] == {"line": 7, "telegram": 0} and latest["status"] == "pending", latest
            assert len(line.multicasts()) == 1

            # The quota is raised (a new month, or a bigger plan): the held batch goes, to each of the 7 once.
            line.set_quota(line.usage + 100)
            line.wait_for(lambda _: len(line.multicasts()) >= 2, timeout=60)
            settled(s, line, tg)
            second = Counter(r for m in line.multicasts()[1:] for r in m.json["to"])
            assert second == Counter(this_year + next_year[1:]), second
            assert notifications(s)[0]["held"]["line"] == 0

            assert admin(s, "POST", "/announce", {"text": "  ", "fiscal_year": None}).status_code == 422
            # Forgetting the year is refused: only an explicit null reaches every subscriber.
            assert admin(s, "POST", "/announce", {"text": "ประกาศ", "dry_run": True}).status_code == 422
            assert admin(s, "POST", "/announce", {"text": "x", "fiscal_year": "soon"}).status_code == 422


def _busiest_second(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times)), default=0)


def test_telegram_is_paced_to_25_a_second_and_its_retry_after_is_honoured(tmp_path: Path) -> None:
    kb = knowledge_copy(tmp_path)
    chats = list(range(9001, 9061))
    with FakeTelegram(token=TG_TOKEN) as tg:
        home = tmp_path / "home"
        with server(notify_env(home, kb, None, tg), home) as s:
            updates = TelegramUpdates(s)
            for chat in chats:
                updates.text(chat, f"/subscribe {YEAR}")
            tg.wait_for(lambda _: len(tg.sent_messages()) >= len(chats), timeout=60)
            first = admin(s, "POST", "/announce", {"text": "ประกาศแรก", "fiscal_year": YEAR})
            assert first.json()["recipients"] == {"line": 0, "telegram": len(chats)}
            updates.text(9100, "แนวทางมีอะไรบ้าง")  # someone asks while the announcement goes out: answered too
            tg.wait_for(lambda _: sum("ประกาศแรก" in c.text for c in tg.sent_messages()) >= len(chats), timeout=60)
            tg.wait_for_messages(9100, 1, timeout=30)
            sends = tg.calls_to("sendMessage")
            assert not [c for c in sends if c.status == 429], "paced below Telegram's limit: never refused"
            assert _busiest_second([c.at for c in sends]) <= 28  # 25 sent a second; arrival may jitter a little

            # Telegram's limit drops under ours: it answers 429 retry_after, which is waited for; nobody is lost or
            # doubled.
            tg.rate_limit = 10
            admin(s, "POST", "/announce", {"text": "ประกาศที่สอง", "fiscal_year": YEAR})
            tg.wait_for(lambda _: sum("ประกาศที่สอง" in c.text for c in tg.sent_messages()) >= len(chats), timeout=90)
            settled(s, tg)
            assert [c for c in tg.calls_to("sendMessage") if c.status == 429], "the fake did refuse some"
            second = Counter(c.chat_id for c in tg.sent_messages() if "ประกาศที่สอง" in c.text)
            assert second == Counter(chats)
            assert notifications(s)[0]["delivered"]["telegram"] == len(chats)


def test_the_file_watcher_triggers_it_and_every_way_of_unsubscribing_works(tmp_path: Path) -> None:
    kb = knowledge_copy(tmp_path)
    stays, in_words, groups = line_user(1), line_user(2), line_user(3)
    with FakeLine(access_token=TOKEN) as line, FakeTelegram(token=TG_TOKEN) as tg:
        home = tmp_path / "home"
        env = notify_env(home, kb, line, tg)
        env["BUDGETBOT_WATCH_KNOWLEDGE"] = "true"
        with server(env, home) as s:
            post_line(s, line_postbacks([stays, in_words], f"action=subscribe&fy={YEAR}"))
            # In a group the assistant does not subscribe anyone: notifications are private.
            group = {"type": "group", "groupId": "C" + "9" * 32, "userId": groups}
            post_line(s, [{**line_postbacks([groups], f"action=subscribe&fy={YEAR}")[0], "source": group}])
            updates = TelegramUpdates(s)
            for chat in (6001, 6002, 6003):
                updates.text(chat, f"/subscribe {YEAR}")
            wait_replies(line, 3)
            tg.wait_for(lambda _: len(tg.sent_messages()) >= 3, timeout=60)
            post_line(s, [text_event("ยกเลิกการแจ้งเตือน", source=user_source(in_words))])
            updates.text(6002, "/unsubscribe")
            updates.tap(6003, f"unsub:{YEAR}")
            wait_replies(line, 4)
            assert "ยกเลิกการแจ้งเตือนปีงบประมาณ พ.ศ. 2571 แล้ว" in line.replies()[-1].json["messages"][0]["text"]
            both = {"line": 1, "telegram": 1}
            wait_subscriptions(s, {"fiscal_years": {str(YEAR): both}, "total": both})

            kb.add_window(YEAR, OPENS, CLOSES)  # no reload call: the watcher sees the edit
            line.wait_for(lambda _: len(line.multicasts()) >= 1, timeout=60)
            tg.wait_for(lambda _: any("🔔" in c.text for c in tg.sent_messages()), timeout=60)
            settled(s, line, tg)
            assert line.multicast_recipients() == [stays]
            assert [c.chat_id for c in tg.sent_messages() if "🔔" in c.text] == [6001]


def test_someone_who_subscribed_while_a_window_was_being_notified_is_caught_up_once(tmp_path: Path) -> None:
    """A subscription written a moment after the window's notification took its recipients, with a confirmation
    composed before the window was known, is in the database as "told of no window": the next look at what is due
    (any knowledge load, or the minute's tick) sends them the window, once. Someone whose confirmation named the
    window gets no second message about it."""
    kb = knowledge_copy(tmp_path)
    kb.add_window(YEAR, OPENS, CLOSES)
    told, late = line_user(1), line_user(2)
    home = tmp_path / "home"
    with FakeLine(access_token=TOKEN) as line:
        with server(notify_env(home, kb, line, None), home) as s:
            settled(s, line)  # the window was notified at start-up, to nobody yet
            post_line(s, line_postbacks([told], f"action=subscribe&fy={YEAR}"))
            wait_replies(line, 1)
            assert THAI_OPENS in line.replies()[0].json["messages"][0]["text"]
            db = Database(f"sqlite:///{home}/data/budgetbot.sqlite3")
            direct = DirectDatabase(db)
            with direct.transaction() as tx:  # what the race leaves behind
                subscribe(tx, "line", late, YEAR, "th", salt=TEST_SALT, now=time.time(), told=None)
            direct.close()
            db.dispose()
            for _ in range(2):  # two knowledge loads: caught up by the first, nothing more by the second
                years = kb.knowledge / "fiscal_years.yaml"
                years.write_text(years.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
                assert admin(s, "POST", "/reload").json()["changed"]
                time.sleep(1)
                settled(s, line)
            assert line.multicast_recipients() == [late]
            assert THAI_OPENS in multicast_texts(line)[0]
