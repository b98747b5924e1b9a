"""Follow-ups use the conversation's context; a fresh conversation inherits nothing; the guided check."""

from __future__ import annotations

from bot.answer import Answer, AnswerKind
from bot.conversation import ConversationState
from tests.support.core import TODAY, shipped_assistant


class Chat:
    def __init__(self) -> None:
        self.state: ConversationState | None = None

    def say(self, text: str) -> Answer:
        answer, self.state = shipped_assistant().respond(text, self.state, TODAY)
        return answer


def test_year_follow_up_after_a_status_question() -> None:
    chat = Chat()
    assert chat.say("ปีงบ 66 ยังยื่นได้ไหม").fiscal_year == 2566
    a = chat.say("แล้วปี 67 ล่ะ")
    assert a.kind is AnswerKind.FISCAL_YEAR_STATUS and a.fiscal_year == 2567 and a.accepting is False
    a = chat.say("ปีหน้าล่ะ")
    assert a.kind is AnswerKind.FISCAL_YEAR_STATUS and a.fiscal_year == 2571 and a.accepting is None


def test_same_words_in_a_fresh_conversation_do_not_inherit_context() -> None:
    other = Chat()
    other.say("ปีงบ 66 ยังยื่นได้ไหม")
    a = Chat().say("แล้วปี 67 ล่ะ")
    assert a.kind is not AnswerKind.FISCAL_YEAR_STATUS
    assert a.accepting is None


def test_guideline_follow_up() -> None:
    chat = Chat()
    assert chat.say("แนวทางที่ 1 คืออะไร").guideline == 1
    a = chat.say("แล้วแนวทางที่ 3 ล่ะ")
    assert a.guideline == 3 and a.entry_id == "guideline-3"
    assert "End-to-End" in a.text


def test_follow_up_on_a_yearly_fact_for_a_year_without_data_says_so() -> None:
    chat = Chat()
    assert chat.say("ปี 65 ได้งบเท่าไหร่").entry_id == "fy2565-figures"
    a = chat.say("แล้วปี 66 ล่ะ")
    assert a.kind is AnswerKind.FALLBACK and a.fiscal_year == 2566
    # The figure the sources do give, given as that year's, never as 2566's.
    assert "เฉพาะปีงบประมาณ พ.ศ. 2565" in a.text and "ไม่มีของปีงบประมาณ พ.ศ. 2566" in a.text


def test_guided_check_walks_through_description_and_year() -> None:
    chat = Chat()
    a = chat.say("โครงการเราขอได้ไหม")
    assert a.kind is AnswerKind.GUIDED_CHECK and a.suggestions
    a = chat.say("จะทำระบบบริการประชาชนแบบเบ็ดเสร็จ เชื่อมข้อมูลหลายหน่วยงาน")
    assert a.kind is AnswerKind.GUIDED_CHECK
    a = chat.say("ปีงบ 2571")
    assert a.kind is AnswerKind.GUIDELINE_MATCH
    assert a.guideline == 3 and a.fiscal_year == 2571 and a.accepting is None
    assert "impact" in a.text  # what the sources ask of a project
    # Every suggested next question gets a real answer (no dead-end buttons).
    for suggestion in a.suggestions:
        follow = Chat()
        follow.state = chat.state
        assert follow.say(suggestion).kind is not AnswerKind.FALLBACK, suggestion
    # Its status part can be followed up like a status answer.
    follow = Chat()
    follow.state = chat.state
    again = follow.say("แล้วปีงบ 2572 ล่ะ")
    assert again.kind is AnswerKind.FISCAL_YEAR_STATUS and again.fiscal_year == 2572
    # The check is over: the next question is an ordinary one.
    assert chat.say("แนวทางมีอะไรบ้าง").entry_id == "guidelines-overview"


def test_guided_check_with_year_in_the_description_finishes_at_once() -> None:
    chat = Chat()
    chat.say("ตรวจโครงการ")
    a = chat.say("อบรมทักษะดิจิทัลให้ข้าราชการ ปีงบ 2566")
    assert a.kind is AnswerKind.GUIDELINE_MATCH and a.guideline == 1 and a.accepting is False


def test_guided_check_can_be_cancelled_or_left_with_a_new_question() -> None:
    chat = Chat()
    chat.say("โครงการเราขอได้ไหม")
    assert chat.say("ยกเลิก").kind is AnswerKind.HELP
    assert chat.say("ปีงบ 2566 ยังยื่นได้ไหม").kind is AnswerKind.FISCAL_YEAR_STATUS

    chat = Chat()
    chat.say("โครงการเราขอได้ไหม")
    a = chat.say("ปีงบ 64 ยังยื่นได้ไหม")
    assert a.kind is AnswerKind.FISCAL_YEAR_STATUS and a.fiscal_year == 2564


def test_a_quick_follow_up_in_its_own_webhook_sees_the_first_answers_context() -> None:
    """Two questions of one user handled at the same time (two webhooks): the second must wait for the
    first's saved state, or "แล้วปี 67 ล่ะ" would arrive with no context."""
    import asyncio

    from bot.conversation import InMemoryConversationStore
    from bot.service import AssistantService

    class SlowStore(InMemoryConversationStore):
        async def load(self, key: str) -> ConversationState | None:
            await asyncio.sleep(0.05)  # a database round trip
            return await super().load(key)

    class Provider:
        assistant = shipped_assistant()

    async def both() -> tuple[Answer, Answer]:
        service = AssistantService(Provider(), conversations=SlowStore(), clock=lambda: TODAY)
        first = asyncio.create_task(service.ask("ปีงบ 66 ยังยื่นได้ไหม", channel="line", user="U1"))
        await asyncio.sleep(0)  # the first has started
        second = asyncio.create_task(service.ask("แล้วปี 67 ล่ะ", channel="line", user="U1"))
        return await first, await second

    first, second = asyncio.run(both())
    assert first.fiscal_year == 2566
    assert second.kind is AnswerKind.FISCAL_YEAR_STATUS and second.fiscal_year == 2567
