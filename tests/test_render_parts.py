"""An answer to several questions (`parts`) on every channel: one bubble or message per part, in order,
within each channel's limits, suggestions once at the end."""

from __future__ import annotations

from linebot.v3.messaging import FlexMessage, ReplyMessageRequest, TextMessage

from handlers.line_render import render_answer as line_answer
from handlers.telegram_render import SuggestionCallbacks
from handlers.telegram_render import render_answer as telegram_answer
from tests.fakes.fake_line import message_errors
from tests.support.core import TODAY, shipped_assistant


def ask(question: str):  # noqa: ANN201
    return shipped_assistant().respond(question, None, TODAY)[0]


def _wire(messages: list) -> list[dict]:
    """The messages as the SDK sends them to LINE."""
    return ReplyMessageRequest(reply_token="t" * 32, messages=messages).to_dict()["messages"]


def test_line_shows_one_bubble_per_part_in_order_and_stays_within_five_messages() -> None:
    a = ask("ปี65ยังทันไหม แล้วปี72ล่ะ อีกเรื่องค่ะ ใครขอได้บ้าง")
    assert len(a.parts) == 3
    messages = line_answer(a)
    texts = [m for m in messages if isinstance(m, TextMessage)]
    assert [t.text for t in texts] == [p.text for p in a.parts]
    assert len(messages) <= 5 and message_errors(_wire(messages)) == []
    assert isinstance(messages[-1], FlexMessage)  # the first status part's card, in the slot left
    assert messages[-1].quick_reply is not None and all(m.quick_reply is None for m in messages[:-1])


def test_line_never_spreads_a_long_part_over_other_parts_slots() -> None:
    a = ask("ปีงบ 70 ปิดหรือยัง และปีงบ 71 จะเปิดเมื่อไหร่คะ")
    long = a.model_copy(update={"parts": [p.model_copy(update={"text": "ก" * 9000}) for p in a.parts]})
    messages = line_answer(long)
    assert len([m for m in messages if isinstance(m, TextMessage)]) == len(a.parts)
    assert message_errors(_wire(messages)) == []


def test_telegram_sends_one_message_per_part_with_the_keyboard_on_the_last() -> None:
    a = ask("Who can request a budget? Also, when does FY2029 open?")
    messages = telegram_answer(a, SuggestionCallbacks())
    assert len(messages) == len(a.parts) == 2
    assert "government agencies" in messages[0].html and "2572" in messages[1].html
    assert messages[0].keyboard is None and messages[-1].keyboard is not None


def test_a_single_question_renders_as_before() -> None:
    a = ask("ปีงบ 2571 ยังยื่นได้ไหม")
    assert not a.parts
    messages = line_answer(a)
    assert isinstance(messages[0], TextMessage) and messages[0].text == a.text
