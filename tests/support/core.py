"""The shipped knowledge and an assistant built from it, built once per test session."""

from __future__ import annotations

import functools
import shutil
from datetime import date
from pathlib import Path

from bot.assistant import Assistant
from bot.knowledge.loader import load_knowledge
from bot.settings import DEFAULT_KNOWLEDGE_DIR

TODAY = date(2026, 11, 21)  # the date the issues were written on; FY 2570


@functools.cache
def shipped_assistant() -> Assistant:
    assistant = Assistant.build(load_knowledge(DEFAULT_KNOWLEDGE_DIR))
    assistant.warm()
    return assistant


def copy_knowledge(tmp_path: Path) -> Path:
    """A writable copy of the shipped knowledge, to break or extend in a test."""
    target = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR, target)
    return target
