"""Many logged questions for the review's load test and benchmark: dissimilar wordings, written straight into the
question log the way the service writes them (normalized, masked, user hashed).

Dissimilar is the review's worst case: no two wordings group, so every one of them is a group of its own.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from bot.answer import Answer, AnswerKind
from bot.storage import Database, SqlQuestionLog

# Thai words of 3+ letters from pythainlp's word list, drawn at random: 4 of them and a number make a wording
# that shares no more than chance with any other.
_MIN_WORD = 3
_WORDS_PER_QUESTION = 4
_BATCH = 2_000


def _vocabulary() -> list[str]:
    from pythainlp.corpus import thai_words

    return sorted(w for w in thai_words() if len(w) >= _MIN_WORD and " " not in w)


def dissimilar_questions(count: int, *, seed: int = 8) -> list[str]:
    """`count` distinct question wordings, each a fresh draw of Thai words and a number."""
    rng = random.Random(seed)
    words = _vocabulary()
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        picked = rng.sample(words, _WORDS_PER_QUESTION)
        question = f"{picked[0]}{picked[1]} {picked[2]} {rng.randrange(10, 10_000)} {picked[3]} ได้ไหม"
        if question not in seen:
            seen.add(question)
            out.append(question)
    return out


def _batches(questions: list[str], now: datetime) -> Iterator[list[object]]:
    from bot.service import LoggedQuestion  # imports the assistant: only when questions are written

    answer = Answer(kind=AnswerKind.FALLBACK, text="ไม่มีข้อมูล", confidence=0.1)
    for start in range(0, len(questions), _BATCH):
        yield [
            # Spread over the last day, newest first, so "the most recent" has a meaning.
            LoggedQuestion(now - timedelta(seconds=n), "line", f"U{n:032x}", q, answer)
            for n, q in enumerate(questions[start : start + _BATCH], start=start)
        ]


def fill_question_log(db: Database, questions: list[str], *, now: datetime | None = None) -> None:
    """Each question once, logged as a fallback (so every one needs review), within the last day."""
    store = SqlQuestionLog(db, salt="load-test-salt")
    for batch in _batches(questions, now or datetime.now(timezone.utc)):
        store.record_many_sync(batch)  # type: ignore[arg-type]


def near_duplicates(count: int, *, seed: int = 8) -> list[str]:
    """Normalized wordings of `count` questions, each with up to four misspelt or reworded copies: Thai typos
    (a tone mark added or lost, a letter dropped or changed, ไหม/มั้ย, ครับ/คับ, a space lost) and a polite
    opening, shuffled. The hard case for grouping: near-duplicates short and long, among many others."""
    from bot.storage import normalize_question

    rng = random.Random(seed)
    words = _vocabulary()
    endings = ["ได้ไหม", "ได้มั้ย", "ได้ไหมครับ", "ได้ไหมคะ", "หรือไม่", "ยังไง", "อย่างไร", "ไหม", "เมื่อไร"]
    marks = "่้๊๋์ั็"
    letters = "กขคงจชดตทนบปพมยรลวสหอาิีุูเแโไ"
    swaps = [("ค", "ฅ"), ("ส", "ศ"), ("น", "ณ"), ("ไหม", "มั้ย"), ("ไหม", "มั๊ย"), ("ครับ", "คับ"), ("คะ", "ค่ะ")]
    swaps += [(" ", ""), ("ได้", "ได")]

    def misspell(text: str) -> str:
        chars = list(text)
        for _ in range(rng.randrange(1, 4)):
            op, at = rng.randrange(4), rng.randrange(len(chars) + 1)
            if op == 0:
                chars.insert(at, rng.choice(marks))
            elif op == 1 and len(chars) > 2:
                del chars[min(at, len(chars) - 1)]
            elif op == 2 and chars:
                chars[min(at, len(chars) - 1)] = rng.choice(letters)
            else:
                old, new = rng.choice(swaps)
                chars = list("".join(chars).replace(old, new, 1))
        return "".join(chars)

    wordings: set[str] = set()
    for _ in range(count):
        base = " ".join(rng.sample(words, rng.choice([1, 1, 2, 2, 3, 4]))) + rng.choice(["", " "])
        base += rng.choice(endings)
        wordings.add(normalize_question(base))
        wordings.update(normalize_question(misspell(base)) for _ in range(rng.randrange(0, 5)))
        if rng.random() < 0.3:
            wordings.add(normalize_question("สอบถามค่ะ " + base))
    out = sorted(w for w in wordings if w)
    rng.shuffle(out)
    return out


def group_by_scoring_every_head(wordings: list[str]) -> list[list[int]]:
    """The greedy grouping review did before its index, each wording scored against every group head: the
    yardstick for bot.review.group_wordings (quadratic when nothing groups)."""
    from rapidfuzz import fuzz, process

    from bot.review import SIMILARITY

    groups: list[list[int]] = []
    heads: list[str] = []
    for position, wording in enumerate(wordings):
        match = process.extractOne(wording, heads, scorer=fuzz.ratio, score_cutoff=SIMILARITY)
        if match is None:
            groups.append([position])
            heads.append(wording)
        else:
            groups[match[2]].append(position)
    return groups
