"""A fake OpenAI API (chat completions, Responses, embeddings): a real HTTP server on 127.0.0.1.

`batchbot run --fake`, the tests and the benchmarks point the real `openai` client at it. It
answers like the API (same JSON, same headers, same error bodies, rate limits that refill the
same way) and fails on demand: see `fake_faults` for faults and `[[fake:FAULT]]` markers.

    server = FakeServer(rpm=500, tpm=200_000).start_in_thread()
    client = AsyncOpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    ...
    server.stop()

A test thread may call `inject`, `set_limits`, `quirks.set`, `spend`, `reset`, `stats` and
`timeline` while
the server thread serves: all mutable state sits behind one lock, never held across an await.
Another process drives it over HTTP: `POST /_fake/faults`, `POST /_fake/limits`,
`POST /_fake/answers`, `POST /_fake/spend`, `POST /_fake/reset`, `GET /_fake/stats`,
`GET /_fake/timeline`.

It also serves Azure OpenAI's paths, as Azure answers them (fake.azure).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from batchbot.fake import azure as fake_azure
from batchbot.fake import errors as fake_errors
from batchbot.fake import known, prices
from batchbot.fake.batches import FakeBatches
from batchbot.fake.control import control_routes
from batchbot.fake.counting import check_count_mode, encoder
from batchbot.fake.dialects import OPENAI, check_dialect
from batchbot.fake.endpoints import KINDS, Kind
from batchbot.fake.errors import ApiError
from batchbot.fake.faults import CONNECTION_FAULTS, FaultPlan, fault_error
from batchbot.fake.files import FakeFiles
from batchbot.fake.limits import RateLimits
from batchbot.fake.models import model_routes
from batchbot.fake.prompt_cache import PromptCache, prefixes
from batchbot.fake.quirks import AnswerQuirks

HANG_SECONDS = 3600.0  # longer than any client timeout; released early when the server stops
SHUTDOWN_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class FakeStats:
    """What the server has seen since it started or was last reset."""

    requests: int  # API POSTs received (every endpoint), whatever happened to them
    answered: int  # well-formed 200 answers
    by_status: dict[int, int]  # HTTP statuses sent (a malformed 200 counts; resets and hangs don't)
    duplicates: int  # answers to a body that had already been answered: resent work
    tokens_charged: int  # charged against tokens-per-minute, as the counting mode says
    # What the provider would bill, by model: {"requests", "input_tokens", "cached_tokens",
    # "output_tokens"} of every answer made, counted as it is made, so a client killed while
    # it waits for the answer still pays for it, as with the real API.
    billed: dict[str, dict[str, int]]
    # The same in dollars, by the fake's own price table (fake.prices): at the service tier
    # that served each answer, cached input tokens at the cached rate. Models the table does
    # not list are left out.
    billed_usd: float = 0.0


class FakeServer:
    """An OpenAI-shaped chat completions server; see the module docstring."""

    _limits: RateLimits
    count: str  # how requests are charged against tokens-per-minute (see `fake.counting`)

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
        `batch_delay_s`: how long a batch stays in progress (see `fake_batches`).
        `count`: how a request is charged against tokens-per-minute: `exact`, `chars` or a
        factor like `x1.15` (see `fake.counting`); the usage it reports is always exact.
        `invalid`, `refusal`, `length`: the shares of requests answered with invalid JSON,
        refused or cut off (see `fake.quirks`).
        """
        self.files = FakeFiles()
        self.quirks = AnswerQuirks(invalid=invalid, refusal=refusal, length=length)
        self.batches = FakeBatches(
            self.files, delay_s=batch_delay_s, context_window=context_window, quirks=self.quirks
        )
        self.host, self.port = host, port
        self.latency_ms = latency_ms
        self.context_window = context_window
        self.api_key = api_key
        self.retry_after_header = retry_after_header
        self._limits_at_start = (rpm, tpm)
        self._windows_at_start = (window_s, windows, sliding_s)
        self._dialect_at_start = check_dialect(dialect)
        self._count_at_start = check_count_mode(count)
        self._clock = clock
        self._wall = time.time if clock is time.monotonic else clock
        self._lock = threading.Lock()
        self._faults = FaultPlan(fail_rate=fail_rate, seed=seed)
        self.prompt_cache = PromptCache(clock)
        self._runner: web.AppRunner | None = None
        self._released: asyncio.Event | None = None  # set on close: hanging requests end
        self._thread: threading.Thread | None = None
        self._stop_thread: Callable[[], object] | None = None
        self.reset()

    # -- control ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the fake server is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        return f"http://{host}:{self.port}/v1"

    def inject(self, fault: str, times: int = 1) -> None:
        """Fail the next `times` chat requests with `fault` (after any already queued)."""
        with self._lock:
            self._faults.inject(fault, times)

    def set_limits(
        self,
        *,
        rpm: int | None,
        tpm: int | None,
        window_s: float | None = None,
        windows: str | None = None,
        sliding_s: float | None = None,
        reported_rpm: int | None = None,
        reported_tpm: int | None = None,
        keep_usage: bool = False,
        count: str | None = None,
        dialect: str | None = None,
    ) -> None:
        """Replace the rate limits: full buckets of the new size, or (`keep_usage`) buckets
        that still count what was used of the old ones, as a limit lowered mid-run does.

        `window_s`, `windows`, `sliding_s`, `dialect` None keep the current ones. `reported_*`: what
        the headers should say instead of the real limits. `count` (None keeps it): how
        requests are charged.
        """
        options: dict[str, Any] = {"reported": (reported_rpm, reported_tpm), "wall": self._wall}
        mode = None if count is None else check_count_mode(count)
        with self._lock:
            self.count = mode or self.count
            options["window_s"] = window_s or self._limits.window_s
            options["windows"] = windows or self._limits.windows
            options["sliding_s"] = sliding_s or self._limits.sliding_s
            options["dialect"] = dialect or self._limits.dialect
            if keep_usage:
                self._limits = self._limits.changed(rpm, tpm, self._clock, **options)
            else:
                self._limits = RateLimits(rpm, tpm, self._clock, **options)

    def spend(self, *, requests: int = 0, tokens: int = 0) -> None:
        """Spend the key's budget as another client would (for a shared-key benchmark)."""
        with self._lock:
            self._limits.spend(requests, tokens)

    def reset(self) -> None:
        """Forget faults, counters and bucket levels; restore the constructor's limits."""
        with self._lock:
            self._faults.clear()
            window_s, windows, sliding_s = self._windows_at_start
            self._limits = RateLimits(
                *self._limits_at_start,
                self._clock,
                window_s=window_s,
                windows=windows,
                sliding_s=sliding_s,
                dialect=self._dialect_at_start,
                wall=self._wall,
            )
            self.count = self._count_at_start
            self._requests = self._answered = self._duplicates = self._tokens_charged = 0
            self._billed: dict[str, Counter[str]] = {}
            self._billed_usd = 0.0
            self.prompt_cache.clear()
            self._statuses: Counter[int] = Counter()
            self._seen: set[bytes] = set()
            self._started = self._clock()
            self._timeline: list[list[int]] = []
        self.batches.clear()
        self.files.clear()
        self.quirks.reset()

    @property
    def stats(self) -> FakeStats:
        with self._lock:
            return FakeStats(
                requests=self._requests,
                answered=self._answered,
                by_status=dict(self._statuses),
                duplicates=self._duplicates,
                tokens_charged=self._tokens_charged,
                billed={model: dict(usage) for model, usage in self._billed.items()},
                billed_usd=self._billed_usd,
            )

    def timeline(self) -> list[list[int]]:
        """[requests, tokens] let through in each second since start or reset (server clock)."""
        with self._lock:
            return [list(second) for second in self._timeline]

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen inside the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the fake server is already running")
        app = web.Application()
        for path, kind in fake_azure.ROUTES:
            app.router.add_post(path, self._route(kind, azure=fake_azure.is_azure(path)))
        app.router.add_routes([*self.files.routes(), *self.batches.routes()])
        app.router.add_routes(model_routes(self._authorize))
        app.router.add_routes(control_routes(self))
        # No access log: it would cost more than answering does.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._released = asyncio.Event()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def close(self) -> None:
        """Stop listening, end hanging requests, close connections. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._released is not None:
            self._released.set()
        await runner.cleanup()

    def start_in_thread(self) -> FakeServer:
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
        return self

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

    def stop(self) -> None:
        """Stop the thread started by start_in_thread and wait for it. Idempotent."""
        thread, stop_thread = self._thread, self._stop_thread
        self._thread = self._stop_thread = None
        if thread is None or stop_thread is None:
            return
        stop_thread()
        thread.join()

    # -- the API endpoints -----------------------------------------------------------------

    def _route(
        self, kind: str, *, azure: bool = False
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, KINDS[kind], azure=azure)

        return handle

    async def _serve(self, request: web.Request, kind: Kind, *, azure: bool) -> web.StreamResponse:
        started = time.perf_counter()
        with self._lock:
            self._requests += 1
        try:
            return await self._complete(request, started, kind, azure=azure)
        except ApiError as error:
            return self._reply(error.status, error.body(), started, error.headers, azure=azure)

    async def _complete(
        self, request: web.Request, started: float, kind: Kind, *, azure: bool
    ) -> web.StreamResponse:
        key = fake_azure.authorize(request, self.api_key) if azure else self._authorize(request)
        raw = await _read_body(request)
        if "deployment" in request.match_info and isinstance(raw, dict):
            raw = {**raw, "model": request.match_info["deployment"]}  # Azure: the path names it
        body = kind.validate(raw)
        model, messages = body["model"], kind.messages(body)
        if not known.is_known_model(request.path, model):
            raise fake_errors.model_not_found(model)
        # The body's identity for duplicates and counted markers: key order must not matter.
        digest = hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16)
        with self._lock:
            fault = self._faults.pick(messages, digest.digest())
        prompt = kind.prompt(model, body)
        if fault in CONNECTION_FAULTS:
            return await self._act_out(fault, request, kind, body, prompt, started)
        if fault is not None:
            error = fault_error(
                fault,
                model=model,
                key=key,
                prompt_tokens=prompt,
                window=self.context_window,
                rpm=self._limits.requests.limit,
                hint=self.retry_after_header,
            )
            if error.status >= 500:  # a server error takes as long as an answer; refusals don't
                await self._delay()
            raise error
        if kind.windowed and prompt > self.context_window:
            raise fake_errors.context_length_exceeded(self.context_window, prompt)
        tier = prices.served_tier(model, body.get("service_tier")) if kind.tiered else None
        if kind.tiered and tier is None:
            raise fake_errors.flex_not_offered(model)
        # Azure always says how long to wait; OpenAI only on some deployments.
        hint = azure or self.retry_after_header
        self._admit(model, kind.charge(body, prompt, self.count), hint=hint)
        cacheable = prefixes(model, body) if kind.tiered and prompt >= MIN_CACHED else ()
        payload = kind.answer(body, prompt, self.quirks.pick(digest.digest(), messages))
        if tier is not None:
            with self._lock:
                cached = self.prompt_cache.cached_tokens(cacheable, prompt)
            payload = _served(payload, tier, cached)
        self._bill(model, payload, tier)
        await self._delay()
        with self._lock:
            self.prompt_cache.remember(cacheable)
            self._answered += 1
            if digest.digest() in self._seen:
                self._duplicates += 1
            self._seen.add(digest.digest())
        return self._reply(200, payload, started, azure=azure)

    def _authorize(self, request: web.Request) -> str:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise fake_errors.missing_key()
        if self.api_key is not None and not secrets.compare_digest(key, self.api_key):
            raise fake_errors.invalid_key(key)
        return key

    def _admit(self, model: str, tokens: int, *, hint: bool) -> None:
        with self._lock:
            refusal = self._limits.admit(tokens)
            if refusal is None:
                self._tokens_charged += tokens
                second = int(self._clock() - self._started)
                while len(self._timeline) <= second:
                    self._timeline.append([0, 0])
                self._timeline[second][0] += 1
                self._timeline[second][1] += tokens
                return
        message = refusal.message(model)
        raise fake_errors.rate_limited(message, refusal.kind, refusal.wait, hint=hint)

    def _bill(self, model: str, payload: Mapping[str, Any], tier: str | None) -> None:
        usage = payload.get("usage") or {}
        prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0))
        details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
        cached = details.get("cached_tokens") or 0
        completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
        usd = prices.bill_usd(
            model, tier or prices.DEFAULT, prompt=prompt, cached=cached, completion=completion
        )
        with self._lock:
            bill = self._billed.setdefault(model, Counter())
            bill["requests"] += 1
            bill["input_tokens"] += prompt
            bill["cached_tokens"] += cached
            bill["output_tokens"] += completion
            self._billed_usd += usd or 0.0

    async def _delay(self) -> None:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)

    async def _act_out(
        self,
        fault: str,
        request: web.Request,
        kind: Kind,
        body: dict[str, Any],
        prompt: int,
        started: float,
    ) -> web.StreamResponse:
        """The faults that break the connection or the body rather than send an error."""
        if fault == "malformed":
            await self._delay()
            whole = orjson.dumps(kind.answer(body, prompt, None))
            return self._reply(200, whole[: len(whole) // 2], started)
        if fault == "hang" and self._released is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), HANG_SECONDS)
        _drop_connection(request)
        # Nothing reaches the client: the transport is gone. aiohttp needs a return value.
        return web.Response(status=500)

    def _reply(
        self,
        status: int,
        payload: Mapping[str, Any] | bytes,
        started: float,
        headers: Mapping[str, str] | None = None,
        *,
        azure: bool = False,
    ) -> web.Response:
        with self._lock:
            self._statuses[status] += 1
            all_headers = self._limits.headers()
        if azure:
            all_headers = fake_azure.headers(all_headers)
        all_headers["x-request-id"] = f"req_{secrets.token_hex(16)}"
        all_headers["openai-processing-ms"] = str(round((time.perf_counter() - started) * 1000))
        all_headers.update(headers or {})
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return web.Response(
            body=body, status=status, headers=all_headers, content_type="application/json"
        )


MIN_CACHED = 1024  # a shorter prompt has nothing to cache (fake.prompt_cache)


def _served(payload: dict[str, Any], tier: str, cached: int) -> dict[str, Any]:
    """The answer as served: the tier that served it, and its cached input tokens."""
    usage = payload.get("usage") or {}
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    if details is not None:
        details["cached_tokens"] = cached
    payload["service_tier"] = tier
    return payload


async def _read_body(request: web.Request) -> object:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise fake_errors.bad_json() from None


def _drop_connection(request: web.Request) -> None:
    """Close the socket without a response, as a crashed proxy or a network blip does."""
    if request.transport is not None:
        request.transport.abort()


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
