"""The LINE renderer keeps every reply inside LINE's limits (which the SDK does not check)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from linebot.v3.messaging import FlexMessage, ReplyMessageRequest, TextMessage

from bot.answer import Answer, AnswerKind, SourceRef
from handlers.line_render import (
    ELLIPSIS,
    flex_summary,
    quick_reply,
    render_answer,
    render_help,
    shorten_label,
    split_text,
    utf16_len,
)
from tests.fakes.fake_line import message_errors

THAI = re.compile("[\u0e00-\u0e7f]")
PARAGRAPH = "ปีงบประมาณ พ.ศ. 2570 หน่วยงานของรัฐสามารถยื่นคำขอรับการสนับสนุนงบประมาณได้ตามแนวทางที่กำหนด"


def _answer(kind: AnswerKind = AnswerKind.FAQ, text: str = PARAGRAPH, **kw: object) -> Answer:
    return Answer(kind=kind, text=text, confidence=0.9, **kw)  # type: ignore[arg-type]


def _wire(messages: list) -> list[dict]:
    """The messages as the SDK sends them to LINE."""
    return ReplyMessageRequest(reply_token="t" * 32, messages=messages).to_dict()["messages"]


def _texts(messages: list) -> list[str]:
    return [m.text for m in messages if isinstance(m, TextMessage)]


# --- text splitting ------------------------------------------------------------------------------


def test_utf16_counts_emoji_as_two_units() -> None:
    assert utf16_len("ก") == 1
    assert utf16_len("😀") == 2
    assert utf16_len("สวัสดี😀") == 8


def test_long_text_is_split_on_paragraphs_within_limits() -> None:
    paragraphs = [f"{i}. {PARAGRAPH}" * 6 for i in range(40)]  # ~23,000 units in 40 paragraphs
    text = "\n\n".join(paragraphs)
    chunks = split_text(text)
    assert 1 < len(chunks) <= 5
    assert all(utf16_len(c) <= 5000 for c in chunks)
    # Nothing is cut mid-paragraph: every chunk is whole paragraphs.
    for chunk in chunks:
        assert all(p in paragraphs for p in chunk.split("\n\n"))
    assert "\n\n".join(chunks) == text


def test_text_too_long_for_five_messages_is_cut_with_an_ellipsis() -> None:
    text = "\n".join(PARAGRAPH for _ in range(600))  # ~54,000 units
    messages = render_answer(_answer(text=text))
    assert len(messages) == 5
    texts = _texts(messages)
    assert all(utf16_len(t) <= 5000 for t in texts)
    assert texts[-1].endswith(ELLIPSIS)
    assert message_errors(_wire(messages)) == []


def test_thai_with_emoji_is_measured_in_utf16_not_characters() -> None:
    unit = "สวัสดีครับ😀"  # 10 Thai characters + 1 emoji = 11 code points, 12 UTF-16 units
    text = unit * 450  # 4,950 code points (fits by characters) but 5,400 UTF-16 units (does not fit)
    assert len(text) <= 5000 < utf16_len(text)
    chunks = split_text(text)
    assert len(chunks) == 2
    assert all(utf16_len(c) <= 5000 for c in chunks)
    assert "".join(chunks) == text  # nothing lost, no emoji broken in half
    assert message_errors(_wire([TextMessage(text=c) for c in chunks])) == []


def test_hard_split_never_separates_thai_marks_from_their_letter() -> None:
    text = "ที่นี่" * 3000  # no spaces or newlines, full of above-vowels and tone marks
    chunks = split_text(text)
    assert "".join(chunks) == text
    for chunk in chunks:
        assert not unicodedata.combining(chunk[0]) and unicodedata.category(chunk[0]) != "Mn"


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("กขคที่นี่ัุ้๊ abc😀🇹🇭\n")), max_size=400),
    st.integers(min_value=4, max_value=60),
    st.integers(min_value=1, max_value=5),
)
def test_split_text_always_respects_the_limits(text: str, max_units: int, max_parts: int) -> None:
    chunks = split_text(text, max_units=max_units, max_parts=max_parts)
    assert len(chunks) <= max_parts
    assert all(c and c == c.strip() and utf16_len(c) <= max_units for c in chunks)
    squeezed = "".join(text.split())
    if not chunks or not chunks[-1].endswith(ELLIPSIS):
        assert "".join("".join(chunks).split()) == squeezed  # only whitespace at the cuts may go


def test_empty_answer_text_still_gives_a_valid_message() -> None:
    messages = render_answer(_answer(text="   "))
    assert len(messages) == 1 and _texts(messages)[0].strip()
    assert message_errors(_wire(messages)) == []


# --- quick replies -------------------------------------------------------------------------------


def test_quick_replies_are_at_most_13_with_short_labels_and_full_questions() -> None:
    questions = [f"โครงการพัฒนาระบบบริการประชาชนแบบดิจิทัลของหน่วยงานที่ {i} ขอได้ไหม" for i in range(20)]
    qr = quick_reply(questions)
    assert qr is not None
    assert len(qr.items) == 13
    for item, question in zip(qr.items, questions, strict=False):
        assert 1 <= utf16_len(item.action.label) <= 20
        assert item.action.label.endswith(ELLIPSIS)
        assert item.action.text == question  # tapping sends the whole question


def test_short_labels_are_kept_and_duplicates_dropped() -> None:
    qr = quick_reply(["แนวทางมีอะไรบ้าง", "แนวทางมีอะไรบ้าง", "  ", "ช่วยอะไรได้บ้าง"])
    assert qr is not None
    assert [i.action.label for i in qr.items] == ["แนวทางมีอะไรบ้าง", "ช่วยอะไรได้บ้าง"]


def test_label_with_emoji_and_thai_marks_fits_in_utf16() -> None:
    original = "😀😀😀😀😀 ที่นี่ที่นี่ที่นี่ที่นี่"
    label = shorten_label(original)
    assert utf16_len(label) <= 20 and label.endswith(ELLIPSIS)
    head = label[: -len(ELLIPSIS)]
    assert original.startswith(head)
    # The cut falls between clusters: the next character is a letter, not a mark torn from its letter.
    assert unicodedata.category(original[len(head)]) != "Mn"


def test_label_is_not_cut_after_a_thai_preposed_vowel() -> None:
    label = shorten_label("ปีงบ 2570 ยังยื่นได้ไหมครับ")  # a plain 19-unit cut would end on "ไ"
    assert utf16_len(label) <= 20 and label.endswith(ELLIPSIS)
    assert label[-2] not in "เแโใไ"


def test_label_is_cut_between_thai_words() -> None:
    # A plain 19-unit cut gives "ปีงบประมาณนี้ยังยื่…", half a word.
    assert shorten_label("ปีงบประมาณนี้ยังยื่นคำขอได้ไหม") == "ปีงบประมาณนี้ยัง…"
    assert shorten_label("การประชุมชี้แจง (ร่าง) แผนงาน ปี 2566") == "การประชุมชี้แจง…"


def test_quick_replies_ride_on_the_last_message() -> None:
    text = "\n\n".join([PARAGRAPH * 30] * 5)
    messages = render_answer(_answer(text=text, suggestions=["แนวทางมีอะไรบ้าง", "ช่วยอะไรได้บ้าง"]))
    assert len(messages) > 1
    assert messages[-1].quick_reply is not None
    assert all(m.quick_reply is None for m in messages[:-1])
    assert message_errors(_wire(messages)) == []


def test_no_suggestions_no_quick_reply() -> None:
    assert render_answer(_answer())[-1].quick_reply is None


# --- Flex summary --------------------------------------------------------------------------------


def _status(text: str = "ยังยื่นคำขอได้ครับ", **kw: object) -> Answer:
    base: dict[str, object] = dict(
        fiscal_year=2570,
        accepting=True,
        as_of=date(2026, 11, 21),
        title="ปีงบประมาณ 2570",
        suggestions=["แนวทางมีอะไรบ้าง"],
        sources=[SourceRef(id="circular-2569", title="หนังสือเวียน สพร.", posted=date(2026, 1, 5))],
    )
    base.update(kw)
    return _answer(AnswerKind.FISCAL_YEAR_STATUS, text, **base)


def _flex_texts(node: object) -> list[str]:
    """Every text shown in a Flex bubble (from its wire JSON)."""
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == "text" and "text" in node else []
        return found + [t for v in node.values() for t in _flex_texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _flex_texts(v)]
    return []


def test_status_answer_gets_a_flex_bubble_with_alt_text() -> None:
    messages = render_answer(_status())
    flex = [m for m in messages if isinstance(m, FlexMessage)]
    assert len(flex) == 1
    assert 0 < utf16_len(flex[0].alt_text) <= 400
    assert THAI.search(flex[0].alt_text)
    wire = _wire(messages)
    shown = _flex_texts(wire[-1]["contents"])
    assert "ปีงบประมาณ 2570" in shown  # title
    assert "พ.ศ. 2570" in shown
    assert "เปิดรับ" in shown
    assert "21 พ.ย. 2569" in shown  # as-of date, Thai style
    assert any("หนังสือเวียน" in t for t in shown)  # source
    assert messages[-1].quick_reply is not None
    assert message_errors(wire) == []


def test_accepting_states_are_spelled_out() -> None:
    def shown(accepting: bool | None) -> list[str]:
        card = flex_summary(_status(accepting=accepting))
        assert card is not None
        return _flex_texts(card.to_dict()["contents"])

    assert "ไม่รับแล้ว" in shown(False)
    assert "ไม่มีข้อมูล" in shown(None)


def test_guideline_answer_gets_a_card_with_the_guideline() -> None:
    answer = _answer(AnswerKind.GUIDELINE_MATCH, "โครงการนี้เข้าแนวทางที่ 2", guideline=2, guidelines=[2, 3])
    card = flex_summary(answer)
    assert card is not None and card.alt_text
    assert "แนวทางที่ 2, 3" in _flex_texts(card.to_dict()["contents"])


def test_guideline_card_says_when_no_guideline_fits() -> None:
    card = flex_summary(_answer(AnswerKind.GUIDELINE_MATCH, "ยังไม่พบแนวทางที่ตรง"))
    assert card is not None
    assert "ยังระบุไม่ได้" in _flex_texts(card.to_dict()["contents"])


def test_other_answers_get_no_card() -> None:
    for kind in (AnswerKind.FAQ, AnswerKind.GREETING, AnswerKind.FALLBACK, AnswerKind.HELP):
        assert not any(isinstance(m, FlexMessage) for m in render_answer(_answer(kind)))


def test_card_plus_long_text_stays_within_five_messages() -> None:
    messages = render_answer(_status(text="\n".join(PARAGRAPH for _ in range(600))))
    assert len(messages) == 5
    assert isinstance(messages[-1], FlexMessage)
    assert message_errors(_wire(messages)) == []


def test_help_reply_is_short_thai_with_quick_replies() -> None:
    messages = render_help()
    assert len(messages) == 1
    assert THAI.search(_texts(messages)[0])
    assert messages[0].quick_reply is not None and len(messages[0].quick_reply.items) >= 3
    assert message_errors(_wire(messages)) == []
