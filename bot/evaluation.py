"""`budgetbot eval`: accuracy of the assistant on a labelled question set, per kind, with the confusions."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from bot.answer import Answer, AnswerKind
from bot.assistant import Assistant
from bot.conversation import ConversationState
from bot.settings import REPO_ROOT, Settings

DEFAULT_EVAL_FILE = REPO_ROOT / "tests" / "eval" / "questions.yaml"
PROJECTS_FILE = REPO_ROOT / "tests" / "eval" / "projects.yaml"  # the guideline advisor's labelled set
DEFAULT_TODAY = date(2026, 11, 21)


class Expected(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: AnswerKind
    entry: str | None = None  # the entry id that must answer (faq / eligibility)
    fiscal_year: int | None = None
    accepting: bool | None = None  # checked only when `accepting_known` (null is a real expectation)
    accepting_known: bool = False
    guideline: int | None = None
    guidelines: list[int] | None = None  # every guideline that must be named (close calls)
    language: str | None = None
    parts: list[Expected] | None = None  # a message with several questions: each part's answer, in order


class EvalCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str
    expect: Expected
    tags: list[str] = Field(default_factory=list)
    today: date | None = None
    context: list[str] = Field(default_factory=list)  # earlier turns of the same conversation


class EvalFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    today: date = DEFAULT_TODAY
    cases: list[EvalCase]


@dataclass
class CaseResult:
    case: EvalCase
    answer: Answer
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def confidently_wrong(self) -> bool:
        if self.ok:
            return False
        pairs = [(self.case.expect, self.answer)]
        if self.case.expect.parts is not None:
            pairs += list(zip(self.case.expect.parts, self.answer.parts, strict=False))
        return any(_states_something_wrong(exp, a) for exp, a in pairs)


@dataclass
class EvalReport:
    results: list[CaseResult]
    by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (correct, total)
    by_tag: dict[str, tuple[int, int]] = field(default_factory=dict)
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def accuracy(self) -> float:
        return sum(r.ok for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def out_of_scope_answered(self) -> int:
        """Out-of-scope questions that got anything but a fallback: the assistant stated something it shouldn't."""
        return sum(1 for r in self.results if "oos" in r.case.tags and r.answer.kind is not AnswerKind.FALLBACK)

    @property
    def confidently_wrong(self) -> int:
        """Cases answered with a wrong fact or guideline at confidence >= CONFIDENT: worse than saying nothing."""
        return sum(1 for r in self.results if r.confidently_wrong)

    @property
    def confidently_wrong_share(self) -> float:
        return self.confidently_wrong / len(self.results) if self.results else 0.0


def load_cases(path: Path) -> EvalFile:
    return EvalFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


CONFIDENT = 0.6  # an answer at or above this confidence reads as sure of itself
FACT_KINDS = frozenset(
    {AnswerKind.FISCAL_YEAR_STATUS, AnswerKind.GUIDELINE_MATCH, AnswerKind.ELIGIBILITY, AnswerKind.FAQ}
)


def _states_something_wrong(exp: Expected, a: Answer) -> bool:
    """A fact or a guideline stated with confidence, where another answer (or none) was right."""
    if a.confidence < CONFIDENT or a.kind not in FACT_KINDS:
        return False
    return bool(_own_problems(exp, a))


def _problems(exp: Expected, a: Answer) -> list[str]:
    p = _own_problems(exp, a)
    if exp.parts is not None:
        if len(a.parts) != len(exp.parts):
            p.append(f"{len(a.parts)} parts != {len(exp.parts)}")
        for i, (pe, pa) in enumerate(zip(exp.parts, a.parts, strict=False), 1):
            p += [f"part {i}: {x}" for x in _own_problems(pe, pa)]
    return p


def _own_problems(exp: Expected, a: Answer) -> list[str]:
    p = []
    if a.kind is not exp.kind:
        p.append(f"kind {a.kind.value} != {exp.kind.value}")
    if exp.entry is not None and a.entry_id != exp.entry:
        p.append(f"entry {a.entry_id} != {exp.entry}")
    if exp.fiscal_year is not None and a.fiscal_year != exp.fiscal_year:
        p.append(f"fiscal_year {a.fiscal_year} != {exp.fiscal_year}")
    if exp.accepting_known and a.accepting is not exp.accepting:
        p.append(f"accepting {a.accepting} != {exp.accepting}")
    if exp.guideline is not None and a.guideline != exp.guideline:
        p.append(f"guideline {a.guideline} != {exp.guideline}")
    if exp.guidelines is not None and sorted(a.guidelines) != sorted(exp.guidelines):
        p.append(f"guidelines {a.guidelines} != {exp.guidelines}")
    if exp.language is not None and a.language != exp.language:
        p.append(f"language {a.language} != {exp.language}")
    return p


def evaluate(assistant: Assistant, cases: EvalFile) -> EvalReport:
    results = []
    for case in cases.cases:
        today = case.today or cases.today
        state: ConversationState | None = None
        for earlier in case.context:
            _, state = assistant.respond(earlier, state, today)
        answer, _ = assistant.respond(case.q, state, today)
        results.append(CaseResult(case, answer, _problems(case.expect, answer)))
    report = EvalReport(results)
    kinds: dict[str, list[bool]] = defaultdict(list)
    tags: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        kinds[r.case.expect.kind.value].append(r.ok)
        for t in r.case.tags:
            tags[t].append(r.ok)
        if not r.ok:
            want = r.case.expect.entry or r.case.expect.kind.value
            got = r.answer.entry_id or r.answer.kind.value
            report.confusions[(want, got)] += 1
    report.by_kind = {k: (sum(v), len(v)) for k, v in sorted(kinds.items())}
    report.by_tag = {k: (sum(v), len(v)) for k, v in sorted(tags.items())}
    return report


def format_report(report: EvalReport, verbose: bool = False) -> str:
    lines = [f"accuracy: {sum(r.ok for r in report.results)}/{len(report.results)} = {report.accuracy:.1%}"]
    lines.append(f"out-of-scope questions answered as a fact: {report.out_of_scope_answered}")
    lines.append(
        f"confidently wrong (wrong fact or guideline at confidence >= {CONFIDENT}): "
        f"{report.confidently_wrong}/{len(report.results)} = {report.confidently_wrong_share:.1%}"
    )
    lines.append("per kind:")
    lines += [f"  {k:<20} {c:>4}/{t:<4} {c / t:.1%}" for k, (c, t) in report.by_kind.items()]
    lines.append("per tag:")
    lines += [f"  {k:<20} {c:>4}/{t:<4} {c / t:.1%}" for k, (c, t) in report.by_tag.items()]
    if report.confusions:
        lines.append("confusions (expected -> got):")
        lines += [f"  {w} -> {g}: {n}" for (w, g), n in report.confusions.most_common()]
    if verbose:
        lines.append("misses:")
        for r in report.results:
            if not r.ok:
                lines.append(f"  {r.case.q!r} -> {r.answer.intent}: {'; '.join(r.problems)}")
    return "\n".join(lines)


@dataclass
class AdvisorReport:
    """The guideline advisor on the held-out third of its labelled descriptions (never trained on)."""

    results: list[tuple[str, tuple[int, ...], list[int]]]  # description, expected, predicted

    @property
    def correct(self) -> int:
        return sum(_advice_correct(p, e) for _, e, p in self.results)

    @property
    def accuracy(self) -> float:
        return self.correct / len(self.results) if self.results else 0.0

    def by_label(self) -> dict[str, tuple[int, int]]:
        out: dict[str, list[bool]] = defaultdict(list)
        for _, e, p in self.results:
            key = "none" if not e else "+".join(map(str, e)) if len(e) > 1 else str(e[0])
            out[key].append(_advice_correct(p, e))
        return {k: (sum(v), len(v)) for k, v in sorted(out.items())}


def _advice_correct(predicted: list[int], expected: tuple[int, ...]) -> bool:
    """Every guideline that fits named and no other; for one guideline, named first."""
    if sorted(predicted) != sorted(expected):
        return False
    return len(expected) != 1 or predicted[0] == expected[0]


def advisor_report(assistant: Assistant, path: Path = PROJECTS_FILE) -> AdvisorReport:
    from bot.advisor import held_out

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    results = []
    for p in data["projects"]:
        if held_out(p["text"]):
            advice = assistant.advisor.advise(assistant.analyzer.analyze(p["text"]))
            results.append((p["text"], tuple(p["guidelines"]), [f.number for f in advice.fits]))
    return AdvisorReport(results)


def format_advisor(report: AdvisorReport, verbose: bool = False) -> str:
    lines = [
        f"guideline advisor, held-out third of {PROJECTS_FILE.name}: {report.correct}/{len(report.results)} = "
        f"{report.accuracy:.1%}"
    ]
    lines += [f"  {k:<20} {c:>4}/{t:<4} {c / t:.1%}" for k, (c, t) in report.by_label().items()]
    if verbose:
        lines += [f"  miss: {d!r}: {p} != {list(e)}" for d, e, p in report.results if not _advice_correct(p, e)]
    return "\n".join(lines)


def run_eval(settings: Settings, path: Path | None, *, verbose: bool = False, held_out: bool = False) -> int:
    from bot.terminal import load_assistant

    if path is not None and (path.is_dir() or _is_writer_file(path)):
        return _run_writers(settings, path, verbose=verbose, held_out=held_out)
    assistant = load_assistant(settings)
    if assistant is None:
        return 1
    report = evaluate(assistant, load_cases(path or DEFAULT_EVAL_FILE))
    print(format_report(report, verbose))
    if PROJECTS_FILE.is_file():
        print(format_advisor(advisor_report(assistant), verbose))
    return 0 if report.out_of_scope_answered == 0 and report.confidently_wrong == 0 else 1


def _is_writer_file(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "writer" in data


def _run_writers(settings: Settings, path: Path, *, verbose: bool, held_out: bool) -> int:
    """Writers' files: single messages and conversations (see bot.writer_eval)."""
    from bot.advisor import LinearModel
    from bot.knowledge.loader import load_knowledge
    from bot.router import IntentModel
    from bot.terminal import load_assistant
    from bot.writer_eval import Report, evaluate_file, format_report
    from bot.writer_eval import held_out as held_out_report

    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if held_out:
        kb = load_knowledge(settings.knowledge_dir)

        def build(model: IntentModel, advisor: LinearModel) -> Assistant:
            return Assistant.build(kb, polite_particle=settings.polite_particle, router=model, advisor=advisor)

        report = held_out_report(build, files)
        print(format_report(report, title="writers held out of training", verbose=verbose))
        return 0 if report.confidently_wrong == 0 else 1
    assistant = load_assistant(settings)
    if assistant is None:
        return 1
    report = Report()
    for f in files:
        report.extend(evaluate_file(assistant, f))
    print(format_report(report, verbose=verbose))
    return 0 if report.confidently_wrong == 0 else 1
