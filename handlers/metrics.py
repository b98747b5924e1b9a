"""Prometheus metrics, one registry per app so several apps (tests) never collide.

With `budgetbot serve --workers N` each worker is a process of its own, and a scrape reaches one of them: the
workers then write their figures to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode,
set up by `prepare_multiprocess` before any worker starts), and whichever worker answers /metrics adds up every
worker's, so counters never go 6, 4, 6, 4. Process metrics (memory, CPU, open files) are the workers' summed,
and `budgetbot_knowledge_info{version}` is the version answering in the worker that was asked.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.answer import Answer, AnswerKind

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PID_IN_FILE = re.compile(r"_(\d+)\.db$")


def prepare_multiprocess() -> Path:
    """Before starting several workers: a fresh directory for their figures (the operator's own
    PROMETHEUS_MULTIPROC_DIR emptied of an earlier run's, else a temporary one removed at exit)."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        directory = Path(tempfile.mkdtemp(prefix="budgetbot-metrics-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkersProcessCollector(Collector):
    """process_* for all the live workers together: memory, CPU time and open files summed, the earliest start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def pids(self) -> list[int]:
        found = {int(m.group(1)) for p in self.directory.glob("*.db") if (m := _PID_IN_FILE.search(p.name))}
        return sorted(pid for pid in found if _alive(pid))

    def collect(self) -> Iterable[Metric]:
        from prometheus_client import multiprocess

        totals: dict[str, float] = {}
        docs: dict[str, str] = {}
        pids = self.pids()
        for pid in pids:
            collector = ProcessCollector(pid=lambda pid=pid: pid, registry=None)
            for family in collector.collect():
                for sample in family.samples:
                    docs[sample.name] = family.documentation
                    if sample.name == "process_start_time_seconds":
                        totals[sample.name] = min(totals.get(sample.name, sample.value), sample.value)
                    elif sample.name == "process_max_fds":
                        totals[sample.name] = max(totals.get(sample.name, 0.0), sample.value)
                    else:
                        totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        for name, value in sorted(totals.items()):
            yield GaugeMetricFamily(name, f"{docs[name]} (all workers)", value=value)
        yield GaugeMetricFamily("budgetbot_workers", "Worker processes serving", value=len(pids))
        # Live-only gauges (lanes_active) of a worker that died would otherwise count for ever.
        for path in self.directory.glob("gauge_live*.db"):
            m = _PID_IN_FILE.search(path.name)
            if m and not _alive(int(m.group(1))):
                multiprocess.mark_process_dead(int(m.group(1)), str(self.directory))


class KnowledgeInfoCollector(Collector):
    def __init__(self, version: Callable[[], str | None]) -> None:
        self.version = version

    def collect(self) -> Iterable[Metric]:
        version = self.version()
        family = GaugeMetricFamily(
            "budgetbot_knowledge_info", "The knowledge version answering (always 1)", labels=["version"]
        )
        if version is not None:
            family.add_metric([version], 1.0)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir()
        # Where the metrics below register; in multiprocess mode their values live in the shared files instead.
        values = CollectorRegistry()
        self.registry = values  # what /metrics exposes
        self.knowledge_version: Callable[[], str | None] = lambda: None
        if self.multiprocess is not None:
            from prometheus_client import multiprocess

            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry, path=str(self.multiprocess))
            self.registry.register(WorkersProcessCollector(self.multiprocess))
        else:
            ProcessCollector(registry=values)
        PlatformCollector(registry=values)
        self.registry.register(KnowledgeInfoCollector(lambda: self.knowledge_version()))
        self.knowledge_reload_failures = Counter(
            "budgetbot_knowledge_reload_failures",
            "Knowledge reloads rejected (an edit with an error): the previous version keeps answering",
            registry=values,
        )
        self.webhooks = Counter(
            "budgetbot_webhooks_total",
            "Webhook requests by channel and outcome",
            ["channel", "outcome"],
            registry=values,
        )
        self.answers = Counter("budgetbot_answers_total", "Answers by kind", ["kind"], registry=values)
        self.fallbacks = Counter(
            "budgetbot_fallbacks_total", "Questions the assistant could not answer", registry=values
        )
        self.reply_failures = Counter(
            "budgetbot_reply_failures_total",
            "Failed replies by channel and reason",
            ["channel", "reason"],
            registry=values,
        )
        self.rate_limited = Counter(
            "budgetbot_rate_limited_total",
            "Requests refused with 429, by route and by which limit (client or session)",
            ["route", "limit"],
            registry=values,
        )
        self.answer_latency = Histogram(
            "budgetbot_answer_seconds",
            "Time to compute an answer",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
            registry=values,
        )
        self.webhook_latency = Histogram(
            "budgetbot_webhook_seconds",
            "Time to acknowledge a webhook",
            ["channel"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
            registry=values,
        )
        self.reply_latency = Histogram(
            "budgetbot_reply_seconds",
            "Time from webhook to the answer delivered (retries and outages included)",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
            registry=values,
        )
        # The message pipeline (handlers/pipeline/).
        self.events = Counter(
            "budgetbot_events_total",
            "Webhook events by channel and what was done with them (accepted, duplicate, stale, not_addressed, "
            "ignored, in_memory)",
            ["channel", "outcome"],
            registry=values,
        )
        self.deliveries = Counter(
            "budgetbot_deliveries_total",
            "Messages finished, by channel and how (replied, pushed, probably_delivered, sent, gave_up)",
            ["channel", "outcome"],
            registry=values,
        )
        self.delivery_gave_up = Counter(
            "budgetbot_delivery_gave_up_total",
            "Messages given up, by channel and the last reason (deadline_passed: retried until the deadline)",
            ["channel", "reason"],
            registry=values,
        )
        self.inbox_pending = Gauge(
            "budgetbot_inbox_pending",
            "Acknowledged events not answered yet (whole database)",
            registry=values,
            multiprocess_mode="mostrecent",
        )
        self.outbox_pending = Gauge(
            "budgetbot_outbox_pending",
            "Answers not delivered yet (whole database)",
            registry=values,
            multiprocess_mode="mostrecent",
        )
        self.outbox_oldest = Gauge(
            "budgetbot_outbox_oldest_seconds",
            "Age of the oldest answer not delivered yet (grows while an API is down)",
            registry=values,
            multiprocess_mode="mostrecent",
        )
        self.lanes_active = Gauge(
            "budgetbot_lanes_active",
            "Conversations this instance is working on now (all its workers)",
            registry=values,
            multiprocess_mode="livesum",
        )
        self.storage_available = Gauge(
            "budgetbot_pipeline_storage_up",
            "1 when this instance reaches the database for the pipeline, else 0 (0 if any worker cannot)",
            registry=values,
            multiprocess_mode="livemin",
        )

        self.notifications = Counter(
            "budgetbot_notifications_total",
            "Notifications created (window, opening, reminder, announcement); their messages are counted as deliveries",
            ["kind"],
            registry=values,
        )

    def watch_knowledge(self, runtime: object) -> None:
        """Expose the version `runtime` answers with, and count its rejected reloads."""
        self.knowledge_version = lambda: getattr(runtime, "version", None)
        listeners = getattr(runtime, "failure_listeners", None)
        if listeners is not None:
            listeners.append(lambda: self.knowledge_reload_failures.inc())

    def observe_answer(self, answer: Answer, seconds: float) -> None:
        self.answers.labels(kind=answer.kind.value).inc()
        if answer.kind is AnswerKind.FALLBACK:
            self.fallbacks.inc()
        self.answer_latency.observe(seconds)
