"""Review benchmark: the time `budgetbot review` (and /admin/review) takes over a question log of dissimilar
questions, the worst case for grouping (no two group, so every wording is a group of its own).

    .venv/bin/python bench/review.py [--rows 30000,100000] [--repeat 3] [--max-rows 20000]
                                     [--pairwise 10000] [--agreement 2000]

For each size: a fresh SQLite file filled with that many logged fallbacks (tests/support/questions.py, the rows the
service writes), then `review_groups` as the admin route calls it (the newest BUDGETBOT_REVIEW_MAX_ROWS wordings),
and the grouping of those wordings timed on its own (the rest is reading the log). `--pairwise N` also times the
grouping review did before the index (every wording scored against every group head) on N of those wordings;
`--agreement N` groups the near-duplicates of N questions both ways and prints how many wordings end up in the
same group. Prints figures only; run it on a quiet machine (the load average is printed beside them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.review import group_wordings, review_groups  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.storage import Database, normalize_question  # noqa: E402
from tests.support.questions import (  # noqa: E402
    dissimilar_questions,
    fill_question_log,
    group_by_scoring_every_head,
    near_duplicates,
)

T = TypeVar("T")


def timed(func: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_log(rows: int, repeat: int, max_rows: int, workdir: Path) -> None:
    db = Database(f"sqlite:///{workdir / f'review-{rows}.sqlite3'}")
    db.migrate()
    try:
        questions = dissimilar_questions(rows)
        fill_seconds, _ = timed(lambda: fill_question_log(db, questions))
        # What review groups: the newest max_rows wordings, all asked once (questions[0] is the newest).
        wordings = [normalize_question(q) for q in questions[:max_rows]]
        totals, groupings = [], []
        for _ in range(repeat):
            total, groups = timed(lambda: review_groups(db, 7, 50, max_rows=max_rows))
            grouping, _ = timed(lambda: group_wordings(wordings))
            totals.append(total)
            groupings.append(grouping)
        print(
            f"{rows:>8,} rows: review {statistics.median(totals):5.2f} s (min {min(totals):.2f}), of which grouping "
            f"the {len(wordings):,} newest wordings {statistics.median(groupings):5.2f} s  [{len(groups)} groups "
            f"shown; filling the log took {fill_seconds:.1f} s; load {load()}]",
            flush=True,
        )
    finally:
        db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="30000,100000", help="logged questions, comma-separated sizes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-rows", type=int, default=Settings.model_fields["review_max_rows"].default)
    parser.add_argument("--pairwise", type=int, default=0, help="also time the old pairwise grouping on N")
    parser.add_argument("--agreement", type=int, default=2000, help="questions whose near-duplicates are compared")
    args = parser.parse_args()

    print(f"review benchmark, BUDGETBOT_REVIEW_MAX_ROWS={args.max_rows}, {os.cpu_count()} cores, load {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        for rows in (int(r) for r in args.rows.split(",") if r.strip()):
            bench_log(rows, args.repeat, args.max_rows, Path(tmp))

    if args.pairwise:
        wordings = [normalize_question(q) for q in dissimilar_questions(args.pairwise)]
        indexed, _ = timed(lambda: group_wordings(wordings))
        old, _ = timed(lambda: group_by_scoring_every_head(wordings))
        print(f"grouping {args.pairwise:,} dissimilar wordings: index {indexed:.2f} s, pairwise {old:.2f} s")

    if args.agreement:
        wordings = near_duplicates(args.agreement)
        indexed_seconds, indexed = timed(lambda: group_wordings(wordings))
        pairwise_seconds, expected = timed(lambda: group_by_scoring_every_head(wordings))
        same = {frozenset(g) for g in indexed} & {frozenset(g) for g in expected}
        share = sum(len(g) for g in same) / len(wordings)
        print(
            f"near-duplicates of {args.agreement:,} questions ({len(wordings):,} wordings): {len(indexed):,} groups "
            f"with the index, {len(expected):,} scoring every head; {share:.2%} of wordings in the same group "
            f"(index {indexed_seconds:.2f} s, pairwise {pairwise_seconds:.2f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
