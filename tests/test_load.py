"""Load: many signed LINE events from concurrent senders against the real server process, 5% redelivered.

What a user (and LINE) would notice: every webhook gets its 200 (never a 5xx), every event is answered exactly
once (one reply per unique webhookEventId, none for a redelivery), no reply is lost, nothing is pushed instead.

CI runs a small count (600 events, 20 senders) on one worker and on two workers sharing one SQLite file (so a
redelivery can land on the other process). The full run, 10,000 events from 50 senders:

    BUDGETBOT_FULL_LOAD=1 .venv/bin/python -m pytest -q tests/test_load.py
    .venv/bin/python -m tests.test_load --events 10000 --senders 50 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.fake_line import PUSH_PATH, REPLY_PATH, FakeLine
from tests.support.load import (
    Replies,
    Run,
    ask_probe,
    budgetbot_command,
    drive,
    match_replies,
    percentile,
    plan_line_load,
    spawn,
)
from tests.support.server import base_env, free_port, line_env, running_server

SECRET = "load-channel-secret-0123456789ab"
TOKEN = "load-channel-access-token"
FULL = os.environ.get("BUDGETBOT_FULL_LOAD", "").strip().lower() in ("1", "true", "yes")
EVENTS, SENDERS = (10_000, 50) if FULL else (600, 20)
REDELIVERED = 0.05


@dataclass
class Outcome:
    run: Run
    replies: Replies
    pushes: int
    log: str
    reply_wait_s: float

    def summary(self) -> str:
        originals = sum(1 for d in self.run.plan if not d.redelivery)
        return (
            f"{originals} events + {len(self.run.plan) - originals} redeliveries in {self.run.seconds:.1f} s "
            f"({self.run.per_second:.0f} webhooks/s), statuses {self.run.statuses()}; "
            f"replies: {self.replies.ok} ok, {len(self.replies.missing(self.run))} events unanswered, "
            f"{len(self.replies.duplicated(self.run))} answered twice, {self.replies.via_redelivery} answered "
            f"via a redelivery's token, {self.replies.rejected} rejected, {self.pushes} pushes; all replies in "
            f"{self.replies.last_at - self.run.started:.1f} s; send->reply "
            f"p50 {percentile(self.replies.latency, 50) * 1000:.0f} ms "
            f"p99 {percentile(self.replies.latency, 99) * 1000:.0f} ms"
        )


@contextmanager
def _server(env: dict[str, str], tmp: Path, workers: int) -> Iterator[tuple[str, Path]]:
    """(base URL, log file) of `budgetbot serve`: tests/support/server.py for one worker, else `--workers N`."""
    if workers == 1:
        with running_server(env, tmp, timeout=60) as server:
            yield server.base_url, server.log_path
        return
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    with spawn(
        budgetbot_command(port, workers), port=port, env=env, cwd=tmp, log_path=log_path, probe=ask_probe
    ) as server:
        server.wait_log(r'"message": "budgetbot started"', workers)  # every worker up, not just the first
        yield server.base_url, log_path


def run_load(tmp: Path, *, events: int, senders: int, workers: int, database_url: str | None = None) -> Outcome:
    with FakeLine(access_token=TOKEN) as fake:
        env = base_env(tmp)
        env.update(line_env(fake.url, SECRET, TOKEN))
        if database_url:
            env["BUDGETBOT_DATABASE_URL"] = database_url
        plan = plan_line_load(events, secret=SECRET, redeliver_fraction=REDELIVERED)
        with _server(env, tmp, workers) as (base_url, log_path):
            run = asyncio.run(drive(base_url, plan, concurrency=senders))
            # Replies go out after the 200: wait for one per unique event (bounded), then a moment for strays.
            started = time.monotonic()
            wait_for_replies(fake, run, timeout=30 + events / 50)
            waited = time.monotonic() - started
            time.sleep(1.0)
            replies = match_replies(run, fake.requests_to(REPLY_PATH))
            pushes = len(fake.requests_to(PUSH_PATH))
            log = log_path.read_text(encoding="utf-8", errors="replace")
    return Outcome(run, replies, pushes, log, waited)


def wait_for_replies(fake: FakeLine, run: Run, *, timeout: float, stall: float = 30.0) -> None:
    """Until every unique event of the run has a reply at the fake, or `timeout`, or no new reply for `stall`
    seconds (a server that stopped replying fails in seconds, not minutes). Polled gently: the server needs the CPU."""
    unique = len({d.event_id for d in run.plan})
    deadline = time.monotonic() + timeout
    seen, progress_at = -1, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - progress_at < stall:
        count = len(fake.requests_to(REPLY_PATH)) + len(fake.requests_to(PUSH_PATH))
        if count != seen:
            seen, progress_at = count, time.monotonic()
            if match_replies(run, fake.requests_to(REPLY_PATH)).ok >= unique:
                return
        time.sleep(0.2)


def _error_lines(log: str) -> list[str]:
    out = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            if "Traceback" in line or "ERROR" in line:
                out.append(line)
            continue
        if isinstance(record, dict) and record.get("level") in ("error", "critical"):
            out.append(line)
    return out


def check(outcome: Outcome) -> None:
    """Plain counts in the messages: the run itself is far too big to print."""
    run, replies, summary = outcome.run, outcome.replies, outcome.summary()
    statuses = run.statuses()
    assert statuses == {200: len(run.plan)}, summary
    lost = replies.missing(run)
    assert not lost, f"{len(lost)} events never answered (first: {lost[:3]}): {summary}"
    twice = replies.duplicated(run)
    assert not twice, f"{len(twice)} events answered twice (first: {twice[:3]}): {summary}"
    # A redelivery is sent after its original got its 200, but the original is handled after that 200: the two
    # race for the claim. Either may win; the user must get exactly one answer per event id, counted above.
    assert replies.rejected == 0 and replies.unknown == 0, summary
    assert outcome.pushes == 0, summary
    errors = _error_lines(outcome.log)
    assert not errors, f"{len(errors)} error lines in the server log, first: {errors[:3]}"


@pytest.mark.parametrize("workers", [1, 2], ids=["1-worker", "2-workers-shared-sqlite"])
def test_every_event_answered_exactly_once_under_load(tmp_path: Path, workers: int) -> None:
    outcome = run_load(tmp_path, events=EVENTS, senders=SENDERS, workers=workers)
    print(outcome.summary())
    check(outcome)
    redeliveries = sum(1 for d in outcome.run.plan if d.redelivery)
    assert redeliveries == round(EVENTS * REDELIVERED)
    skipped = outcome.log.count("event already handled, skipped")
    assert skipped == redeliveries, f"{skipped} events skipped as already handled, {redeliveries} redelivered"


def main() -> int:
    parser = argparse.ArgumentParser(description="LINE webhook load against `budgetbot serve` (see module docstring)")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="PostgreSQL instead of the SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="budgetbot-load-") as tmp:
        outcome = run_load(
            Path(tmp), events=args.events, senders=args.senders, workers=args.workers, database_url=args.database_url
        )
        print(outcome.summary())
        try:
            check(outcome)
        except AssertionError as exc:
            print(f"FAILED: {exc}")
            return 1
    print("OK: every event answered exactly once, no 5xx, no lost reply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
