"""An aiohttp application served on 127.0.0.1 from a background thread: the base of the fake APIs."""

from __future__ import annotations

import asyncio
import threading
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
        self._runner = web.AppRunner(self.make_app(), shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # noqa: SLF001 - the only way to learn the port picked by the OS
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
