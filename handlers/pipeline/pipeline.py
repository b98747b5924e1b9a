"""One message pipeline for every channel: webhook -> durable inbox -> answer -> outbox -> delivery.

- **Accept.** The webhook's events are parsed by the channel's adapter; stale ones (older than
  BUDGETBOT_MAX_EVENT_AGE) are acknowledged and dropped; the rest are de-duplicated and committed to the inbox in
  one transaction before the 200. What got a 200 is in the database.
- **Lanes.** Work is ordered per chat (a "lane"): its events are answered one after the other and their answers
  delivered in that order. Each lane is owned by one instance at a time (see store.py); lanes run side by side.
- **Answer.** The service answers with the conversation state loaded with the lane; the new state, the outgoing
  message (with its retry key) and the removal of the event from the inbox are one transaction.
- **Deliver.** The adapter makes one API call per attempt; the pipeline retries what may succeed later with
  exponential backoff (capped) until the delivery deadline, counts every failure by reason, and logs each message
  that needed retries once, when it is finished. API calls in flight are bounded on their own (`max_deliveries`),
  apart from answering, so a slow API only means more calls in flight.
- **Faults.** kill -9: the lanes' leases run out within `lease_seconds` and whoever claims them (a restarted
  instance, another one) resumes from the database; a message resumed this way is treated as possibly sent.
  SIGTERM: stop taking work, let calls in flight finish, give the lanes back, leave the rest stored. Database
  unreachable: events are answered from memory (de-duplicated per instance), as before the inbox existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from bot.answer import Answer
from bot.conversation import ConversationState, InMemoryEventLedger
from bot.privacy import hash_user
from bot.service import prepare_question
from bot.storage.direct import DirectDatabase, Tx
from bot.storage.stores import event_ttl
from bot.workers import STORAGE
from handlers.logs import ThrottledWarnings
from handlers.pipeline.adapter import ChannelAdapter, Effect, MalformedWebhook, PipelineHooks
from handlers.pipeline.http import BodyTooLarge, ClientDisconnect, Rejection, read_body
from handlers.pipeline.model import (
    MAYBE_SENT,
    RETRYABLE,
    Attempt,
    EventOutcome,
    FailureReason,
    InboundEvent,
    OutboxMessage,
    Outgoing,
    ReplyHandle,
    SendStatus,
)
from handlers.pipeline.policy import DeliveryPolicy
from handlers.pipeline.store import (
    Committer,
    InboxItem,
    LaneWork,
    PendingCounts,
    PipelineStore,
    Refill,
    StorageTimeout,
    conversation_key,
)

if TYPE_CHECKING:
    from handlers.channel import AppContext

log = logging.getLogger(__name__)

T = TypeVar("T")

ERROR_NOTICE = "error"  # the notice an adapter renders when answering failed
GAUGE_SECONDS = 5.0
TIDY_EVERY = 600  # heartbeats between clean-ups of old instances and callbacks
CLAIM_BATCH = 64  # lanes claimed per transaction (the scheduler claims again at once when it got them all)


class LaneLost(Exception):
    """Another instance owns this lane now (our heartbeat lapsed): stop working on it, it is in good hands."""


class Stopping(Exception):
    """The pipeline is shutting down: leave the rest of this lane stored for the next start."""


@dataclass
class _Lane:
    key: str
    items: deque[InboxItem | OutboxMessage] = field(default_factory=deque)
    states: dict[str, ConversationState | None] = field(default_factory=dict)
    persistent: bool = True  # claimed in the database; False: held in memory only (the database was unreachable)
    known: set[tuple[str, int]] = field(default_factory=set)  # rows already taken: ("in"|"out", id)
    task: asyncio.Task[None] | None = None

    def add(self, work: LaneWork) -> None:
        for message in work.outbox:
            assert message.id is not None
            if ("out", message.id) not in self.known:
                self.known.add(("out", message.id))
                self.items.append(message)
        for item in work.inbox:
            assert item.id is not None
            if ("in", item.id) not in self.known:
                self.known.add(("in", item.id))
                self.items.append(item)
        self.states.update(work.states)


class Pipeline:
    def __init__(self, ctx: AppContext, policy: DeliveryPolicy, *, instance_id: str | None = None) -> None:
        self.ctx = ctx
        self.policy = policy
        self.metrics = ctx.metrics
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self._adapters: dict[str, ChannelAdapter] = {}
        self.hooks: PipelineHooks | None = None  # set by the app: subscriptions and notifications (issue 11)
        self._lanes: dict[str, _Lane] = {}
        # Lanes that ended abnormally while perhaps still ours: looked at again by the scheduler.
        self._orphans: set[str] = set()
        self._local_seen = InMemoryEventLedger(ttl_seconds=max(policy.max_event_age, 86_400.0))
        self._direct: DirectDatabase | None = None
        self.store: PipelineStore | None = None
        self.committer: Committer | None = None
        self._calls: asyncio.Semaphore | None = None
        self._answering: asyncio.Semaphore | None = None
        self._webhooks_in_flight = 0
        self._quiet: asyncio.Event | None = None  # set when the last webhook in flight is done
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._started = False
        self._storage_paused_until = 0.0  # time.monotonic()
        self._beat_at = 0.0  # time.monotonic() of the last heartbeat that went through
        self._warnings = ThrottledWarnings(log, every=30.0)

    # --- set-up -------------------------------------------------------------------------------------------

    def register(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.name] = adapter

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def start(self) -> None:
        """Open storage and start the writer, the heartbeat and the scheduler (on the app's event loop)."""
        db = self.ctx.db
        assert db is not None, "the database is opened before the pipeline starts"
        settings = self.ctx.settings
        self._direct = DirectDatabase(db)
        self.store = PipelineStore(
            self._direct,
            salt=settings.user_hash_salt,
            conversation_ttl=timedelta(minutes=settings.conversation_ttl_minutes),
            event_ttl=event_ttl(settings),
            instance_id=self.instance_id,
        )
        self.committer = Committer(self._direct)
        self._calls = asyncio.Semaphore(self.policy.max_deliveries)
        self._answering = asyncio.Semaphore(self.policy.max_answering)
        self._wake, self._stop, self._quiet = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._stopping, self._started = False, True
        self._tasks = [
            asyncio.create_task(self.committer.run(), name="pipeline-writer"),
            asyncio.create_task(self._heartbeat_loop(), name="pipeline-heartbeat"),
            asyncio.create_task(self._schedule_loop(), name="pipeline-scheduler"),
            asyncio.create_task(self._gauge_loop(), name="pipeline-gauges"),
        ]

    async def stop(self) -> None:
        """Stop taking work; let calls in flight finish (bounded); give the lanes back; keep the rest stored."""
        if not self._started:
            return
        self._stopping = True
        assert self._stop is not None and self._wake is not None
        self._stop.set()
        self._wake.set()
        running = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if running:
            _, unfinished = await asyncio.wait(running, timeout=self.policy.shutdown_seconds)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            if unfinished:
                log.warning("pipeline stopped with calls still in flight", extra={"count": len(unfinished)})
        released = 0
        if self.committer is not None and self.store is not None:
            store = self.store
            try:
                released = await self.committer.submit(store.retire, timeout=3.0)
            except Exception:  # noqa: BLE001 - the leases run out by themselves
                log.warning("could not give the lanes back at shutdown; they are free once the lease runs out")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._direct is not None:
            await STORAGE.run(self._direct.close)
        self._started = False
        committer = self.committer
        log.info(
            "pipeline stopped",
            extra={
                "lanes_released": released,
                "batches": committer.batches if committer else 0,
                "operations": committer.operations if committer else 0,
            },
        )

    # --- the webhook ------------------------------------------------------------------------------------------

    async def webhook(self, adapter: ChannelAdapter, request: Request) -> Response:
        """The whole webhook for any channel: checks, parsing, accepting, the response and its metrics."""
        started = time.perf_counter()
        outcome = "ok"
        self._webhooks_in_flight += 1
        try:
            response, outcome = await self._webhook(adapter, request)
            return response
        finally:
            self._webhooks_in_flight -= 1
            if not self._webhooks_in_flight and self._quiet is not None:
                self._quiet.set()
            self.metrics.webhooks.labels(channel=adapter.name, outcome=outcome).inc()
            self.metrics.webhook_latency.labels(channel=adapter.name).observe(time.perf_counter() - started)

    async def _webhook(self, adapter: ChannelAdapter, request: Request) -> tuple[Response, str]:
        received_at = time.time()
        extra: dict[str, Any] = {"channel": adapter.name}
        if self._stopping or not self._started:
            # A 5xx makes the channel resend: the next instance (or this one, restarted) takes it.
            return Rejection(503, "unavailable", "the service is starting or shutting down; retry later").response(), (
                "unavailable"
            )
        rejection = await adapter.ready()
        if rejection is not None:
            return rejection.response(), rejection.outcome
        try:
            body = await read_body(request, self.ctx.settings.max_body_bytes)
        except BodyTooLarge:
            log.warning("webhook body too large", extra=extra)
            message = f"request body larger than {self.ctx.settings.max_body_bytes} bytes"
            return Rejection(413, "too_large", message).response(), "too_large"
        except ClientDisconnect:
            return Rejection(400, "malformed", "incomplete request").response(), "malformed"
        rejection = adapter.authenticate(request.headers, body)
        if rejection is not None:
            log.warning("webhook rejected", extra={**extra, "reason": rejection.message, "status": rejection.status})
            return rejection.response(), rejection.outcome
        try:
            parsed = await adapter.parse(body, received_at)
        except MalformedWebhook as exc:
            log.warning("webhook rejected: malformed", extra={**extra, "error": str(exc)})
            return Rejection(400, "malformed", str(exc)).response(), "malformed"
        for ignored in parsed.ignored:
            self.metrics.events.labels(channel=ignored.channel, outcome=ignored.outcome.value).inc()
            log.debug("event not answered", extra={**extra, "event_id": ignored.event_id, "why": ignored.detail})
        outcomes = await self.accept(parsed.events)
        if outcomes and all(o is EventOutcome.DUPLICATE for o in outcomes):
            return JSONResponse({"ok": True, "duplicate": True}), "duplicate"
        return JSONResponse({"ok": True}), "ok"

    # --- accepting --------------------------------------------------------------------------------------------

    async def accept(self, events: list[InboundEvent]) -> list[EventOutcome]:
        """Store the events (answered later, in order), or say why not. Returns once they are committed."""
        now = time.time()
        outcomes: list[EventOutcome | None] = []
        fresh: list[InboundEvent] = []
        salt = self.ctx.settings.user_hash_salt
        for event in events:
            # The adapter names the chat; what is stored is a keyed hash of it (PDPA).
            event = replace(event, lane=lane_key(event.channel, event.lane, salt))
            age = now - event.occurred_at
            if age > self.policy.max_event_age:
                log.info(
                    "stale event acknowledged, not answered",
                    extra={"channel": event.channel, "event_id": event.event_id, "age_seconds": round(age)},
                )
                outcomes.append(EventOutcome.STALE)
            elif not await self._local_seen.claim(event.channel, event.event_id):
                # This instance has it already (maybe handled in memory while the database was away).
                self._log_duplicate(event)
                outcomes.append(EventOutcome.DUPLICATE)
            else:
                if event.question is not None:  # bounded and masked before it is stored anywhere (PDPA)
                    event = replace(event, question=prepare_question(event.question))
                fresh.append(event)
                outcomes.append(None)
        stored = await self._store_events(fresh)
        results = iter(stored)
        final: list[EventOutcome] = []
        for outcome, event in zip(outcomes, _fill(outcomes, fresh), strict=True):
            if outcome is None:
                outcome = next(results)
                if outcome is EventOutcome.DUPLICATE and event is not None:
                    self._log_duplicate(event)
            final.append(outcome)
        for event, outcome in zip(events, final, strict=True):
            self.metrics.events.labels(channel=event.channel, outcome=outcome.value).inc()
        return final

    async def _store_events(self, events: list[InboundEvent]) -> list[EventOutcome]:
        if not events:
            return []
        store, committer = self.store, self.committer
        if store is not None and committer is not None and time.monotonic() >= self._storage_paused_until:
            try:
                ids = await committer.submit(lambda tx: store.accept(tx, events), timeout=self.policy.accept_timeout)
            except StorageTimeout:
                self._storage_paused_until = time.monotonic() + self.policy.storage_pause
                self._warn("storage-slow", "storage too slow: events answered from memory for now (not durable)")
            except Exception:  # noqa: BLE001 - unreachable: never drop an event over it
                self._warn("storage-down", "storage unavailable: events answered from memory (not durable)", trace=True)
            else:
                assert self._wake is not None
                self._wake.set()
                return [EventOutcome.ACCEPTED if i is not None else EventOutcome.DUPLICATE for i in ids]
        else:
            self._warn("storage-slow", "storage paused after a timeout: events answered from memory (not durable)")
        for event in events:
            self._enqueue_in_memory(event)
        return [EventOutcome.IN_MEMORY] * len(events)

    def _log_duplicate(self, event: InboundEvent) -> None:
        log.info(
            "event already handled, skipped",
            extra={"channel": event.channel, "event_id": event.event_id, "redelivery": event.redelivery},
        )

    def _enqueue_in_memory(self, event: InboundEvent) -> None:
        lane = self._lanes.get(event.lane)
        if lane is None:
            lane = _Lane(event.lane, persistent=False)
            self._lanes[event.lane] = lane
            lane.items.append(InboxItem(None, event))
            self._run(lane)
        else:
            lane.items.append(InboxItem(None, event))

    async def enqueue(self, channel: str, to: str, outgoing: Outgoing, *, ref: str) -> int:
        """Store a message for `to` (a raw chat id) that answers no event: a notification (issue 11). It is
        delivered like an answer: in order with that chat's other messages, pushed with the retry key stored here
        (before the first attempt), retried until the delivery deadline, exactly once across restarts and
        instances. Returns its outbox id; raises when the database is unreachable (nothing is held in memory)."""
        message = unprompted_message(
            channel,
            chat=to,
            to=to,
            parts=outgoing.parts,
            ref=ref,
            salt=self.ctx.settings.user_hash_salt,
            deadline_after=self.policy.delivery_deadline,
        )
        message_id = await self._db(lambda tx, store: store.insert_message(tx, message), timeout=10.0)
        assert self._wake is not None
        self._wake.set()
        return message_id

    # --- scheduling -------------------------------------------------------------------------------------------

    async def _schedule_loop(self) -> None:
        """Claim lanes with work whenever woken (events accepted here, a lane finished) or every poll."""
        assert self._wake is not None
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), self.policy.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._stopping:
                return
            # A bounded claim: a thousand lanes with their work in one transaction would hold the loop up.
            free = min(CLAIM_BATCH, self.policy.max_lanes - len(self._lanes))
            if free <= 0 or not self._beat_at or time.monotonic() < self._storage_paused_until:
                continue  # (no claims before our first heartbeat: others would see our lanes as ownerless)
            await self._adopt_orphans()
            try:
                works = await self._db(lambda tx, store, n=free: store.claim(tx, n, self.policy.lease_seconds))
            except Exception:  # noqa: BLE001 - the database may be away; the next poll tries again
                self._warn("claim", "could not look for pending work; will retry", trace=True)
                continue
            for work in works:
                self._take(work)
            if len(works) == free:
                self._wake.set()  # there may be more

    async def _adopt_orphans(self) -> None:
        for key in list(self._orphans):
            if key in self._lanes:
                continue
            try:
                refill = await self._db(lambda tx, store, key=key: store.release_or_refill(tx, key, set()))
            except Exception:  # noqa: BLE001 - next time
                return
            self._orphans.discard(key)
            if refill.work is not None:
                self._take(refill.work)

    def _take(self, work: LaneWork) -> None:
        lane = self._lanes.get(work.lane)
        if lane is not None:  # a memory lane for this chat is running: it carries on with the stored work
            lane.persistent = True
            lane.add(work)
            return
        lane = _Lane(work.lane)
        lane.add(work)
        self._lanes[work.lane] = lane
        self._run(lane)

    def _run(self, lane: _Lane) -> None:
        lane.task = asyncio.create_task(self._run_lane(lane))

    async def _run_lane(self, lane: _Lane) -> None:
        try:
            while not self._stopping:
                if not lane.items:
                    if not lane.persistent or not await self._refill(lane):
                        if not lane.items:  # nothing came in from memory meanwhile either
                            return
                        lane.persistent = False
                    continue
                item = lane.items[0]
                if isinstance(item, InboxItem):
                    answered = await self._answer(lane, item)
                    if answered is None:  # nothing to send (an unfollow): the event is done
                        lane.items.popleft()
                    else:
                        lane.items[0] = answered
                    continue
                if not await self._deliver(lane, item):
                    return  # stopping: the message stays stored
                lane.items.popleft()
                if item.id is None:
                    continue
                if lane.items or not lane.persistent:
                    await self._lane_op(lane, lambda tx, store, i=item.id: store.remove_message(tx, i))
                elif not await self._refill(lane, delivered=item.id):  # one transaction: remove, then let go
                    if not lane.items:
                        return
                    lane.persistent = False
        except (LaneLost, Stopping):
            pass
        except Exception:  # noqa: BLE001 - one lane's bug must not stop the others; its work stays stored
            log.exception("lane failed; its stored work is taken up again later", extra={"lane": lane.key})
            if lane.persistent:
                self._orphans.add(lane.key)
        finally:
            self._lanes.pop(lane.key, None)
            if self._wake is not None:
                self._wake.set()

    async def _refill(self, lane: _Lane, *, delivered: int | None = None) -> bool:
        """True when the lane has more stored work (now in `lane.items`); False when it was let go. `delivered`:
        a message just finished, removed from the outbox in the same transaction."""
        known = set(lane.known)

        def op(tx: Tx, store: PipelineStore) -> Refill:
            if delivered is not None:
                store.remove_message(tx, delivered)
            return store.release_or_refill(tx, lane.key, known)

        refill = await self._lane_op(lane, op)
        if refill.released:
            return False
        if refill.lost:
            raise LaneLost
        assert refill.work is not None
        lane.add(refill.work)
        if not lane.items:  # stored rows this lane has had already: should not happen; look again later
            self._orphans.add(lane.key)
            raise LaneLost
        return True

    # --- answering --------------------------------------------------------------------------------------------

    async def _answer(self, lane: _Lane, item: InboxItem) -> OutboxMessage | None:
        """The event's answer, stored in the outbox (with whatever it asked to be written); None when the event
        gets no reply (then it is taken out of the inbox here)."""
        event = item.event
        adapter = self._adapters.get(event.channel)
        if adapter is None:  # that channel is off in this instance: its work waits for one where it is on
            self._warn(f"off-{event.channel}", f"stored {event.channel} events wait: the channel is off here")
            raise LaneLost
        key = conversation_key(event.channel, event.conversation)
        new_state: ConversationState | None = None
        effect: Effect | None = None
        outgoing: Outgoing | None
        stored = item.id is not None and lane.persistent
        assert self._answering is not None
        # Answering and rendering are CPU work: one lane at a time, and after any webhook that is waiting (an
        # acknowledgement must never queue behind a backlog of answers; the backlog is stored and can wait).
        async with self._answering:
            if self._webhooks_in_flight:
                await self._quiet_moment()
            try:
                if event.action is not None:
                    reply, effect = await self._act(event, stored)
                    outgoing = None if reply is None else adapter.render(event, reply)
                elif event.question is not None:
                    started = time.perf_counter()
                    answer, new_state = await self.ctx.require_service().answer(
                        event.question, lane.states.get(key), channel=event.channel, user=event.conversation
                    )
                    if answer.action is not None and self.hooks is not None:  # "แจ้งเตือนเมื่อปีงบ 2571 เปิดรับ"
                        answer, effect = await self.hooks.carry_out(event, answer, stored=stored)
                    self.metrics.observe_answer(answer, time.perf_counter() - started)
                    outgoing = adapter.render(event, answer)
                else:
                    outgoing = adapter.render_notice(event, event.notice or "")
            except Exception:  # noqa: BLE001 - the user still gets a reply (an apology), the log gets the trace
                log.exception("answering failed", extra={"channel": event.channel, "event_id": event.event_id})
                self._count_failure(event.channel, FailureReason.ANSWER_FAILED)
                new_state, effect = None, None
                outgoing = adapter.render_notice(event, ERROR_NOTICE)
        if outgoing is None:
            if stored:
                assert item.id is not None

                def done(tx: Tx, store: PipelineStore, event_id: int = item.id) -> bool:
                    if not store.owns(tx, lane.key):
                        return False
                    if effect is not None:
                        effect(tx)
                    store.remove_event(tx, event_id)
                    return True

                if not await self._lane_op(lane, done):
                    raise LaneLost
            return None
        now = time.time()
        message = OutboxMessage(
            id=None,
            lane=lane.key,
            channel=event.channel,
            ref=event.event_id,
            handle=event.handle,
            parts=outgoing.parts,
            parts_done=0,
            retry_key=new_retry_key(),  # stored with the message, before the first attempt
            created_at=now,
            event_at=event.occurred_at,
            received_at=event.received_at,
            deadline=event.received_at + self.policy.delivery_deadline,
        )
        if new_state is not None:
            lane.states[key] = new_state
        if stored:
            callbacks = outgoing.callbacks

            def finish(tx: Tx, store: PipelineStore) -> int | None:
                outbox_id = store.finish(tx, item, message, new_state, callbacks)
                if outbox_id is not None and effect is not None:
                    effect(tx)  # e.g. the subscription, committed with the confirmation that says it is done
                return outbox_id

            outbox_id = await self._lane_op(lane, finish)
            if outbox_id is None:
                raise LaneLost
            message.id = outbox_id
            lane.known.add(("out", outbox_id))
        return message

    async def _act(self, event: InboundEvent, stored: bool) -> tuple[Answer | None, Effect | None]:
        if self.hooks is None:  # nobody carries actions out in this process: say nothing rather than guess
            self._warn("no-hooks", "an event asks for an action but nothing carries actions out here")
            return None, None
        return await self.hooks.act(event, stored=stored)

    async def _quiet_moment(self) -> None:
        """Wait until no webhook is being handled, or `answer_defer` seconds: under a burst, acknowledging comes
        first (the events are stored; they can wait), and answering still goes on, at least one a period."""
        assert self._quiet is not None
        self._quiet.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.policy.answer_defer):
                await self._quiet.wait()

    # --- delivering -------------------------------------------------------------------------------------------

    async def _deliver(self, lane: _Lane, message: OutboxMessage) -> bool:
        """Until delivered or given up (True), or the pipeline stops (False: it stays stored)."""
        adapter = self._adapters.get(message.channel)
        if adapter is None:
            raise LaneLost
        assert self._calls is not None
        failures = 0
        maybe_sent = message.resumed
        token_dead = False
        number = 0
        while True:
            wait = message.next_attempt_at - time.time()
            if wait > 0 and not await self._pause(wait):
                return False
            if self._stopping:
                return False
            if time.time() >= message.deadline and not _held(message):
                await self._give_up(lane, message, FailureReason.DEADLINE_PASSED)
                return True
            await self._fence(lane)
            pace = getattr(adapter, "pace", None)
            if pace is not None:  # the channel's own rate limit, waited for outside the bound on calls in flight
                await pace(message)
            number += 1
            attempt = Attempt(
                number=number,
                token_fresh=message.handle.token is not None
                and time.time() - message.event_at < self.policy.reply_token_seconds,
                maybe_sent=maybe_sent,
                token_dead=token_dead,
                timeout=self.policy.request_timeout,
            )
            async with self._calls:
                result = await adapter.send(message, attempt)
            for reason in result.counted:
                self._count_failure(message.channel, reason)
                message.reasons.append(reason.value)
            if result.status is SendStatus.DELIVERED:
                await self._delivered(lane, message, result.how)
                return True
            if result.status is SendStatus.PART_SENT:
                message.parts_done += 1
                failures, maybe_sent = 0, False
                if message.id is not None:
                    message_id, done = message.id, message.parts_done
                    await self._lane_op(lane, lambda tx, store, i=message_id, n=done: store.record_parts(tx, i, n))
                continue
            reason = result.reason or FailureReason.UNEXPECTED
            self._count_failure(message.channel, reason)
            message.reasons.append(reason.value)
            if reason in MAYBE_SENT:
                maybe_sent = True
            if result.retry_now:
                token_dead = True
                continue
            if reason not in RETRYABLE:
                await self._give_up(lane, message, reason)
                return True
            failures += 1
            message.attempts += 1
            delay = result.retry_after if result.retry_after is not None else self.policy.backoff(failures)
            message.next_attempt_at = time.time() + delay
            await self._record_failure(message, reason, result.detail)

    async def _record_failure(self, message: OutboxMessage, reason: FailureReason, detail: str = "") -> None:
        """Best effort: a restarted instance continues the backoff instead of starting it over. The reason (with its
        detail, e.g. why a batch is held) is what the admin page shows for a message still pending."""
        if message.id is None:
            return
        message_id, attempts, at = message.id, message.attempts, message.next_attempt_at
        why = f"{reason.value}: {detail}" if detail else reason.value
        try:
            await self._db(lambda tx, store: store.record_failure(tx, message_id, attempts, why, at))
        except Exception:  # noqa: BLE001 - only bookkeeping
            self._warn("record", "could not record a failed attempt", trace=True)

    async def _delivered(self, lane: _Lane, message: OutboxMessage, how: str) -> None:
        await self._finished(lane, message, True, None)
        self.metrics.deliveries.labels(channel=message.channel, outcome=how).inc()
        self.metrics.reply_latency.labels(channel=message.channel).observe(max(0.0, time.time() - message.received_at))
        if message.reasons:
            log.warning(
                "delivered after failed attempts",
                extra={
                    "channel": message.channel,
                    "event_id": message.ref,
                    "reasons": message.reasons,
                    "outcome": how,
                },
            )

    async def _give_up(self, lane: _Lane, message: OutboxMessage, reason: FailureReason) -> None:
        await self._finished(lane, message, False, reason)
        self.metrics.deliveries.labels(channel=message.channel, outcome="gave_up").inc()
        self.metrics.delivery_gave_up.labels(channel=message.channel, reason=reason.value).inc()
        log.warning(
            "delivery given up",
            extra={
                "channel": message.channel,
                "event_id": message.ref,
                "reason": reason.value,
                "reasons": message.reasons,
                "outcome": "gave_up",
                "age_seconds": round(time.time() - message.received_at),
            },
        )

    async def _finished(
        self, lane: _Lane, message: OutboxMessage, delivered: bool, reason: FailureReason | None
    ) -> None:
        """What the hooks record about a finished message (a notification batch, a block), before its row goes."""
        if self.hooks is None or message.id is None:
            return
        effect = self.hooks.finished(message, delivered, reason)
        if effect is not None:
            await self._lane_op(lane, lambda tx, store: effect(tx))

    async def _fence(self, lane: _Lane) -> None:
        """Before a call on a stored lane: if our heartbeat has lapsed, make sure the lane is still ours."""
        if not lane.persistent or time.monotonic() - self._beat_at < self.policy.lease_seconds * 0.8:
            return
        while time.monotonic() - self._beat_at >= self.policy.lease_seconds * 0.8:
            if not await self._pause(0.2):
                raise Stopping
        owned = await self._lane_op(lane, lambda tx, store: store.owns(tx, lane.key))
        if not owned:
            raise LaneLost

    # --- storage helpers --------------------------------------------------------------------------------------

    async def _db(self, op: Callable[[Tx, PipelineStore], T], *, timeout: float | None = None) -> T:
        store, committer = self.store, self.committer
        if store is None or committer is None:
            raise RuntimeError("pipeline not started")
        return await committer.submit(lambda tx: op(tx, store), timeout=timeout)

    async def _lane_op(self, lane: _Lane, op: Callable[[Tx, PipelineStore], T]) -> T:
        """A lane's storage operation, retried while the database is away (its work is stored: it can wait).
        At shutdown it gives up: what it would have recorded is taken up again at the next start."""
        failures = 0
        while True:
            try:
                return await self._db(op, timeout=30.0)
            except Exception:  # noqa: BLE001
                failures += 1
                self._warn("lane", "storage unavailable for a lane's work; retrying", trace=True)
                if not await self._pause(min(30.0, 0.5 * 2**failures)):
                    raise Stopping from None

    async def _pause(self, seconds: float) -> bool:
        """Sleep, but wake at shutdown: False when the pipeline is stopping."""
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return not self._stopping
        return False

    # --- background: heartbeat and gauges ---------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        beats = 0
        pending: asyncio.Future[None] | None = None
        while not self._stopping:
            # A transaction of its own, not queued behind the writer's batches (a busy writer must not make a
            # live instance look dead), and never more than one at a time (a silent database holds a thread).
            if pending is None or pending.done():
                pending = asyncio.ensure_future(STORAGE.run(self._transaction, "heartbeat"))
            try:
                await asyncio.wait_for(asyncio.shield(pending), self.policy.lease_seconds)
                self._beat_at = time.monotonic()
                beats += 1
                if beats % TIDY_EVERY == 1:
                    await self._db(lambda tx, store: store.tidy(tx), timeout=30.0)
            except Exception:  # noqa: BLE001 - the database may be away; leases lapse, others take over
                self._warn("heartbeat", "pipeline heartbeat failed", trace=True)
            await self._pause(self.policy.heartbeat_seconds)

    def _transaction(self, operation: str) -> None:
        """On a STORAGE thread: one store operation in a transaction of its own."""
        assert self._direct is not None and self.store is not None
        with self._direct.transaction() as tx:
            getattr(self.store, operation)(tx)

    async def _gauge_loop(self) -> None:
        while not self._stopping:
            self.metrics.lanes_active.set(len(self._lanes))
            try:
                counts = await self.pending()
                self.metrics.storage_available.set(1)
            except Exception:  # noqa: BLE001
                self.metrics.storage_available.set(0)
            else:
                self.metrics.inbox_pending.set(counts.inbox)
                self.metrics.outbox_pending.set(counts.outbox)
                self.metrics.outbox_oldest.set(counts.oldest_outbox_seconds)
            await self._pause(GAUGE_SECONDS)

    async def storage(self, op: Callable[[Tx, PipelineStore], T], *, timeout: float | None = 30.0) -> T:
        """Run `op` in one of the writer's transactions: other parts of the service (notifications) write their rows
        and the pipeline's outbox rows together this way. Raises when the database is unreachable."""
        return await self._db(op, timeout=timeout)

    def wake(self) -> None:
        """Look for stored work now (something was put in the outbox by `storage`)."""
        if self._wake is not None:
            self._wake.set()

    async def pending(self) -> PendingCounts:
        return await self._db(lambda tx, store: store.counts(tx, self.policy.lease_seconds), timeout=10.0)

    async def settled(self) -> bool:
        """Nothing in flight here and nothing stored waiting (tests wait for this before checking the fakes)."""
        if self._lanes:
            return False
        counts = await self.pending()
        return counts.inbox == 0 and counts.outbox == 0

    async def callback_question(self, digest: str) -> str | None:
        """A stored suggestion button's question (Telegram), or None."""
        return await self._db(lambda tx, store: store.callback_question(tx, digest), timeout=2.0)

    # --- logging and counting -----------------------------------------------------------------------------------

    def _count_failure(self, channel: str, reason: FailureReason) -> None:
        self.metrics.reply_failures.labels(channel=channel, reason=reason.value).inc()

    def _warn(self, topic: str, message: str, *, trace: bool = False) -> None:
        self._warnings.warn(topic, message, trace=trace)


def _held(message: OutboxMessage) -> bool:
    """Held back on purpose (LINE's monthly quota is full), not failing: such a message waits for the quota to
    reset, whatever its delivery deadline (giving it up would leave its people never told)."""
    return bool(message.reasons) and message.reasons[-1] == FailureReason.QUOTA_EXCEEDED.value


def lane_key(channel: str, chat: str, salt: str) -> str:
    """A lane id: keyed hash of channel and chat, so no table holds a raw chat id for it."""
    return hash_user(f"{channel}:{chat}", salt)[:32]


def unprompted_message(
    channel: str, *, chat: str, to: str, parts: list[dict[str, Any]], ref: str, salt: str, deadline_after: float
) -> OutboxMessage:
    """A message that answers no event (a notification): in the lane of `chat`, sent to `to`, with its retry key
    made here so that it is stored before the first attempt, retried until `deadline_after` seconds from now."""
    now = time.time()
    return OutboxMessage(
        id=None,
        lane=lane_key(channel, chat, salt),
        channel=channel,
        ref=ref,
        handle=ReplyHandle(to=to),
        parts=parts,
        parts_done=0,
        retry_key=new_retry_key(),
        created_at=now,
        event_at=now,
        received_at=now,
        deadline=now + deadline_after,
    )


def new_retry_key() -> str:
    """A random UUID (version 4) for X-Line-Retry-Key. From `random`, not `os.urandom`: it only needs to be
    unique, and urandom releases the GIL, so under load every call waited for an answering thread to give it back."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def _fill(outcomes: list[EventOutcome | None], fresh: list[InboundEvent]) -> list[InboundEvent | None]:
    """The fresh event for each undecided outcome, None for the decided ones (same order as `outcomes`)."""
    it = iter(fresh)
    return [next(it) if o is None else None for o in outcomes]
