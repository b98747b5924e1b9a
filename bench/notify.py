"""Notification benchmark: a window added to the knowledge and reloaded, sent to N LINE subscribers (10,000 by
default) by `budgetbot serve` (a subprocess) through the fake LINE API of tests/fakes/fake_line.py.

    .venv/bin/python bench/notify.py [--subscribers 10000] [--database-url URL]

The subscriptions are written straight into a fresh database before the server starts (subscribing through
webhooks is the tests' business, not what is measured here). Prints: the reload's response time, wall time from the
reload to the last multicast LINE accepted, the server's CPU over that time ("our own time": every process of the
server, which also includes the reload itself), the multicast calls and the most ids in one, and whether everyone
got it exactly once. The issue's target: under 10 s of our own time, i.e. at most 20 multicast calls plus the stores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.storage.database import Database  # noqa: E402
from bot.storage.direct import DirectDatabase  # noqa: E402
from handlers.notifications import store  # noqa: E402
from tests.fakes.fake_line import FakeLine  # noqa: E402
from tests.support.env import TEST_SALT  # noqa: E402
from tests.support.load import cpu_seconds, descendants  # noqa: E402
from tests.support.notify import TOKEN, YEAR, admin, knowledge_copy, line_user, notify_env, server  # noqa: E402

TARGET_CPU_SECONDS = 10.0
TARGET_CALLS = 20


def fill(url: str, count: int) -> None:
    """`count` LINE subscribers of YEAR, as subscribing would store them."""
    db = Database(url)
    db.migrate()
    direct = DirectDatabase(db)
    now = time.time()
    rows = [
        ("line", store.user_key("line", line_user(i), TEST_SALT), YEAR, line_user(i), "th", now) for i in range(count)
    ]
    with direct.transaction() as tx:
        tx.executemany(
            "INSERT INTO subscriptions (channel, user_key, fiscal_year, recipient, language, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    direct.close()
    db.dispose()


def server_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in descendants(pid))  # the server and its worker processes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp, FakeLine(access_token=TOKEN) as line:
        root = Path(tmp)
        home = root / "home"
        kb = knowledge_copy(root)
        url = args.database_url or f"sqlite:///{home}/data/budgetbot.sqlite3"
        (home / "data").mkdir(parents=True)
        started = time.perf_counter()
        fill(url, args.subscribers)
        fill_s = time.perf_counter() - started
        with server(notify_env(home, kb, line, None, database_url=args.database_url), home) as s:
            kb.add_window(YEAR, date(2026, 12, 1), date(2027, 1, 15))
            cpu_before = server_cpu(s.process.pid)
            t0 = time.monotonic()
            response = admin(s, "POST", "/reload")
            reload_s = time.monotonic() - t0
            assert response.status_code == 200, response.text
            line.wait_for(lambda _: len(line.multicast_recipients()) >= args.subscribers, timeout=600)
            last = max(r.at for r in line.multicasts())
            wall_s = last - t0
            time.sleep(0.5)  # the bookkeeping after the last call (batch rows, outbox rows removed)
            cpu_s = server_cpu(s.process.pid) - cpu_before
        calls = line.multicasts()
        sent = Counter(line.multicast_recipients())
    once = len(sent) == args.subscribers and max(sent.values()) == 1
    print(f"notify {args.subscribers:,} LINE subscribers ({'PostgreSQL' if args.database_url else 'SQLite'})")
    print(f"  subscriptions written beforehand      {fill_s:8.2f} s")
    print(f"  POST /admin/reload answered in        {reload_s:8.2f} s")
    print(f"  reload to the last multicast (wall)   {wall_s:8.2f} s")
    print(f"  server CPU over that time             {cpu_s:8.2f} s   (target < {TARGET_CPU_SECONDS:.0f} s)")
    print(f"  multicast calls                       {len(calls):8d}     (target <= {TARGET_CALLS})")
    print(f"  most ids in one call                  {max(len(r.json['to']) for r in calls):8d}")
    print(f"  everyone exactly once                 {'yes' if once else 'NO':>8}")
    ok = once and cpu_s < TARGET_CPU_SECONDS and len(calls) <= TARGET_CALLS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
