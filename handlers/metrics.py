"""Prometheus metrics, one registry per app so several apps (tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.answer import Answer, AnswerKind


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "budgetbot_webhooks_total",
            "Webhook requests by channel and outcome",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.answers = Counter("budgetbot_answers_total", "Answers by kind", ["kind"], registry=self.registry)
        self.fallbacks = Counter(
            "budgetbot_fallbacks_total", "Questions the assistant could not answer", registry=self.registry
        )
        self.reply_failures = Counter(
            "budgetbot_reply_failures_total",
            "Failed replies by channel and reason",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "budgetbot_rate_limited_total",
            "Requests refused with 429, by route and by which limit (client or session)",
            ["route", "limit"],
            registry=self.registry,
        )
        self.answer_latency = Histogram(
            "budgetbot_answer_seconds",
            "Time to compute an answer",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
            registry=self.registry,
        )
        self.webhook_latency = Histogram(
            "budgetbot_webhook_seconds",
            "Time to acknowledge a webhook",
            ["channel"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
            registry=self.registry,
        )
        self.reply_latency = Histogram(
            "budgetbot_reply_seconds",
            "Time from webhook to the answer delivered (retries and outages included)",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
            registry=self.registry,
        )
        # The message pipeline (handlers/pipeline/).
        self.events = Counter(
            "budgetbot_events_total",
            "Webhook events by channel and what was done with them (accepted, duplicate, stale, not_addressed, "
            "ignored, in_memory)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "budgetbot_deliveries_total",
            "Messages finished, by channel and how (replied, pushed, probably_delivered, sent, gave_up)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.delivery_gave_up = Counter(
            "budgetbot_delivery_gave_up_total",
            "Messages given up, by channel and the last reason (deadline_passed: retried until the deadline)",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.inbox_pending = Gauge(
            "budgetbot_inbox_pending", "Acknowledged events not answered yet (whole database)", registry=self.registry
        )
        self.outbox_pending = Gauge(
            "budgetbot_outbox_pending", "Answers not delivered yet (whole database)", registry=self.registry
        )
        self.outbox_oldest = Gauge(
            "budgetbot_outbox_oldest_seconds",
            "Age of the oldest answer not delivered yet (grows while an API is down)",
            registry=self.registry,
        )
        self.lanes_active = Gauge(
            "budgetbot_lanes_active", "Conversations this instance is working on now", registry=self.registry
        )
        self.storage_available = Gauge(
            "budgetbot_pipeline_storage_up",
            "1 when this instance reaches the database for the pipeline, else 0",
            registry=self.registry,
        )

        self.notifications = Counter(
            "budgetbot_notifications_total",
            "Notifications created (window, opening, reminder, announcement); their messages are counted as deliveries",
            ["kind"],
            registry=self.registry,
        )

    def observe_answer(self, answer: Answer, seconds: float) -> None:
        self.answers.labels(kind=answer.kind.value).inc()
        if answer.kind is AnswerKind.FALLBACK:
            self.fallbacks.inc()
        self.answer_latency.observe(seconds)
