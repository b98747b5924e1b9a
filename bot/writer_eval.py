"""`budgetbot eval` on the writers' sets (tests/eval/writers/*.yaml): single messages and whole conversations,
checked against each writer's own labels, reported per intent, per writer, with the confidently wrong.

A message is right when the answer's `intent` is about the labelled topic (its first part), the act of a
follow-up is the labelled one (why, source, language), and every slot the writer gave agrees: the fiscal year,
the guidelines, the language, the facts it must contain (`must_say`), "the sources don't give it" (`missing`)
and "no, the source says ..." (`premise_false`). Conversations run turn by turn through one session state, the
way the console and the chat channels keep it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.answer import Answer
from bot.assistant import Assistant
from bot.conversation import ConversationState
from bot.evaluation import CONFIDENT, FACT_KINDS
from bot.router_train import act_of

# How an answer says the sources lack something, or that a premise is wrong.
_MISSING = re.compile(
    r"ไม่ได้ระบุ|ไม่ได้ให้|ไม่มีข้อมูล|ไม่ได้กล่าว|ไม่ได้บอก|do not give|does not give|do not say|does not say|no information"
    r"|not say|not give|not state|ไม่พบข้อมูล|have no|has no|ไม่มีของ|เฉพาะปีงบประมาณ|only for"
)
_DENIES = re.compile(
    r"^(?:ไม่ใช่|ไม่ถูก|no\b|not\b)|ไม่ได้ระบุ|ไม่มีแนวทาง|does not say|do not say|there is no|has no|have no", re.IGNORECASE
)
_OPTIONAL_PARTS = ("smalltalk", "out_of_scope")
_WORD_YEARS = {"subscribe", "unsubscribe", "status", "calendar"}


_MONTHS = [
    ("มกราคม", "มค", "january", "jan"), ("กุมภาพันธ์", "กพ", "february", "feb"), ("มีนาคม", "มีค", "march", "mar"),
    ("เมษายน", "เมย", "april", "apr"), ("พฤษภาคม", "พค", "may", "may"), ("มิถุนายน", "มิย", "june", "jun"),
    ("กรกฎาคม", "กค", "july", "jul"), ("สิงหาคม", "สค", "august", "aug"), ("กันยายน", "กย", "september", "sep"),
    ("ตุลาคม", "ตค", "october", "oct"), ("พฤศจิกายน", "พย", "november", "nov"), ("ธันวาคม", "ธค", "december", "dec"),
]  # fmt: skip
_RE_MONTH = re.compile("|".join(sorted((re.escape(n) for names in _MONTHS for n in names), key=len, reverse=True)))
_MONTH_NUMBER = {n: i for i, names in enumerate(_MONTHS, 1) for n in names}


def _plain(text: str) -> str:
    """Compared loosely: Thai digits as ASCII, no spaces, commas or abbreviation dots, and a month by its number
    in whatever language or form ("22 พฤษภาคม" says "22 พ.ค." and "22 May")."""
    text = text.translate(str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")).lower()
    text = re.sub(r"(?<=[\u0e01-\u0e4e])\.", "", text)
    text = _RE_MONTH.sub(lambda m: f"<{_MONTH_NUMBER[m.group()]}>", text)
    return re.sub(r"[\s,]", "", text)


def problems(label: dict[str, Any], answer: Answer) -> list[str]:
    """What is wrong with the answer to a message or turn labelled `label` (empty: right)."""
    intent = label.get("intent")
    if intent == "multi":
        # Each question must be answered by some part: two questions one answer covers ("ปี 65 ได้งบเท่าไร กี่
        # หน่วยงาน") are answered once, and thanks or an off-topic aside beside a real question may go unanswered.
        parts = answer.parts or [answer]
        missed: list[str] = []
        for i, want in enumerate(label.get("parts") or [], 1):
            if want.get("intent") in _OPTIONAL_PARTS and len(parts) < len(label.get("parts") or []):
                continue
            tried = [problems(want, got) for got in parts]
            if not any(not t for t in tried):
                best = min(tried, key=len)
                missed += [f"part {i}: {p}" for p in best] or [f"part {i}: not answered"]
        return missed
    out: list[str] = []
    got = answer.intent or ""
    topic = got.split(".", 1)[0]
    if topic != intent:
        out.append(f"intent {got} != {intent}")
    act = act_of(label)
    if act in ("why", "source", "language") and not got.endswith(f".{act}"):
        out.append(f"act {got} != {act}")
    year = label.get("fiscal_year")
    if isinstance(year, int) and intent in _WORD_YEARS:
        said = answer.action.fiscal_year if answer.action is not None else answer.fiscal_year
        if said != year and not (intent == "unsubscribe" and said is None):
            out.append(f"fiscal_year {said} != {year}")
    wanted = label.get("guidelines")
    if isinstance(wanted, list) and intent == "guideline_fit" and not label.get("missing"):
        if sorted(answer.guidelines) != sorted(wanted) or (len(wanted) == 1 and answer.guidelines[:1] != wanted):
            out.append(f"guidelines {answer.guidelines} != {wanted}")
    if isinstance(wanted, list) and intent == "guideline_info" and wanted:
        named = {
            g for p in (answer.parts or [answer]) for g in [*p.guidelines, *([p.guideline] if p.guideline else [])]
        }
        if not set(wanted) <= named and not all(f"{n}" in answer.text for n in wanted):
            out.append(f"guidelines {sorted(named)} lack {wanted}")
    if label.get("language") == "en" and answer.language != "en" and act != "language":
        out.append("language th != en")
    text = _plain(answer.text)
    if not label.get("missing"):
        for s in label.get("must_say") or []:
            if _plain(str(s)) not in text:
                out.append(f"does not say {s!r}")
    if label.get("missing") and not _MISSING.search(answer.text):
        out.append("does not say the sources lack it")
    if label.get("premise_false") and not _DENIES.search(answer.text.strip().split("\n")[0]):
        out.append("does not deny the false premise")
    return out


@dataclass
class Result:
    writer: str
    text: str
    label: dict[str, Any]
    answer: Answer
    problems: list[str]
    conversation: str | None = None  # the conversation's id, for a turn

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def confidently_wrong(self) -> bool:
        if self.ok:
            return False
        answers = [self.answer, *self.answer.parts]
        return any(a.confidence >= CONFIDENT and a.kind in FACT_KINDS for a in answers) and not all(
            p.startswith("act ") for p in self.problems
        )


@dataclass
class Report:
    singles: list[Result] = field(default_factory=list)
    turns: list[Result] = field(default_factory=list)

    @staticmethod
    def _share(rs: list[Result]) -> tuple[int, int]:
        return sum(r.ok for r in rs), len(rs)

    @property
    def conversations(self) -> tuple[int, int]:
        by: dict[str, list[bool]] = defaultdict(list)
        for r in self.turns:
            by[f"{r.writer}/{r.conversation}"].append(r.ok)
        return sum(all(v) for v in by.values()), len(by)

    @property
    def confidently_wrong(self) -> int:
        return sum(r.confidently_wrong for r in [*self.singles, *self.turns])

    def extend(self, other: Report) -> None:
        self.singles += other.singles
        self.turns += other.turns


def evaluate_file(assistant: Assistant, path: Path, today: date | None = None) -> Report:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    writer = str(data.get("writer", path.stem))
    day = today or data.get("today") or date(2026, 11, 21)
    report = Report()
    for m in data.get("messages") or []:
        answer, _ = assistant.respond(m["text"], None, day)
        report.singles.append(Result(writer, m["text"], m, answer, problems(m, answer)))
    for conv in data.get("conversations") or []:
        state: ConversationState | None = None
        for turn in conv["turns"]:
            answer, state = assistant.respond(turn["text"], state, day)
            report.turns.append(Result(writer, turn["text"], turn, answer, problems(turn, answer), conv.get("id")))
    return report


def format_report(report: Report, *, title: str = "writers", verbose: bool = False) -> str:
    c, t = Report._share(report.singles)
    tc, tt = Report._share(report.turns)
    cc, ct = report.conversations
    pct = lambda a, b: f"{a}/{b} = {a / b:.1%}" if b else "0/0"  # noqa: E731
    lines = [
        f"{title}: single messages {pct(c, t)}; conversation turns {pct(tc, tt)}; whole conversations {pct(cc, ct)}",
        f"confidently wrong (wrong at confidence >= {CONFIDENT}): {report.confidently_wrong}",
        "per writer (messages, turns):",
    ]
    writers = sorted({r.writer for r in [*report.singles, *report.turns]})
    for w in writers:
        s = Report._share([r for r in report.singles if r.writer == w])
        u = Report._share([r for r in report.turns if r.writer == w])
        lines.append(f"  {w:<16} {pct(*s):<20} {pct(*u)}")
    lines.append("per intent (messages and turns):")
    by: dict[str, list[bool]] = defaultdict(list)
    for r in [*report.singles, *report.turns]:
        by[str(act_of(r.label) and f"act.{act_of(r.label)}" or r.label.get("intent"))].append(r.ok)
    lines += [f"  {k:<20} {pct(sum(v), len(v))}" for k, v in sorted(by.items())]
    confusions: Counter[str] = Counter()
    for r in [*report.singles, *report.turns]:
        for p in r.problems:
            confusions[re.sub(r"'.*'|\d{4}", "…", p)] += 1
    if confusions:
        lines.append("most common problems:")
        lines += [f"  {n:>4}  {p}" for p, n in confusions.most_common(12)]
    if verbose:
        lines.append("misses:")
        for r in [*report.singles, *report.turns]:
            if not r.ok:
                where = f" [{r.conversation}]" if r.conversation else ""
                lines.append(f"  {r.writer}{where} {r.text!r} -> {r.answer.intent}: {'; '.join(r.problems)}")
    return "\n".join(lines)


def held_out(build: Callable[[Any, Any], Assistant], files: list[Path]) -> Report:
    """Each writer's set answered by an assistant whose router, entry model and guideline advisor never saw that
    writer."""
    from bot.knowledge.loader import load_knowledge
    from bot.router_train import all_examples, held_out_advisor, held_out_models
    from bot.settings import DEFAULT_KNOWLEDGE_DIR

    kb = load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    by_writer = {str(yaml.safe_load(p.read_text(encoding="utf-8"))["writer"]): p for p in files}
    report = Report()
    for writer, model, _ in held_out_models(kb, all_examples(kb)):
        if writer in by_writer:
            report.extend(evaluate_file(build(model, held_out_advisor(kb, writer)), by_writer[writer]))
    return report
