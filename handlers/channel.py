"""The contract every channel adapter follows, and the context they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from bot.knowledge.runtime import KnowledgeRuntime
from bot.service import AssistantService
from bot.settings import Settings
from bot.storage import BufferedQuestionLog, Database
from handlers.metrics import Metrics
from handlers.pipeline.http import error_response

if TYPE_CHECKING:
    from handlers.notifications.service import Notifications
    from handlers.pipeline import Pipeline

WebhookHandler = Callable[[Request], Awaitable[Response]]


@dataclass
class AppContext:
    """Shared by the app and its channels. `runtime` and `service` are set by the lifespan before traffic."""

    settings: Settings
    metrics: Metrics
    runtime: KnowledgeRuntime | None = None
    service: AssistantService | None = None
    db: Database | None = None
    question_log: BufferedQuestionLog | None = None
    pipeline: Pipeline | None = None
    notifications: Notifications | None = None  # subscriptions and notifications (issue 11)

    async def flush_question_log(self) -> None:
        if self.question_log is not None:
            await self.question_log.flush()

    def require_service(self) -> AssistantService:
        if self.service is None:  # only possible if a request arrives before start-up finished
            raise RuntimeError("service not started")
        return self.service


class Channel(ABC):
    """One chat channel: its webhook routes, and the SDK clients it opens and closes with the app."""

    name: str

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @property
    @abstractmethod
    def enabled(self) -> bool:
        """True when its credentials are configured."""

    @abstractmethod
    def router(self) -> APIRouter:
        """Routes for this channel; they exist even when disabled and then answer 404/503."""

    def webhook_routes(self) -> dict[str, WebhookHandler]:
        """POST paths this channel serves on the fast path (handlers/pipeline/http.py: WebhookDispatch)."""
        return {}

    async def start(self) -> None:  # noqa: B027 - optional hook: most channels need it, the disabled one not
        """Create SDK clients (needs the running event loop)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook, as start()
        """Finish in-flight work and close clients."""


class WebhookChannel(Channel):
    """A chat channel whose webhook goes to the message pipeline: POST `webhook_path`, handled by
    `ctx.pipeline.webhook(self, request)` with this channel as the adapter (handlers/pipeline/adapter.py)."""

    webhook_path: str
    webhook_summary: str

    def router(self) -> APIRouter:
        router = APIRouter(tags=[self.name])
        router.add_api_route(self.webhook_path, self.webhook, methods=["POST"], summary=self.webhook_summary)
        return router

    def webhook_routes(self) -> dict[str, WebhookHandler]:
        return {self.webhook_path: self.webhook}

    async def webhook(self, request: Request) -> Response:
        pipeline = self.ctx.pipeline
        if pipeline is None:
            return error_response(503, "the service is starting; retry later")
        return await pipeline.webhook(self, request)  # type: ignore[arg-type]  # subclasses are adapters


class DisabledChannel(Channel):
    """Stands in for a channel without credentials: its webhook answers 404 saying what to configure.

    The app builds the real adapter only when credentials are set, so a server without LINE or Telegram
    never imports their SDKs (most of a second of start-up for LINE's)."""

    def __init__(self, ctx: AppContext, name: str, path: str, needs: str) -> None:
        super().__init__(ctx)
        self.name = name
        self.path = path
        self.message = f"the {name} channel is not configured: set {needs}"

    @property
    def enabled(self) -> bool:
        return False

    def router(self) -> APIRouter:
        router = APIRouter(tags=[self.name])

        async def webhook() -> JSONResponse:
            self.ctx.metrics.webhooks.labels(channel=self.name, outcome="disabled").inc()
            return error_response(404, self.message)

        router.add_api_route(self.path, webhook, methods=["POST"], include_in_schema=False)
        return router
