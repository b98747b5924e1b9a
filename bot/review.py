"""`budgetbot review`: questions the bot could not answer well, grouped, ready to become knowledge entries.

A question needs review when it got a fallback or a "did you mean", or any answer below `min_confidence`.
Similar questions (rapidfuzz ratio >= 80 on the normalized text) are grouped greedily, most frequent first,
and can be written out as FAQ stubs to fill in and paste into knowledge/faq*.yaml.

Bounded, because the log is filled by anyone who can type: the database counts the rows (one row per distinct
normalized wording, the most recent `max_rows` of them, BUDGETBOT_REVIEW_MAX_ROWS), and grouping compares each
wording only with the group heads an index of character bigrams says could be similar enough, not with all of
them (see group_wordings). In the server, `SingleFlight` keeps it to one review computed at a time.
"""

from __future__ import annotations

import asyncio
import functools
import math
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import chain
from pathlib import Path
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import yaml
from pydantic import BaseModel
from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, Connection, case, func, or_, select

from bot.answer import AnswerKind
from bot.privacy import mask_personal_data
from bot.settings import Settings
from bot.storage import Database, normalize_question, open_database
from bot.storage.models import QuestionLogEntry

BANGKOK = ZoneInfo("Asia/Bangkok")
# "did_you_mean" is kept for rows logged while that kind existed.
REVIEW_KINDS = (AnswerKind.FALLBACK.value, "did_you_mean")
SIMILARITY = 80  # rapidfuzz fuzz.ratio, 0-100
MAX_VARIANTS = 10
DEFAULT_MAX_ROWS = 20_000  # distinct wordings read, newest first (Settings.review_max_rows)
_KEYS_PER_QUERY = 500  # wordings per IN (...) when reading the spellings of the groups shown


class ReviewGroup(BaseModel):
    representative: str  # the group's most frequent wording
    count: int  # how many times any variant was asked
    variants: list[str]  # distinct wordings, most frequent first (up to 10)
    last_seen: datetime  # UTC
    kinds: list[str]  # the answer kinds the questions got
    intents: list[str] = []  # the rules of the understanding table that answered them (Answer.intent)


@dataclass
class _Bucket:
    """All questions with one normalized text."""

    normalized: str
    count: int = 0
    last_seen: datetime = datetime.min.replace(tzinfo=timezone.utc)
    keys: list[str] = field(default_factory=list)  # the texts the database grouped them by (see _wordings)
    texts: Counter[str] = field(default_factory=Counter)
    kinds: set[str] = field(default_factory=set)
    intents: set[str] = field(default_factory=set)


def review_groups(
    db: Database,
    days: int,
    limit: int,
    min_confidence: float = 0.6,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    now: datetime | None = None,
) -> list[ReviewGroup]:
    """Groups of similar questions from the last `days` that need an answer, most frequent first.

    Reads the `max_rows` most recently asked distinct wordings (by normalized text), each with its count over
    every row of the period; the spellings and answer kinds only of the groups returned."""
    log = QuestionLogEntry
    needs_review = (
        log.asked_at >= (now or datetime.now(timezone.utc)) - timedelta(days=days),
        or_(log.answer_kind.in_(REVIEW_KINDS), log.confidence < min_confidence),
    )
    # One connection; the statements may still see different moments of a log being written, which costs at
    # most a spelling or a kind of a wording asked meanwhile.
    with db.engine.connect() as connection:
        buckets = _wordings(connection, needs_review, max_rows)
        # Greedy: the most asked wordings found groups; each later one joins the most similar group, if close.
        buckets.sort(key=lambda b: (-b.count, -b.last_seen.timestamp(), b.normalized))
        groups = [[buckets[i] for i in members] for members in group_wordings([b.normalized for b in buckets])]
        groups.sort(key=lambda g: (-sum(b.count for b in g), -max(b.last_seen for b in g).timestamp()))
        shown = groups[:limit]
        _add_details(connection, needs_review, [b for members in shown for b in members])
    return [_to_group(members) for members in shown]


def _review_key() -> ColumnElement[str]:
    # Rows written before normalized_question existed have none: grouped by their text, normalized in Python.
    return func.coalesce(QuestionLogEntry.normalized_question, QuestionLogEntry.question)


def _wordings(connection: Connection, needs_review: tuple[ColumnElement[bool], ...], max_rows: int) -> list[_Bucket]:
    """One bucket per normalized wording, with its count and last time asked: the database groups and counts,
    so only `max_rows` rows, the most recently asked wordings, ever reach Python, however long the log."""
    log = QuestionLogEntry
    key = _review_key()
    last_seen = func.max(log.asked_at)
    query = (
        select(
            key.label("key"),
            func.count().label("n"),
            last_seen.label("last_seen"),
            func.max(case((log.normalized_question.is_(None), 1), else_=0)).label("unnormalized"),
        )
        .where(*needs_review)
        .group_by(key)
        .order_by(last_seen.desc(), key)
        .limit(max_rows)
    )
    buckets: dict[str, _Bucket] = {}
    for row in connection.execute(query):
        normalized = normalize_question(row.key) if row.unnormalized else row.key
        if not normalized:
            continue
        bucket = buckets.setdefault(normalized, _Bucket(normalized))
        bucket.count += int(row.n)
        bucket.last_seen = max(bucket.last_seen, row.last_seen)
        bucket.keys.append(row.key)
    return list(buckets.values())


def _add_details(connection: Connection, needs_review: tuple[ColumnElement[bool], ...], buckets: list[_Bucket]) -> None:
    """The spellings (up to MAX_VARIANTS of each wording, most asked first) and answer kinds of `buckets`."""
    log = QuestionLogEntry
    key = _review_key()
    by_key = {k: b for b in buckets for k in b.keys}
    keys = list(by_key)
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = key.in_(keys[start : start + _KEYS_PER_QUERY])
        spellings = (
            select(
                key.label("key"),
                log.question,
                func.count().label("n"),
                func.row_number().over(partition_by=key, order_by=(func.count().desc(), log.question)).label("rank"),
            )
            .where(*needs_review, chunk)
            .group_by(key, log.question)
            .subquery()
        )
        texts = select(spellings.c.key, spellings.c.question, spellings.c.n).where(spellings.c.rank <= MAX_VARIANTS)
        for row in connection.execute(texts):
            if (bucket := by_key.get(row.key)) is not None:
                bucket.texts[" ".join(row.question.split())] += int(row.n)
        kinds = (
            select(key.label("key"), log.answer_kind, log.intent)
            .where(*needs_review, chunk)
            .group_by(key, log.answer_kind, log.intent)
        )
        for row in connection.execute(kinds):
            if (bucket := by_key.get(row.key)) is not None:
                bucket.kinds.add(row.answer_kind)
                if row.intent:
                    bucket.intents.add(row.intent)
    for bucket in buckets:
        if not bucket.texts:  # its rows were purged in between
            bucket.texts[bucket.normalized] = bucket.count


def _to_group(members: list[_Bucket]) -> ReviewGroup:
    texts: Counter[str] = Counter()
    for bucket in members:
        for text, n in bucket.texts.items():
            # Rows logged before questions were masked are masked here, before anyone sees them (PDPA).
            texts[mask_personal_data(text)] += n
    variants = [text for text, _ in sorted(texts.items(), key=lambda item: (-item[1], item[0]))][:MAX_VARIANTS]
    return ReviewGroup(
        representative=variants[0],
        count=sum(b.count for b in members),
        variants=variants,
        last_seen=max(b.last_seen for b in members),
        kinds=sorted(set().union(*(b.kinds for b in members))),
        intents=sorted(set().union(*(b.intents for b in members))),
    )


# --- grouping without comparing every wording with every other -----------------------------------------------
#
# fuzz.ratio(a, b) = 200 * LCS(a, b) / (len(a) + len(b)), so a score >= 80 needs the two to share many character
# bigrams (a typo or a changed particle breaks only the two or three around it). Each group head is indexed by
# the rarer half of its bigrams (rarest first, one order for all wordings; a bigram no other wording has is left
# out), and a wording looks up the heads through the rarer half of its own, at most CANDIDATES of them. Thai
# shares bigrams by chance too, so most of those heads are no match: the LCS is also at most the characters two
# wordings have in common (counted per character), which rules out nearly every such head in a few array
# operations, and rapidfuzz scores the few left. Grouping is so O(wordings x CANDIDATES), not O(wordings x
# groups). Only the index can miss: on typo'd and reworded Thai questions (tests/support/questions.py) the groups
# are those of scoring every head for 98-100% of wordings (tests/test_review.py, bench/review.py); what it misses
# is a pair near the threshold whose shared bigrams are common ones. Wordings of 2-3 characters may share no
# bigram at all (ac, abc), so those are compared with the heads of a close length directly.

CANDIDATES = 256  # heads considered per wording, at most
PREFIX_SHARE = 0.5  # of a wording's (shareable) bigrams, rarest first, that are indexed and looked up
MIN_PREFIX = 3
SHORT = 3  # wordings this long or shorter are compared by length, not through the index
_CHARACTER_COLUMNS = 32


def _min_lcs(m: int, n: int) -> int:
    """The smallest LCS with which fuzz.ratio of lengths m and n reaches SIMILARITY (integer arithmetic)."""
    return -(-SIMILARITY * (m + n) // 200)


@functools.cache
def _lengths_near(m: int) -> range:
    """The lengths n for which a wording of length m can score SIMILARITY: min(m, n) >= _min_lcs(m, n)."""
    if m == 0:
        return range(0, 1)
    lo = next(n for n in range(1, m + 1) if n >= _min_lcs(m, n))
    hi = m
    while min(m, hi + 1) >= _min_lcs(m, hi + 1):
        hi += 1
    return range(lo, hi + 1)


def _character_counts(wordings: Sequence[str]) -> np.ndarray:
    """How often each character occurs in each wording (one row per wording): the most common characters a
    column each, all the others one shared column, which still bounds the LCS from above."""
    codes = np.frombuffer("".join(wordings).encode("utf-32-le"), dtype=np.uint32)
    frequency = np.bincount(codes)
    column_of_code = np.full(len(frequency), _CHARACTER_COLUMNS - 1, dtype=np.int64)
    common = np.argsort(-frequency, kind="stable")[: _CHARACTER_COLUMNS - 1]
    column_of_code[common] = np.arange(len(common))
    rows = np.repeat(np.arange(len(wordings)), [len(w) for w in wordings])
    cells = rows * _CHARACTER_COLUMNS + column_of_code[codes]
    counts = np.bincount(cells, minlength=len(wordings) * _CHARACTER_COLUMNS)
    # As narrow as the longest wording allows (less to read per comparison), never so narrow that a count wraps.
    narrow = np.uint8 if max(len(w) for w in wordings) <= np.iinfo(np.uint8).max else np.uint16
    return counts.reshape(len(wordings), _CHARACTER_COLUMNS).astype(narrow)


class _HeadIndex:
    """The heads (first wordings) of the groups so far, found through the rarer half of their bigrams."""

    def __init__(self, wordings: Sequence[str]) -> None:
        bigrams = [{w[i : i + 2] for i in range(len(w) - 1)} for w in wordings]
        frequency = Counter(chain.from_iterable(bigrams))
        # Rarest first; a bigram of one wording only can never be shared, so it is left out.
        order = sorted((g for g, n in frequency.items() if n > 1), key=lambda g: (frequency[g], g))
        rank = {g: r for r, g in enumerate(order)}
        self.prefixes: list[list[int]] = []
        for grams in bigrams:
            shared = sorted([r for r in map(rank.get, grams) if r is not None])
            self.prefixes.append(shared[: max(MIN_PREFIX, math.ceil(PREFIX_SHARE * len(shared)))])
        self.wordings = wordings
        self.lengths = np.array([len(w) for w in wordings], dtype=np.int64)
        self.characters = _character_counts(wordings) if wordings else np.zeros((0, _CHARACTER_COLUMNS), np.uint8)
        self._head_positions = np.zeros(len(wordings), dtype=np.int64)  # by group number
        self._groups = 0
        self._postings: dict[int, list[int]] = {}
        self._short: dict[int, list[int]] = {}  # heads of up to SHORT + 1 characters, by length

    def add(self, position: int) -> None:
        """Make the wording at `position` the head of a new group (numbered in order)."""
        group = self._groups
        self._head_positions[group] = position
        self._groups += 1
        length = len(self.wordings[position])
        if length <= SHORT + 1:
            self._short.setdefault(length, []).append(group)
        for gram in self.prefixes[position]:
            self._postings.setdefault(gram, []).append(group)

    def best(self, position: int) -> int | None:
        """The group whose head is most similar (>= SIMILARITY; the earliest group on a tie), or None."""
        wording = self.wordings[position]
        candidates: set[int] = set()
        if len(wording) <= SHORT:
            for n in _lengths_near(len(wording)):
                candidates.update(self._short.get(n, ())[:CANDIDATES])
        for gram in self.prefixes[position]:
            room = CANDIDATES - len(candidates)
            if room <= 0:
                break
            candidates.update(self._postings.get(gram, ())[:room])
        if not candidates:
            return None
        groups = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        heads = self._head_positions[groups]
        # The LCS is at most the characters two wordings have in common: heads that cannot reach SIMILARITY
        # whatever the order of their characters are dropped before rapidfuzz scores the rest. Nearly all are.
        common = np.minimum(self.characters[heads], self.characters[position]).sum(axis=1, dtype=np.int64)
        close = np.sort(groups[200 * common >= SIMILARITY * (len(wording) + self.lengths[heads])])
        if not len(close):
            return None
        choices = [self.wordings[h] for h in self._head_positions[close].tolist()]
        match = process.extractOne(wording, choices, scorer=fuzz.ratio, score_cutoff=SIMILARITY)
        return None if match is None else int(close[match[2]])


def group_wordings(wordings: Sequence[str]) -> list[list[int]]:
    """Greedy grouping of distinct wordings, taken in the order given: each joins the group whose head is most
    similar (fuzz.ratio >= SIMILARITY), or becomes the head of a new one. Returns positions, per group."""
    index = _HeadIndex(wordings)
    groups: list[list[int]] = []
    for position in range(len(wordings)):
        group = index.best(position)
        if group is None:
            index.add(position)
            groups.append([position])
        else:
            groups[group].append(position)
    return groups


# --- one review at a time ---------------------------------------------------------------------------------------

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SingleFlight(Generic[K, T]):
    """At most one computation at a time; callers with the same key while one is pending share its result.

    A caller with another key queues behind the running one instead of running beside it (and later callers with
    that key share the queued computation). A caller that goes away does not cancel a computation others share.
    Use it from one event loop only (its asyncio.Lock belongs to the loop that first waits on it).
    """

    def __init__(self) -> None:
        self._turn = asyncio.Lock()
        self._pending: dict[K, asyncio.Future[T]] = {}
        self.computed = 0  # computations started, for the log and tests

    async def run(self, key: K, compute: Callable[[], Awaitable[T]]) -> T:
        flight = self._pending.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._one_at_a_time(compute))
            self._pending[key] = flight
            flight.add_done_callback(functools.partial(self._landed, key))
        return await asyncio.shield(flight)

    async def _one_at_a_time(self, compute: Callable[[], Awaitable[T]]) -> T:
        async with self._turn:
            self.computed += 1
            return await compute()

    def _landed(self, key: K, flight: asyncio.Future[T]) -> None:
        if self._pending.get(key) is flight:
            del self._pending[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: a failure every caller left behind is not reported as unhandled


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
        groups = review_groups(db, days, limit, max_rows=settings.review_max_rows)
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
        kinds = ",".join(group.intents or group.kinds)
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
