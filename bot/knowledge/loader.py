"""Load knowledge/*.yaml into a KnowledgeBase, reporting every problem with its file and line."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.knowledge.schema import (
    Aspect,
    Contact,
    FaqEntry,
    FiscalYear,
    Guideline,
    Intents,
    KnowledgeFile,
    Source,
    SynonymGroup,
)


@dataclass(frozen=True)
class KnowledgeProblem:
    file: str
    line: int | None  # 1-based
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class KnowledgeLoadError(Exception):
    def __init__(self, problems: list[KnowledgeProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class KnowledgeBase:
    sources: dict[str, Source]
    contact: Contact
    guidelines: dict[int, Guideline]
    fiscal_years: dict[int, FiscalYear]
    faq: dict[str, FaqEntry]
    synonyms: list[SynonymGroup]
    intents: Intents
    help_examples: list[str]
    help_examples_en: list[str]
    version: str  # content hash: changes whenever any file changes
    loaded_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    # Where each entry was defined, so checks can point at it.
    locations: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    # Kinds of project no guideline covers (buying equipment, construction, running costs).
    outside_guidelines: list[Aspect] = field(default_factory=list)

    def source_refs(self, ids: list[str]) -> list[Source]:
        return [self.sources[i] for i in ids if i in self.sources]


# libyaml's loader when the wheel has it (several times faster; same nodes and line marks).
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class _NotADate:
    """What an impossible date (2026-13-40) loads as: the schema then reports it, with its line, among
    every other problem, instead of the YAML library stopping the whole file with a bare ValueError."""

    text: str
    reason: str


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> object:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            return _NotADate(str(node.value), str(exc))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _node_at(node: yaml.Node | None, loc: tuple[int | str, ...]) -> yaml.Node | None:
    """The deepest YAML node along a pydantic error location."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == part), None)
            if nxt is None:
                key = next((k for k, _ in node.value if k.value == part), None)
                return key or node
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _parse_file(path: Path, label: str) -> tuple[KnowledgeFile | None, yaml.Node | None, list[KnowledgeProblem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, [KnowledgeProblem(label, None, f"cannot read: {exc}")]
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        return None, None, [KnowledgeProblem(label, line, f"YAML error: {reason}")]
    except Exception as exc:  # noqa: BLE001 - whatever the YAML library raises is a problem report, not a crash
        return None, None, [KnowledgeProblem(label, None, f"cannot read the YAML: {type(exc).__name__}: {exc}")]
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, root, [KnowledgeProblem(label, _line(root), "the file must be a mapping of sections")]
    try:
        return KnowledgeFile.model_validate(data), root, []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            path_text = ".".join(str(p) for p in loc)
            problems.append(KnowledgeProblem(label, _line(_node_at(root, loc)), f"{path_text}: {_plain(err)}"))
        return None, root, problems


def _plain(err: Any) -> str:
    """A schema error in words an editor understands."""
    value = err.get("input")
    if isinstance(value, _NotADate):
        return f"{value.text!r} is not a real date ({value.reason}); write dates as YYYY-MM-DD"
    if err.get("type", "").startswith("date") and isinstance(value, str):
        return f"{value!r} is not a date; write dates as YYYY-MM-DD, e.g. 2026-10-01"
    return str(err["msg"])


def knowledge_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.yaml") if p.is_file())


def content_version(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def load_knowledge(directory: Path, sources_dir: Path | None = None) -> KnowledgeBase:
    """Load and cross-check every YAML file under `directory`; raise KnowledgeLoadError listing all problems.

    `sources_dir` (BUDGETBOT_SOURCES_DIR): where the cited documents must be; None skips that check (tests of the
    core that copy only the knowledge)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise KnowledgeLoadError([KnowledgeProblem(str(directory), None, "knowledge directory not found")])
    files = knowledge_files(directory)
    if not files:
        raise KnowledgeLoadError([KnowledgeProblem(str(directory), None, "no .yaml files")])

    problems: list[KnowledgeProblem] = []
    parsed: list[tuple[str, KnowledgeFile, yaml.Node | None]] = []
    for path in files:
        label = str(path.relative_to(directory.parent)) if directory.parent in path.parents else str(path)
        kf, root, file_problems = _parse_file(path, label)
        problems += file_problems
        if kf is not None:
            parsed.append((label, kf, root))

    merged = _merge(parsed, problems)
    if merged is not None and sources_dir is not None:
        problems += source_file_problems(merged, Path(sources_dir))
    if problems or merged is None:
        raise KnowledgeLoadError(problems)
    merged.version = content_version(files)
    return merged


def source_file_problems(kb: KnowledgeBase, sources_dir: Path) -> list[KnowledgeProblem]:
    """Each source whose document is not in the sources folder, at its entry in sources.yaml."""
    if not sources_dir.is_dir():
        return [KnowledgeProblem(str(sources_dir), None, "sources folder not found (BUDGETBOT_SOURCES_DIR)")]
    problems = []
    for source in kb.sources.values():
        if not (sources_dir / source.file).is_file():
            label, line = kb.locations.get(f"source:{source.id}", ("sources", None))
            problems.append(
                KnowledgeProblem(label, line, f"source {source.id!r}: file {source.file!r} not found in {sources_dir}")
            )
    return problems


def _merge(
    parsed: list[tuple[str, KnowledgeFile, yaml.Node | None]], problems: list[KnowledgeProblem]
) -> KnowledgeBase | None:
    sources: dict[str, Source] = {}
    guidelines: dict[int, Guideline] = {}
    years: dict[int, FiscalYear] = {}
    faq: dict[str, FaqEntry] = {}
    synonyms: list[SynonymGroup] = []
    outside: list[Aspect] = []
    contact: Contact | None = None
    intents: Intents | None = None
    examples: list[str] = []
    examples_en: list[str] = []
    locations: dict[str, tuple[str, int | None]] = {}
    # Every (file, yaml path, list of source ids) that cites sources, checked once all sources are known.
    citations: list[tuple[str, int | None, str, list[str]]] = []

    def where(label: str, root: yaml.Node | None, *loc: int | str) -> int | None:
        return _line(_node_at(root, loc))

    for label, kf, root in parsed:
        for i, s in enumerate(kf.sources):
            if s.id in sources:
                problems.append(
                    KnowledgeProblem(label, where(label, root, "sources", i), f"duplicate source id {s.id!r}")
                )
            sources[s.id] = s
            locations[f"source:{s.id}"] = (label, where(label, root, "sources", i))
        if kf.contact is not None:
            if contact is not None:
                problems.append(KnowledgeProblem(label, where(label, root, "contact"), "contact defined twice"))
            contact = kf.contact
            citations.append((label, where(label, root, "contact"), "contact", kf.contact.sources))
        if kf.intents is not None:
            if intents is not None:
                problems.append(KnowledgeProblem(label, where(label, root, "intents"), "intents defined twice"))
            intents = kf.intents
        for i, g in enumerate(kf.guidelines):
            line = where(label, root, "guidelines", i)
            if g.number in guidelines:
                problems.append(KnowledgeProblem(label, line, f"duplicate guideline {g.number}"))
            guidelines[g.number] = g
            locations[f"guideline:{g.number}"] = (label, line)
            citations.append((label, line, f"guideline {g.number}", g.sources))
        for i, y in enumerate(kf.fiscal_years):
            line = where(label, root, "fiscal_years", i)
            if y.year in years:
                problems.append(KnowledgeProblem(label, line, f"duplicate fiscal year {y.year}"))
            years[y.year] = y
            locations[f"fiscal_year:{y.year}"] = (label, line)
            citations.append((label, line, f"fiscal year {y.year}", y.sources))
            if y.window:
                citations.append((label, line, f"fiscal year {y.year} window", y.window.sources))
                if y.window.opens and y.window.closes and y.window.opens > y.window.closes:
                    problems.append(
                        KnowledgeProblem(label, line, f"fiscal year {y.year}: window opens after it closes")
                    )
            if y.status:
                citations.append((label, line, f"fiscal year {y.year} status", y.status.sources))
            for f in y.figures:
                citations.append((label, line, f"fiscal year {y.year} figure {f.label!r}", f.sources))
        for i, e in enumerate(kf.faq):
            line = where(label, root, "faq", i)
            if e.id in faq:
                first = locations.get(f"faq:{e.id}", (label, None))
                problems.append(
                    KnowledgeProblem(label, line, f"duplicate entry id {e.id!r} (first at {first[0]}:{first[1]})")
                )
            faq[e.id] = e
            locations[f"faq:{e.id}"] = (label, line)
            citations.append((label, line, f"entry {e.id!r}", e.sources))
        synonyms += kf.synonyms
        outside += kf.outside_guidelines
        examples += kf.help_examples
        examples_en += kf.help_examples_en

    for label, line, what, ids in citations:
        for sid in ids:
            if sid not in sources:
                problems.append(KnowledgeProblem(label, line, f"{what} cites unknown source {sid!r}"))
    for key, (label, line) in locations.items():
        if key.startswith("faq:"):
            entry = faq[key[4:]]
            for rid in entry.related:
                if rid not in faq:
                    problems.append(
                        KnowledgeProblem(label, line, f"entry {entry.id!r}: related entry {rid!r} does not exist")
                    )
            if entry.guideline is not None and entry.guideline not in guidelines:
                problems.append(
                    KnowledgeProblem(label, line, f"entry {entry.id!r}: guideline {entry.guideline} does not exist")
                )
    if contact is None:
        problems.append(KnowledgeProblem("knowledge", None, "no contact section (where to send users)"))
    if intents is None:
        problems.append(KnowledgeProblem("knowledge", None, "no intents section (routing cue words)"))
    if not guidelines:
        problems.append(KnowledgeProblem("knowledge", None, "no guidelines"))
    if contact is None or intents is None:
        return None
    return KnowledgeBase(
        sources=sources,
        contact=contact,
        guidelines=dict(sorted(guidelines.items())),
        fiscal_years=dict(sorted(years.items())),
        faq=faq,
        synonyms=synonyms,
        intents=intents,
        help_examples=examples,
        help_examples_en=examples_en,
        version="",
        locations=locations,
        outside_guidelines=outside,
    )
