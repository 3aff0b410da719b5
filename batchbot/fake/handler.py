"""How the fake server answers the API's POSTs: chat completions, Responses, embeddings.

One request's way through it, in the order the real API seems to check: the key, the body,
the model; a fault if one is due (see `fake.faults`); the context window, the service tier, the
rate limits (see `fake.gate`); then the answer, billed as it is made (see `fake.ledger`) and
sent after the configured latency. Every reply, errors too, carries the rate-limit headers.
Azure's paths go the same way, with Azure's key check and headers (see `fake.azure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import orjson
from aiohttp import web

from batchbot.fake import azure as fake_azure
from batchbot.fake import errors as fake_errors
from batchbot.fake import known, prices
from batchbot.fake.endpoints import KINDS, Kind
from batchbot.fake.errors import ApiError
from batchbot.fake.faults import CONNECTION_FAULTS, FaultPlan, fault_error
from batchbot.fake.gate import RateGate
from batchbot.fake.ledger import Ledger
from batchbot.fake.listener import Listener
from batchbot.fake.prompt_cache import PromptCache, prefixes
from batchbot.fake.quirks import AnswerQuirks

HANG_SECONDS = 3600.0  # longer than any client timeout; released early when the server stops
MIN_CACHED = 1024  # a shorter prompt has nothing to cache (fake.prompt_cache)


class Served(Protocol):
    """What the handler reads of the server it answers for: settings and stateful parts."""

    api_key: str | None
    context_window: int
    retry_after_header: bool
    latency_ms: float
    faults: FaultPlan
    gate: RateGate
    quirks: AnswerQuirks
    prompt_cache: PromptCache
    ledger: Ledger
    listener: Listener


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiHandler:
    """Answers the API endpoints for `server`, reading its settings as each request comes."""

    def __init__(self, server: Served) -> None:
        self._server = server

    def routes(self) -> list[web.RouteDef]:
        """A POST route per endpoint, OpenAI's paths and Azure's."""
        return [
            web.post(path, self._endpoint(KINDS[kind], azure=fake_azure.is_azure(path)))
            for path, kind in fake_azure.ROUTES
        ]

    def authorize(self, request: web.Request) -> str:
        """The request's bearer key, or the 401 the API sends for a missing or wrong one."""
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise fake_errors.missing_key()
        expected = self._server.api_key
        if expected is not None and not secrets.compare_digest(key, expected):
            raise fake_errors.invalid_key(key)
        return key

    def _endpoint(self, kind: Kind, *, azure: bool) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            started = time.perf_counter()
            self._server.ledger.received()
            try:
                return await self._answer(request, kind, started, azure=azure)
            except ApiError as error:
                return self._reply(error.status, error.body(), started, error.headers, azure=azure)

        return handle

    async def _answer(
        self, request: web.Request, kind: Kind, started: float, *, azure: bool
    ) -> web.StreamResponse:
        key, body = await self._read(request, kind, azure=azure)
        model, messages = body["model"], kind.messages(body)
        # The body's identity for duplicates and counted markers: key order must not matter.
        digest = hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16)
        fault = self._server.faults.pick(messages, digest.digest())
        prompt = kind.prompt(model, body)
        if fault in CONNECTION_FAULTS:
            return await self._act_out(fault, request, kind, body, prompt, started)
        if fault is not None:
            raise await self._fault_error(fault, model, key, prompt)
        tier = self._admit(kind, body, prompt, azure=azure)
        cacheable = prefixes(model, body) if kind.tiered and prompt >= MIN_CACHED else ()
        payload = kind.answer(body, prompt, self._server.quirks.pick(digest.digest(), messages))
        if tier is not None:
            cached = self._server.prompt_cache.cached_tokens(cacheable, prompt)
            payload = _served(payload, tier, cached)
        self._server.ledger.bill(model, payload, tier)
        await self._delay()
        self._server.prompt_cache.remember(cacheable)
        self._server.ledger.answered(digest.digest())
        return self._reply(200, payload, started, azure=azure)

    async def _read(
        self, request: web.Request, kind: Kind, *, azure: bool
    ) -> tuple[str, dict[str, Any]]:
        """The caller's key and the checked body, or the error the API sends for either."""
        if azure:
            key = fake_azure.authorize(request, self._server.api_key)
        else:
            key = self.authorize(request)
        raw = await _read_json(request)
        if "deployment" in request.match_info and isinstance(raw, dict):
            raw = {**raw, "model": request.match_info["deployment"]}  # Azure: the path names it
        body = kind.validate(raw)
        if not known.is_known_model(request.path, body["model"]):
            raise fake_errors.model_not_found(body["model"])
        return key, body

    async def _fault_error(self, fault: str, model: str, key: str, prompt: int) -> ApiError:
        """The error a fault answers with, after an answer's latency if it is a server's."""
        error = fault_error(
            fault,
            model=model,
            key=key,
            prompt_tokens=prompt,
            window=self._server.context_window,
            rpm=self._server.gate.requests_per_minute,
            hint=self._server.retry_after_header,
        )
        if error.status >= 500:  # a server error takes as long as an answer; refusals don't
            await self._delay()
        return error

    def _admit(self, kind: Kind, body: dict[str, Any], prompt: int, *, azure: bool) -> str | None:
        """Charge the request to the rate limits if it fits the model at all; its service tier."""
        model = body["model"]
        if kind.windowed and prompt > self._server.context_window:
            raise fake_errors.context_length_exceeded(self._server.context_window, prompt)
        tier = prices.served_tier(model, body.get("service_tier")) if kind.tiered else None
        if kind.tiered and tier is None:
            raise fake_errors.flex_not_offered(model)
        tokens = kind.charge(body, prompt, self._server.gate.count)
        # Azure always says how long to wait; OpenAI only on some deployments.
        self._server.gate.admit(model, tokens, hint=azure or self._server.retry_after_header)
        self._server.ledger.admitted(tokens)
        return tier

    async def _delay(self) -> None:
        if self._server.latency_ms > 0:
            await asyncio.sleep(self._server.latency_ms / 1000)

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
        released = self._server.listener.released
        if fault == "hang" and released is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(released.wait(), HANG_SECONDS)
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
        self._server.ledger.sent(status)
        all_headers = self._server.gate.headers()
        if azure:
            all_headers = fake_azure.headers(all_headers)
        all_headers["x-request-id"] = f"req_{secrets.token_hex(16)}"
        all_headers["openai-processing-ms"] = str(round((time.perf_counter() - started) * 1000))
        all_headers.update(headers or {})
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return web.Response(
            body=body, status=status, headers=all_headers, content_type="application/json"
        )


def _served(payload: dict[str, Any], tier: str, cached: int) -> dict[str, Any]:
    """The answer as served: the tier that served it, and its cached input tokens."""
    usage = payload.get("usage") or {}
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    if details is not None:
        details["cached_tokens"] = cached
    payload["service_tier"] = tier
    return payload


async def _read_json(request: web.Request) -> object:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise fake_errors.bad_json() from None


def _drop_connection(request: web.Request) -> None:
    """Close the socket without a response, as a crashed proxy or a network blip does."""
    if request.transport is not None:
        request.transport.abort()
