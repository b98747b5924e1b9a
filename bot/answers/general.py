"""greeting, help, small talk and fallback: what the assistant can do, a friendly word back, and an honest
"I can't answer that"."""

from __future__ import annotations

from enum import StrEnum

from bot.answer import Answer, AnswerKind
from bot.answers.context import Turn, where_to_ask
from bot.knowledge.loader import KnowledgeBase

_TOPICS_TH = (
    "- สถานะการรับคำของบประมาณของแต่ละปีงบประมาณ และปฏิทินปีงบประมาณ\n"
    "- แนวทางของแผนงาน และโครงการของคุณเข้าแนวทางใด\n"
    "- ใครขอรับงบประมาณได้ และโครงการต้องมีลักษณะอย่างไร\n"
    "- ที่มา กฎหมาย และข้อมูลของแผนงานบูรณาการรัฐบาลดิจิทัล"
)
_TOPICS_EN = (
    "- whether a fiscal year is still accepting budget requests, and the fiscal-year calendar\n"
    "- the plan's guidelines, and which one your project fits\n"
    "- who may request a budget and what a project needs\n"
    "- the plan's background, legal basis and figures"
)


class SmallTalk(StrEnum):
    GREETING = "greeting"  # hello, good morning
    THANKS = "thanks"  # thanks, with or without a clause after it
    ACK = "ack"  # โอเค, รับทราบ, 555, a sticker or an emoji
    HELP = "help"  # what can you do, how do I use this


def examples(kb: KnowledgeBase, turn: Turn) -> list[str]:
    return list(kb.help_examples_en if turn.en and kb.help_examples_en else kb.help_examples)


def greeting(kb: KnowledgeBase, turn: Turn) -> Answer:
    return Answer(
        kind=AnswerKind.GREETING,
        text=turn.pick(
            f"สวัสดี{turn.end} {turn.me}เป็นผู้ช่วยตอบคำถามเรื่องงบประมาณแผนงานบูรณาการรัฐบาลดิจิทัลของ สพร. (DGA) "
            f"ถามได้เรื่อง\n{_TOPICS_TH}\nลองเลือกคำถามด้านล่าง หรือพิมพ์ถามได้เลย{turn.end}",
            f"Hello! I answer questions about DGA's Digital Government Integration Plan budget:\n{_TOPICS_EN}\n"
            "Pick a question below or type your own.",
        ),
        title=turn.pick("สวัสดี", "Hello"),
        confidence=1.0,
        language=turn.language,
        suggestions=examples(kb, turn),
    )


def small_talk(kb: KnowledgeBase, turn: Turn, what: SmallTalk) -> Answer:
    """A short friendly reply with suggestions: never the out-of-scope text."""
    if what is SmallTalk.GREETING:
        return greeting(kb, turn)
    if what is SmallTalk.HELP:
        return help_answer(kb, turn)
    text = {
        SmallTalk.THANKS: turn.pick(
            f"ยินดี{turn.end} มีคำถามเรื่องแผนงานบูรณาการรัฐบาลดิจิทัลเพิ่มเติม ถาม{turn.me}ได้ตลอด{turn.end}",
            "You're welcome! Ask me anything else about the Digital Government Integration Plan.",
        ),
        SmallTalk.ACK: turn.pick(
            f"ได้เลย{turn.end} ถ้ามีคำถามเรื่องแผนงานบูรณาการรัฐบาลดิจิทัล พิมพ์ถาม{turn.me}ได้เลย หรือแตะคำถามด้านล่าง{turn.end}",
            "Sure! If you have a question about the Digital Government Integration Plan, type it or tap one below.",
        ),
    }[what]
    return Answer(
        kind=AnswerKind.GREETING,
        text=text,
        title=turn.pick(
            "ยินดี" if what is SmallTalk.THANKS else "ได้เลย", "Welcome" if what is SmallTalk.THANKS else "Sure"
        ),
        confidence=1.0,
        language=turn.language,
        suggestions=examples(kb, turn),
    )


def help_answer(kb: KnowledgeBase, turn: Turn, *, empty: bool = False) -> Answer:
    intro = turn.pick(f"พิมพ์คำถามเป็นข้อความได้เลย{turn.end} ", "Please type your question. ") if empty else ""
    return Answer(
        kind=AnswerKind.HELP,
        text=turn.pick(
            f"{intro}{turn.me}ตอบได้เรื่อง\n{_TOPICS_TH}\nถามได้ทีละหลายคำถามในข้อความเดียว ตัวอย่างคำถามอยู่ด้านล่าง{turn.end}",
            f"{intro}I can answer:\n{_TOPICS_EN}\nYou can ask several questions in one message; examples are below.",
        ),
        title=turn.pick("ถามอะไรได้บ้าง", "What you can ask"),
        confidence=1.0,
        language=turn.language,
        suggestions=examples(kb, turn),
    )


def fallback(kb: KnowledgeBase, turn: Turn, *, note: str | None = None, suggestions: list[str] | None = None) -> Answer:
    body = note or turn.pick(
        f"ขออภัย{turn.end} คำถามนี้อยู่นอกเรื่องที่{turn.me}มีข้อมูล {turn.me}ตอบได้เฉพาะเรื่องแผนงานบูรณาการรัฐบาลดิจิทัล"
        "จากเอกสารของ สพร.",
        "Sorry, I have no information on that. I only answer about the Digital Government Integration Plan, "
        "from DGA's documents.",
    )
    return Answer(
        kind=AnswerKind.FALLBACK,
        text=f"{body}\n{where_to_ask(kb, turn)}\n"
        + turn.pick(f"ลองถามเช่น คำถามด้านล่าง{turn.end}", "You could ask, for example:"),
        title=turn.pick("ไม่มีข้อมูล", "No information"),
        confidence=0.0,
        language=turn.language,
        suggestions=(suggestions or examples(kb, turn))[:4],
    )
