"""What the fake server does differently on Azure OpenAI's paths.

Azure names the model in the path (`/openai/deployments/{deployment}/...`, except Responses at
`/openai/responses`), wants an `api-key` header and an `api-version` query parameter, and
reports in its headers only what is left of the deployment's limits: no limits, no resets.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from aiohttp import web

from batchbot.fake.errors import ApiError

# Every path the fake serves, and the kind of request it takes (fake.endpoints.KINDS).
ROUTES = (
    ("/v1/chat/completions", "chat"),
    ("/v1/responses", "responses"),
    ("/v1/embeddings", "embeddings"),
    ("/openai/deployments/{deployment}/chat/completions", "chat"),
    ("/openai/deployments/{deployment}/embeddings", "embeddings"),
    ("/openai/responses", "responses"),
)
HEADERS = ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens")
ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
    "valid key for an active subscription and use a correct regional API endpoint for your "
    "resource."
)


def is_azure(path: str) -> bool:
    return path.startswith("/openai/")


def authorize(request: web.Request, api_key: str | None) -> str:
    """The request's api-key, if Azure would take the request (`api_key` None: any key)."""
    if not request.query.get("api-version"):
        raise ApiError(404, "Resource not found", code="404")
    key = request.headers.get("api-key", "").strip()
    if not key or (api_key is not None and not secrets.compare_digest(key, api_key)):
        raise ApiError(401, ACCESS_DENIED, code="401")
    return key


def headers(openai_headers: Mapping[str, str]) -> dict[str, str]:
    """Of the rate-limit headers OpenAI sends, the ones Azure sends."""
    return {name: openai_headers[name] for name in HEADERS}
