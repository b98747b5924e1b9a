"""Holds the assistant built from the last good knowledge, and swaps it on a successful reload."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.assistant import Assistant
from bot.knowledge.loader import KnowledgeLoadError, KnowledgeProblem, load_knowledge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    version: str  # the version now answering (the old one when the reload failed)
    problems: list[KnowledgeProblem] = field(default_factory=list)
    changed: bool = False


class KnowledgeRuntime:
    def __init__(self, directory: Path, polite_particle: str = "ค่ะ", sources_dir: Path | None = None) -> None:
        self.directory = Path(directory)
        self.polite_particle = polite_particle  # BUDGETBOT_POLITE_PARTICLE, handed in by whoever builds this
        self.sources_dir = sources_dir  # BUDGETBOT_SOURCES_DIR: every cited document must be there
        self._lock = threading.Lock()
        # Called (on the reloading thread) after a new version is answering: the notifier looks for new windows.
        self.listeners: list[Callable[[], None]] = []
        # Called when a reload is rejected (the previous version keeps answering): the metrics count it.
        self.failure_listeners: list[Callable[[], None]] = []
        # Start-up must fail loudly on a broken knowledge base: there is no last good version yet.
        kb = load_knowledge(self.directory, self.sources_dir)
        self._assistant = Assistant.build(kb, polite_particle=polite_particle)

    @property
    def assistant(self) -> Assistant:
        return self._assistant

    @property
    def version(self) -> str:
        return self._assistant.kb.version

    def reload(self) -> ReloadResult:
        """Load the directory again; on any problem keep answering from the current version."""
        with self._lock:
            try:
                kb = load_knowledge(self.directory, self.sources_dir)
            except KnowledgeLoadError as exc:
                for p in exc.problems:
                    log.error("knowledge reload rejected: %s", p, extra={"file": p.file, "line": p.line})
                self._failed()
                return ReloadResult(ok=False, version=self.version, problems=exc.problems)
            except Exception as exc:  # noqa: BLE001 - e.g. a file removed mid-read: keep the last good version
                return self._rejected(exc)
            if kb.version == self.version:
                return ReloadResult(ok=True, version=self.version)
            try:
                assistant = Assistant.build(kb, polite_particle=self.polite_particle)
                assistant.warm()  # here, off the event loop, not in the first question after the swap
            except Exception as exc:  # noqa: BLE001 - a bug in building must not replace the version that works
                return self._rejected(exc)
            self._assistant = assistant
            log.info("knowledge reloaded", extra={"knowledge_version": kb.version})
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001 - a listener's failure must not fail the reload
                log.exception("knowledge reload listener failed")
        return ReloadResult(ok=True, version=kb.version, changed=True)

    def _failed(self) -> None:
        for listener in list(self.failure_listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001
                log.exception("knowledge reload failure listener failed")

    def _rejected(self, exc: Exception) -> ReloadResult:
        log.exception("knowledge reload failed", extra={"file": str(self.directory)})
        self._failed()
        problem = KnowledgeProblem(str(self.directory), None, f"reload failed: {type(exc).__name__}: {exc}")
        return ReloadResult(ok=False, version=self.version, problems=[problem])
