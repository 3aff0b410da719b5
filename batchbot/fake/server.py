"""A fake OpenAI API (chat completions, Responses, embeddings): a real HTTP server on 127.0.0.1.

`batchbot run --fake`, the tests and the benchmarks point the real `openai` client at it. It
answers like the API (same JSON, same headers, same error bodies, rate limits that refill the
same way) and fails on demand: see `fake.faults` for faults and `[[fake:FAULT]]` markers.

    server = FakeServer(rpm=500, tpm=200_000).start_in_thread()
    client = AsyncOpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    ...
    server.stop()

A test thread may call `inject`, `set_limits`, `quirks.set`, `spend`, `reset`, `stats` and
`timeline` while the server thread serves: each part keeps its state behind a lock of its own,
never held across an await.
Another process drives it over HTTP: `POST /_fake/faults`, `POST /_fake/limits`,
`POST /_fake/answers`, `POST /_fake/spend`, `POST /_fake/reset`, `GET /_fake/stats`,
`GET /_fake/timeline`.

It also serves Azure OpenAI's paths, as Azure answers them (fake.azure).

`FakeServer` puts parts together: `fake.handler` answers the API endpoints, `fake.gate` holds
the rate limits, `fake.ledger` counts and bills, `fake.files`, `fake.batches`, `fake.models` and
`fake.control` serve the other routes, and `fake.listener` serves it all over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from batchbot.fake.batches import FakeBatches
from batchbot.fake.control import control_routes
from batchbot.fake.counting import encoder
from batchbot.fake.dialects import OPENAI
from batchbot.fake.faults import FaultPlan
from batchbot.fake.files import FakeFiles
from batchbot.fake.gate import RateGate
from batchbot.fake.handler import ApiHandler
from batchbot.fake.ledger import FakeStats, Ledger
from batchbot.fake.listener import Listener
from batchbot.fake.models import model_routes
from batchbot.fake.prompt_cache import PromptCache
from batchbot.fake.quirks import AnswerQuirks

__all__ = ["FakeServer", "FakeStats", "serve"]


class FakeServer:
    """An OpenAI-shaped API server; see the module docstring."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rpm: int | None = None,
        tpm: int | None = None,
        latency_ms: float = 0.0,
        fail_rate: float = 0.0,
        context_window: int = 128_000,
        api_key: str | None = None,
        seed: int | None = None,
        retry_after_header: bool = False,
        window_s: float = 60.0,
        windows: str = "buckets",
        sliding_s: float = 1.0,
        dialect: str = OPENAI,
        clock: Callable[[], float] = time.monotonic,
        batch_delay_s: float = 0.0,
        count: str = "exact",
        invalid: float = 0.0,
        refusal: float = 0.0,
        length: float = 0.0,
    ) -> None:
        """`rpm`/`tpm` None: report tier-5-sized limits, never refuse. `api_key` None: any key.

        `window_s`: enforce the per-minute limits over windows this long (1 = limit/60 per
        second). `windows="sliding"`: also enforce them over every span of `sliding_s`
        seconds (see `fake.limits`). `dialect`: the rate-limit headers to send (see
        `fake.dialects`). `clock` drives the rate-limit buckets; tests pass one they can wind
        forward, which then also turns the minutes of a `fixed-minute` server (else the wall
        clock does, as LiteLLM's).
        `batch_delay_s`: how long a batch stays in progress (see `fake.batches`).
        `count`: how a request is charged against tokens-per-minute: `exact`, `chars` or a
        factor like `x1.15` (see `fake.counting`); the usage it reports is always exact.
        `invalid`, `refusal`, `length`: the shares of requests answered with invalid JSON,
        refused or cut off (see `fake.quirks`).
        """
        self.latency_ms = latency_ms
        self.context_window = context_window
        self.api_key = api_key
        self.retry_after_header = retry_after_header
        self.files = FakeFiles()
        self.quirks = AnswerQuirks(invalid=invalid, refusal=refusal, length=length)
        self.batches = FakeBatches(
            self.files, delay_s=batch_delay_s, context_window=context_window, quirks=self.quirks
        )
        self.faults = FaultPlan(fail_rate=fail_rate, seed=seed)
        self.gate = RateGate(
            rpm,
            tpm,
            clock,
            window_s=window_s,
            windows=windows,
            sliding_s=sliding_s,
            dialect=dialect,
            count=count,
        )
        self.prompt_cache = PromptCache(clock)
        self.ledger = Ledger(clock)
        self.listener = Listener(host, port, self._application)
        # The parts' own control methods, under the names tests and the control routes call.
        self.inject = self.faults.inject
        self.set_limits = self.gate.change
        self.spend = self.gate.spend
        self.timeline = self.ledger.timeline

    @property
    def url(self) -> str:
        """The base URL to give the `openai` client: `http://127.0.0.1:PORT/v1`."""
        return f"{self.listener.origin}/v1"

    @property
    def count(self) -> str:
        """How requests are charged against tokens-per-minute now (see `fake.counting`)."""
        return self.gate.count

    @property
    def stats(self) -> FakeStats:
        return self.ledger.stats()

    def reset(self) -> None:
        """Forget faults, counters and bucket levels; restore the constructor's limits."""
        self.faults.clear()
        self.gate.reset()
        self.ledger.clear()
        self.prompt_cache.clear()
        self.batches.clear()
        self.files.clear()
        self.quirks.reset()

    async def start(self) -> None:
        """Listen inside the running event loop."""
        await self.listener.start()

    async def close(self) -> None:
        """Stop listening, end hanging requests, close connections. Idempotent."""
        await self.listener.close()

    def start_in_thread(self) -> FakeServer:
        """Serve from a daemon thread with its own event loop; return once listening."""
        self.listener.start_in_thread()
        return self

    def stop(self) -> None:
        """Stop the thread started by start_in_thread and wait for it. Idempotent."""
        self.listener.stop()

    def _application(self) -> web.Application:
        api = ApiHandler(self)
        app = web.Application()
        app.router.add_routes(api.routes())
        app.router.add_routes([*self.files.routes(), *self.batches.routes()])
        app.router.add_routes(model_routes(api.authorize))
        app.router.add_routes(control_routes(self))
        return app


def serve(*, on_ready: Callable[[str], None] | None = None, **settings: Any) -> None:
    """Serve until Ctrl-C; `settings` are FakeServer's. `on_ready(url)` runs once it listens."""
    server = FakeServer(**settings)

    async def main() -> None:
        await server.start()
        # The real API answers its first request as fast as any: load the tokenizer now, not
        # while a client waits for that answer (a pure-Python vocabulary takes ~0.2 s).
        encoder("gpt-4o-mini")
        try:
            if on_ready is not None:
                on_ready(server.url)
            await asyncio.Event().wait()
        finally:
            await server.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
