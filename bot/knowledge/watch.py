"""Reload the knowledge when knowledge/*.yaml changes on disk, so an edit takes effect without a restart.

Runs as a background task of the web service (handlers/app.py starts it in the lifespan when
BUDGETBOT_WATCH_KNOWLEDGE is true and cancels it on shutdown). Changes are debounced by watchfiles: an editor's
save (often a temp file, a rename and a chmod) or a `git pull` touching several files gives one reload. A reload
that fails keeps the version already answering (KnowledgeRuntime.reload), and its problems are logged there.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import Change, awatch

from bot.knowledge.runtime import KnowledgeRuntime, ReloadResult
from bot.workers import ADMIN

log = logging.getLogger(__name__)

# watchfiles groups changes until none has come for STEP_MS (at most DEBOUNCE_MS): one reload per save.
DEBOUNCE_MS = 1_000
STEP_MS = 200
# After the watcher itself fails (directory gone, inotify limit reached), wait, then watch again by polling.
RETRY_SECONDS = 5.0


def is_knowledge_file(change: Change, path: str) -> bool:
    """Only *.yaml counts: editor swap/backup files (.x.yaml.swp, x.yaml~, 4913) must not trigger reloads."""
    name = Path(path).name
    return name.endswith(".yaml") and not name.startswith((".", "#"))


async def reload_in_thread(runtime: KnowledgeRuntime, *, trigger: str) -> ReloadResult:
    """Run the reload (it builds a new Assistant, about half a second) without blocking the event loop."""
    result = await ADMIN.run(runtime.reload)
    extra = {"trigger": trigger, "knowledge_version": result.version}
    if not result.ok:
        log.warning(
            "knowledge reload rejected; still answering from the previous version",
            extra={**extra, "problems": len(result.problems)},
        )
    elif result.changed:
        log.info("knowledge now answering from a new version", extra=extra)
    else:
        log.info("knowledge reload: no change", extra=extra)
    return result


async def watch_knowledge(
    runtime: KnowledgeRuntime,
    directory: Path | None = None,
    *,
    debounce_ms: int = DEBOUNCE_MS,
    step_ms: int = STEP_MS,
    retry_seconds: float = RETRY_SECONDS,
) -> None:
    """Watch `directory` (default: the runtime's) until cancelled; reload after each burst of changes."""
    directory = Path(directory or runtime.directory)
    force_polling: bool | None = None  # None: watchfiles decides (inotify; WATCHFILES_FORCE_POLLING=1 forces polling)
    while True:
        try:
            log.info("watching the knowledge directory for changes", extra={"directory": str(directory)})
            async for changes in awatch(
                directory,
                watch_filter=is_knowledge_file,
                debounce=debounce_ms,
                step=step_ms,
                force_polling=force_polling,
            ):
                files = sorted({Path(path).name for _, path in changes})
                log.info("knowledge files changed", extra={"files": files})
                await reload_in_thread(runtime, trigger="watch")
            return  # awatch only ends on its stop event, which we never set
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the service keeps answering; only automatic reloads pause
            log.warning(
                "knowledge watcher failed; retrying with polling", exc_info=True, extra={"directory": str(directory)}
            )
            force_polling = True
            await asyncio.sleep(retry_seconds)
