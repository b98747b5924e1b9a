"""A load driver for the LINE webhook, shared by tests/test_load.py and bench/webhooks.py.

- `plan_line_load` builds signed one-event webhooks with unique webhookEventIds and reply tokens, Thai questions
  cycled from the evaluation set, and a fraction of redeliveries (same webhookEventId, isRedelivery true).
- `drive` sends them from N concurrent asyncio senders (httpx, keep-alive, loopback only) and times each to its 200.
- `match_replies` pairs the replies the fake LINE API received with the deliveries, by reply token.
- `spawn` starts a server process (budgetbot or the bare ceiling app) with any arguments (`--workers 2`), waits
  for its first answer, and reads the resident memory and CPU time of its whole process tree from /proc.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tests.fakes.fake_line import (
    RecordedRequest,
    new_event_id,
    new_reply_token,
    signed_webhook,
    text_event,
    user_source,
)

REPO = Path(__file__).resolve().parents[2]
QUESTIONS_FILE = REPO / "tests" / "eval" / "questions.yaml"
WEBHOOK_PATH = "/webhooks/line"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def eval_questions(path: Path = QUESTIONS_FILE) -> list[str]:
    """The evaluation questions: phrased the way agency staff write on LINE (typos, Thai digits, English...)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [case["q"] for case in data["cases"] if isinstance(case.get("q"), str) and case["q"].strip()]


# --- the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One webhook POST carrying one text event."""

    index: int
    event_id: str
    reply_token: str
    redelivery: bool
    body: bytes
    headers: dict[str, str]
    original: int | None = None  # for a redelivery: the index of the first delivery, which must be answered first


def plan_line_load(
    events: int,
    *,
    secret: str,
    redeliver_fraction: float = 0.05,
    questions: Sequence[str] | None = None,
    users: int | None = None,
    max_gap: int = 200,
    seed: int = 5,
) -> list[Delivery]:
    """`events` unique events plus round(events * redeliver_fraction) redeliveries of some of them.

    A redelivery is placed 1..max_gap positions after its original (LINE redelivers what it thinks failed, some
    time later) and carries a fresh reply token, so a second answer to it would show up at the fake as a reply.
    """
    rng = random.Random(seed)
    qs = list(questions or eval_questions())
    n_users = users or max(1, events // 5)  # a few questions per user, as in a real chat
    keyed: list[tuple[float, dict[str, object], bool, int | None]] = []
    originals: list[dict[str, object]] = []
    for i in range(events):
        event = text_event(
            qs[i % len(qs)],
            source=user_source(f"U{i % n_users:032x}"),
            event_id=new_event_id(),
            reply_token=new_reply_token(),
        )
        originals.append(event)
        keyed.append((float(i), event, False, i))
    for i in rng.sample(range(events), round(events * redeliver_fraction)):
        again = dict(originals[i])
        again["replyToken"] = new_reply_token()
        again["deliveryContext"] = {"isRedelivery": True}
        keyed.append((i + rng.uniform(0.5, max_gap), again, True, i))
    keyed.sort(key=lambda k: k[0])
    position = {k[3]: n for n, k in enumerate(keyed) if not k[2]}  # original event number -> plan index
    plan: list[Delivery] = []
    for n, (_, event, redelivery, source) in enumerate(keyed):
        body, headers = signed_webhook([event], secret)
        plan.append(
            Delivery(
                n,
                str(event["webhookEventId"]),
                str(event["replyToken"]),
                redelivery,
                body,
                headers,
                position[source] if redelivery else None,
            )
        )
    return plan


# --- sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    status: int  # 0: no HTTP answer (connection error or timeout)
    sent_at: float  # time.monotonic(): the same clock as the fake's RecordedRequest.at
    answered_at: float
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.answered_at - self.sent_at


@dataclass
class Run:
    plan: list[Delivery]
    sent: list[Sent]
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def per_second(self) -> float:
        return len(self.sent) / self.seconds if self.seconds > 0 else 0.0

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for s in self.sent:
            counts[s.status] = counts.get(s.status, 0) + 1
        return counts


async def drive(
    base_url: str, plan: list[Delivery], *, concurrency: int, keepalive: bool = True, timeout: float = 30.0
) -> Run:
    """Send every delivery from `concurrency` senders; a redelivery waits until its original was answered.

    Each sender has its own client and keep-alive connection (as independent LINE deliveries would): one
    httpx pool shared by 20+ connections costs the driver several times more CPU per request, and on a small
    machine the driver, not the server, would then set the ceiling. keepalive=False opens a new connection per
    webhook: with `--workers N` the kernel hands each new connection to one worker, so a few long-lived
    connections can all land on the same worker while the others idle.
    """
    done = [asyncio.Event() for _ in plan]
    sent: list[Sent | None] = [None] * len(plan)
    queue = iter(range(len(plan)))  # shared: each sender takes the next delivery

    async def sender() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1 if keepalive else 0)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout, trust_env=False) as client:
            for i in queue:
                item = plan[i]
                if item.original is not None:
                    await done[item.original].wait()  # taken earlier by some sender: never a deadlock
                started = time.monotonic()
                try:
                    response = await client.post(WEBHOOK_PATH, content=item.body, headers=item.headers)
                    sent[i] = Sent(response.status_code, started, time.monotonic())
                except httpx.HTTPError as exc:
                    sent[i] = Sent(0, started, time.monotonic(), f"{type(exc).__name__}: {exc}")
                done[i].set()

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    finished = time.monotonic()
    assert all(s is not None for s in sent)
    return Run(plan, [s for s in sent if s is not None], started, finished)


# --- replies --------------------------------------------------------------------------------------


@dataclass
class Replies:
    """What the fake LINE API received for one run, counted per webhookEventId (over all its reply tokens)."""

    by_event: dict[str, int] = field(default_factory=dict)  # event id -> replies accepted (200)
    via_redelivery: int = 0  # accepted replies that used a redelivery's token (the redelivery won the claim)
    rejected: int = 0  # replies the fake refused (for tokens of this run)
    unknown: int = 0  # replies with a token this run never sent
    latency: list[float] = field(default_factory=list)  # seconds from sending an event to its (first) reply
    last_at: float = 0.0

    @property
    def ok(self) -> int:
        return sum(self.by_event.values())

    def missing(self, run: Run) -> list[str]:
        return sorted({d.event_id for d in run.plan if self.by_event.get(d.event_id, 0) == 0})

    def duplicated(self, run: Run) -> list[str]:
        return sorted({d.event_id for d in run.plan if self.by_event.get(d.event_id, 0) > 1})


def match_replies(run: Run, replies: Sequence[RecordedRequest]) -> Replies:
    by_token = {d.reply_token: d for d in run.plan}
    out = Replies()
    for reply in replies:
        token = reply.json.get("replyToken") if isinstance(reply.json, dict) else None
        item = by_token.get(token) if isinstance(token, str) else None
        if item is None:
            out.unknown += 1
            continue
        if not 200 <= reply.status < 300:
            out.rejected += 1
            continue
        out.by_event[item.event_id] = out.by_event.get(item.event_id, 0) + 1
        out.via_redelivery += item.redelivery
        if out.by_event[item.event_id] == 1:
            out.latency.append(reply.at - run.sent[item.index].sent_at)
        out.last_at = max(out.last_at, reply.at)
    return out


def percentile(samples: Sequence[float], p: float) -> float:
    if not samples:
        return float("nan")
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


# --- server processes -----------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """pid and every process below it (uvicorn's worker processes), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime + stime


def machine_busy_seconds() -> float:
    """CPU seconds all processes have used since boot (every core; idle and iowait left out), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    spawned_at: float
    first_answer_s: float  # from spawn to the first successful probe

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def pids(self) -> list[int]:
        return descendants(self.process.pid)

    def rss_mib(self) -> float:
        return sum(rss_kib(p) for p in self.pids()) / 1024

    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_process().values())

    def cpu_by_process(self) -> dict[int, float]:
        return {p: cpu_seconds(p) for p in self.pids()}

    def wait_log(self, pattern: str, count: int, timeout: float = 60.0) -> None:
        """Until the log holds `count` lines matching `pattern` (e.g. one "started" line per worker)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while len(regex.findall(self.log_text())) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server: {count} x {pattern!r} not seen in {timeout}s:\n{self.log_text()[-4000:]}")
            time.sleep(0.05)


Probe = Callable[[httpx.Client, str], bool]


def ask_probe(client: httpx.Client, base_url: str) -> bool:
    """budgetbot answers a question: the server is up and the knowledge loaded."""
    response = client.post(f"{base_url}/api/ask", json={"question": "ปีงบ 70 ยังยื่นได้ไหม"})
    return response.status_code == 200


def webhook_probe(client: httpx.Client, base_url: str) -> bool:
    return client.post(f"{base_url}{WEBHOOK_PATH}", content=b"{}").status_code == 200


def budgetbot_command(port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def bare_command(port: int, workers: int = 1) -> list[str]:
    """The ceiling (bench/bare_app.py), run under uvicorn like `budgetbot serve` runs the app."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(REPO / "bench"),
        "bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "info",
    ]


@contextmanager
def spawn(
    command: list[str],
    *,
    port: int,
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
    probe: Probe,
    timeout: float = 60.0,
) -> Iterator[Server]:
    """Start a server process; yield once `probe` succeeds (timed from the spawn); stop it afterwards."""
    base_url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log_file, httpx.Client(timeout=2.0, trust_env=False) as client:
        spawned_at = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited early:\n{log_path.read_text(errors='replace')[-4000:]}")
                try:
                    if probe(client, base_url):
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() - spawned_at > timeout:
                    raise RuntimeError(f"no answer in {timeout}s:\n{log_path.read_text(errors='replace')[-4000:]}")
                time.sleep(0.01)
            yield Server(base_url, process, log_path, spawned_at, time.monotonic() - spawned_at)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
