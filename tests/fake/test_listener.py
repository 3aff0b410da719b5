"""The listener alone: serving an aiohttp application in the test's loop or a thread of its own."""

from __future__ import annotations

import asyncio
import socket
import urllib.request

import pytest
from aiohttp import web

from batchbot.fake.listener import Listener


def greeting() -> web.Application:
    """An application with one route that says hello."""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/hello", hello)
    return app


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


def test_a_thread_serves_on_a_free_port_until_stopped():
    """Port 0 becomes a real port; stop ends the thread and a second stop does nothing."""
    listener = Listener("127.0.0.1", 0, greeting)
    listener.start_in_thread()
    try:
        assert listener.port != 0
        assert get(f"{listener.origin}/hello") == "hello"
    finally:
        listener.stop()
    listener.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = listener.origin


def test_a_port_in_use_fails_in_the_starting_thread():
    """The serving thread's error reaches the caller of start_in_thread, and no thread is left."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listener = Listener("127.0.0.1", taken.getsockname()[1], greeting)
        with pytest.raises(OSError, match=r"(?i)address already in use"):
            listener.start_in_thread()
    listener.stop()  # nothing to stop: returns at once


async def test_close_releases_what_waits_on_it_and_a_second_start_is_refused():
    """In the test's own loop: a second start raises, and close sets the released event."""
    listener = Listener("127.0.0.1", 0, greeting)
    await listener.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            await listener.start()
        released = listener.released
        assert released is not None
        waiting = asyncio.ensure_future(released.wait())
        await asyncio.sleep(0)
        assert not waiting.done()
    finally:
        await listener.close()
    await asyncio.wait_for(waiting, 1)
    await listener.close()  # idempotent
