"""The one entry point every channel calls: question in, Answer out, with memory and a log.

Channels (handlers/) own transport; this owns everything that is the same on every channel:
the current knowledge, conversation state, event de-duplication and the question log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from bot.answer import Answer
from bot.assistant import Assistant
from bot.clock import Clock, bangkok_today
from bot.conversation import (
    ConversationState,
    ConversationStore,
    EventLedger,
    InMemoryConversationStore,
    InMemoryEventLedger,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoggedQuestion:
    at: datetime
    channel: str
    user: str  # raw id: the log implementation hashes it before storing
    question: str
    answer: Answer


class QuestionLog(Protocol):
    async def record(self, item: LoggedQuestion) -> None: ...


class NullQuestionLog:
    async def record(self, item: LoggedQuestion) -> None:
        return None


class AssistantProvider(Protocol):
    """Gives the assistant built from the last good knowledge (it may be swapped by a reload)."""

    @property
    def assistant(self) -> Assistant: ...


class AssistantService:
    def __init__(
        self,
        provider: AssistantProvider,
        *,
        conversations: ConversationStore | None = None,
        ledger: EventLedger | None = None,
        question_log: QuestionLog | None = None,
        clock: Clock = bangkok_today,
    ) -> None:
        self.provider = provider
        self.conversations = conversations or InMemoryConversationStore()
        self.ledger = ledger or InMemoryEventLedger()
        self.question_log = question_log or NullQuestionLog()
        self.clock = clock
        self._local_ledger: EventLedger = self.ledger if ledger is None else InMemoryEventLedger()

    async def ask(self, question: str, *, channel: str, user: str) -> Answer:
        """Answer one question in the conversation (channel, user); never raises on bad input."""
        key = f"{channel}:{user}"
        state = await self._load_state(key)
        answer, new_state = self.provider.assistant.respond(question, state, self.clock())
        await self._save_state(key, new_state)
        await self._log(LoggedQuestion(datetime.now(timezone.utc), channel, user, question, answer))
        return answer

    async def claim_event(self, channel: str, event_id: str) -> bool:
        """True when this event id has not been processed before (by any instance sharing the ledger).

        If the shared ledger is unreachable, this instance's own memory decides: users still get answers,
        and only a redelivery that lands on another instance during the outage could be answered twice.
        """
        try:
            first = await self.ledger.claim(channel, event_id)
        except Exception:  # noqa: BLE001 - storage down: degrade, never drop the event
            log.warning("event ledger unavailable, de-duplicating in memory", exc_info=True,
                        extra={"channel": channel, "event_id": event_id})
            return await self._local_ledger.claim(channel, event_id)
        # Remember locally too, so a redelivery during a later outage is still recognised here.
        await self._local_ledger.claim(channel, event_id)
        return first

    # Storage failures must not stop answers going out: the conversation just loses its context.
    async def _load_state(self, key: str) -> ConversationState | None:
        try:
            return await self.conversations.load(key)
        except Exception:  # noqa: BLE001 - any storage failure degrades to a fresh conversation
            log.warning("conversation load failed", exc_info=True, extra={"conversation": key})
            return None

    async def _save_state(self, key: str, state: ConversationState) -> None:
        try:
            await self.conversations.save(key, state)
        except Exception:  # noqa: BLE001
            log.warning("conversation save failed", exc_info=True, extra={"conversation": key})

    async def _log(self, item: LoggedQuestion) -> None:
        try:
            await self.question_log.record(item)
        except Exception:  # noqa: BLE001
            log.warning("question log write failed", exc_info=True)

