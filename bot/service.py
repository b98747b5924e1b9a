"""The one entry point every channel calls: question in, Answer out, with memory and a log.

Channels (handlers/) own transport; this owns everything that is the same on every channel:
the current knowledge, conversation state, event de-duplication and the question log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol, TypeVar

from bot.answer import Answer, AnswerKind
from bot.assistant import Assistant
from bot.clock import Clock, bangkok_today
from bot.conversation import (
    ConversationState,
    ConversationStore,
    EventLedger,
    InMemoryConversationStore,
    InMemoryEventLedger,
)
from bot.privacy import DEV_SALT, mask_personal_data, redact_user
from bot.thai import MAX_TEXT_CHARS, is_mostly_english
from bot.workers import ANSWERS, WorkerPool

log = logging.getLogger(__name__)

T = TypeVar("T")

# A database that stops answering (a network partition, a fail-over) must not hold answers up: without a
# bound each message would wait out several connect timeouts. A storage call that takes longer than this is
# abandoned (the answer goes out without it), and storage is then skipped for a short while so the next
# users do not wait either. Fast failures (connection refused) need no pause: they cost nothing.
STORAGE_TIMEOUT = 3.0
STORAGE_PAUSE_AFTER_TIMEOUT = 5.0
# Answering runs in a worker thread, so a costly question never holds the event loop (other users' webhooks,
# /healthz). Inputs are bounded (length, combining marks), so real questions take milliseconds; the budget is
# the safety net: past it the user gets a polite "too complex" answer and the conversation is left as it was.
ANSWER_TIME_BUDGET = 2.0

TOO_COMPLEX_TEXT = "ขออภัยค่ะ คำถามนี้ยาวหรือซับซ้อนเกินกว่าที่ตอบได้ในครั้งเดียว กรุณาถามทีละเรื่องด้วยข้อความที่สั้นลงนะคะ"
TOO_COMPLEX_TEXT_EN = "Sorry, that question is too long or complex to answer at once. Please ask one thing at a time."


class StorageSkipped(Exception):
    """Storage timed out a moment ago and is not being tried again yet."""


@dataclass(frozen=True)
class LoggedQuestion:
    at: datetime
    channel: str
    user: str  # raw id: the log implementation hashes it before storing
    question: str  # already masked (phone, ID and e-mail numbers replaced) and bounded
    answer: Answer


def prepare_question(text: str) -> str:
    """What the service keeps of a user's question: bounded in length, personal numbers masked.

    Applied first, before the question reaches the assistant, the conversation state or any log."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return mask_personal_data(text[:MAX_TEXT_CHARS])


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
        answer_budget: float = ANSWER_TIME_BUDGET,
        answer_pool: WorkerPool = ANSWERS,
        user_salt: str = DEV_SALT,
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
        self.answer_budget = answer_budget
        self.answer_pool = answer_pool
        self.user_salt = user_salt

    async def ask(self, question: str, *, channel: str, user: str, remember: bool = True) -> Answer:
        """Answer one question in the conversation (channel, user); never raises on bad input.

        `remember=False`: a one-off question (the JSON API without a session) that reads and writes no
        conversation state, so it leaves nothing behind but its question-log row."""
        question = prepare_question(question)
        key = f"{channel}:{user}"
        # One question of a conversation at a time: a quick "แล้วปี 67 ล่ะ" arriving in its own webhook must
        # see the state the previous question saved, not race it.
        async with self._conversation_locks.hold(key):
            state = await self._load_state(key) if remember else None
            answer, new_state = await self._respond(question, state, key)
            if remember and new_state is not None:
                await self._save_state(key, new_state)
        await self._log(LoggedQuestion(datetime.now(timezone.utc), channel, user, question, answer))
        return answer

    async def welcome(self) -> Answer:
        """The greeting a new console page shows: no state, no question-log row (a page load is not a question)."""
        answer, _ = await self.answer_pool.run(self.provider.assistant.respond, "สวัสดี", None, self.clock())
        return answer

    async def _respond(
        self, question: str, state: ConversationState | None, key: str
    ) -> tuple[Answer, ConversationState | None]:
        """Run the assistant in the answer pool; the budget counts from when a worker starts the question
        (time queued behind other questions is not the question's fault). None state: leave it unchanged."""
        loop = asyncio.get_running_loop()
        assistant, today = self.provider.assistant, self.clock()
        # One future and one timer per question (this is every message's path: no extra tasks or shields). The
        # timer starts with no deadline; the worker sets it when it picks the question up.
        budget = asyncio.timeout(None)
        waiting = [True]  # False once the answer (or the timeout) is in: the budget is then left alone

        def start_budget(deadline: float) -> None:
            if waiting[0]:
                budget.reschedule(deadline)

        def job() -> tuple[Answer, ConversationState]:
            loop.call_soon_threadsafe(start_budget, loop.time() + self.answer_budget)
            return assistant.respond(question, state, today)

        try:
            async with budget:
                try:
                    return await self.answer_pool.run(job)
                finally:
                    waiting[0] = False
        except TimeoutError:
            # The worker thread cannot be stopped; it finishes on its own and its result is dropped.
            log.warning(
                "answer over its time budget",
                extra={"conversation": self._redact(key), "budget_s": self.answer_budget, "chars": len(question)},
            )
            english = is_mostly_english(question)
            text = TOO_COMPLEX_TEXT_EN if english else TOO_COMPLEX_TEXT
            return Answer(kind=AnswerKind.FALLBACK, text=text, confidence=0.0, language="en" if english else "th"), None

    async def answer(
        self, question: str, state: ConversationState | None, *, channel: str, user: str
    ) -> tuple[Answer, ConversationState | None]:
        """One turn of a conversation whose state the caller keeps: the message pipeline loads and saves it in the
        transactions that also hold the event (handlers/pipeline/). Logged like `ask`. A None state returned means
        "leave the stored state as it was"."""
        question = prepare_question(question)
        answer, new_state = await self._respond(question, state, f"{channel}:{user}")
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
            async with asyncio.timeout(self.storage_timeout):  # no task per call, unlike wait_for
                return await call()
        except TimeoutError:
            # The thread running the call may stay blocked; nobody waits for it any more.
            self._storage_paused_until = time.monotonic() + self.storage_pause
            raise

    # Storage failures must not stop answers going out: the conversation just loses its context.
    async def _load_state(self, key: str) -> ConversationState | None:
        try:
            return await self._bounded(lambda: self.conversations.load(key))
        except Exception as exc:  # noqa: BLE001 - any storage failure degrades to a fresh conversation
            log.warning("conversation load failed", exc_info=_trace(exc), extra={"conversation": self._redact(key)})
            return None

    async def _save_state(self, key: str, state: ConversationState) -> None:
        try:
            await self._bounded(lambda: self.conversations.save(key, state))
        except Exception as exc:  # noqa: BLE001
            log.warning("conversation save failed", exc_info=_trace(exc), extra={"conversation": self._redact(key)})

    def _redact(self, key: str) -> str:
        """A conversation key fit for logs: the channel, and a keyed pseudonym instead of the user id (PDPA)."""
        channel, _, user = key.partition(":")
        return f"{channel}:{redact_user(user, self.user_salt)}"

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


def _trace(exc: BaseException) -> bool:
    """A traceback for real failures; none for the expected ones (a timeout, a paused store)."""
    return not isinstance(exc, (StorageSkipped, TimeoutError))
