"""One request to the job's endpoint through the official `openai` client, retries off.

batchbot's policy (policy.py) is the only retry logic, so the client is built with
`max_retries=0`. The body is posted as it is and the answer read raw: we need the rate-limit
headers of every answer, the SDK's typed request transform and response model cost more CPU
than the rest of a run together, and any parameter the API accepts passes through even if
this SDK version does not know it yet. Measured in bench/throughput.py: the aiohttp transport
with raw bodies needs a quarter of the CPU per request of the default typed httpx path.

Azure OpenAI goes through the SDK's own `AsyncAzureOpenAI`: it sends the `api-key` header and
the `api-version`, and puts the deployment (the body's model) into the path of the endpoints
that have one (`/openai/deployments/{model}/chat/completions`, `.../embeddings`; Responses is
`/openai/responses`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import openai
import orjson
from httpx2 import Response

from batchbot import endpoints, jsonbytes
from batchbot.api.exceptions import MalformedResponse, StatusError, mapped_errors
from batchbot.api.replies import Reply, reply_from
from batchbot.endpoints import Azure

__all__ = ["ChatClient", "Reply"]

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


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name in KEPT_HEADERS if (value := headers.get(name)) is not None}


class ChatClient:
    """Sends request bodies; raises an ApiError (exceptions.py) on failure."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float,
        endpoint: str = endpoints.CHAT,
        azure: Azure | None = None,
    ) -> None:
        http_client = openai.DefaultAioHttpClient(timeout=timeout)
        self._endpoint = endpoint
        self._azure = azure is not None
        self._client: openai.AsyncOpenAI
        if azure is not None:
            self._client = openai.AsyncAzureOpenAI(
                azure_endpoint=azure.endpoint,
                api_version=azure.api_version,
                api_key=api_key,
                max_retries=0,
                timeout=timeout,
                http_client=http_client,
            )
            self._url = f"/{endpoints.path(endpoint)}"
        else:
            self._client = openai.AsyncOpenAI(
                api_key=api_key,
                base_url=base_url,
                max_retries=0,
                timeout=timeout,
                http_client=http_client,
            )
            # A whole URL: a path would be parsed and joined to the base URL every time.
            self._url = f"{self._client.base_url}{endpoints.path(endpoint)}"  # base ends with /

    async def complete(self, body: Mapping[str, Any]) -> Reply:
        raw = await self._post(body)
        headers = kept_headers(raw.headers)
        try:
            return reply_from(self._endpoint, orjson.loads(raw.content), headers)
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise MalformedResponse(type(exc).__name__, headers) from exc

    async def _post(self, body: Mapping[str, Any]) -> Response:
        with mapped_errors():
            return await self._post_raw(body)

    async def _post_raw(self, body: Mapping[str, Any]) -> Response:
        if self._azure:
            # As JSON, so the Azure client can read the deployment from the body's model.
            return await self._client.post(self._url, body=cast(Any, body), cast_to=Response)
        # Bytes go out as they are: the SDK would encode a dict with the slower stdlib json.
        return await self._client.post(self._url, content=jsonbytes.dumps(body), cast_to=Response)

    async def has_model(self, model: str) -> bool:
        """Whether the API serves `model` to this key (`GET /models/{model}`); raises the
        ApiError of any answer but a 404."""
        try:
            with mapped_errors():
                await self._client.models.retrieve(model)
        except StatusError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    @property
    def url(self) -> str:
        """The whole URL requests go to, for messages that say where batchbot tried."""
        if self._azure:
            return f"{self._client.base_url}{endpoints.path(self._endpoint)}"
        return self._url

    @property
    def api(self) -> openai.AsyncOpenAI:
        """The underlying client, for the Files and Batches APIs (batch mode)."""
        return self._client

    async def close(self) -> None:
        await self._client.close()
