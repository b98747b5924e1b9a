"""`budgetbot ask` and `budgetbot chat`: the assistant in a terminal, before any chat channel."""

from __future__ import annotations

import json
import sys
from datetime import date

from bot.answer import Answer
from bot.assistant import Assistant
from bot.clock import clock_for
from bot.conversation import ConversationState
from bot.knowledge.loader import KnowledgeLoadError, load_knowledge
from bot.settings import Settings


def load_assistant(settings: Settings) -> Assistant | None:
    try:
        assistant = Assistant.build(load_knowledge(settings.knowledge_dir), polite_particle=settings.polite_particle)
    except KnowledgeLoadError as exc:
        print("knowledge base has errors:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    assistant.warm()
    return assistant


def answer_json(answer: Answer) -> str:
    return json.dumps(answer.model_dump(mode="json"), ensure_ascii=False)


def render_plain(answer: Answer) -> str:
    lines = [answer.text]
    if answer.suggestions:
        lines.append("")
        lines += [f"  > {s}" for s in answer.suggestions]
    return "\n".join(lines)


def run_ask(settings: Settings, question: str | None, *, as_json: bool, today: date | None) -> int:
    assistant = load_assistant(settings)
    if assistant is None:
        return 1
    clock = clock_for(today)
    if question is not None:
        answer, _ = assistant.respond(question, None, clock())
        print(answer_json(answer) if as_json else render_plain(answer))
        return 0
    # One question a line, one answer a line: each line is its own conversation, so results don't depend on order.
    for line in sys.stdin:
        answer, _ = assistant.respond(line.rstrip("\n"), None, clock())
        print(answer_json(answer) if as_json else " ".join(answer.text.split()), flush=True)
    return 0


def run_chat(settings: Settings, *, today: date | None) -> int:
    assistant = load_assistant(settings)
    if assistant is None:
        return 1
    clock = clock_for(today)
    state: ConversationState | None = None
    print("budgetbot: ถามเรื่องแผนงานบูรณาการรัฐบาลดิจิทัลได้เลย (Ctrl-D เพื่อออก)")
    while True:
        try:
            question = input("คุณ> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        answer, state = assistant.respond(question, state, clock())
        print(f"บอท> {render_plain(answer)}\n")
