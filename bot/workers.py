"""Separate thread pools for the kinds of blocking work the service does.

Why: `asyncio.to_thread` puts everything on the loop's one default executor, which also resolves the chat
clients' host names (aiohttp and httpx look them up there). A few slow admin reports or a stalled database
would then fill it, and every LINE or Telegram call would wait behind them until it timed out. Each kind of
work gets its own bounded pool instead, so one kind can only ever wait for itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class WorkerPool:
    """A named, lazily created thread pool with `to_thread`-like `run` (context variables carried over)."""

    def __init__(self, name: str, max_workers: int) -> None:
        self.name = name
        self.max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix=self.name)
            return self._executor

    async def run(self, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await loop.run_in_executor(self.executor(), call)

    def shutdown(self) -> None:
        """Stop taking work; threads still running finish on their own (never waited for here)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


# Storage statements are short; a handful of threads covers a busy instance (SQLite serialises writes anyway).
STORAGE = WorkerPool("storage", max_workers=8)
# Admin reports and knowledge reloads: heavy and rare, so few threads; they can only delay each other.
ADMIN = WorkerPool("admin", max_workers=2)
# Answering a question is CPU-bound (Python holds the GIL), so more threads than cores buys nothing.
ANSWERS = WorkerPool("answers", max_workers=2)
