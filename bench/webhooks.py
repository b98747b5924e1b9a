"""Webhook benchmark: signed LINE webhooks through the running server (`budgetbot serve`, replies going to the fake
LINE API of tests/fakes/fake_line.py) side by side with a bare FastAPI endpoint that only answers 200 (the
ceiling, bench/bare_app.py), with 1 and 2 workers; plus start-up time to the first answer and resident memory.

    .venv/bin/python bench/webhooks.py [--events 2000] [--concurrency 20] [--workers 1,2] [--database-url URL]
                                       [--out docs/benchmarks.md] [--no-write] [--profile DIR]

Everything on 127.0.0.1. The driver (httpx, asyncio) and the fake LINE API run in this process; the servers run
as separate processes. With 2 workers both share one SQLite file under a fresh BUDGETBOT_DATA_DIR, unless
--database-url names a PostgreSQL database. Prints a table and writes it into the output file as the section
starting at the `<!-- webhooks -->` marker (everything before it, bench/matching.py's part, is kept).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.fake_line import REPLY_PATH, FakeLine  # noqa: E402
from tests.support.load import (  # noqa: E402
    Probe,
    Run,
    Server,
    ask_probe,
    bare_command,
    budgetbot_command,
    drive,
    eval_questions,
    match_replies,
    percentile,
    plan_line_load,
    spawn,
    webhook_probe,
)
from tests.support.server import base_env, free_port  # noqa: E402

MARKER = "<!-- webhooks -->"
SECRET = "bench-channel-secret-0123456789ab"
TOKEN = "bench-channel-access-token"
TARGET_RATIO = 0.5  # webhook throughput at least half the bare endpoint's
TARGET_STARTUP_S = 2.0
BARE_STARTED = r"Application startup complete"
BUDGETBOT_STARTED = r'"message": "budgetbot started"'


@dataclass
class Result:
    server: str
    workers: int
    events: int
    webhooks_per_s: float
    ack_p50_ms: float
    ack_p99_ms: float
    statuses: dict[int, int]
    startup_s: float  # median over the start-up runs
    startup_runs: list[float]
    rss_mib: float
    processes: int
    server_cpu_ms: float  # server CPU time per webhook, all its processes
    driver_cpu: float  # share of one core this process (driver + fake) used during the run
    replies_per_s: float | None = None  # webhooks sent to replies received, end to end
    reply_p50_ms: float | None = None
    reply_p99_ms: float | None = None
    replied: int | None = None


def _env(tmp: Path, fake: FakeLine, database_url: str | None) -> dict[str, str]:
    env = base_env(tmp)  # fresh BUDGETBOT_DATA_DIR (the SQLite file), fixed "today", NO_PROXY, offline PyThaiNLP
    env.update(LINE_CHANNEL_SECRET=SECRET, LINE_CHANNEL_ACCESS_TOKEN=TOKEN, LINE_API_BASE_URL=fake.url,
               LINE_DATA_API_BASE_URL=fake.url)
    if database_url:
        env["BUDGETBOT_DATABASE_URL"] = database_url
    return env


def _wait_replies(fake: FakeLine, run: Run, timeout: float) -> None:
    unique = len({d.event_id for d in run.plan})
    deadline = time.monotonic() + timeout
    while match_replies(run, fake.requests_to(REPLY_PATH)).ok < unique and time.monotonic() < deadline:
        time.sleep(0.1)


def measure(kind: str, workers: int, args: argparse.Namespace, fake: FakeLine, questions: list[str]) -> Result:
    bare = kind == "bare"
    command = bare_command if bare else budgetbot_command
    probe: Probe = webhook_probe if bare else ask_probe
    started_pattern = BARE_STARTED if bare else BUDGETBOT_STARTED
    startups: list[float] = []
    for attempt in range(args.startup_runs):
        with tempfile.TemporaryDirectory(prefix="budgetbot-bench-") as tmp_dir:
            tmp = Path(tmp_dir)
            port = free_port()
            with spawn(command(port, workers), port=port, env=_env(tmp, fake, args.database_url), cwd=tmp,
                       log_path=tmp / "server.log", probe=probe) as server:
                startups.append(server.first_answer_s)
                if attempt < args.startup_runs - 1:
                    continue
                server.wait_log(started_pattern, workers)  # load must reach every worker, not just the first
                return _load(kind, workers, args, fake, questions, server, startups, tmp)
    raise AssertionError("unreachable")


def _load(kind: str, workers: int, args: argparse.Namespace, fake: FakeLine, questions: list[str], server: Server,
          startups: list[float], tmp: Path) -> Result:
    bare = kind == "bare"
    warm = plan_line_load(args.warmup, secret=SECRET, redeliver_fraction=0.0, questions=questions, seed=1)
    warm_run = asyncio.run(drive(server.base_url, warm, concurrency=args.concurrency))
    if not bare:
        _wait_replies(fake, warm_run, timeout=60)
    rss, processes = server.rss_mib(), len(server.pids())

    plan = plan_line_load(args.events, secret=SECRET, redeliver_fraction=0.0, questions=questions, seed=2)
    profiler = _start_profiler(args, kind, workers, server)
    cpu_before, own_before = server.cpu_seconds(), time.process_time()
    run = asyncio.run(drive(server.base_url, plan, concurrency=args.concurrency))
    result = Result(
        server="bare FastAPI (ceiling)" if bare else "budgetbot",
        workers=workers,
        events=len(plan),
        webhooks_per_s=run.per_second,
        ack_p50_ms=percentile([s.seconds for s in run.sent], 50) * 1000,
        ack_p99_ms=percentile([s.seconds for s in run.sent], 99) * 1000,
        statuses=run.statuses(),
        startup_s=statistics.median(startups),
        startup_runs=startups,
        rss_mib=rss,
        processes=processes,
        server_cpu_ms=0.0,
        driver_cpu=0.0,
    )
    if not bare:
        _wait_replies(fake, run, timeout=60 + args.events / 20)
        replies = match_replies(run, fake.requests_to(REPLY_PATH))
        end = replies.last_at if replies.ok else run.finished
        result.replies_per_s = replies.ok / (end - run.started)
        result.reply_p50_ms = percentile(replies.latency, 50) * 1000
        result.reply_p99_ms = percentile(replies.latency, 99) * 1000
        result.replied = replies.ok
    wall = max(time.monotonic() - run.started, 1e-9)
    result.server_cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / len(plan)
    result.driver_cpu = (time.process_time() - own_before) / wall
    if profiler is not None:
        _stop_profiler(profiler)
    return result


def _start_profiler(args: argparse.Namespace, kind: str, workers: int, server: Server) -> subprocess.Popen[bytes] | None:
    """py-spy on the server's processes during the measured load (--profile DIR), when py-spy is installed."""
    if not args.profile or kind == "bare":
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy not installed: no profile", file=sys.stderr)
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    out = args.profile / f"budgetbot-{workers}w.speedscope.json"
    return subprocess.Popen([py_spy, "record", "--pid", str(server.process.pid), "--subprocesses", "--rate", "200",
                             "--format", "speedscope", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_profiler(profiler: subprocess.Popen[bytes]) -> None:
    import signal

    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        profiler.wait(timeout=60)
    except subprocess.TimeoutExpired:
        profiler.kill()


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def render(results: list[Result], args: argparse.Namespace, questions: int) -> str:
    ceiling = {r.workers: r.webhooks_per_s for r in results if r.server.startswith("bare")}
    database = "PostgreSQL (--database-url)" if args.database_url else "one SQLite file under a fresh BUDGETBOT_DATA_DIR"
    lines = [
        MARKER,
        "## LINE webhooks through the server\n",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {_cores()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}. Each row: {args.events:,} signed one-event "
        f"LINE webhooks (unique webhookEventIds and reply tokens, {questions} Thai questions from "
        f"tests/eval/questions.yaml cycled) from {args.concurrency} concurrent keep-alive httpx senders on "
        f"127.0.0.1, after {args.warmup} warm-up webhooks. budgetbot's replies go to the fake LINE API "
        f"(tests/fakes/fake_line.py); the driver and the fake share this process and the machine's cores with the "
        f"server. Database: {database}.",
        "Reproduce: `.venv/bin/python bench/webhooks.py`.\n",
        "| server | workers | webhooks/s | vs ceiling | p50 ms to 200 | p99 ms to 200 | replies/s | "
        "p50 ms to reply | p99 ms to reply | server CPU ms/webhook | start-up s | RSS MiB (processes) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        ratio = r.webhooks_per_s / ceiling[r.workers] if ceiling.get(r.workers) else None
        lines.append(
            f"| {r.server} | {r.workers} | {r.webhooks_per_s:,.0f} | {_fmt(ratio, '.0%')} | {r.ack_p50_ms:.1f} | "
            f"{r.ack_p99_ms:.1f} | {_fmt(r.replies_per_s, ',.0f')} | {_fmt(r.reply_p50_ms, ',.0f')} | "
            f"{_fmt(r.reply_p99_ms, ',.0f')} | {r.server_cpu_ms:.2f} | {r.startup_s:.2f} | "
            f"{r.rss_mib:.0f} ({r.processes}) |"
        )
    lines += [
        "",
        "- webhooks/s: webhooks sent / time from the first send to the last 200. budgetbot answers 200 before it "
        "works (LINE's advice), so replies/s, webhooks sent / time to the last reply reaching the fake, is its real "
        "capacity; \"to reply\" is from sending the webhook to the reply arriving at the fake (matched by reply token).",
        "- vs ceiling: webhooks/s divided by the bare endpoint's (bench/bare_app.py: reads the body, answers 200, "
        "same uvicorn) with the same worker count.",
        "- start-up: from spawning the process to the first successful answer (`POST /api/ask` for budgetbot, "
        f"the webhook for the bare app), fresh data dir, median of {args.startup_runs}. RSS: VmRSS summed over the "
        "server's processes (uvicorn's supervisor and workers) after the warm-up.",
        "- server CPU ms/webhook: user + system CPU time of the server's processes during the run (including "
        "replying), per webhook.",
        "",
        "Targets:",
    ]
    for r in results:
        if r.server != "budgetbot":
            continue
        ratio = r.webhooks_per_s / ceiling[r.workers] if ceiling.get(r.workers) else 0.0
        reply_ratio = (r.replies_per_s or 0.0) / ceiling[r.workers] if ceiling.get(r.workers) else 0.0
        lines.append(
            f"- {r.workers} worker{'s' if r.workers > 1 else ''}: throughput {ratio:.0%} of the ceiling "
            f"({'met' if ratio >= TARGET_RATIO else 'NOT met'}, target {TARGET_RATIO:.0%}; replies/s {reply_ratio:.0%}); "
            f"start-up {r.startup_s:.2f} s ({'met' if r.startup_s < TARGET_STARTUP_S else 'NOT met'}, "
            f"target < {TARGET_STARTUP_S:.0f} s; runs {', '.join(f'{s:.2f}' for s in r.startup_runs)})."
        )
    bad = [r for r in results if set(r.statuses) != {200} or (r.replied is not None and r.replied != r.events)]
    for r in bad:
        lines.append(f"- {r.server} {r.workers}w: statuses {r.statuses}, replied {r.replied}/{r.events}.")
    drivers = ", ".join(f"{r.server.split()[0]} {r.workers}w {r.driver_cpu:.0%}" for r in results)
    lines.append(f"- Driver + fake CPU (share of one core): {drivers}.")
    return "\n".join(lines) + "\n"


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def write_section(out: Path, section: str) -> None:
    """Keep everything before the marker (bench/matching.py's part), replace the rest with this section."""
    previous = out.read_text(encoding="utf-8") if out.exists() else ""
    head = previous[: previous.index(MARKER)] if MARKER in previous else previous
    if head and not head.endswith("\n\n"):
        head = head.rstrip("\n") + "\n\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(head + section, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="PostgreSQL for budgetbot instead of SQLite")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy speedscope profiles of budgetbot into DIR")
    args = parser.parse_args()
    if not 1 <= args.events <= 100_000 or not 1 <= args.concurrency <= 500:
        parser.error("--events must be 1..100000 and --concurrency 1..500")

    questions = eval_questions()
    results: list[Result] = []
    with FakeLine(access_token=TOKEN) as fake:
        for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
            for kind in ("bare", "budgetbot"):
                result = measure(kind, workers, args, fake, questions)
                print(f"{result.server} {workers}w: {result.webhooks_per_s:,.0f} webhooks/s, "
                      f"replies/s {_fmt(result.replies_per_s, ',.0f')}, start-up {result.startup_s:.2f} s, "
                      f"RSS {result.rss_mib:.0f} MiB", file=sys.stderr)
                results.append(result)
                fake.reset()
    section = render(results, args, len(questions))
    print(section)
    if not args.no_write:
        write_section(args.out, section)
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
