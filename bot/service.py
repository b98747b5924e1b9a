"""The one entry point every channel calls: question in, Answer out, with memory and a log.

Channels (handlers/) own transport; this owns everything that is the same on every channel:
the current knowledge, conversation state, event de-duplication and the question log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol, TypeVar

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

T = TypeVar("T")

# A database that stops answering (a network partition, a fail-over) must not hold answers up: without a
# bound each message would wait out several connect timeouts. A storage call that takes longer than this is
# abandoned (the answer goes out without it), and storage is then skipped for a short while so the next
# users do not wait either. Fast failures (connection refused) need no pause: they cost nothing.
STORAGE_TIMEOUT = 3.0
STORAGE_PAUSE_AFTER_TIMEOUT = 5.0


class StorageSkipped(Exception):
    """Storage timed out a moment ago and is not being tried again yet."""


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
        storage_timeout: float = STORAGE_TIMEOUT,
        storage_pause: float = STORAGE_PAUSE_AFTER_TIMEOUT,
    ) -> None:
        self.provider = provider
        self.conversations = conversations or InMemoryConversationStore()
        self.ledger = ledger or InMemoryEventLedger()
        self.question_log = question_log or NullQuestionLog()
        self.clock = clock
        self._local_ledger: EventLedger = self.ledger if ledger is None else InMemoryEventLedger()
        self.storage_timeout = storage_timeout
        self.storage_pause = storage_pause
        self._storage_paused_until = 0.0  # time.monotonic()
        self._conversation_locks = _KeyedLocks()

    async def ask(self, question: str, *, channel: str, user: str) -> Answer:
        """Answer one question in the conversation (channel, user); never raises on bad input."""
        key = f"{channel}:{user}"
        # One question of a conversation at a time: a quick "แล้วปี 67 ล่ะ" arriving in its own webhook must
        # see the state the previous question saved, not race it.
        async with self._conversation_locks.hold(key):
            state = await self._load_state(key)
            answer, new_state = self.provider.assistant.respond(question, state, self.clock())
            await self._save_state(key, new_state)
        await self._log(LoggedQuestion(datetime.now(timezone.utc), channel, user, question, answer))
        return answer

    async def answer(
        self, question: str, state: ConversationState | None, *, channel: str, user: str
    ) -> tuple[Answer, ConversationState | None]:
        """One turn of a conversation whose state the caller keeps: the message pipeline loads and saves it in the
        transactions that also hold the event (handlers/pipeline/). Logged like `ask`. A None state returned means
        "leave the stored state as it was"."""
        answer, new_state = self.provider.assistant.respond(question, state, self.clock())
        await self._log(LoggedQuestion(datetime.now(timezone.utc), channel, user, question, answer))
        return answer, new_state

    async def claim_event(self, channel: str, event_id: str) -> bool:
        """True when this event id has not been processed before (by any instance sharing the ledger).

        If the shared ledger is unreachable, this instance's own memory decides: users still get answers,
        and only a redelivery that lands on another instance during the outage could be answered twice.
        """
        try:
            first = await self._bounded(lambda: self.ledger.claim(channel, event_id))
        except Exception as exc:  # noqa: BLE001 - storage down: degrade, never drop the event
            log.warning(
                "event ledger unavailable, de-duplicating in memory",
                exc_info=_trace(exc),
                extra={"channel": channel, "event_id": event_id},
            )
            return await self._local_ledger.claim(channel, event_id)
        if self._local_ledger is self.ledger:  # no shared ledger: the claim above was the local one
            return first
        # Remember locally too, so a redelivery during a later outage is still recognised here; and an event
        # this instance handled while the ledger was down (so it never reached the ledger) stays a duplicate.
        new_here = await self._local_ledger.claim(channel, event_id)
        return first and new_here

    async def _bounded(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one storage call within `storage_timeout`; raises StorageSkipped while storage is paused."""
        if time.monotonic() < self._storage_paused_until:
            raise StorageSkipped("storage timed out recently; skipped for now")
        try:
            return await asyncio.wait_for(call(), self.storage_timeout)
        except TimeoutError:
            # The thread running the call may stay blocked; nobody waits for it any more.
            self._storage_paused_until = time.monotonic() + self.storage_pause
            raise

    # Storage failures must not stop answers going out: the conversation just loses its context.
    async def _load_state(self, key: str) -> ConversationState | None:
        try:
            return await self._bounded(lambda: self.conversations.load(key))
        except Exception as exc:  # noqa: BLE001 - any storage failure degrades to a fresh conversation
            log.warning("conversation load failed", exc_info=_trace(exc), extra={"conversation": _redact(key)})
            return None

    async def _save_state(self, key: str, state: ConversationState) -> None:
        try:
            await self._bounded(lambda: self.conversations.save(key, state))
        except Exception as exc:  # noqa: BLE001
            log.warning("conversation save failed", exc_info=_trace(exc), extra={"conversation": _redact(key)})

    async def _log(self, item: LoggedQuestion) -> None:
        try:
            await self._bounded(lambda: self.question_log.record(item))
        except Exception as exc:  # noqa: BLE001
            log.warning("question log write failed", exc_info=_trace(exc))


class _KeyedLocks:
    """One asyncio lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def _redact(key: str) -> str:
    """A conversation key fit for logs: the channel, and a short hash instead of the user id (PDPA)."""
    channel, _, user = key.partition(":")
    return f"{channel}:{hashlib.sha256(user.encode()).hexdigest()[:12]}"


def _trace(exc: BaseException) -> bool:
    """A traceback for real failures; none for the expected ones (a timeout, a paused store)."""
    return not isinstance(exc, (StorageSkipped, TimeoutError))
