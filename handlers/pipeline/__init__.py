"""One durable message pipeline for every channel (see pipeline.py for the flow; README, "The message pipeline").

Adapters (handlers/line.py, handlers/telegram.py) parse, render and send; this package does the rest.
"""

from handlers.pipeline.adapter import ChannelAdapter, MalformedWebhook, Parsed
from handlers.pipeline.http import Rejection, error_body, error_response
from handlers.pipeline.model import (
    Attempt,
    EventOutcome,
    FailureReason,
    Ignored,
    InboundEvent,
    OutboxMessage,
    Outgoing,
    ReplyHandle,
    SendResult,
    SendStatus,
)
from handlers.pipeline.pipeline import Pipeline
from handlers.pipeline.policy import DeliveryPolicy

__all__ = [
    "Attempt",
    "ChannelAdapter",
    "DeliveryPolicy",
    "EventOutcome",
    "FailureReason",
    "Ignored",
    "InboundEvent",
    "MalformedWebhook",
    "OutboxMessage",
    "Outgoing",
    "Parsed",
    "Pipeline",
    "Rejection",
    "ReplyHandle",
    "SendResult",
    "SendStatus",
    "error_body",
    "error_response",
]
