"""`budgetbot review`: questions the bot could not answer well, grouped, ready to become knowledge entries.

A question needs review when it got a fallback or a "did you mean", or any answer below `min_confidence`.
Similar questions (rapidfuzz ratio >= 80 on the normalized text) are grouped greedily, most frequent first,
and can be written out as FAQ stubs to fill in and paste into knowledge/faq*.yaml.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel
from rapidfuzz import fuzz, process
from sqlalchemy import or_, select

from bot.answer import AnswerKind
from bot.settings import Settings
from bot.storage import Database, normalize_question, open_database
from bot.storage.models import QuestionLogEntry

BANGKOK = ZoneInfo("Asia/Bangkok")
# "did_you_mean" is kept for rows logged while that kind existed.
REVIEW_KINDS = (AnswerKind.FALLBACK.value, "did_you_mean")
SIMILARITY = 80  # rapidfuzz fuzz.ratio, 0-100
MAX_VARIANTS = 10
MAX_ROWS = 100_000  # newest first; keeps a review of a busy period bounded in memory


class ReviewGroup(BaseModel):
    representative: str  # the group's most frequent wording
    count: int  # how many times any variant was asked
    variants: list[str]  # distinct wordings, most frequent first (up to 10)
    last_seen: datetime  # UTC
    kinds: list[str]  # the answer kinds the questions got


@dataclass
class _Bucket:
    """All questions with one normalized text."""

    normalized: str
    count: int = 0
    last_seen: datetime = datetime.min.replace(tzinfo=timezone.utc)
    texts: Counter[str] = field(default_factory=Counter)
    kinds: set[str] = field(default_factory=set)

    def add(self, text: str, kind: str, at: datetime) -> None:
        self.count += 1
        self.texts[text] += 1
        self.kinds.add(kind)
        self.last_seen = max(self.last_seen, at)


def review_groups(
    db: Database,
    days: int,
    limit: int,
    min_confidence: float = 0.6,
    *,
    now: datetime | None = None,
) -> list[ReviewGroup]:
    """Groups of similar questions from the last `days` that need an answer, most frequent first."""
    since = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    log = QuestionLogEntry
    query = (
        select(log.question, log.normalized_question, log.answer_kind, log.asked_at)
        .where(log.asked_at >= since)
        .where(or_(log.answer_kind.in_(REVIEW_KINDS), log.confidence < min_confidence))
        .order_by(log.asked_at.desc())
        .limit(MAX_ROWS)
    )
    with db.engine.connect() as connection:
        rows = connection.execute(query).all()

    buckets: dict[str, _Bucket] = {}
    for question, normalized, kind, asked_at in rows:
        text = " ".join(question.split())
        key = normalized or normalize_question(text)
        if not key:
            continue
        buckets.setdefault(key, _Bucket(key)).add(text, kind, asked_at)

    # Greedy: the most asked wordings found groups; each later one joins the most similar group, if close enough.
    ordered = sorted(buckets.values(), key=lambda b: (-b.count, -b.last_seen.timestamp(), b.normalized))
    groups: list[list[_Bucket]] = []
    heads: list[str] = []
    for bucket in ordered:
        match = process.extractOne(bucket.normalized, heads, scorer=fuzz.ratio, score_cutoff=SIMILARITY)
        if match is None:
            groups.append([bucket])
            heads.append(bucket.normalized)
        else:
            groups[match[2]].append(bucket)

    result = [_to_group(members) for members in groups]
    result.sort(key=lambda g: (-g.count, -g.last_seen.timestamp()))
    return result[:limit]


def _to_group(members: list[_Bucket]) -> ReviewGroup:
    texts: Counter[str] = Counter()
    for bucket in members:
        texts.update(bucket.texts)
    variants = [text for text, _ in sorted(texts.items(), key=lambda item: (-item[1], item[0]))][:MAX_VARIANTS]
    return ReviewGroup(
        representative=variants[0],
        count=sum(b.count for b in members),
        variants=variants,
        last_seen=max(b.last_seen for b in members),
        kinds=sorted(set().union(*(b.kinds for b in members))),
    )


# --- the command ---------------------------------------------------------------------------------------------


def run_review(settings: Settings, days: int, limit: int, yaml_out: Path | None) -> int:
    """Print the groups; with `yaml_out`, also write them as FAQ stubs. Returns the exit code."""
    if days < 1 or limit < 1:
        print("budgetbot review: --days and --limit must be at least 1", file=sys.stderr)
        return 2
    if yaml_out is not None and _is_inside(yaml_out, settings.knowledge_dir):
        print(
            f"budgetbot review: {yaml_out} is inside the knowledge directory ({settings.knowledge_dir}); "
            "unfilled stubs there would fail validation. Write it elsewhere and paste the finished entries in.",
            file=sys.stderr,
        )
        return 2
    try:
        db = open_database(settings)
    except Exception as exc:  # noqa: BLE001 - a clear message instead of a traceback
        print(f"budgetbot review: cannot open the database: {exc}", file=sys.stderr)
        return 1
    try:
        groups = review_groups(db, days, limit)
    except Exception as exc:  # noqa: BLE001
        print(f"budgetbot review: cannot read the question log: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()

    print(format_table(groups, days))
    if yaml_out is not None:
        yaml_out.parent.mkdir(parents=True, exist_ok=True)
        yaml_out.write_text(yaml_stubs(groups, days), encoding="utf-8")
        print(f"\nwrote {len(groups)} FAQ stub(s) to {yaml_out}")
    return 0


def _is_inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def _bangkok(at: datetime) -> str:
    return at.astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M")


def format_table(groups: list[ReviewGroup], days: int) -> str:
    """A plain-text table; the question goes last because Thai marks make column widths unreliable."""
    title = f"Questions to review (last {days} day(s)): {len(groups)} group(s)"
    if not groups:
        return f"{title}\nNothing to review: every question got a confident answer."
    lines = [title, "", f"{'#':>3}  {'count':>5}  {'last seen (Bangkok)':<19}  {'answered as':<24}  question"]
    for n, group in enumerate(groups, start=1):
        kinds = ",".join(group.kinds)
        lines.append(f"{n:>3}  {group.count:>5}  {_bangkok(group.last_seen):<19}  {kinds:<24}  {group.representative}")
        for variant in group.variants[1:]:
            lines.append(f"{'':>3}  {'':>5}  {'':<19}  {'':<24}  ~ {variant}")
    return "\n".join(lines)


def yaml_stubs(groups: list[ReviewGroup], days: int, *, now: datetime | None = None) -> str:
    """FAQ stubs under `faq:`, in the knowledge files' format, with instructions in a comment."""
    generated = _bangkok(now or datetime.now(timezone.utc))
    header = f"""\
# FAQ stubs from `budgetbot review` ({generated} Bangkok time, last {days} day(s)): questions that got a
# fallback, a "did you mean" or a low-confidence answer, grouped by similarity, most frequent first.
#
# How to fill them in:
#   1. Check `questions`: remove wordings that do not belong together (they may fit another stub).
#   2. If an existing entry in knowledge/faq*.yaml already answers them, add these wordings to that entry's
#      `questions` instead, and drop the stub.
#   3. Otherwise give the stub a real id (lowercase words joined by hyphens), a short Thai `title` and an
#      English `title_en`, the answer in Thai (`answer`) and English (`answer_en`), and in `sources` the ids
#      (from knowledge/sources.yaml) of the documents the answer rests on. State only what the sources say.
#   4. Paste the finished entries under `faq:` in a knowledge/faq*.yaml file and run `budgetbot kb check`.
#
# Do NOT save or copy this file into knowledge/ as it is: every *.yaml there is loaded, and the empty
# titles, answers and sources fail validation, so the knowledge base would not load.
"""
    if not groups:
        return header + "faq: []\n"
    parts = [header, "faq:\n"]
    for n, group in enumerate(groups, start=1):
        stub = {
            "id": f"todo-{n}",
            "title": "",
            "title_en": "",
            "questions": group.variants,
            "answer": "",
            "answer_en": "",
            "sources": [],
        }
        dumped = yaml.safe_dump([stub], allow_unicode=True, sort_keys=False, width=1000)
        parts.append(
            f"  # asked {group.count} time(s), last {_bangkok(group.last_seen)}, answered as {', '.join(group.kinds)}\n"
        )
        parts.append("".join(f"  {line}\n" for line in dumped.splitlines()))
    return "".join(parts)
