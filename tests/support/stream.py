"""A stream of signed LINE events sent at a steady rate to whichever server is up, and the accounting of what
each acknowledged event got: the fault tests' driver (tests/test_pipeline_faults.py).

One user per event, so every answer the fake LINE API receives (a reply by its token, or a push to its user)
belongs to exactly one event. An event counts as acknowledged when its webhook got a 200: those must all be
answered, exactly once, whatever happened to the servers in between.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from tests.fakes.fake_line import FakeLine, signed_webhook, text_event, user_source

QUESTIONS = (
    "ปีงบประมาณนี้ยังยื่นคำขอได้ไหม",
    "แนวทางมีอะไรบ้าง",
    "ใครขอได้บ้าง",
    "ช่วยอะไรได้บ้าง",
    "ปีงบ 66 ยังยื่นได้ไหม",
)


@dataclass
class StreamEvent:
    """One event of the stream. Its body is built (timestamped, signed, reply token issued) when it is sent, as
    LINE would: a reply token's age and the event's own timestamp count from then."""

    index: int
    user: str
    question: str
    event_id: str = ""
    reply_token: str = ""


@dataclass
class Tally:
    """What the fake received, per event: accepted replies and pushes (a 409 on a reused retry key is not a
    second delivery: LINE dropped it)."""

    answers: dict[str, int] = field(default_factory=dict)  # event id -> accepted replies + pushes
    replies: int = 0
    pushes: int = 0

    def count(self, event_id: str) -> int:
        return self.answers.get(event_id, 0)


class Stream:
    """`events` LINE events sent at `rate` a second from a background thread, to `target` (a base URL that the
    test may change, or None while no server is up: those events are not acknowledged). With `targets` (several
    base URLs) the events go to each in turn, as a load balancer would spread them."""

    def __init__(self, secret: str, events: int, rate: float, *, target: str | None = None) -> None:
        self.rate = rate
        self.targets: list[str | None] = [target]
        self.secret = secret
        run = secrets.token_hex(4)
        self.events = [StreamEvent(i, f"U{run}{i:024x}", QUESTIONS[i % len(QUESTIONS)]) for i in range(events)]
        self.statuses: list[int | None] = [None] * events  # None: not sent yet; 0: no HTTP answer
        self.started_at: list[float | None] = [None] * events
        self.sent_to: list[str | None] = [None] * events
        self.errors: list[str] = []
        self.sent = 0
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    @property
    def target(self) -> str | None:
        return self.targets[0]

    @target.setter
    def target(self, value: str | None) -> None:
        self.targets = [value]

    def start(self) -> Stream:
        self._thread = threading.Thread(target=self._run, name="line-stream", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        with httpx.Client(timeout=15.0, trust_env=False) as client, ThreadPoolExecutor(16) as pool:
            for event in self.events:
                delay = started + event.index / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self._send, client, event)
                self.sent = event.index + 1
        self._done.set()

    def _send(self, client: httpx.Client, event: StreamEvent) -> None:
        self.started_at[event.index] = time.monotonic()
        targets = self.targets
        target = targets[event.index % len(targets)]
        if target is None:
            event.event_id = f"unsent-{event.index}"
            self.statuses[event.index] = 0
            return
        payload = text_event(event.question, source=user_source(event.user))
        event.event_id, event.reply_token = payload["webhookEventId"], payload["replyToken"]
        body, headers = signed_webhook([payload], self.secret)
        self.sent_to[event.index] = target
        try:
            response = client.post(f"{target}/webhooks/line", content=body, headers=headers)
            self.statuses[event.index] = response.status_code
        except Exception as exc:  # noqa: BLE001 - any failure: not acknowledged
            self.errors.append(f"{event.index}: {type(exc).__name__}: {exc}")
            self.statuses[event.index] = 0

    def wait_sent(self, count: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.sent < count:
            assert time.monotonic() < deadline, f"stream: {self.sent} of {count} events sent in {timeout}s"
            time.sleep(0.02)

    def join(self, timeout: float = 300.0) -> None:
        assert self._done.wait(timeout), "stream did not finish"
        deadline = time.monotonic() + 30
        while any(s is None for s in self.statuses):  # the last sends' answers
            waiting = [i for i, s in enumerate(self.statuses) if s is None]
            assert time.monotonic() < deadline, f"stream: {len(waiting)} sends never answered, first {waiting[:5]}"
            time.sleep(0.05)

    @property
    def acknowledged(self) -> list[StreamEvent]:
        return [e for e in self.events if self.statuses[e.index] == 200]

    def answered_at(self, fakes: Sequence[FakeLine]) -> dict[str, float]:
        """Event id -> when its first answer reached a fake (time.monotonic())."""
        by_token = {e.reply_token: e for e in self.events}
        by_user = {e.user: e for e in self.events}
        at: dict[str, float] = {}
        for fake in fakes:
            for request in fake.replies():
                event = by_token.get((request.json or {}).get("replyToken"))
                if event is not None:
                    at[event.event_id] = min(at.get(event.event_id, request.at), request.at)
            for request in fake.pushes():
                event = by_user.get((request.json or {}).get("to"))
                if event is not None:
                    at[event.event_id] = min(at.get(event.event_id, request.at), request.at)
        return at

    def tally(self, fakes: Sequence[FakeLine]) -> Tally:
        by_token = {e.reply_token: e for e in self.events}
        by_user = {e.user: e for e in self.events}
        tally = Tally()
        for fake in fakes:
            for request in fake.replies():
                event = by_token.get((request.json or {}).get("replyToken"))
                if event is not None:
                    tally.answers[event.event_id] = tally.count(event.event_id) + 1
                    tally.replies += 1
            for request in fake.pushes():
                event = by_user.get((request.json or {}).get("to"))
                if event is not None:
                    tally.answers[event.event_id] = tally.count(event.event_id) + 1
                    tally.pushes += 1
        return tally

    def wait_answered(self, fakes: Sequence[FakeLine], timeout: float, *, settle: float = 3.0) -> Tally:
        """Until every acknowledged event has an answer (bounded), then `settle` seconds more for duplicates."""
        deadline = time.monotonic() + timeout
        while True:
            tally = self.tally(fakes)
            if all(tally.count(e.event_id) for e in self.acknowledged) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        time.sleep(settle)
        return self.tally(fakes)


@dataclass
class Outcome:
    """One fault run's figures: the fault-test table's row."""

    name: str
    sent: int
    acknowledged: int
    answered: int  # acknowledged events answered at least once
    twice: int  # events (acknowledged or not) answered more than once
    unacknowledged_answered: int  # got an answer although their webhook got no 200 (harmless, counted apart)
    replies: int
    pushes: int
    errors: list[str] = field(default_factory=list)  # why webhooks got no 200 (the first few)
    taken_over: int = 0  # acknowledged by an instance that was killed, answered by another one after

    @property
    def lost(self) -> int:
        return self.acknowledged - self.answered

    def line(self) -> str:
        return (
            f"{self.name}: sent {self.sent}, acknowledged {self.acknowledged}, answered {self.answered}, "
            f"never answered {self.lost}, answered twice {self.twice} (replies {self.replies}, pushes {self.pushes}; "
            f"unacknowledged but answered {self.unacknowledged_answered}; not acknowledged: {self.errors[:3]})"
        )


def outcome(name: str, stream: Stream, tally: Tally) -> Outcome:
    acked = {e.event_id for e in stream.acknowledged}
    return Outcome(
        name=name,
        sent=len(stream.events),
        acknowledged=len(acked),
        answered=sum(1 for e in acked if tally.count(e)),
        twice=sum(1 for n in tally.answers.values() if n > 1),
        unacknowledged_answered=sum(1 for e, n in tally.answers.items() if n and e not in acked),
        replies=tally.replies,
        pushes=tally.pushes,
        errors=stream.errors
        + [
            f"{e.index}: HTTP {stream.statuses[e.index]}"
            for e in stream.events
            if stream.statuses[e.index] not in (0, 200)
        ],
    )
