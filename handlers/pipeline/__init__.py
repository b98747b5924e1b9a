"""One durable message pipeline for every channel (see pipeline.py for the flow; README, "The message pipeline").

Adapters (handlers/line.py, handlers/telegram.py) parse, render and send; this package does the rest.
"""

from handlers.pipeline.adapter import ChannelAdapter, Effect, MalformedWebhook, Parsed, PipelineHooks
from handlers.pipeline.http import Rejection, error_body, error_response
from handlers.pipeline.model import (
    FORGET,
    Attempt,
    EventOutcome,
    FailureReason,
    Ignored,
    InboundEvent,
    OutboxMessage,
    Outgoing,
    PushBatch,
    ReplyHandle,
    SendResult,
    SendStatus,
)
from handlers.pipeline.pipeline import Pipeline
from handlers.pipeline.policy import DeliveryPolicy

__all__ = [
    "FORGET",
    "Attempt",
    "ChannelAdapter",
    "DeliveryPolicy",
    "Effect",
    "EventOutcome",
    "FailureReason",
    "Ignored",
    "InboundEvent",
    "MalformedWebhook",
    "OutboxMessage",
    "Outgoing",
    "Parsed",
    "Pipeline",
    "PipelineHooks",
    "PushBatch",
    "Rejection",
    "ReplyHandle",
    "SendResult",
    "SendStatus",
    "error_body",
    "error_response",
]
