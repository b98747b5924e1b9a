"""An aiohttp application served on 127.0.0.1 from a background thread: the base of the fake APIs.

Every fake can be slowed down (`slow_down`: each call answered only after a delay) and taken down for a period
(`take_down`: each call's connection is cut without an answer, as when the API's hosts are unreachable mid-way).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Self

from aiohttp import web


class BackgroundServer:
    """Subclasses build their aiohttp app in `make_app()`; `start()` serves it on a free port."""

    thread_name = "fake-api"

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._faults = threading.Lock()
        self._down_until = 0.0  # time.monotonic(); inf: until bring_up()
        self._slow = 0.0
        self.cut_calls = 0  # calls whose connection was cut while down

    # --- faults for every fake ---------------------------------------------------------------------

    def take_down(self, seconds: float | None = None) -> None:
        """Cut the connection of every call from now on, for `seconds` (None: until `bring_up`)."""
        with self._faults:
            self._down_until = float("inf") if seconds is None else time.monotonic() + seconds

    def bring_up(self) -> None:
        with self._faults:
            self._down_until = 0.0

    @property
    def down(self) -> bool:
        with self._faults:
            return time.monotonic() < self._down_until

    def reset_faults(self) -> None:
        with self._faults:
            self._down_until, self._slow, self.cut_calls = 0.0, 0.0, 0

    def slow_down(self, seconds: float) -> None:
        """Answer every call only after `seconds` (a slow API); 0 turns it off."""
        with self._faults:
            self._slow = seconds

    @web.middleware
    async def _fault_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self.down:
            with self._faults:
                self.cut_calls += 1
            assert request.transport is not None
            request.transport.abort()  # a reset, no answer: the client sees a dropped connection
            return web.Response(status=503)  # never reaches the client
        with self._faults:
            slow = self._slow
        if slow > 0:
            await asyncio.sleep(slow)
        return await handler(request)

    def make_app(self) -> web.Application:
        raise NotImplementedError

    def on_stop(self) -> None:
        """Called on the server's loop just before it stops (e.g. to release hanging handlers)."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ready))
                loop.run_forever()
                if self._runner is not None:
                    loop.run_until_complete(self._runner.cleanup())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not ready.wait(10) or errors:
            raise RuntimeError(f"{type(self).__name__} did not start: {errors}")

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop = self._loop

        def halt() -> None:
            self.on_stop()
            loop.stop()

        loop.call_soon_threadsafe(halt)
        self._thread.join(10)
        self._thread = None

    async def _serve(self, ready: threading.Event) -> None:
        app = self.make_app()
        app.middlewares.append(self._fault_middleware)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # noqa: SLF001 - the only way to learn the port picked by the OS
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
