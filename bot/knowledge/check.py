"""`budgetbot kb check`: everything that can be wrong with the knowledge base, before users see it."""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.answers.status import CALENDAR_SOURCE
from bot.knowledge.loader import KnowledgeLoadError, KnowledgeProblem, load_knowledge
from bot.settings import DEFAULT_SOURCES_DIR

CHECK_DAY = date(2026, 1, 1)  # variants carry explicit years; the day only matters for relative ones


@dataclass(frozen=True)
class CheckReport:
    errors: list[KnowledgeProblem]
    warnings: list[KnowledgeProblem]
    summary: str


def check_knowledge(directory: Path, sources_dir: Path | None = None) -> CheckReport:
    from bot.assistant import Assistant  # heavy: only once the files load

    sources_dir = sources_dir or DEFAULT_SOURCES_DIR
    try:
        kb = load_knowledge(directory, sources_dir)  # a cited document missing from the folder is an error there
    except KnowledgeLoadError as exc:
        return CheckReport(exc.problems, [], "")
    errors: list[KnowledgeProblem] = []
    warnings: list[KnowledgeProblem] = []

    def where(key: str) -> tuple[str, int | None]:
        return kb.locations.get(key, (str(directory), None))

    # The sources folder's own README describes the folder; it is not a source of facts.
    for s in kb.sources.values():
        if Path(s.file).name.lower().startswith("readme"):
            errors.append(KnowledgeProblem("sources", None, f"source {s.id!r} cites {s.file!r}, not a source document"))
    cited = {sid for e in kb.faq.values() for sid in e.sources}
    cited |= {sid for g in kb.guidelines.values() for sid in g.sources}
    for y in kb.fiscal_years.values():
        cited |= set(y.sources) | set(y.status.sources if y.status else []) | set(y.window.sources if y.window else [])
        cited |= {sid for f in y.figures for sid in f.sources}
    cited |= set(kb.contact.sources) | {CALENDAR_SOURCE}
    for sid in kb.sources:
        if sid not in cited:
            warnings.append(KnowledgeProblem("sources", None, f"source {sid!r} is never cited"))

    assistant = Assistant.build(kb)
    # Variants that two entries share: the matcher cannot tell them apart.
    owners: dict[str, set[str]] = defaultdict(set)
    for entry in assistant.faq.values():
        for q in [*entry.questions, *entry.questions_en]:
            owners[assistant.analyzer.analyze(q).content_text].add(entry.id)
    for text, ids in owners.items():
        if len(ids) > 1:
            file, line = where(f"faq:{sorted(ids)[0]}")
            errors.append(KnowledgeProblem(file, line, f"entries {', '.join(sorted(ids))} share the question {text!r}"))

    # Variants the assistant would answer with something else: the confusions a user would meet.
    checked = 0
    for entry in assistant.faq.values():
        for q in [*entry.questions, *entry.questions_en]:
            checked += 1
            answer, _ = assistant.respond(q, None, CHECK_DAY)
            if answer.entry_id != entry.id:
                got = answer.entry_id or answer.kind.value
                file, line = where(f"faq:{entry.id}")
                errors.append(
                    KnowledgeProblem(file, line, f"entry {entry.id!r}: question {q!r} is answered as {got!r}")
                )
    summary = (
        f"{len(kb.sources)} sources, {len(kb.guidelines)} guidelines, {len(kb.fiscal_years)} fiscal years, "
        f"{len(assistant.faq)} entries, {checked} question variants, version {kb.version}"
    )
    return CheckReport(errors, warnings, summary)


def run_check(directory: Path, sources_dir: Path | None = None) -> int:
    report = check_knowledge(Path(directory), sources_dir)
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for e in report.errors:
        print(f"error: {e}", file=sys.stderr)
    if report.errors:
        print(f"knowledge check FAILED: {len(report.errors)} error(s)", file=sys.stderr)
        return 1
    print(f"knowledge check OK: {report.summary}")
    return 0
