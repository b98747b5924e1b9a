"""The pipeline's tables (inbox, outbox, lanes, instances) in plain SQL, and the writer that commits them.

Every statement here runs inside a transaction of `Committer`: operations queued by many coroutines at once
are committed together, one transaction per batch, on a `bot.workers.STORAGE` thread. Under load that is one
commit for dozens of events (each webhook still waits for its own events to be committed before its 200); when
quiet, a batch is a single operation and costs one commit, as before.

Ownership: a lane (one chat) is handled by one instance at a time. `pipeline_lanes.owner` names it; an owner
counts only while its heartbeat in `pipeline_instances` is younger than the lease (compared on the database's
clock). Claims are one UPDATE (with FOR UPDATE SKIP LOCKED on PostgreSQL, so instances never wait on each other);
every write of a lane's work first checks, in the same transaction, that the lane is still ours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, TypeVar

from bot.conversation import ConversationState
from bot.privacy import hash_user
from bot.storage.direct import DirectDatabase, Tx
from bot.storage.stores import decode_state, encode_state
from bot.workers import STORAGE
from handlers.pipeline.model import InboundEvent, OutboxMessage, ReplyHandle

log = logging.getLogger(__name__)

T = TypeVar("T")

_INBOX_COLUMNS = "id, lane, channel, event_id, conversation, question, notice, handle, occurred_at, received_at, action"
_OUTBOX_COLUMNS = (
    "id, lane, channel, ref, handle, parts, parts_done, retry_key, created_at, event_at, received_at, deadline, "
    "attempts, next_attempt_at"
)
CALLBACK_TTL = timedelta(days=90)  # a suggestion button older than this answers "expired, please type it"


@dataclass
class InboxItem:
    """An event waiting for its answer: `id` is its pipeline_inbox row (None: held in memory only)."""

    id: int | None
    event: InboundEvent


@dataclass
class LaneWork:
    """A lane's stored work as loaded by a claim or a refill: messages to deliver first, then events to answer."""

    lane: str
    outbox: list[OutboxMessage] = field(default_factory=list)
    inbox: list[InboxItem] = field(default_factory=list)
    states: dict[str, ConversationState | None] = field(default_factory=dict)  # conversation key -> state


@dataclass
class Refill:
    """What a lane found at the end of its queue: let go, taken over by another instance, or more work."""

    released: bool = False
    lost: bool = False
    work: LaneWork | None = None


Known = set[tuple[str, int]]  # rows a lane already has: ("in", inbox id) and ("out", outbox id)


@dataclass(frozen=True)
class PendingCounts:
    inbox: int
    outbox: int
    oldest_outbox_seconds: float  # age of the oldest undelivered message (0 when none)
    lanes_owned: int  # by live instances


def conversation_key(channel: str, conversation: str) -> str:
    """The memory key of a conversation, as the service's conversation store names it."""
    return f"{channel}:{conversation}"


class PipelineStore:
    """The SQL of the pipeline. Every method taking a `Tx` is an operation for `Committer.submit`."""

    def __init__(
        self,
        direct: DirectDatabase,
        *,
        salt: str,
        conversation_ttl: timedelta,
        event_ttl: timedelta,
        instance_id: str | None = None,
    ) -> None:
        self.direct = direct
        self.salt = salt
        self.conversation_ttl = conversation_ttl
        self.event_ttl = event_ttl
        self.instance_id = instance_id or f"{uuid.uuid4().hex[:12]}"
        self.started_at = time.time()

    # --- accepting ----------------------------------------------------------------------------------------

    def accept(self, tx: Tx, events: Sequence[InboundEvent]) -> list[int | None]:
        """Claim each event id and store the new ones in the inbox, in this one transaction. Per event: its
        inbox row id, or None when the id was claimed before (a redelivery)."""
        now = datetime.now(timezone.utc)
        seen_at, expired = tx.timestamp(now), tx.timestamp(now - self.event_ttl)
        out: list[int | None] = []
        for event in events:
            # An expired claim may be taken over; any other conflict means "already handled".
            tx.execute(
                "INSERT INTO processed_events (channel, event_id, seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT (channel, event_id) DO UPDATE SET seen_at = excluded.seen_at "
                "WHERE processed_events.seen_at < ?",
                (event.channel, _safe(event.event_id), seen_at, expired),
            )
            if tx.rowcount != 1:
                out.append(None)
                continue
            row = tx.execute(
                f"INSERT INTO pipeline_inbox ({_INBOX_COLUMNS[4:]}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    event.lane,
                    event.channel,
                    _safe(event.event_id),
                    _safe(event.conversation),
                    None if event.question is None else _safe(event.question),
                    event.notice,
                    event.handle.to_json(),
                    event.occurred_at,
                    event.received_at,
                    event.action,
                ),
            ).fetchone()
            assert row is not None
            tx.execute(
                "INSERT INTO pipeline_lanes (lane, owner, since) VALUES (?, NULL, ?) ON CONFLICT (lane) DO NOTHING",
                (event.lane, event.received_at),
            )
            out.append(int(row[0]))
        return out

    # --- claiming and loading work -----------------------------------------------------------------------

    def claim(self, tx: Tx, limit: int, lease_seconds: float) -> list[LaneWork]:
        """Take up to `limit` lanes that nobody alive owns (oldest first), with their work."""
        rows = tx.execute(
            "UPDATE pipeline_lanes SET owner = ? WHERE lane IN ("
            " SELECT lane FROM pipeline_lanes WHERE owner IS NULL OR owner NOT IN ("
            f"  SELECT id FROM pipeline_instances WHERE heartbeat_at > {tx.now_sql} - ?)"
            f" ORDER BY since LIMIT ?{tx.skip_locked}) RETURNING lane",
            (self.instance_id, lease_seconds, limit),
        ).fetchall()
        return self._load(tx, [str(r[0]) for r in rows], known=set())

    def _load(self, tx: Tx, lanes: list[str], known: Known) -> list[LaneWork]:
        if not lanes:
            return []
        works = {lane: LaneWork(lane) for lane in lanes}
        marks = ", ".join("?" * len(lanes))
        for row in tx.execute(
            f"SELECT {_OUTBOX_COLUMNS}, last_reason FROM pipeline_outbox WHERE lane IN ({marks}) ORDER BY id", lanes
        ).fetchall():
            if ("out", int(row[0])) not in known:
                works[row[1]].outbox.append(_outbox_from_row(row))
        for row in tx.execute(
            f"SELECT {_INBOX_COLUMNS} FROM pipeline_inbox WHERE lane IN ({marks}) ORDER BY id", lanes
        ).fetchall():
            if ("in", int(row[0])) not in known:
                works[row[1]].inbox.append(_inbox_from_row(row))
        keys = {conversation_key(i.event.channel, i.event.conversation) for w in works.values() for i in w.inbox}
        states = self._states(tx, keys)
        for work in works.values():
            for item in work.inbox:
                key = conversation_key(item.event.channel, item.event.conversation)
                work.states[key] = states.get(key)
        return list(works.values())

    def _states(self, tx: Tx, keys: set[str]) -> dict[str, ConversationState | None]:
        if not keys:
            return {}
        hashed = {hash_user(k, self.salt): k for k in keys}
        marks = ", ".join("?" * len(hashed))
        out: dict[str, ConversationState | None] = {}
        for stored_key, payload, updated_at in tx.execute(
            f"SELECT key, state, updated_at FROM conversations WHERE key IN ({marks})", list(hashed)
        ).fetchall():
            if isinstance(updated_at, str):  # SQLite: naive UTC text
                updated_at = datetime.fromisoformat(updated_at)
            out[hashed[stored_key]] = decode_state(payload, updated_at, self.conversation_ttl)
        return out

    def release_or_refill(self, tx: Tx, lane: str, known: Known) -> Refill:
        """Let the lane go if it has no work left; otherwise load what arrived since (`known`: rows already had)."""
        tx.execute(
            "DELETE FROM pipeline_lanes WHERE lane = ? AND owner = ? "
            "AND NOT EXISTS (SELECT 1 FROM pipeline_inbox WHERE lane = ?) "
            "AND NOT EXISTS (SELECT 1 FROM pipeline_outbox WHERE lane = ?)",
            (lane, self.instance_id, lane, lane),
        )
        if tx.rowcount == 1:
            return Refill(released=True)
        if not self.owns(tx, lane):
            return Refill(lost=True)
        works = self._load(tx, [lane], known)
        return Refill(work=works[0])

    def owns(self, tx: Tx, lane: str) -> bool:
        """True when the lane is ours. FOR UPDATE on PostgreSQL: a takeover waits until this transaction ends."""
        row = tx.execute(
            f"SELECT 1 FROM pipeline_lanes WHERE lane = ? AND owner = ?{tx.for_update}", (lane, self.instance_id)
        ).fetchone()
        return row is not None

    # --- recording answers and deliveries ----------------------------------------------------------------

    def finish(
        self,
        tx: Tx,
        item: InboxItem,
        message: OutboxMessage,
        state: ConversationState | None,
        callbacks: dict[str, str],
    ) -> int | None:
        """The answer to an inbox event: save the conversation state, put the message in the outbox and take the
        event out of the inbox, at once. Returns the outbox id, or None when the lane is no longer ours."""
        if not self.owns(tx, message.lane):
            return None
        if state is not None:
            key = hash_user(conversation_key(item.event.channel, item.event.conversation), self.salt)
            tx.execute(
                "INSERT INTO conversations (key, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                (key, encode_state(state), tx.timestamp(datetime.now(timezone.utc))),
            )
        if callbacks:
            now = time.time()
            tx.executemany(
                "INSERT INTO telegram_callbacks (digest, question, used_at) VALUES (?, ?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET question = excluded.question, used_at = excluded.used_at",
                [(digest, _safe(question), now) for digest, question in callbacks.items()],
            )
        outbox_id = self.insert_message(tx, message, list_lane=False)
        if item.id is not None:
            tx.execute("DELETE FROM pipeline_inbox WHERE id = ?", (item.id,))
        return outbox_id

    def insert_message(self, tx: Tx, message: OutboxMessage, *, list_lane: bool = True) -> int:
        """Store an outgoing message (its retry key included: before the first attempt). `list_lane`: make sure its
        lane is listed, so some instance delivers it (not needed for an answer: its lane is held by the answerer)."""
        row = tx.execute(
            f"INSERT INTO pipeline_outbox ({_OUTBOX_COLUMNS[4:]}, last_reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) RETURNING id",
            (
                message.lane,
                message.channel,
                _safe(message.ref),
                message.handle.to_json(),
                json.dumps(message.parts, ensure_ascii=False),
                message.parts_done,
                message.retry_key,
                message.created_at,
                message.event_at,
                message.received_at,
                message.deadline,
                message.attempts,
                message.next_attempt_at,
            ),
        ).fetchone()
        assert row is not None
        if list_lane:
            tx.execute(
                "INSERT INTO pipeline_lanes (lane, owner, since) VALUES (?, NULL, ?) ON CONFLICT (lane) DO NOTHING",
                (message.lane, message.created_at),
            )
        return int(row[0])

    def record_parts(self, tx: Tx, message_id: int, parts_done: int) -> None:
        tx.execute("UPDATE pipeline_outbox SET parts_done = ? WHERE id = ?", (parts_done, message_id))

    def record_failure(self, tx: Tx, message_id: int, attempts: int, reason: str, next_attempt_at: float) -> None:
        tx.execute(
            "UPDATE pipeline_outbox SET attempts = ?, last_reason = ?, next_attempt_at = ? WHERE id = ?",
            (attempts, reason, next_attempt_at, message_id),
        )

    def remove_message(self, tx: Tx, message_id: int) -> None:
        """Delivered or given up: the row goes, and with it the recipient's raw id."""
        tx.execute("DELETE FROM pipeline_outbox WHERE id = ?", (message_id,))

    def remove_event(self, tx: Tx, event_id: int) -> None:
        tx.execute("DELETE FROM pipeline_inbox WHERE id = ?", (event_id,))

    # --- instances -----------------------------------------------------------------------------------------

    def heartbeat(self, tx: Tx) -> None:
        tx.execute(
            f"INSERT INTO pipeline_instances (id, started_at, heartbeat_at) VALUES (?, ?, {tx.now_sql}) "
            f"ON CONFLICT (id) DO UPDATE SET heartbeat_at = {tx.now_sql}",
            (self.instance_id, self.started_at),
        )

    def retire(self, tx: Tx) -> int:
        """Clean shutdown: give every lane back at once (the next instance need not wait for the lease to run out)."""
        tx.execute("UPDATE pipeline_lanes SET owner = NULL WHERE owner = ?", (self.instance_id,))
        released = tx.rowcount
        tx.execute("DELETE FROM pipeline_instances WHERE id = ?", (self.instance_id,))
        return released

    def tidy(self, tx: Tx) -> None:
        """Occasional clean-up: instances gone for a day, suggestion callbacks nobody has seen for long."""
        tx.execute(f"DELETE FROM pipeline_instances WHERE heartbeat_at < {tx.now_sql} - 86400")
        tx.execute("DELETE FROM telegram_callbacks WHERE used_at < ?", (time.time() - CALLBACK_TTL.total_seconds(),))

    # --- reading ---------------------------------------------------------------------------------------------

    def callback_question(self, tx: Tx, digest: str) -> str | None:
        row = tx.execute("SELECT question FROM telegram_callbacks WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else str(row[0])

    def counts(self, tx: Tx, lease_seconds: float) -> PendingCounts:
        inbox = tx.execute("SELECT count(*) FROM pipeline_inbox").fetchone()
        outbox = tx.execute("SELECT count(*), min(created_at) FROM pipeline_outbox").fetchone()
        owned = tx.execute(
            "SELECT count(*) FROM pipeline_lanes WHERE owner IN ("
            f"SELECT id FROM pipeline_instances WHERE heartbeat_at > {tx.now_sql} - ?)",
            (lease_seconds,),
        ).fetchone()
        assert inbox is not None and outbox is not None and owned is not None
        oldest = time.time() - float(outbox[1]) if outbox[1] is not None else 0.0
        return PendingCounts(int(inbox[0]), int(outbox[0]), max(0.0, oldest), int(owned[0]))


def _safe(text: str) -> str:
    """Text every database accepts: PostgreSQL rejects NUL, and no driver encodes lone surrogates."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _inbox_from_row(row: Sequence[Any]) -> InboxItem:
    return InboxItem(
        id=int(row[0]),
        event=InboundEvent(
            channel=str(row[2]),
            event_id=str(row[3]),
            lane=str(row[1]),
            conversation=str(row[4]),
            question=row[5],
            notice=row[6],
            handle=ReplyHandle.from_json(row[7]),
            occurred_at=float(row[8]),
            received_at=float(row[9]),
            action=row[10],
        ),
    )


def _outbox_from_row(row: Sequence[Any]) -> OutboxMessage:
    return OutboxMessage(
        id=int(row[0]),
        lane=str(row[1]),
        channel=str(row[2]),
        ref=str(row[3]),
        handle=ReplyHandle.from_json(row[4]),
        parts=json.loads(row[5]),
        parts_done=int(row[6]),
        retry_key=str(row[7]),
        created_at=float(row[8]),
        event_at=float(row[9]),
        received_at=float(row[10]),
        deadline=float(row[11]),
        attempts=int(row[12]),
        next_attempt_at=float(row[13]),
        resumed=True,  # written by an earlier owner (or before a restart): an attempt may have gone through
        # The last failure, as recorded ("reason: detail"): whether the message was held, e.g. by LINE's quota.
        reasons=[str(row[14]).split(":", 1)[0]] if len(row) > 14 and row[14] else [],
    )


# --- the writer ------------------------------------------------------------------------------------------------


@dataclass
class _Op(Generic[T]):
    fn: Callable[[Tx], T]
    future: asyncio.Future[T]
    cancelled: bool = False  # the caller stopped waiting before it ran: skip it


class StorageTimeout(TimeoutError):
    """The operation was not committed in time (and, if it had not started, never will be)."""


class Committer:
    """Runs operations queued by many coroutines, a batch per transaction, one batch at a time."""

    def __init__(self, direct: DirectDatabase, *, max_batch: int = 500) -> None:
        self.direct = direct
        self.max_batch = max_batch
        self._queue: list[_Op[Any]] = []
        self._wake = asyncio.Event()
        self.batches = 0
        self.operations = 0

    async def submit(self, fn: Callable[[Tx], T], *, timeout: float | None = None) -> T:
        op: _Op[T] = _Op(fn, asyncio.get_running_loop().create_future())
        self._queue.append(op)
        self._wake.set()
        if timeout is None:
            return await op.future
        try:
            async with asyncio.timeout(timeout):  # cancels the wait (op.future), cheaper than wait_for + shield
                return await op.future
        except TimeoutError:
            op.cancelled = True  # not run if it has not started; if it has, it may still commit
            raise StorageTimeout(f"storage did not commit within {timeout} s") from None

    async def run(self) -> None:
        """The writer loop (a task for the app's lifetime)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            # One turn of the event loop first: operations that other coroutines are about to queue join this
            # batch (a thread hand-off per batch costs more than the statements of a small one).
            await asyncio.sleep(0)
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                try:
                    results = await STORAGE.run(self._execute, batch)
                except asyncio.CancelledError:
                    for op in batch:
                        if not op.future.done():
                            op.future.cancel()
                    raise
                for op, (ok, value) in zip(batch, results, strict=True):
                    if op.future.done():
                        continue
                    if ok:
                        op.future.set_result(value)
                    else:
                        op.future.set_exception(value)

    def _execute(self, batch: list[_Op[Any]]) -> list[tuple[bool, Any]]:
        """On a STORAGE thread: the batch in one transaction; if that fails, each operation alone, so one bad
        operation cannot fail the others (a database that is down fails them all again, quickly)."""
        self.batches += 1
        self.operations += len(batch)
        try:
            with self.direct.transaction() as tx:
                return [self._one(op, tx) for op in batch]
        except Exception as exc:  # noqa: BLE001 - reported to each waiting caller
            if len(batch) == 1 or _unreachable(exc):
                return [(False, exc)] * len(batch)
        out: list[tuple[bool, Any]] = []
        for op in batch:
            try:
                with self.direct.transaction() as tx:
                    out.append(self._one(op, tx))
            except Exception as exc:  # noqa: BLE001
                out.append((False, exc))
        return out

    @staticmethod
    def _one(op: _Op[Any], tx: Tx) -> tuple[bool, Any]:
        if op.cancelled:
            return False, StorageTimeout("the caller gave up before this operation ran")
        return True, op.fn(tx)


def _unreachable(exc: BaseException) -> bool:
    """A failure of the connection itself (not of one statement): retrying each operation alone would not help."""
    name = type(exc).__name__
    return name in ("OperationalError", "InterfaceError") or isinstance(exc, OSError)
