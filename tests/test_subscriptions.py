"""Subscribing recognised in words, the interface's button and command forms, and which notifications are due
(a pure function of knowledge, today and what was notified). The end-to-end behaviour is test_notifications.py."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from bot.answer import ActionKind, AnswerKind, SubscriptionAction
from bot.knowledge.loader import KnowledgeBase, load_knowledge
from bot.settings import parse_reminder_days
from bot.subscriptions import (
    NotificationKind,
    Notified,
    NotifiedWindow,
    due_notifications,
    opening_key,
    reminder_key,
)
from handlers.line import postback_action
from handlers.line_render import postback_data
from handlers.pipeline import Outgoing
from handlers.telegram import SendPacer, callback_action, command_action
from handlers.telegram_render import callback_data
from tests.support.core import TODAY, shipped_assistant
from tests.support.notify import knowledge_copy

OPENS, CLOSES = date(2026, 12, 1), date(2026, 12, 20)


@pytest.fixture(scope="module")
def kb_with_window(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    kb = knowledge_copy(tmp_path_factory.mktemp("kb"))
    kb.add_window(2571, OPENS, CLOSES)
    return load_knowledge(kb.knowledge, kb.sources)


def _told(day: date, opens: date = OPENS, closes: date | None = CLOSES, sent: frozenset[str] = frozenset()) -> Notified:
    return Notified({2571: NotifiedWindow(2571, opens, closes, day)}, sent)


# --- in words -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("แจ้งเตือนเมื่อปีงบ 2571 เปิดรับ", SubscriptionAction.subscribe(2571)),
        ("รบกวนขอรับการแจ้งเตือนเมื่อปีงบประมาณ 2571 เปิดให้ยื่นคำขอด้วยครับ", SubscriptionAction.subscribe(2571)),
        ("ช่วยแจ้งเตือนด้วยนะคะ ว่าปีงบ 71 เปิดรับเมื่อไหร่", SubscriptionAction.subscribe(2571)),
        ("notify me when FY2571 opens", SubscriptionAction.subscribe(2571)),
        ("Please let me know when FY 2571 opens for requests", SubscriptionAction.subscribe(2571)),
        ("ยกเลิกการแจ้งเตือน", SubscriptionAction.unsubscribe(None)),
        ("ยกเลิกการแจ้งเตือนปีงบ 2571", SubscriptionAction.unsubscribe(2571)),
        ("stop notifications please", SubscriptionAction.unsubscribe(None)),
    ],
)
def test_asking_in_words_is_an_action_the_chat_pipeline_carries_out(
    question: str, expected: SubscriptionAction
) -> None:
    answer, _ = shipped_assistant().respond(question, None, TODAY)
    assert answer.kind is AnswerKind.SUBSCRIPTION and answer.action == expected


@pytest.mark.parametrize(
    "question",
    ["โครงการระบบแจ้งเตือนภัยพิบัติ ขอของบได้ไหม", "remind me what the guidelines are", "ปีงบ 2571 ยื่นได้ไหม"],
)
def test_other_questions_with_the_same_words_are_not_subscriptions(question: str) -> None:
    answer, _ = shipped_assistant().respond(question, None, TODAY)
    assert answer.action is None


def test_notify_me_right_after_a_status_answer_takes_its_year_and_the_answer_offered_it() -> None:
    assistant = shipped_assistant()
    status, state = assistant.respond("ปีงบ 2571 ยื่นได้ไหม", None, TODAY)
    assert status.accepting is None and [o.action for o in status.offers] == [SubscriptionAction.subscribe(2571)]
    answer, _ = assistant.respond("แจ้งเตือนด้วยนะคะ", state, TODAY)
    assert answer.action == SubscriptionAction.subscribe(2571)
    alone, _ = assistant.respond("แจ้งเตือนด้วย", None, TODAY)  # no year and nothing before: which year?
    assert alone.action is None and alone.offers[0].action == SubscriptionAction.subscribe(2571)


def test_a_year_that_has_begun_cannot_be_subscribed() -> None:
    answer, _ = shipped_assistant().respond("แจ้งเตือนปีงบ 2570 ด้วย", None, TODAY)
    assert answer.action is None and "เริ่มไปแล้ว" in answer.text


# --- the interface's buttons and commands -------------------------------------------------------------------


def test_line_postbacks_and_telegram_buttons_and_commands() -> None:
    assert postback_action("action=subscribe&fy=2571") == "subscribe:2571"
    assert postback_action("action=unsubscribe&fy=2571") == "unsubscribe:2571"
    assert postback_action("action=unsubscribe") == "unsubscribe:all"
    assert postback_action("action=subscribe&fy=soon") == "subscribe:"  # answered by asking which year
    assert postback_action("q=แนวทางมีอะไรบ้าง") is None and postback_action("action=other") is None
    assert callback_action("sub:2571") == "subscribe:2571" and callback_action("unsub:2571") == "unsubscribe:2571"
    assert callback_action("unsub:all") == "unsubscribe:all" and callback_action("q:x") is None
    assert command_action(ActionKind.SUBSCRIBE, "2571") == "subscribe:2571"
    assert command_action(ActionKind.UNSUBSCRIBE, "") == "unsubscribe:all"
    assert command_action(ActionKind.SUBSCRIBE, "") == "subscribe:"
    assert SubscriptionAction.decode("subscribe:") is None
    for action in (SubscriptionAction.subscribe(2571), SubscriptionAction.unsubscribe(2571)):
        assert postback_action(postback_data(action)) == action.encode()
        assert callback_action(callback_data(action)) == action.encode()


def test_line_notifications_are_multicasts_of_at_most_500_ids() -> None:
    from handlers.line import LineChannel

    ids = [f"U{i:032x}" for i in range(1201)]
    outgoing = Outgoing(parts=[{"messages": [{"type": "text", "text": "x"}]}])
    batches = LineChannel.push_batches(None, outgoing, ids)  # type: ignore[arg-type]  # uses no state
    assert [b.count for b in batches] == [500, 500, 201]
    assert [i for b in batches for i in b.parts[0]["to"]] == ids


def test_reminder_days_setting() -> None:
    assert parse_reminder_days("7,1") == (7, 1) and parse_reminder_days("1, 7, 7") == (7, 1)
    assert parse_reminder_days("none") == () == parse_reminder_days("")
    with pytest.raises(ValueError):
        parse_reminder_days("a week")


# --- what is due ------------------------------------------------------------------------------------------------


def _kinds(
    kb: KnowledgeBase, today: date, notified: Notified, *, windows: bool = False
) -> list[tuple[str, int | None]]:
    return [(d.kind.value, d.reminder_days) for d in due_notifications(kb, today, notified, (7, 1), windows=windows)]


def test_a_window_is_due_after_a_knowledge_load_when_its_dates_differ(kb_with_window: KnowledgeBase) -> None:
    assert _kinds(kb_with_window, TODAY, Notified(), windows=True) == [("window", None)]
    assert _kinds(kb_with_window, TODAY, Notified(), windows=False) == []  # only after a load
    assert _kinds(kb_with_window, TODAY, _told(TODAY), windows=True) == []  # told of these very dates
    moved = _told(TODAY, closes=CLOSES + timedelta(days=3))
    assert _kinds(kb_with_window, TODAY, moved, windows=True) == [("window", None)]
    assert _kinds(load_knowledge_without_window(), TODAY, Notified(), windows=True) == []


def load_knowledge_without_window() -> KnowledgeBase:
    return shipped_assistant().kb


def test_the_opening_day_and_the_reminders_each_once(kb_with_window: KnowledgeBase) -> None:
    kb = kb_with_window
    assert _kinds(kb, OPENS - timedelta(days=1), _told(TODAY)) == []
    assert _kinds(kb, OPENS, _told(TODAY)) == [("opening", None)]
    assert _kinds(kb, OPENS, _told(TODAY, sent=frozenset({opening_key(2571, OPENS)}))) == []
    assert _kinds(kb, OPENS, _told(OPENS)) == [], "told of the window on the opening day: no second message"
    opened = frozenset({opening_key(2571, OPENS)})
    assert _kinds(kb, CLOSES - timedelta(days=8), _told(TODAY, sent=opened)) == []
    assert _kinds(kb, CLOSES - timedelta(days=7), _told(TODAY, sent=opened)) == [("reminder", 7)]
    # The server was down on that day: the reminder comes late, once, saying how many days are really left.
    [late] = due_notifications(kb, CLOSES - timedelta(days=5), _told(TODAY, sent=opened), (7, 1), windows=False)
    assert late.kind is NotificationKind.REMINDER and late.days_left == 5
    seven = opened | {reminder_key(2571, CLOSES, 7)}
    assert _kinds(kb, CLOSES - timedelta(days=5), _told(TODAY, sent=seven)) == []
    assert _kinds(kb, CLOSES - timedelta(days=1), _told(TODAY, sent=seven)) == [("reminder", 1)]
    assert _kinds(kb, CLOSES + timedelta(days=1), _told(TODAY, sent=seven)) == []


def test_no_reminder_on_the_day_the_window_was_notified(kb_with_window: KnowledgeBase) -> None:
    day = CLOSES - timedelta(days=7)
    assert _kinds(kb_with_window, day, _told(day)) == []
    assert _kinds(kb_with_window, CLOSES - timedelta(days=1), _told(day)) == [("reminder", 1)]


def test_the_telegram_pacer_spaces_starts_and_lets_a_waiting_answer_go_first() -> None:
    async def run() -> list[str]:
        pacer = SendPacer(0.01)
        order: list[str] = []

        async def send(name: str, urgent: bool) -> None:
            await pacer.wait(urgent=urgent)
            order.append(name)

        notifications = [asyncio.create_task(send(f"n{i}", False)) for i in range(20)]
        await asyncio.sleep(0.035)  # a few notifications are out; the rest wait their turn
        await send("answer", True)
        await asyncio.gather(*notifications)
        return order

    order = asyncio.run(run())
    assert order.index("answer") < 10 and sorted(order) == sorted(["answer", *(f"n{i}" for i in range(20))])
