"""What a conversation remembers between turns, and where that memory is kept."""

from __future__ import annotations

import time
from typing import Protocol

from pydantic import BaseModel, Field

from bot.answer import AnswerKind
from bot.frames import Frame


class ConversationState(BaseModel):
    """Context for follow-ups ("แล้วปี 67 ล่ะ") and the guided project check."""

    frame: Frame | None = None  # the last answer's frame: what follow-ups resolve against
    last_kind: AnswerKind | None = None
    fiscal_year: int | None = None
    guideline: int | None = None
    entry_id: str | None = None
    # Guided check ("โครงการเราขอได้ไหม"): the step we wait on and what was collected so far.
    flow: str | None = None
    flow_step: str | None = None
    project_description: str | None = None
    updated_at: float = Field(default_factory=time.time)


class ConversationStore(Protocol):
    """Conversation state per conversation key (channel + user id, or the console's session)."""

    async def load(self, key: str) -> ConversationState | None: ...

    async def save(self, key: str, state: ConversationState) -> None: ...


class EventLedger(Protocol):
    """Remembers processed webhook event ids so a redelivered event is answered once."""

    async def claim(self, channel: str, event_id: str) -> bool:
        """True the first time (channel, event_id) is claimed, False for every later claim."""
        ...


class InMemoryConversationStore:
    """Process-local store with expiry: for the CLI and single-instance tests."""

    def __init__(self, ttl_seconds: float = 1800.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._states: dict[str, ConversationState] = {}

    async def load(self, key: str) -> ConversationState | None:
        state = self._states.get(key)
        if state is None or time.time() - state.updated_at > self._ttl:
            self._states.pop(key, None)
            return None
        return state

    async def save(self, key: str, state: ConversationState) -> None:
        if len(self._states) >= self._max and key not in self._states:
            oldest = min(self._states, key=lambda k: self._states[k].updated_at)
            del self._states[oldest]
        self._states[key] = state.model_copy(update={"updated_at": time.time()})


class InMemoryEventLedger:
    def __init__(self, ttl_seconds: float = 86_400.0, max_entries: int = 100_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._seen: dict[tuple[str, str], float] = {}

    async def claim(self, channel: str, event_id: str) -> bool:
        now = time.time()
        key = (channel, event_id)
        seen_at = self._seen.get(key)
        if seen_at is not None and now - seen_at < self._ttl:
            return False
        if len(self._seen) >= self._max:
            cutoff = now - self._ttl
            self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
            if len(self._seen) >= self._max:  # all fresh: drop the oldest half rather than grow without bound
                for k in sorted(self._seen, key=self._seen.__getitem__)[: self._max // 2]:
                    del self._seen[k]
        self._seen[key] = now
        return True
