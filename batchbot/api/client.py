"""One Chat Completions request through the official `openai` client, retries off.

batchbot's policy (policy.py) is the only retry logic, so the client is built with
`max_retries=0`. The body is posted as it is and the answer read raw: we need the rate-limit
headers of every answer, the SDK's typed request transform and response model cost more CPU
than the rest of a run together, and any parameter the API accepts passes through even if
this SDK version does not know it yet. Measured in bench/throughput.py: the aiohttp transport
with raw bodies needs a quarter of the CPU per request of the default typed httpx path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import orjson
from httpx2 import Response

from batchbot import jsonbytes
from batchbot.outcome import Usage

# Headers worth keeping with each attempt: what the server says about our limits.
KEPT_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "retry-after",
    "retry-after-ms",
)


class MalformedResponse(Exception):
    """The server answered 200 with a body that is not a chat completion; worth a retry."""

    status_code = 200

    def __init__(self, reason: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"unparseable response body: {reason}")
        self.headers = headers


@dataclass(frozen=True, slots=True)
class Reply:
    content: str | None
    finish_reason: str | None
    usage: Usage
    model: str | None
    headers: Mapping[str, str]


def connection_failed(exc: BaseException) -> bool:
    """The request reached no server: refused, reset, unreachable. A timeout is not one.

    openai's aiohttp transport reports every aiohttp connection error as a connect timeout,
    so look at the error it wrapped.
    """
    if not isinstance(exc, openai.APIConnectionError):
        return False
    cause: BaseException | None = exc
    for _ in range(8):
        cause = cause.__cause__ or cause.__context__ if cause else None
        if isinstance(cause, aiohttp.ClientConnectionError):
            return not isinstance(cause, TimeoutError)
    return not isinstance(exc, openai.APITimeoutError)


def error_name(exc: BaseException) -> str:
    """The exception's class name, naming a connection failure as such whatever the transport."""
    if connection_failed(exc):
        return openai.APIConnectionError.__name__
    return type(exc).__name__


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name in KEPT_HEADERS if (value := headers.get(name)) is not None}


class ChatClient:
    """Sends request bodies; raises the `openai` exceptions (or MalformedResponse) on failure."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float,
    ) -> None:
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            http_client=openai.DefaultAioHttpClient(timeout=timeout),
        )
        self._chat_url = f"{self._client.base_url}chat/completions"  # base_url ends with /

    async def complete(self, body: Mapping[str, Any]) -> Reply:
        # Bytes go out as they are (the SDK would encode a dict with the slower stdlib json),
        # to a whole URL (a path would be parsed and joined to the base URL every time).
        raw = await self._client.post(
            self._chat_url, content=jsonbytes.dumps(body), cast_to=Response
        )
        headers = kept_headers(raw.headers)
        try:
            return reply_from(orjson.loads(raw.content), headers)
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise MalformedResponse(type(exc).__name__, headers) from exc

    @property
    def api(self) -> openai.AsyncOpenAI:
        """The underlying client, for the Files and Batches APIs (batch mode)."""
        return self._client

    async def close(self) -> None:
        await self._client.close()


def reply_from(data: dict[str, Any], headers: Mapping[str, str]) -> Reply:
    """The Reply a chat completion body says (also a Batch API output line's body)."""
    choice = data["choices"][0]
    usage = data.get("usage") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Reply(
        content=choice["message"].get("content"),
        finish_reason=choice.get("finish_reason"),
        usage=Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            total_tokens=int(usage.get("total_tokens") or 0),
            cached_tokens=int(prompt_details.get("cached_tokens") or 0),
            reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        ),
        model=data.get("model"),
        headers=headers,
    )
