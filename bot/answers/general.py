"""greeting, help and fallback: what the assistant can do, and an honest "I can't answer that"."""

from __future__ import annotations

from bot.answer import Answer, AnswerKind
from bot.answers.context import Turn, where_to_ask
from bot.knowledge.loader import KnowledgeBase

_TOPICS_TH = (
    "- สถานะการรับคำของบประมาณของแต่ละปีงบประมาณ\n"
    "- แนวทางของแผนงาน และโครงการของคุณเข้าแนวทางใด\n"
    "- ใครขอรับงบประมาณได้ และโครงการต้องมีลักษณะอย่างไร\n"
    "- ที่มา กฎหมาย และข้อมูลของแผนงานบูรณาการรัฐบาลดิจิทัล"
)
_TOPICS_EN = (
    "- whether a fiscal year is still accepting budget requests\n"
    "- the plan's guidelines, and which one your project fits\n"
    "- who may request a budget and what a project needs\n"
    "- the plan's background, legal basis and figures"
)


def examples(kb: KnowledgeBase, turn: Turn) -> list[str]:
    return list(kb.help_examples_en if turn.en and kb.help_examples_en else kb.help_examples)


def greeting(kb: KnowledgeBase, turn: Turn) -> Answer:
    return Answer(
        kind=AnswerKind.GREETING,
        text=turn.pick(
            f"สวัสดี ผู้ช่วยตอบคำถามเรื่องงบประมาณแผนงานบูรณาการรัฐบาลดิจิทัลของ สพร. (DGA) ถามได้เรื่อง\n{_TOPICS_TH}\n"
            "ลองเลือกคำถามด้านล่าง หรือพิมพ์ถามได้เลย",
            f"Hello! I answer questions about DGA's Digital Government Integration Plan budget:\n{_TOPICS_EN}\n"
            "Pick a question below or type your own.",
        ),
        title=turn.pick("สวัสดี", "Hello"),
        confidence=1.0,
        language=turn.language,
        suggestions=examples(kb, turn),
    )


def help_answer(kb: KnowledgeBase, turn: Turn, *, empty: bool = False) -> Answer:
    intro = turn.pick("พิมพ์คำถามเป็นข้อความได้เลย ", "Please type your question. ") if empty else ""
    return Answer(
        kind=AnswerKind.HELP,
        text=turn.pick(
            f"{intro}ผู้ช่วยตอบได้เรื่อง\n{_TOPICS_TH}\nตัวอย่างคำถามอยู่ด้านล่าง",
            f"{intro}I can answer:\n{_TOPICS_EN}\nExample questions are below.",
        ),
        title=turn.pick("ถามอะไรได้บ้าง", "What you can ask"),
        confidence=1.0,
        language=turn.language,
        suggestions=examples(kb, turn),
    )


def fallback(kb: KnowledgeBase, turn: Turn, *, note: str | None = None, suggestions: list[str] | None = None) -> Answer:
    body = note or turn.pick(
        "ขออภัย คำถามนี้อยู่นอกเรื่องที่ผู้ช่วยมีข้อมูล ผู้ช่วยตอบได้เฉพาะเรื่องแผนงานบูรณาการรัฐบาลดิจิทัลจากเอกสารของ สพร.",
        "Sorry, I have no information on that. I only answer about the Digital Government Integration Plan, "
        "from DGA's documents.",
    )
    return Answer(
        kind=AnswerKind.FALLBACK,
        text=f"{body}\n{where_to_ask(kb, turn)}\n" + turn.pick("ลองถามเช่น คำถามด้านล่าง", "You could ask, for example:"),
        title=turn.pick("ไม่มีข้อมูล", "No information"),
        confidence=0.0,
        language=turn.language,
        suggestions=(suggestions or examples(kb, turn))[:4],
    )
