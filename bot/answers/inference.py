"""What the status, calendar and subscription answers say about a fiscal year that has begun, and how one
sentence names the source it rests on. No source states "a year that has begun takes no new requests" as a
rule: the answers give the year's dates (the Budget Procedures Act), DGA's FY 2564 notice, and mark the general
conclusion as the assistant's own inference."""

from __future__ import annotations

from bot.answers.context import Spoken
from bot.formatting import source_name
from bot.knowledge.loader import KnowledgeBase

CALENDAR_SOURCE = "budget-procedures-act-2561"  # section 4 defines the fiscal year
CLOSED_NOTICE_SOURCE = "dga-integration-plan-fy2564"  # DGA's notice that FY 2564 requests closed


def cite(kb: KnowledgeBase, speech: Spoken, source_id: str) -> str:
    """ "(ที่มา: ...)": the source one sentence rests on, named right after it."""
    source = kb.sources.get(source_id)
    if source is None:
        return ""
    name = source_name(source, speech.language)
    return speech.pick(f"(ที่มา: {name})", f"(source: {name})")


def begun_inference(kb: KnowledgeBase, speech: Spoken) -> str:
    """Why a year that has begun is answered "not accepting": no source states it as a rule, so it is said as the
    assistant's inference from what the sources do show, each part cited, with where to check."""
    notice = (
        speech.pick(
            "สำหรับปีงบประมาณ พ.ศ. 2564 สพร. แจ้งว่าการจัดทำงบประมาณรายจ่ายบูรณาการเสร็จสิ้นแล้ว จึงไม่สามารถเสนอของบได้ ",
            "For FY 2564, DGA gave notice that requests could no longer be submitted once the integrated budget "
            "had been prepared ",
        )
        + cite(kb, speech, CLOSED_NOTICE_SOURCE)
        + " "
        if CLOSED_NOTICE_SOURCE in kb.sources
        else ""
    )
    return notice + speech.pick(
        f"โดยทั่วไปคำของบประมาณของปีใดจัดทำก่อนปีงบประมาณนั้นจะเริ่ม ปีงบประมาณที่เริ่มแล้วจึงไม่น่าจะรับคำขอใหม่ "
        f"(นี่เป็นข้อสรุปของ{speech.me} เอกสารไม่ได้เขียนไว้เป็นกฎ ควรตรวจสอบกับ สพร.)",
        "In general, requests for a fiscal year are prepared before it begins, so a year that has begun is unlikely "
        "to take new requests (this is my inference, not a rule the documents state; please check with DGA).",
    )
