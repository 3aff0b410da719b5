"""Serving an aiohttp application on host:port, in the running event loop or in a thread.

The fake server's HTTP plumbing, apart from what it answers: start and close in a loop the
caller runs, or start in a daemon thread with a loop of its own and stop from any thread (as
httpx's tests serve theirs). Closing also releases requests told to hang.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web

SHUTDOWN_SECONDS = 2.0


class Listener:
    """Serves the application `build()` returns, once started; port 0 picks a free port."""

    def __init__(self, host: str, port: int, build: Callable[[], web.Application]) -> None:
        self.host, self.port = host, port
        self._build = build
        self._runner: web.AppRunner | None = None
        self.released: asyncio.Event | None = None  # set on close: hanging requests end
        self._thread: threading.Thread | None = None
        self._stop_thread: Callable[[], object] | None = None

    @property
    def origin(self) -> str:
        """`http://host:port` while listening."""
        if self._runner is None:
            raise RuntimeError("the fake server is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen inside the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the fake server is already running")
        # No access log: it would cost more than answering does.
        runner = web.AppRunner(self._build(), access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.released = asyncio.Event()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def close(self) -> None:
        """Stop listening, end hanging requests, close connections. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self.released is not None:
            self.released.set()
        await runner.cleanup()

    def start_in_thread(self) -> None:
        """Serve from a daemon thread with its own event loop; return once listening."""
        ready = threading.Event()
        failed: list[BaseException] = []
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve_in_thread(ready, failed),),
            name="batchbot-fake-server",
            daemon=True,
        )
        self._thread.start()
        ready.wait()
        if failed:
            self._thread.join()
            self._thread = None
            raise failed[0]

    def stop(self) -> None:
        """Stop the thread started by start_in_thread and wait for it. Idempotent."""
        thread, stop_thread = self._thread, self._stop_thread
        self._thread = self._stop_thread = None
        if thread is None or stop_thread is None:
            return
        stop_thread()
        thread.join()

    async def _serve_in_thread(self, ready: threading.Event, failed: list[BaseException]) -> None:
        try:
            await self.start()
        except BaseException as exc:  # the starting thread re-raises it
            failed.append(exc)
            ready.set()
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._stop_thread = lambda: loop.call_soon_threadsafe(stop.set)
        ready.set()
        try:
            await stop.wait()
        finally:
            await self.close()
