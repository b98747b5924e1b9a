"""The guided project check ("โครงการเราขอได้ไหม"): description, then fiscal year, then one answer
combining the guideline it fits, what the sources ask of a project, and whether that year accepts requests."""

from __future__ import annotations

from bot.advisor import Advice
from bot.answer import Answer, AnswerKind
from bot.answers.context import Turn, as_of_line, source_refs, with_sources
from bot.answers.guidelines import guideline_match_answer
from bot.answers.status import decide, status_answer
from bot.conversation import ConversationState
from bot.knowledge.loader import KnowledgeBase
from bot.years import fiscal_year_of

FLOW = "check"
STEP_DESCRIBE = "describe"
STEP_YEAR = "year"
REQUIREMENTS_ENTRY = "eligibility-project"


def _cancel(turn: Turn) -> str:
    return turn.pick("ยกเลิก", "cancel")


def start(kb: KnowledgeBase, turn: Turn, state: ConversationState) -> tuple[Answer, ConversationState]:
    examples = (
        [g.examples_en[0] for g in kb.guidelines.values() if g.examples_en]
        if turn.en
        else [g.examples[0] for g in kb.guidelines.values() if g.examples]
    )
    answer = Answer(
        kind=AnswerKind.GUIDED_CHECK,
        text=turn.pick(
            "มาตรวจโครงการกัน (ขั้นที่ 1 จาก 2)\nเล่าสั้น ๆ ว่าโครงการของคุณทำอะไร ให้ใคร "
            'เช่น อบรมบุคลากร สร้างระบบกลาง หรือบริการประชาชนแบบเบ็ดเสร็จ\nพิมพ์ "ยกเลิก" เพื่อออก',
            "Let's check your project (step 1 of 2).\nDescribe briefly what it does and for whom, e.g. staff "
            'training, a shared central system, or a one-stop citizen service.\nType "cancel" to stop.',
        ),
        title=turn.pick("ตรวจโครงการ 1/2", "Project check 1/2"),
        confidence=1.0,
        language=turn.language,
        suggestions=[*examples, _cancel(turn)],
    )
    return answer, state.model_copy(update={"flow": FLOW, "flow_step": STEP_DESCRIBE, "project_description": None})


def ask_year(turn: Turn, state: ConversationState, description: str) -> tuple[Answer, ConversationState]:
    current = fiscal_year_of(turn.today)
    answer = Answer(
        kind=AnswerKind.GUIDED_CHECK,
        text=turn.pick(
            "ขั้นที่ 2 จาก 2: จะขอรับงบประมาณของปีงบประมาณใด (เช่น ปีงบ 2571 หรือ 71)",
            "Step 2 of 2: which fiscal year would the request be for (e.g. FY 2571)?",
        ),
        title=turn.pick("ตรวจโครงการ 2/2", "Project check 2/2"),
        confidence=1.0,
        language=turn.language,
        suggestions=[
            turn.pick(f"ปีงบ {current + 1}", f"FY {current + 1}"),
            turn.pick(f"ปีงบ {current + 2}", f"FY {current + 2}"),
            turn.pick("ไม่แน่ใจ", "not sure"),
            _cancel(turn),
        ],
    )
    return answer, state.model_copy(update={"flow_step": STEP_YEAR, "project_description": description})


def finish(
    kb: KnowledgeBase, turn: Turn, state: ConversationState, advice: Advice, year: int, *, assumed: bool
) -> tuple[Answer, ConversationState]:
    fit = guideline_match_answer(kb, turn, advice, asked_year=year)
    status = status_answer(kb, turn, year, assumed=assumed)
    verdict = decide(kb, year, turn.today)
    parts = [turn.pick("ผลการตรวจโครงการ", "Project check result"), turn.pick("1) แนวทาง", "1) Guideline")]
    parts.append(fit.text.split("\n\n")[0])  # without its source line: one source line closes the answer
    ids = [s.id for s in fit.sources] + [s.id for s in status.sources]
    requirements = kb.faq.get(REQUIREMENTS_ENTRY)
    if requirements is not None:
        parts += [
            turn.pick("2) สิ่งที่เอกสารระบุสำหรับโครงการ", "2) What the sources ask of a project"),
            turn.pick(requirements.answer, requirements.answer_en),
        ]
        ids += requirements.sources
    parts.append(turn.pick("3) สถานะการรับคำขอ", "3) Whether requests are accepted"))
    status_body = status.text.split("\n\n")[0]
    parts.append(
        "\n".join(line for line in status_body.split("\n") if line != as_of_line(turn, fiscal_year_of(turn.today)))
    )
    parts.append(as_of_line(turn, fiscal_year_of(turn.today)))
    answer = Answer(
        kind=AnswerKind.GUIDELINE_MATCH,
        text=with_sources(kb, turn, "\n".join(parts), ids),
        title=turn.pick("ผลการตรวจโครงการ", "Project check"),
        confidence=min(fit.confidence, status.confidence),
        sources=source_refs(kb, ids),
        fiscal_year=year,
        accepting=verdict.accepting,
        guideline=fit.guideline,
        guidelines=fit.guidelines,
        matched_terms=fit.matched_terms,
        as_of=turn.today,
        language=turn.language,
        # Stand-alone questions: the next message leaves the check, so "แล้วปี ... ล่ะ" would have no context.
        suggestions=[
            *fit.suggestions[:1],
            turn.pick(f"ปีงบ {year + 1} ยังยื่นได้ไหม", f"Is FY {year + 1} accepting requests?"),
            turn.pick("ตรวจโครงการอื่น", "Check another project"),
        ],
    )
    new_state = state.model_copy(
        update={
            "flow": None,
            "flow_step": None,
            "project_description": None,
            "last_kind": AnswerKind.GUIDELINE_MATCH,
            "fiscal_year": year,
            "guideline": fit.guideline,
            "entry_id": None,
        }
    )
    return answer, new_state
