"""Subscriptions carried out, notifications made exactly once and sent through the message pipeline (issue 11).

- **Subscribing.** The pipeline hands over every event that asks for an action (a LINE postback, a Telegram button
  or command, an unfollow) and every answer that asks for one ("แจ้งเตือนเมื่อปีงบ 2571 เปิดรับ"): here the reply
  is composed (bot/answers/subscription.py) and the write returned, which the pipeline commits with the reply.
- **Notifying.** After every knowledge load (start-up, file watch, POST /admin/reload) and once a minute, the due
  notifications (bot/subscriptions.py: a pure function of knowledge, today and what was notified) are created,
  each in one transaction with its claim, its batches and their outbox rows. The pipeline delivers them like
  answers: stored retry keys, retries, resumption after a restart, one instance per lane.
- **Counting.** A batch's row says pending / delivered / failed; the pipeline reports each finished message here
  (hooks.finished). A Telegram 403 (the bot blocked) deletes that person's subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot.answer import ActionKind, Answer, SubscriptionAction
from bot.answers import subscription as say
from bot.answers.subscription import Speech
from bot.clock import Clock
from bot.knowledge.loader import KnowledgeBase
from bot.privacy import redact_user
from bot.storage.direct import Tx
from bot.subscriptions import Due, NotificationKind, due_notifications, subscribable
from bot.workers import ADMIN
from handlers.logs import ThrottledWarnings
from handlers.notifications import store
from handlers.pipeline import (
    FORGET,
    Effect,
    FailureReason,
    InboundEvent,
    OutboxMessage,
    Outgoing,
    PushBatch,
)
from handlers.pipeline.pipeline import unprompted_message

if TYPE_CHECKING:
    from handlers.channel import AppContext
    from handlers.pipeline import Pipeline

log = logging.getLogger(__name__)

T = TypeVar("T")

TICK_SECONDS = 60.0  # how often openings and reminders are looked for (the date may have changed)
LANGUAGES = ("th", "en")
CHANNELS = ("line", "telegram")
MAX_ANNOUNCEMENT_CHARS = 3_000  # fits LINE (5,000) and Telegram (4,096) with the heading and the footer


class Pusher(Protocol):
    """What a channel adapter provides for notifications."""

    name: str

    def render_push(self, answer: Answer) -> Outgoing: ...

    def push_batches(self, outgoing: Outgoing, recipients: Sequence[str]) -> list[PushBatch]: ...


@dataclass(frozen=True)
class Created:
    id: str
    recipients: dict[str, int]
    preview: str = ""  # the Thai text (what the admin page shows before sending)


class Notifications:
    """The pipeline's hooks (PipelineHooks) and the notifier, for one app."""

    def __init__(self, ctx: AppContext, pipeline: Pipeline, clock: Clock) -> None:
        self.ctx = ctx
        self.pipeline = pipeline
        self.clock = clock
        self.salt = ctx.settings.user_hash_salt
        self.reminder_days = ctx.settings.reminder_day_list
        self._pushers: dict[str, Pusher] = {}
        self._blocked_on_forbidden: set[str] = set()  # channels whose 403 means "the user blocked the bot"
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._warnings = ThrottledWarnings(log, every=300.0)

    def register(self, adapter: Any) -> None:
        """A started channel that can push (render_push, push_batches)."""
        if hasattr(adapter, "render_push") and hasattr(adapter, "push_batches"):
            self._pushers[adapter.name] = adapter
        if getattr(adapter, "forbidden_means_blocked", False):
            self._blocked_on_forbidden.add(adapter.name)

    # --- the pipeline's hooks ------------------------------------------------------------------------------------

    async def act(self, event: InboundEvent, *, stored: bool) -> tuple[Answer | None, Effect | None]:
        if event.action == FORGET:  # LINE unfollow: every subscription goes, nothing is said
            if not stored:
                log.warning("an unfollow could not be recorded (database unreachable)", extra=self._who(event))
                return None, None
            channel, to, salt = event.channel, event.handle.to, self.salt
            return None, lambda tx: self._forgotten(event, store.unsubscribe(tx, channel, to, None, salt=salt))
        action = SubscriptionAction.decode(event.action or "")
        if action is None:  # a button of some other (newer or older) version: say how to do it in words
            return say.which_year(self._kb, Speech(voice=self._voice), self.clock()), None
        return await self.carry_out(
            event, Answer(kind="subscription", text="", confidence=1.0, action=action), stored=stored
        )

    async def carry_out(self, event: InboundEvent, answer: Answer, *, stored: bool) -> tuple[Answer, Effect | None]:
        action = answer.action
        assert action is not None
        kb, today = self._kb, self.clock()
        speech = Speech(answer.language, self._voice)
        if event.handle.group:
            return self._versioned(say.private_only(kb, speech)), None
        if not stored:
            return self._versioned(say.unavailable(kb, speech)), None
        channel, to, salt = event.channel, event.handle.to, self.salt
        current = await self.pipeline.storage(lambda tx, _: store.years_of(tx, channel, to, salt=salt), timeout=10.0)
        effect: Effect | None = None
        if action.kind is ActionKind.SUBSCRIBE:
            year = action.fiscal_year
            assert year is not None
            if not subscribable(kb, year, today):
                return self._versioned(say.not_subscribable(kb, speech, today, year)), None
            reply = say.subscribed(kb, speech, today, year, already=year in current, reminder_days=self.reminder_days)
            language, now = speech.language, time.time()
            info = kb.fiscal_years.get(year)
            known = info.window if info is not None else None
            # The confirmation names a known window: that counts as telling them (no window message for it later).
            told = (known.opens, known.closes) if known is not None and known.opens is not None else None

            def effect(tx: Tx) -> None:
                store.subscribe(tx, channel, to, year, language, salt=salt, now=now, told=told)

        else:
            year = action.fiscal_year
            removed = sorted(y for y in current if year is None or y == year)
            reply = say.unsubscribed(kb, speech, year, removed)

            def effect(tx: Tx) -> None:
                store.unsubscribe(tx, channel, to, year, salt=salt)

        log.info(
            "subscription changed",
            extra={**self._who(event), "action": action.encode(), "years_before": sorted(current)},
        )
        return self._versioned(reply), effect

    def finished(self, message: OutboxMessage, delivered: bool, reason: FailureReason | None) -> Effect | None:
        effects: list[Effect] = []
        if message.ref.startswith(store.REF_PREFIX):
            ref, now = message.ref, time.time()
            status = store.DELIVERED if delivered else store.FAILED
            why = None if delivered or reason is None else reason.value
            effects.append(lambda tx: store.batch_finished(tx, ref, status, why, now))
        if (
            not delivered
            and reason is FailureReason.FORBIDDEN
            and message.channel in self._blocked_on_forbidden
            and not _is_batch(message)
        ):
            channel, to, salt = message.channel, message.handle.to, self.salt
            log.info(
                "the user blocked the bot: subscriptions deleted", extra={"channel": channel, "event_id": message.ref}
            )
            effects.append(lambda tx: store.unsubscribe(tx, channel, to, None, salt=salt) and None)
        if not effects:
            return None

        def all_of(tx: Tx) -> None:
            for effect in effects:
                effect(tx)

        return all_of

    # --- the notifier --------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background notifier (on the app's loop); the knowledge's reloads wake it."""
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._stopping = False
        runtime = self.ctx.runtime
        if runtime is not None:
            runtime.listeners.append(self.knowledge_changed)
        self._task = asyncio.create_task(self._run(), name="notifier")

    async def stop(self) -> None:
        self._stopping = True
        runtime = self.ctx.runtime
        if runtime is not None and self.knowledge_changed in runtime.listeners:
            runtime.listeners.remove(self.knowledge_changed)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def knowledge_changed(self) -> None:
        """A new knowledge version is answering (called on the reloading thread)."""
        loop, changed = self._loop, self._changed
        if loop is not None and changed is not None and not loop.is_closed():
            loop.call_soon_threadsafe(changed.set)

    async def _run(self) -> None:
        windows = True  # start-up is a knowledge load
        assert self._changed is not None
        while not self._stopping:
            try:
                await self.check(windows=windows)
                windows = False
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be away: try again at the next tick
                self._warn("check", "could not look for due notifications; will retry", trace=True)
            try:
                await asyncio.wait_for(self._changed.wait(), TICK_SECONDS)
            except TimeoutError:
                pass
            if self._changed.is_set():
                self._changed.clear()
                windows = True

    async def check(self, *, windows: bool) -> list[Created]:
        """Create what is due now. `windows`: after a knowledge load (a window that changed is notified)."""
        kb, today = self._kb, self.clock()
        notified = await self.pipeline.storage(lambda tx, _: store.notified(tx))
        created = []
        dues = due_notifications(kb, today, notified, self.reminder_days, windows=windows)
        windows_now = {d.fiscal_year for d in dues if d.kind is NotificationKind.WINDOW}
        for year in await self.pipeline.storage(lambda tx, _: store.untold_years(tx)):
            last = notified.windows.get(year)
            info = kb.fiscal_years.get(year)
            current = info.window if info is not None else None
            if (
                year not in windows_now
                and last is not None
                and current is not None
                and (current.opens, current.closes) == (last.opens, last.closes)
                and subscribable(kb, year, today)
            ):  # someone subscribed while that window's notification was being made: they get it now
                dues.append(Due(NotificationKind.WINDOW, year, last.opens, last.closes, None))
        for due in dues:
            answers = {lang: self._compose(kb, due, Speech(lang, self._voice), today) for lang in LANGUAGES}
            made = await self._create(due.kind, due.fiscal_year, answers, today, due=due)
            if made is not None:
                created.append(made)
        return created

    def _compose(self, kb: KnowledgeBase, due: Due, speech: Speech, today: date) -> Answer:
        if due.kind is NotificationKind.WINDOW:
            return say.window_notification(kb, speech, today, due.fiscal_year, due.opens, due.closes)
        if due.kind is NotificationKind.OPENING:
            return say.opening_notification(kb, speech, today, due.fiscal_year, due.opens, due.closes)
        assert due.closes is not None
        return say.reminder_notification(kb, speech, today, due.fiscal_year, due.closes)

    async def announce(self, text: str, year: int | None, *, dry_run: bool) -> Created:
        """DGA's announcement to the subscribers of `year` (None: every subscriber, once each). A dry run counts the
        recipients and sends nothing (its id is empty)."""
        kb, today = self._kb, self.clock()
        answers = {lang: say.announcement(kb, Speech(lang, self._voice), today, text, year) for lang in LANGUAGES}
        preview = answers["th"].text
        if dry_run:
            counts = await self.read(lambda tx: store.recipient_counts(tx, year))
            return Created("", self._reachable(counts), preview)
        created = await self._create(NotificationKind.ANNOUNCEMENT, year, answers, today)
        assert created is not None  # an announcement has no dedupe key: it is always created
        return Created(created.id, created.recipients, preview)

    async def _create(
        self,
        kind: NotificationKind,
        year: int | None,
        answers: dict[str, Answer],
        today: date,
        *,
        due: Due | None = None,
    ) -> Created | None:
        """One notification, its batches and their outbox rows, in one transaction, unless it exists already."""
        notification_id = uuid.uuid4().hex
        rendered = {
            (channel, lang): pusher.render_push(answer.model_copy(update={"knowledge_version": self._kb.version}))
            for channel, pusher in self._pushers.items()
            for lang, answer in answers.items()
        }
        deadline_after = self.pipeline.policy.delivery_deadline
        salt, pushers = self.salt, self._pushers

        def op(tx: Tx, pipeline_store: Any) -> dict[str, int] | None:
            now = time.time()
            window = due if due is not None and due.kind is NotificationKind.WINDOW else None
            if window is not None:
                # Those not told of these dates yet: everyone after a change; after that, whoever subscribed while
                # it was being made with a confirmation written before the window was known (a catch-up).
                claimed = store.claim_window(
                    tx, window.fiscal_year, window.opens, window.closes, today, notification_id
                )
                people = [
                    p
                    for p in store.not_told(tx, window.fiscal_year, window.opens, window.closes)
                    if p.channel in pushers
                ]
                if not claimed and not people:
                    return None  # everyone was told of these dates already
            else:
                people = [p for p in store.recipients(tx, year) if p.channel in pushers]
            counts: dict[str, int] = {}
            for p in people:
                counts[p.channel] = counts.get(p.channel, 0) + 1
            key = due.key if due is not None else None
            if not store.insert_notification(
                tx, notification_id, kind.value, year, key, answers["th"].text, today, now, counts
            ):
                return None  # another instance made it a moment ago
            batches: list[tuple[str, str, int]] = []
            for (channel, lang), outgoing in rendered.items():
                ids = [p.recipient for p in people if p.channel == channel and p.language == lang]
                if not ids:
                    continue
                for batch in pushers[channel].push_batches(outgoing, ids):
                    ref = f"{store.REF_PREFIX}{notification_id}:{len(batches)}"
                    message = unprompted_message(  # its retry key is stored here, before the first attempt
                        channel,
                        chat=batch.chat if batch.chat is not None else ref,  # a multicast: a lane of its own
                        to=batch.to,
                        parts=batch.parts,
                        ref=ref,
                        salt=salt,
                        deadline_after=deadline_after,
                    )
                    pipeline_store.insert_message(tx, message)
                    batches.append((ref, channel, batch.count))
            store.insert_batches(tx, notification_id, batches)
            if window is not None:
                store.mark_told(tx, window.fiscal_year, window.opens, window.closes, people)
            return counts

        counts = await self.pipeline.storage(op, timeout=60.0)
        if counts is None:
            return None
        self.pipeline.wake()
        self.ctx.metrics.notifications.labels(kind=kind.value).inc()
        log.info(
            "notification created",
            extra={"notification": notification_id, "kind": kind.value, "fiscal_year": year, "recipients": counts},
        )
        return Created(notification_id, self._reachable(counts))

    # --- reading (the admin page) ------------------------------------------------------------------------------

    async def read(self, fn: Callable[[Tx], T]) -> T:
        """A read on the admin threads, outside the pipeline's writer (a report must never hold up a webhook)."""
        db = self.ctx.db
        if db is None:
            raise RuntimeError("no database")
        return await ADMIN.run(_read, db, fn)

    def _reachable(self, counts: dict[str, int]) -> dict[str, int]:
        """Counts for the channels on here (a subscriber of a channel that is off gets nothing), each named."""
        return {channel: counts.get(channel, 0) if channel in self._pushers else 0 for channel in CHANNELS}

    @staticmethod
    def per_channel(counts: dict[str, int]) -> dict[str, int]:
        return {channel: counts.get(channel, 0) for channel in CHANNELS}

    def describe(self, row: store.NotificationRow) -> dict[str, Any]:
        """A notification for GET /admin/notifications: people reached per channel and state."""
        counts = {state: self.per_channel(getattr(row, state)) for state in ("delivered", "failed", "held", "pending")}
        return {
            "id": row.id,
            "kind": row.kind,
            "fiscal_year": row.fiscal_year,
            "day": row.day,
            "created_at": datetime.fromtimestamp(row.created_at, UTC).isoformat(timespec="seconds"),
            "text": row.text,
            "recipients": self.per_channel(row.recipients),
            **counts,
            "status": "pending" if any(sum(counts[s].values()) for s in ("held", "pending")) else "sent",
            "reasons": row.reasons,
        }

    # --- helpers -----------------------------------------------------------------------------------------------

    @property
    def _kb(self) -> KnowledgeBase:
        runtime = self.ctx.runtime
        assert runtime is not None
        return runtime.assistant.kb

    @property
    def _voice(self) -> Any:
        runtime = self.ctx.runtime
        assert runtime is not None
        return runtime.assistant.voice

    def _versioned(self, answer: Answer) -> Answer:
        return answer.model_copy(update={"knowledge_version": self._kb.version})

    def _who(self, event: InboundEvent) -> dict[str, str]:
        return {"channel": event.channel, "event_id": event.event_id, "user": redact_user(event.handle.to, self.salt)}

    def _forgotten(self, event: InboundEvent, rows: int) -> None:
        log.info("unfollowed: subscriptions deleted", extra={**self._who(event), "subscriptions": rows})

    def _warn(self, topic: str, message: str, *, trace: bool = False) -> None:
        self._warnings.warn(topic, message, trace=trace)


def _is_batch(message: OutboxMessage) -> bool:
    """A LINE multicast carries its recipients in its payload (a 403 there is about the channel, not a person)."""
    return any(isinstance(part.get("to"), list) for part in message.parts)


def _read(db: Any, fn: Callable[[Tx], T]) -> T:
    """`fn` on a pooled connection of the app's engine, outside any write transaction (SQLite: no write lock)."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            return fn(Tx(cursor, db.backend))
        finally:
            cursor.close()
    finally:
        try:
            raw.rollback()
        finally:
            raw.close()
