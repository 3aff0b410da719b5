"""What a run talks to: the store it writes and the API it sends to (real or the built-in fake)."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import AsyncIterator

from batchbot.api.client import ChatClient
from batchbot.config import Config
from batchbot.endpoints import CHAT, NO_KEY
from batchbot.errors import not_a_database
from batchbot.store.store import Store


def open_store(config: Config) -> Store:
    """The store; a file that is not a usable database is a plain input error."""
    try:
        return Store.open(config.db_path)
    except sqlite3.DatabaseError as exc:
        raise not_a_database(config.db_path, exc) from None


@contextlib.asynccontextmanager
async def connect(config: Config, endpoint: str = CHAT) -> AsyncIterator[ChatClient]:
    """A client for the real API (OpenAI's or Azure's), or for the built-in fake one."""
    server = None
    base_url, api_key, azure = config.base_url, config.api_key, config.azure
    if config.fake:
        from batchbot.fake.errors import FAKE_KEY
        from batchbot.fake.server import FakeServer

        server = FakeServer(
            rpm=_int(config.rpm),
            tpm=_int(config.tpm),
            latency_ms=config.fake_latency_ms,
            batch_delay_s=config.fake_batch_delay_s,
        )
        await server.start()
        base_url, api_key = server.url, FAKE_KEY
        if azure is not None:  # the fake serves Azure's paths too
            azure = dataclasses.replace(azure, endpoint=server.url.removesuffix("/v1"))
    client = ChatClient(
        api_key=api_key or NO_KEY,
        base_url=base_url,
        timeout=config.request_timeout_s,
        endpoint=endpoint,
        azure=azure,
    )
    try:
        yield client
    finally:
        await client.close()
        if server:
            await server.close()


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)
