"""What a user of the assistant notices: the right kind of answer, the right year and status, honesty."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.answer import Answer, AnswerKind
from bot.assistant import Assistant
from bot.knowledge.loader import load_knowledge
from tests.support.core import TODAY, copy_knowledge, shipped_assistant


def ask(question: str, today: date = TODAY) -> Answer:
    answer, _ = shipped_assistant().respond(question, None, today)
    return answer


@pytest.mark.parametrize(
    "question",
    [
        "ปีงบ 2566 ยังยื่นได้ไหม",
        "ปีงบ66 ยังยื่นได้มั้ย",
        "ปี66ยังยื่นทันไหม",
        "ปีงบประมาณ ๒๕๖๖ ยังเปิดรับคำขอไหม",
        "FY2566 still accepting requests?",
        "is FY2023 still open for requests?",
        "งบ 66 หมดเขตหรือยัง",
    ],
)
def test_year_forms_all_resolve_to_2566_and_a_begun_year_is_closed(question: str) -> None:
    a = ask(question)
    assert a.kind is AnswerKind.FISCAL_YEAR_STATUS
    assert a.fiscal_year == 2566
    assert a.accepting is False
    assert a.as_of == TODAY
    assert a.sources, "a status answer cites where the rule comes from"


def test_status_stated_by_the_sources_holds_even_before_the_year_began() -> None:
    a = ask("ปีงบ 2564 ยังยื่นได้ไหม", today=date(2020, 6, 1))
    assert a.accepting is False
    assert "สำนักงบประมาณ" in a.text  # the source's own statement
    assert any(s.file == "002_27ba216de0f1e667.txt" for s in a.sources)


def test_future_year_without_information_says_so_and_where_to_ask() -> None:
    a = ask("ปีงบ 2572 ยังยื่นได้ไหม")
    assert a.kind is AnswerKind.FISCAL_YEAR_STATUS and a.fiscal_year == 2572
    assert a.accepting is None
    assert "ไม่มีข้อมูล" in a.text and "สพร" in a.text
    assert "21 พฤศจิกายน 2569" in a.text  # the as-of date, in Thai


def test_relative_years_follow_the_injected_clock() -> None:
    assert ask("ปีนี้ยังยื่นได้ไหม").fiscal_year == 2570
    assert ask("ปีหน้ายังยื่นได้ไหม").fiscal_year == 2571
    assert ask("ปีงบหน้ายังทันไหม", today=date(2026, 9, 30)).fiscal_year == 2570
    assert ask("ปีงบหน้ายังทันไหม", today=date(2026, 10, 1)).fiscal_year == 2571


def test_fiscal_year_boundary_is_1_october_bangkok() -> None:
    assert ask("ปีงบ 2570 ยังยื่นได้ไหม", today=date(2026, 9, 30)).accepting is None
    assert ask("ปีงบ 2570 ยังยื่นได้ไหม", today=date(2026, 10, 1)).accepting is False


def test_status_without_a_year_answers_for_the_next_fiscal_year() -> None:
    a = ask("ตอนนี้ยังยื่นของบได้ไหม")
    assert a.kind is AnswerKind.FISCAL_YEAR_STATUS
    assert a.fiscal_year == 2571 and a.accepting is None
    assert "2570" in a.text  # says the current fiscal year has begun


def _with_window(tmp_path: Path, opens: str, closes: str) -> Assistant:
    kdir = copy_knowledge(tmp_path)
    with open(kdir / "fiscal_years.yaml", "a", encoding="utf-8") as f:
        f.write(
            f"\n  - year: 2572\n    window:\n      opens: {opens}\n      closes: {closes}\n"
            "      sources: [dga-briefing-fy2566]\n"
        )
    return Assistant.build(load_knowledge(kdir))


@pytest.mark.parametrize(
    ("today", "accepting"),
    [(date(2027, 1, 31), False), (date(2027, 2, 1), True), (date(2027, 3, 31), True), (date(2027, 4, 1), False)],
)
def test_a_request_window_in_the_knowledge_decides(tmp_path: Path, today: date, accepting: bool) -> None:
    assistant = _with_window(tmp_path, "2027-02-01", "2027-03-31")
    a, _ = assistant.respond("ปีงบ 2572 ยังยื่นได้ไหม", None, today)
    assert a.accepting is accepting


@pytest.mark.parametrize(
    ("question", "guideline"),
    [
        ("อยากจัดอบรมทักษะดิจิทัลให้ข้าราชการในกรม เข้าแนวทางไหน", 1),
        ("โครงการพัฒนาแพลตฟอร์มกลางให้หลายหน่วยงานใช้ร่วมกัน ควรขอแนวทางใด", 2),
        ("ทำระบบบริการประชาชนแบบเบ็ดเสร็จ เชื่อมโยงข้อมูลข้ามหน่วยงาน อยู่แนวทางไหน", 3),
        ("we want to build a one-stop e-service for citizens, which guideline fits?", 3),
        ("โครงการเทรนนิ่งเจ้าหน้าที่ให้ใช้คลาวด์เป็น", 1),
    ],
)
def test_project_descriptions_get_the_right_guideline_with_reasons(question: str, guideline: int) -> None:
    a = ask(question)
    assert a.kind is AnswerKind.GUIDELINE_MATCH
    assert a.guideline == guideline
    assert a.matched_terms, "the answer says which words matched"
    assert f"{guideline}" in a.text


def test_two_close_guidelines_are_both_named() -> None:
    a = ask("โครงการอบรมบุคลากรให้ใช้แพลตฟอร์มกลางและโครงสร้างพื้นฐานดิจิทัลร่วมกัน เข้าแนวทางไหน")
    assert a.kind is AnswerKind.GUIDELINE_MATCH
    assert sorted(a.guidelines) == [1, 2]


def test_a_project_that_fits_no_guideline_is_told_plainly() -> None:
    a = ask("โครงการซื้อโต๊ะเก้าอี้สำนักงาน เข้าแนวทางไหน")
    assert a.kind is AnswerKind.GUIDELINE_MATCH
    assert a.guideline is None and a.guidelines == []
    # Said plainly, with the kind of project it is, not hedged as "no clear match".
    assert a.text.startswith("โครงการแบบนี้ไม่เข้าแนวทางใด")
    assert "จัดซื้อครุภัณฑ์" in a.text


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("แผนงานบูรณาการรัฐบาลดิจิตอลคืออะไร", "plan-what"),  # common misspelling
        ("พรบ.ดิจิทัลประกาศในราชกิจจาวันไหน", "act-published"),
        ("ใครเป็นประธานคณะที่ ๑.๓", "subcommittee-1-3"),
        ("ปี 2565 ได้งบทั้งหมดเท่าไหร่", "fy2565-figures"),
        ("How much was allocated in FY2022?", "fy2565-figures"),
        ("6 ด้านสำคัญมีอะไรบ้าง", "focus-areas"),
        ("มติ ครม 11 ธค 62 ว่าไง", "cabinet-resolution"),
    ],
)
def test_fact_questions_find_their_entry(question: str, entry: str) -> None:
    a = ask(question)
    assert a.kind is AnswerKind.FAQ and a.entry_id == entry
    assert a.sources


def test_english_question_gets_an_english_answer() -> None:
    a = ask("What is the legal basis of the plan?")
    assert a.language == "en"
    assert "Act" in a.text and "22 May 2562" in a.text


def test_eligibility_answer_is_honest_about_what_the_sources_lack() -> None:
    a = ask("มหาลัยขอได้ไหม")
    assert a.kind is AnswerKind.ELIGIBILITY
    assert "หน่วยงานของรัฐ" in a.text and "ไม่ได้" in a.text


@pytest.mark.parametrize(
    "question",
    [
        "พรุ่งนี้ฝนตกไหม",
        "ร้านข้าวมันไก่แถวนี้อร่อย",
        "ทำพาสปอร์ตใช้เอกสารอะไร",
        "ยื่นภาษีเงินได้ปีงบ 66 ถึงวันไหน",
        "what's the weather in Bangkok",
        "หวยงวดนี้ออกอะไร",
        "ขอวีซ่าญี่ปุ่นยังไง",
    ],
)
def test_out_of_scope_questions_get_a_fallback_never_a_fact(question: str) -> None:
    a = ask(question)
    assert a.kind is AnswerKind.FALLBACK
    assert a.entry_id is None and a.accepting is None
    assert "สพร" in a.text or "DGA" in a.text


def test_a_figure_asked_for_another_year_is_given_only_as_the_year_the_sources_give() -> None:
    a = ask("ปีงบ 2570 ได้รับจัดสรรงบประมาณเท่าไร")
    assert a.kind is AnswerKind.FALLBACK and a.fiscal_year == 2570
    lead = a.text.split("\n")[0]
    assert "เฉพาะปีงบประมาณ พ.ศ. 2565" in lead and "ไม่มีของปีงบประมาณ พ.ศ. 2570" in lead
    assert "ข้อมูลของปีงบประมาณ พ.ศ. 2565: " in a.text and "2,409.3962" in a.text
    assert "ตัวเลขปีงบประมาณ" not in a.text  # no internal entry title in the "no information" sentence
    en = ask("How many projects were funded in FY2025?")
    assert en.language == "en" and "only for FY 2565" in en.text


def test_close_but_unclear_question_offers_did_you_mean_suggestions() -> None:
    a = ask("คณะกรรมการ")
    assert a.entry_id is None
    assert a.kind in (AnswerKind.FAQ, AnswerKind.FALLBACK)
    assert 1 <= len(a.suggestions) <= 4


@pytest.mark.parametrize(
    "question",
    [
        "",
        "   \n\t ",
        "😀🙏🎉",
        "\x00\x07\x1b[31m",
        "ก" * 10_000,
        "ปีงบ 66 " * 2000,
        "ปีงบ66ยังยื่นได้ไหม\u200b\u200d\ufeff",
        "Привет 你好 مرحبا ปีงบ",
        "\ud800",
        "?????",
        "1234567890",
    ],
)
def test_bad_input_gets_a_sensible_answer_without_an_exception(question: str) -> None:
    a = ask(question)
    assert a.text.strip()
    assert a.kind in set(AnswerKind)
    assert 0.0 <= a.confidence <= 1.0


def test_greeting_and_help_offer_example_questions() -> None:
    for q, kind in (
        ("สวัสดีครับ", AnswerKind.GREETING),
        ("ช่วยอะไรได้บ้าง", AnswerKind.HELP),
        ("hello", AnswerKind.GREETING),
    ):
        a = ask(q)
        assert a.kind is kind
        assert len(a.suggestions) >= 3
        # Each example question really gets answered (no dead-end buttons).
        for s in a.suggestions:
            assert ask(s).kind is not AnswerKind.FALLBACK, s


def test_every_answer_carries_the_knowledge_version() -> None:
    assert ask("แนวทางมีอะไรบ้าง").knowledge_version == shipped_assistant().kb.version


# ---------------------------------------------------------------------- issue 9: how staff really write


def test_two_years_in_one_message_get_two_parts() -> None:
    a = ask("ปี65ยังทันไหม แล้วปี72ล่ะ")
    assert [(p.kind, p.fiscal_year, p.accepting) for p in a.parts] == [
        (AnswerKind.FISCAL_YEAR_STATUS, 2565, False),
        (AnswerKind.FISCAL_YEAR_STATUS, 2572, None),
    ]
    # Top-level fields come from the first part that has them; the text joins the parts in order.
    assert a.kind is AnswerKind.FISCAL_YEAR_STATUS and a.fiscal_year == 2565 and a.accepting is False
    assert a.text.index("2565") < a.text.index("2572")


def test_a_long_polite_message_with_a_project_and_a_year_answers_both() -> None:
    a = ask(
        "เรียนสอบถามค่ะ กรมจะทำแอปให้เกษตรกรยื่นขอรับเงินช่วยเหลือได้ครบในที่เดียว โดยดึงข้อมูลแปลงจากหน่วยงานอื่น "
        "เข้าแนวทางไหนคะ และปีงบ 2572 ยังส่งทันไหมคะ ขอบคุณค่ะ"
    )
    kinds = [p.kind for p in a.parts]
    assert kinds == [AnswerKind.GUIDELINE_MATCH, AnswerKind.FISCAL_YEAR_STATUS]
    assert a.parts[0].guideline == 3 and a.parts[1].fiscal_year == 2572
    assert a.guideline == 3 and a.fiscal_year == 2572  # each from the first part that has it


def test_an_english_message_asking_two_things_answers_both_in_english() -> None:
    a = ask("Who can request a budget? Also, when does FY2029 open?")
    assert [p.kind for p in a.parts] == [AnswerKind.ELIGIBILITY, AnswerKind.FISCAL_YEAR_STATUS]
    assert all(p.language == "en" for p in a.parts) and a.language == "en"


def test_comparing_two_guidelines_answers_both() -> None:
    a = ask("แนวทางที่ 2 กับแนวทางที่ 3 ต่างกันอย่างไร")
    assert [p.entry_id for p in a.parts] == ["guideline-2", "guideline-3"]


def test_one_question_has_no_parts() -> None:
    assert ask("ปีงบ 2571 ยังยื่นได้ไหม").parts == []
    # A description with "และ" inside is one question, not two.
    assert ask("ระบบกลางที่ทุกกรมใช้ร่วมกัน และอบรมเจ้าหน้าที่ให้ใช้ระบบ เข้าแนวทางไหน").parts == []


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("ขอบคุณมากครับ", AnswerKind.GREETING),
        ("ขอบคุณค่ะ เดี๋ยวจะลองไปคุยกับหัวหน้าดูก่อน", AnswerKind.GREETING),
        ("อรุณสวัสดิ์ค่ะ", AnswerKind.GREETING),
        ("สวัสดีตอนเย็นครับ", AnswerKind.GREETING),
        ("55555", AnswerKind.GREETING),
        ("โอเคค่ะ", AnswerKind.GREETING),
        ("👌", AnswerKind.GREETING),
        ("ใช้ยังไงคะ", AnswerKind.HELP),
        ("hi, what can you do?", AnswerKind.HELP),
        ("hello there", AnswerKind.GREETING),
    ],
)
def test_small_talk_gets_a_friendly_reply_never_out_of_scope(question: str, kind: AnswerKind) -> None:
    a = ask(question)
    assert a.kind is kind
    assert "นอกเรื่อง" not in a.text and "no information" not in a.text
    assert a.suggestions


def test_thanks_followed_by_a_question_answers_the_question() -> None:
    a = ask("ขอบคุณค่ะ แล้วปีงบ 72 ยังทันไหมคะ")
    assert a.kind is AnswerKind.FISCAL_YEAR_STATUS and a.fiscal_year == 2572


def test_calendar_questions_are_answered_from_the_act() -> None:
    now = ask("ตอนนี้เป็นปีงบประมาณอะไร")
    assert now.entry_id == "fiscal-calendar-now" and now.fiscal_year == 2570
    assert any(s.file == "budget-procedures-act-2561.txt" for s in now.sources)
    months = ask("ปีงบ 2568 เริ่มเดือนไหนถึงเดือนไหน")
    assert months.entry_id == "fiscal-calendar-months" and months.fiscal_year == 2568
    assert "1 ตุลาคม 2567" in months.text and "30 กันยายน 2568" in months.text
    still_open = ask("ปีไหนบ้างที่ยังยื่นได้")
    assert still_open.entry_id == "fiscal-calendar-open"
    assert "2570" in still_open.text and "2571" in still_open.text
    assert not any(s.file == "README.md" for a in (now, months, still_open) for s in a.sources)


def test_open_years_come_from_the_knowledges_windows(tmp_path: Path) -> None:
    assistant = _with_window(tmp_path, "2027-02-01", "2027-03-31")
    a, _ = assistant.respond("ตอนนี้ยื่นได้ปีไหนบ้าง", None, date(2027, 2, 15))
    assert a.entry_id == "fiscal-calendar-open"
    assert "ปีงบประมาณที่เปิดรับคำขออยู่ตามข้อมูลที่มี: พ.ศ. 2572" in a.text


@pytest.mark.parametrize(
    ("question", "body"),
    [
        ("มหาวิทยาลัยราชภัฏขอรับงบได้ไหมคะ", "มหาวิทยาลัยราชภัฏ"),
        ("โรงเรียนมัธยมยื่นของบเองได้หรือเปล่า", "โรงเรียนมัธยม"),
        ("โรงพยาบาลชุมชนมีสิทธิ์ขอไหม", "โรงพยาบาลชุมชน"),
    ],
)
def test_eligibility_of_a_named_body_names_it_and_says_the_sources_are_silent(question: str, body: str) -> None:
    a = ask(question)
    assert a.kind is AnswerKind.ELIGIBILITY and a.entry_id == "eligibility-who"
    lead = a.text.split("\n")[0]
    assert body in lead and "ไม่ได้ระบุ" in lead
    assert "สพร" in a.text  # where to ask


def test_a_thai_message_with_an_english_term_is_answered_in_thai() -> None:
    a = ask("deadline ปี 67 วันไหน")
    assert a.language == "th" and a.kind is AnswerKind.FISCAL_YEAR_STATUS and a.fiscal_year == 2567
    assert ask("Digital Common Platform คืออะไรคะ").language == "th"
    assert ask("what is the deadline for FY2571?").language == "en"


@pytest.mark.parametrize(("particle", "ending", "me"), [("ค่ะ", "ค่ะ", "ดิฉัน"), ("ครับ", "ครับ", "ผม"), ("none", "", "เรา")])
def test_the_polite_particle_setting_sets_the_register(particle: str, ending: str, me: str) -> None:
    assistant = Assistant.build(shipped_assistant().kb, polite_particle=particle)
    a, _ = assistant.respond("ปีงบ 2572 ยังยื่นได้ไหม", None, TODAY)
    lead = a.text.split("\n")[0]
    assert f"หรือไม่{ending} " in lead and f"ที่{me}มี" in lead
    other = {"ค่ะ", "ครับ"} - {ending}
    assert not any(f"{o} " in lead or lead.endswith(o) for o in other)


@pytest.mark.parametrize(
    "question",
    ["การประชุมชี้แจงปี 66 จัดเมื่อไร", "ปีงบ 2566 ยังยื่นได้ไหม", "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร", "ใครขอได้บ้าง"],
)
def test_the_answer_comes_first_in_a_short_paragraph(question: str) -> None:
    a = ask(question)
    assert len(a.text.split("\n")[0]) <= 300


def test_a_status_answer_says_each_date_once() -> None:
    text = ask("ปีงบ 2566 ยังยื่นได้ไหม").text
    assert text.count("1 ตุลาคม 2565") == 1 and text.count("30 กันยายน 2566") == 1
