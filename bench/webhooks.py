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
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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
    machine_busy_seconds,
    match_replies,
    percentile,
    plan_line_load,
    spawn,
    webhook_probe,
)
from tests.support.server import base_env, free_port, line_env  # noqa: E402

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
    connections: str  # "keep-alive" or "new" (a new connection per webhook)
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
    cpu_split: list[float]  # share of the server CPU time per process, largest first (how the workers shared it)
    driver_cpu: float  # share of one core this process (driver + fake) used during the run
    other_cpu: float  # cores used by everything else on the machine during the run (other users' jobs)
    replies_per_s: float | None = None  # webhooks sent to replies received, end to end
    reply_p50_ms: float | None = None
    reply_p99_ms: float | None = None
    replied: int | None = None


def _env(tmp: Path, fake: FakeLine, database_url: str | None) -> dict[str, str]:
    env = base_env(tmp)  # fresh BUDGETBOT_DATA_DIR (the SQLite file), fixed "today", NO_PROXY, offline PyThaiNLP
    env.update(line_env(fake.url, SECRET, TOKEN))
    if database_url:
        env["BUDGETBOT_DATABASE_URL"] = database_url
    return env


def _wait_replies(fake: FakeLine, run: Run, timeout: float) -> None:
    unique = len({d.event_id for d in run.plan})
    deadline = time.monotonic() + timeout
    while match_replies(run, fake.requests_to(REPLY_PATH)).ok < unique and time.monotonic() < deadline:
        time.sleep(0.1)


def measure(kind: str, workers: int, args: argparse.Namespace, fake: FakeLine, questions: list[str]) -> list[Result]:
    """Start-up runs (each a fresh process and data dir); the last process then takes the load, once per
    connection mode."""
    bare = kind == "bare"
    command = bare_command if bare else budgetbot_command
    probe: Probe = webhook_probe if bare else ask_probe
    started_pattern = BARE_STARTED if bare else BUDGETBOT_STARTED
    startups: list[float] = []
    for attempt in range(args.startup_runs):
        with tempfile.TemporaryDirectory(prefix="budgetbot-bench-") as tmp_dir:
            tmp = Path(tmp_dir)
            port = free_port()
            with spawn(
                command(port, workers),
                port=port,
                env=_env(tmp, fake, args.database_url),
                cwd=tmp,
                log_path=tmp / "server.log",
                probe=probe,
            ) as server:
                startups.append(server.first_answer_s)
                if attempt < args.startup_runs - 1:
                    continue
                server.wait_log(started_pattern, workers)  # every worker up, not just the first
                warm = plan_line_load(args.warmup, secret=SECRET, redeliver_fraction=0.0, questions=questions, seed=1)
                warm_run = asyncio.run(drive(server.base_url, warm, concurrency=args.concurrency, keepalive=False))
                if not bare:
                    _wait_replies(fake, warm_run, timeout=60)
                rss, processes = server.rss_mib(), len(server.pids())
                return [
                    _load(kind, workers, mode, args, fake, questions, server, startups, rss, processes)
                    for mode in args.connections
                ]
    raise AssertionError("unreachable")


def _load(
    kind: str,
    workers: int,
    mode: str,
    args: argparse.Namespace,
    fake: FakeLine,
    questions: list[str],
    server: Server,
    startups: list[float],
    rss: float,
    processes: int,
) -> Result:
    bare = kind == "bare"
    plan = plan_line_load(args.events, secret=SECRET, redeliver_fraction=0.0, questions=questions, seed=2)
    cpu_before, own_before, machine_before = server.cpu_by_process(), time.process_time(), machine_busy_seconds()
    run = asyncio.run(drive(server.base_url, plan, concurrency=args.concurrency, keepalive=mode == "keep-alive"))
    result = Result(
        server="bare FastAPI (ceiling)" if bare else "budgetbot",
        workers=workers,
        connections=mode,
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
        cpu_split=[],
        driver_cpu=0.0,
        other_cpu=0.0,
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
    used = {p: c - cpu_before.get(p, 0.0) for p, c in server.cpu_by_process().items()}
    total = sum(used.values())
    result.server_cpu_ms = total * 1000 / len(plan)
    result.cpu_split = sorted((c / total for c in used.values() if c / max(total, 1e-9) >= 0.01), reverse=True)
    own = time.process_time() - own_before
    result.driver_cpu = own / wall
    result.other_cpu = max(0.0, machine_busy_seconds() - machine_before - total - own) / wall
    return result


def profile_pass(args: argparse.Namespace, fake: FakeLine, questions: list[str]) -> list[Path]:
    """A separate, unmeasured pass with py-spy sampling budgetbot (1 worker, keep-alive) under the same load, so
    the profiler's overhead stays out of the measured figures. (`--gil` gives much the same shares.)"""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy not installed (.venv/bin/pip install py-spy): no profile", file=sys.stderr)
        return []
    args.profile.mkdir(parents=True, exist_ok=True)
    out = args.profile / "budgetbot-1w-keep-alive.speedscope.json"
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="budgetbot-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        port = free_port()
        with spawn(
            budgetbot_command(port, 1),
            port=port,
            env=_env(tmp, fake, args.database_url),
            cwd=tmp,
            log_path=tmp / "server.log",
            probe=ask_probe,
        ) as server:
            warm = plan_line_load(args.warmup, secret=SECRET, redeliver_fraction=0.0, questions=questions, seed=1)
            _wait_replies(fake, asyncio.run(drive(server.base_url, warm, concurrency=args.concurrency)), 60)
            profiler = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(server.process.pid),
                    "--rate",
                    "200",
                    "--format",
                    "speedscope",
                    "--output",
                    str(out),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(0.5)  # let py-spy attach
            plan = plan_line_load(args.events, secret=SECRET, redeliver_fraction=0.0, questions=questions, seed=3)
            run = asyncio.run(drive(server.base_url, plan, concurrency=args.concurrency))
            _wait_replies(fake, run, timeout=60 + args.events / 20)
            _stop_profiler(profiler)
    if not out.exists():
        print(
            f"py-spy wrote no profile: {(profiler.stderr.read() if profiler.stderr else b'').decode()[-500:]}",
            file=sys.stderr,
        )
        return []
    return [out]


def _stop_profiler(profiler: subprocess.Popen[bytes]) -> None:
    import signal

    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        profiler.wait(timeout=60)
    except subprocess.TimeoutExpired:
        profiler.kill()


# Where a profile sample's time goes: the first rule matching its stack, from the innermost frame outwards.
_COMPONENTS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("storage: SQLAlchemy statements on the database (worker threads)", lambda n, f: "bot/storage/" in f),
    ("thread hand-off (asyncio.to_thread, futures)", lambda n, f: "concurrent/futures" in f or "asyncio/threads" in f),
    (
        "LINE SDK: reply request serialised (pydantic v1) and sent (aiohttp)",
        lambda n, f: n in ("LineChannel._deliver", "LineChannel._push"),
    ),
    ("LINE rendering (handlers/line_render.py)", lambda n, f: "handlers/line_render" in f),
    ("answering core (Assistant.respond)", lambda n, f: n == "Assistant.respond"),
    ("service plumbing (bot/service.py)", lambda n, f: "bot/service.py" in f),
    (
        "webhook request: uvicorn, FastAPI, body, signature, event parsing",
        lambda n, f: n in ("RequestResponseCycle.run_asgi", "LineChannel._webhook", "LineChannel._accept"),
    ),
    ("logging", lambda n, f: "/logging/" in f or "handlers/logs" in f),
]


def summarize_profiles(paths: list[Path]) -> list[str]:
    """A markdown table of where the sampled time went, by component, plus the costliest leaf functions."""
    shares: dict[str, float] = {}
    leaves: dict[str, float] = {}
    total = 0.0
    for path in paths:
        data = json.loads(path.read_text())
        frames = data["shared"]["frames"]
        for profile in data["profiles"]:
            for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
                total += weight
                component = "event loop and the rest"
                for index in reversed(stack):
                    frame = frames[index]
                    name, file = frame.get("name", ""), frame.get("file", "")
                    hit = next((label for label, rule in _COMPONENTS if rule(name, file)), None)
                    if hit:
                        component = hit
                        break
                shares[component] = shares.get(component, 0.0) + weight
                leaf = frames[stack[-1]] if stack else {"name": "?", "file": ""}
                where = leaf.get("file", "").split("site-packages/")[-1].replace(str(REPO) + "/", "")
                key = f"{leaf.get('name', '?')} ({where.split('/python3.11/')[-1]})"
                leaves[key] = leaves.get(key, 0.0) + weight
    if not total:
        return []
    lines = ["| component | share of samples |", "| --- | ---: |"]
    lines += [f"| {k} | {v / total:.0%} |" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])]
    lines += [
        "",
        "Costliest functions (own time): "
        + "; ".join(f"{k} {v / total:.1%}" for k, v in sorted(leaves.items(), key=lambda kv: -kv[1])[:10])
        + ".",
    ]
    return lines


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def render(
    results: list[Result], args: argparse.Namespace, questions: int, load_before: float, profile: list[str]
) -> str:
    ceiling = {(r.workers, r.connections): r.webhooks_per_s for r in results if r.server.startswith("bare")}
    database = (
        "PostgreSQL (--database-url)"
        if args.database_url
        else "SQLite, one file under a fresh BUDGETBOT_DATA_DIR shared by the workers"
    )
    lines = [
        MARKER,
        "## LINE webhooks through the server\n",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {_cores()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}, load average {load_before:.2f} before the "
        f"run. Each row: {args.events:,} signed one-event LINE webhooks (unique webhookEventIds and reply tokens, "
        f"{questions} Thai questions from tests/eval/questions.yaml cycled) from {args.concurrency} concurrent httpx "
        f'senders on 127.0.0.1, after {args.warmup} warm-up webhooks; connections "keep-alive": each sender keeps '
        'one connection, "new": a new connection per webhook. budgetbot\'s replies go to the fake LINE API '
        "(tests/fakes/fake_line.py); the driver and the fake run in the benchmark's process, on the same cores as "
        f"the server. Database: {database}.",
        "Reproduce: `.venv/bin/python bench/webhooks.py` (flags: bench/README.md).\n",
        "| server | workers | connections | webhooks/s | vs ceiling | p50 ms to 200 | p99 ms to 200 | replies/s | "
        "p50 ms to reply | p99 ms to reply | server CPU ms/webhook | CPU split | start-up s | RSS MiB (processes) "
        "| other load |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in results:
        base = ceiling.get((r.workers, r.connections))
        ratio = r.webhooks_per_s / base if base else None
        split = "/".join(f"{c:.0%}" for c in r.cpu_split) if len(r.cpu_split) > 1 else "–"
        lines.append(
            f"| {r.server} | {r.workers} | {r.connections} | {r.webhooks_per_s:,.0f} | {_fmt(ratio, '.0%')} | "
            f"{r.ack_p50_ms:.1f} | {r.ack_p99_ms:.1f} | {_fmt(r.replies_per_s, ',.0f')} | "
            f"{_fmt(r.reply_p50_ms, ',.0f')} | {_fmt(r.reply_p99_ms, ',.0f')} | {r.server_cpu_ms:.2f} | {split} | "
            f"{r.startup_s:.2f} | {r.rss_mib:.0f} ({r.processes}) | {r.other_cpu:.2f} |"
        )
    lines += [
        "",
        "- webhooks/s: webhooks sent / time from the first send to the last 200. budgetbot answers 200 first and "
        "works after (LINE's advice), so replies/s (webhooks / time from the first send to the last reply reaching "
        'the fake) is its real capacity, and "to reply" (sending the webhook to its reply arriving at the fake, '
        "matched by reply token) grows with the backlog when webhooks come faster than replies go.",
        "- vs ceiling: webhooks/s divided by the bare endpoint's (bench/bare_app.py: reads the body, answers 200, "
        "same uvicorn) with the same workers and connections." + _ceiling_note(results),
        "- server CPU ms/webhook: user + system CPU of all the server's processes during the run (answering, "
        "storing, replying included) per webhook; CPU split: how that CPU was shared by the processes.",
        "- start-up: spawning the process to the first successful answer (`POST /api/ask` for budgetbot, the "
        f"webhook for the bare app) with a fresh data dir, median of {args.startup_runs}. RSS: VmRSS summed over the "
        "server's processes (uvicorn's supervisor, workers and multiprocessing's resource tracker) after the warm-up.",
        "- other load: cores busy with anything else on the machine during the row (not the server, not the "
        "driver): other jobs sharing the machine skew the figures of the rows where it is high.",
        "",
        "Against the targets (throughput at least half the ceiling's; start-up under 2 s):",
    ]
    for r in results:
        base = ceiling.get((r.workers, r.connections))
        if r.server != "budgetbot" or not base:
            continue
        ratio, reply_ratio = r.webhooks_per_s / base, (r.replies_per_s or 0.0) / base
        lines.append(
            f"- {r.workers} worker{'s' if r.workers > 1 else ''}, {r.connections}: webhooks {ratio:.0%} of the "
            f"ceiling, replies {reply_ratio:.0%} ({'met' if min(ratio, reply_ratio) >= TARGET_RATIO else 'NOT met'}); "
            f"start-up {r.startup_s:.2f} s ({'met' if r.startup_s < TARGET_STARTUP_S else 'NOT met'}; runs "
            f"{', '.join(f'{s:.2f}' for s in r.startup_runs)})."
        )
    for r in results:
        if set(r.statuses) != {200} or (r.replied is not None and r.replied != r.events):
            lines.append(
                f"- PROBLEM {r.server} {r.workers}w {r.connections}: statuses {r.statuses}, "
                f"replied {r.replied}/{r.events}."
            )
    drivers = ", ".join(f"{r.server.split()[0]} {r.workers}w {r.connections} {r.driver_cpu:.0%}" for r in results)
    lines.append(f"- Driver + fake CPU (share of one core): {drivers}.")
    if profile:
        lines += [
            "",
            "Where budgetbot's time goes: a separate pass (1 worker, keep-alive, same load) sampled by "
            "py-spy at 200 Hz (its default: active threads, idle ones left out; the event loop and the storage "
            "threads alike). Each sample goes to the first component found from the innermost frame out:\n",
            *profile,
        ]
    return "\n".join(lines) + "\n"


def _ceiling_note(results: list[Result]) -> str:
    bare = [r for r in results if r.server.startswith("bare")]
    if not bare:
        return ""
    cpu = max(r.server_cpu_ms for r in bare)
    driver = min(r.driver_cpu for r in bare)
    note = f" The bare endpoint needs at most {cpu:.2f} ms of server CPU per webhook"
    if driver >= 0.8:
        return note + f" while the driver used {driver:.0%} or more of a core: its rate is the driver's limit here."
    return note + "."


def _cores() -> int:
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
    parser.add_argument(
        "--connections",
        default="keep-alive,new",
        help="keep-alive (one connection per sender) and/or new (a new connection per webhook)",
    )
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="PostgreSQL for budgetbot instead of SQLite")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="after the measured runs, profile budgetbot with py-spy (speedscope file in DIR) and add "
        "where its time goes to the section",
    )
    args = parser.parse_args()
    args.connections = [c.strip() for c in args.connections.split(",") if c.strip()]
    if not args.connections or set(args.connections) - {"keep-alive", "new"}:
        parser.error("--connections: keep-alive and/or new")
    if not 1 <= args.events <= 100_000 or not 1 <= args.concurrency <= 500:
        parser.error("--events must be 1..100000 and --concurrency 1..500")

    questions = eval_questions()
    load_before = os.getloadavg()[0]
    results: list[Result] = []
    with FakeLine(access_token=TOKEN) as fake:
        for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
            for kind in ("bare", "budgetbot"):
                for result in measure(kind, workers, args, fake, questions):
                    print(
                        f"{result.server} {workers}w {result.connections}: {result.webhooks_per_s:,.0f} webhooks/s, "
                        f"replies/s {_fmt(result.replies_per_s, ',.0f')}, start-up {result.startup_s:.2f} s, "
                        f"RSS {result.rss_mib:.0f} MiB",
                        file=sys.stderr,
                    )
                    results.append(result)
                fake.reset()
        profiles = profile_pass(args, fake, questions) if args.profile else []
    section = render(results, args, len(questions), load_before, summarize_profiles(profiles))
    print(section)
    if not args.no_write:
        write_section(args.out, section)
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
