"""The three stages of understanding as a user notices them: times read right, the kind of question, follow-ups
resolved against the last answer, honest answers about what the sources do not give."""

from __future__ import annotations

from datetime import date

import pytest

from bot.answer import ActionKind, Answer, AnswerKind
from bot.assistant import Assistant
from bot.conversation import ConversationState
from bot.rules import rules
from tests.support.core import shipped_assistant

TODAY = date(2026, 11, 21)  # fiscal year 2570


@pytest.fixture(scope="module")
def bot() -> Assistant:
    return shipped_assistant()


class Chat:
    def __init__(self, bot: Assistant, today: date = TODAY) -> None:
        self.bot, self.today = bot, today
        self.state: ConversationState | None = None

    def say(self, text: str) -> Answer:
        answer, self.state = self.bot.respond(text, self.state, self.today)
        return answer


def ask(bot: Assistant, text: str) -> Answer:
    return bot.respond(text, None, TODAY)[0]


# --- time ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "year", "accepting"),
    [
        ("ปีงบปัจจุบันยังยื่นได้ไหม", 2570, False),
        ("current FY still open for requests?", 2570, False),
        ("FY ปัจจุบันยังรับคำขออยู่ไหม", 2570, False),
        ("สามปีงบก่อนยื่นย้อนหลังได้ไหม", 2567, False),
        ("อีกสองปีงบ ยื่นล่วงหน้าได้หรือยัง", 2572, None),
        ("ปีงบเจ็ดสิบเอ็ดเปิดรับหรือยัง", 2571, None),
        ("FY'71 ปิดรับวันไหน", 2571, None),
        ("ยื่น ก.พ. 70 ได้ไหม", 2570, False),
        ("ใช้เงินช่วง ต.ค. 70 – ก.ย. 71 ต้องยื่นตอนไหน", 2571, None),
        ("ซื้อคอม 120 เครื่อง ปีงบ 71 ยื่นทันไหม", 2571, None),
        ("อบรม 500 คน ปีงบ 72 ยังส่งคำขอได้ไหม", 2572, None),
    ],
)
def test_every_way_of_writing_a_year_is_answered_for_that_year(
    bot: Assistant, question: str, year: int, accepting: bool | None
) -> None:
    a = ask(bot, question)
    assert a.kind is AnswerKind.FISCAL_YEAR_STATUS, (question, a.intent)
    assert (a.fiscal_year, a.accepting) == (year, accepting), question


def test_a_date_is_placed_in_its_fiscal_year(bot: Assistant) -> None:
    a = ask(bot, "5/10/2569 อยู่ปีงบไหน")
    assert a.intent == "calendar.date" and a.fiscal_year == 2570
    assert "2570" in a.text.split("\n")[0]


# --- the intent field ----------------------------------------------------------------------------------------


def test_every_answer_names_the_rule_that_made_it(bot: Assistant) -> None:
    names = {r.name.format(topic="fact") for r in rules()} | {r.name.format(topic="eligibility") for r in rules()}
    for text in ["ปีงบ 71 เปิดยัง", "แนวทางที่ 2 คืออะไร", "สวัสดีค่ะ", "อากาศวันนี้เป็นไง", "ใครขอได้บ้าง"]:
        a = ask(bot, text)
        assert a.intent is not None and a.intent.split(".")[0] in {n.split(".")[0] for n in names}, (text, a.intent)
    assert ask(bot, "ปีงบนี้ยังยื่นได้ไหม").intent == "status.relative_year"


# --- follow-ups --------------------------------------------------------------------------------------------


def test_why_and_where_from_answer_about_the_last_answer(bot: Assistant) -> None:
    chat = Chat(bot)
    first = chat.say("ปีงบ 2567 ยังยื่นได้ไหม")
    assert first.fiscal_year == 2567 and first.accepting is False
    why = chat.say("ทำไม")
    assert why.intent == "status.why" and "ข้อสรุปของ" in why.text  # the inference, said to be one
    where = chat.say("อ้างอิงจากไหน")
    assert where.intent == "status.source"
    assert "วิธีการงบประมาณ" in where.text and "https://www.dga.or.th/" in where.text


def test_the_same_answer_in_english_then_another_year_then_a_correction(bot: Assistant) -> None:
    chat = Chat(bot)
    assert chat.say("ปีงบ 71 เปิดรับยังคะ").fiscal_year == 2571
    english = chat.say("ตอบเป็นภาษาอังกฤษได้ไหม")
    assert english.language == "en" and english.fiscal_year == 2571 and "FY 2571" in english.text
    nxt = chat.say("แล้วปีถัดไปล่ะ")
    assert nxt.kind is AnswerKind.FISCAL_YEAR_STATUS and nxt.fiscal_year == 2572
    fixed = chat.say("ผิดปี ที่ถามคือปี 68")
    assert fixed.kind is AnswerKind.FISCAL_YEAR_STATUS and fixed.fiscal_year == 2568 and fixed.accepting is False


def test_yes_to_the_offer_subscribes_to_the_year_offered_and_no_does_not(bot: Assistant) -> None:
    chat = Chat(bot)
    offered = chat.say("ปีงบ 2571 เปิดรับหรือยัง")
    assert [o.action.fiscal_year for o in offered.offers] == [2571]
    yes = chat.say("ได้ค่ะ ช่วยเตือนที")
    assert yes.action is not None and yes.action.kind is ActionKind.SUBSCRIBE and yes.action.fiscal_year == 2571
    chat = Chat(bot)
    chat.say("ปีงบ 2571 เปิดรับหรือยัง")
    no = chat.say("ไม่เป็นไรค่ะ")
    assert no.action is None and no.intent == "subscribe.no"


def test_a_number_after_a_list_picks_an_option_and_elsewhere_is_a_year(bot: Assistant) -> None:
    chat = Chat(bot)
    chat.say("แนวทางมีอะไรบ้าง")
    picked = chat.say("อันที่สอง")
    assert picked.guideline == 2 and picked.intent == "guideline_info.pick"
    chat = Chat(bot)
    chat.say("6 ด้านสำคัญมีอะไรบ้าง")
    assert "สุขภาพการแพทย์" in chat.say("ข้อ 3").text
    chat = Chat(bot)
    chat.say("ปีงบ 66 ยังยื่นได้ไหม")
    year = chat.say("65")
    assert year.kind is AnswerKind.FISCAL_YEAR_STATUS and year.fiscal_year == 2565


def test_a_pronoun_or_a_left_out_word_comes_from_the_last_question(bot: Assistant) -> None:
    chat = Chat(bot)
    chat.say("ประชุมชี้แจงร่างแผนปี 66 จัดวันไหน")
    who = chat.say("ใครเปิดงาน")
    assert "สุพจน์" in who.text
    chat = Chat(bot)
    chat.say("ปี 64 คณะกรรมการย่อยของแผนนี้ใครเป็นประธาน")
    assert "เลขานุการร่วม" in chat.say("แล้ว ผอ. สพร. เป็นอะไรในคณะนั้น").text


def test_a_project_amended_in_a_follow_up_is_placed_again(bot: Assistant) -> None:
    chat = Chat(bot)
    first = chat.say("จะทำแพลตฟอร์มกลางให้ทุกกรมในกระทรวงใช้ร่วมกัน เข้าแนวทางไหน")
    assert first.guidelines == [2]
    amended = chat.say("ถ้าเพิ่มการอบรมเจ้าหน้าที่ให้ใช้ระบบด้วยล่ะ")
    assert amended.kind is AnswerKind.GUIDELINE_MATCH and set(amended.guidelines) == {1, 2}


def test_a_new_topic_drops_the_frame(bot: Assistant) -> None:
    chat = Chat(bot)
    chat.say("ปีงบ 71 เปิดรับยัง")
    other = chat.say("แนวทางที่ 3 คืออะไร")
    assert other.guideline == 3 and chat.state is not None and chat.state.frame is not None
    assert chat.state.frame.topic == "guideline_info"


# --- several questions -------------------------------------------------------------------------------------


def test_a_numbered_list_is_answered_item_by_item(bot: Assistant) -> None:
    a = ask(bot, "1. แนวทางที่ 2 คืออะไร 2. ปีหน้ายื่นได้ยัง 3. ใครขอได้บ้าง")
    assert [p.kind for p in a.parts] == [AnswerKind.FAQ, AnswerKind.FISCAL_YEAR_STATUS, AnswerKind.ELIGIBILITY]
    assert a.parts[1].fiscal_year == 2571


def test_two_years_in_one_question_are_both_answered(bot: Assistant) -> None:
    a = ask(bot, "ปีนี้กับปีหน้ายังยื่นได้ไหม")
    assert [p.fiscal_year for p in a.parts] == [2570, 2571]


# --- honesty -----------------------------------------------------------------------------------------------


def test_a_false_figure_is_answered_no_with_what_the_source_says(bot: Assistant) -> None:
    a = ask(bot, "ปี 65 ได้งบ 4,000 ล้านใช่ไหม")
    assert a.text.startswith("ไม่ใช่") and "2,409.3962" in a.text
    assert ask(bot, "the FY2566 briefing was held at Government House, correct?").text.startswith("No")


def test_a_detail_the_sources_do_not_give_is_said_to_be_missing_first(bot: Assistant) -> None:
    a = ask(bot, "ขอรายชื่อ 29 หน่วยงานของปี 65 หน่อย")
    first = a.text.split("\n")[0]
    assert "ไม่ได้ให้ข้อมูล" in first and "29 หน่วยงาน" in a.text and a.confidence < 0.6


def test_no_status_answer_states_the_inference_as_a_cited_rule(bot: Assistant) -> None:
    for text in ["ปีงบ 2567 ยังยื่นได้ไหม", "ปีไหนเปิดรับอยู่บ้าง", "แจ้งเตือนปีงบ 2569 ด้วย"]:
        a = ask(bot, text)
        assert "ปีงบประมาณที่เริ่มแล้วไม่รับคำขอใหม่" not in a.text, text
        if a.accepting is False or a.kind is not AnswerKind.FISCAL_YEAR_STATUS:
            assert "ข้อสรุปของ" in a.text, text  # the general conclusion is marked as the assistant's own
