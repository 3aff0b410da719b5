"""The API endpoints a job may call: one job, one endpoint.

    /v1/chat/completions   (the default) messages in, a message out
    /v1/responses          input (text or items) in, output text out
    /v1/embeddings         texts in, one vector per text out; many short items share a request

Every endpoint goes through the same limiter, budget, retry policy, lock and store; this
module only names them and says how each packs its items.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
ENDPOINTS = (CHAT, RESPONSES, EMBEDDINGS)

# Embedding items sent in one request by default (`pack:`); bench/pack.py measured it.
DEFAULT_PACK = 100
# The most inputs, and input tokens, the API takes in one embeddings request.
MAX_PACK = 2048
MAX_PACK_TOKENS = 300_000
# What caps an answer's length, by endpoint, in the order they are looked for; embeddings have
# no answer to cap. Chat takes max_completion_tokens (or the older max_tokens), Responses
# max_output_tokens: a key of the other endpoint caps nothing.
CAP_KEYS = {CHAT: ("max_completion_tokens", "max_tokens"), RESPONSES: ("max_output_tokens",)}


LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Sent as the key to a server on this machine when none is set: local OpenAI-compatible
# servers (a fake-server, vLLM) mostly take any, and the SDK will not send none.
NO_KEY = "sk-none"


def on_this_machine(base_url: str | None) -> bool:
    """Whether `base_url` is a server on this machine (which may well need no key)."""
    return base_url is not None and urlsplit(base_url).hostname in LOOPBACK


def is_embeddings_model(model: object) -> bool:
    """Whether `model` names an embeddings model (OpenAI's all say so: text-embedding-3-small)."""
    return isinstance(model, str) and "embedding" in model.lower()


def path(endpoint: str) -> str:
    """The endpoint's path below the API's base URL: `/v1/embeddings` -> `embeddings`."""
    return endpoint.removeprefix("/v1/")


def packs(endpoint: str) -> bool:
    """Whether items of this endpoint are packed several to a request."""
    return endpoint == EMBEDDINGS


@dataclass(frozen=True, slots=True)
class Azure:
    """An Azure OpenAI resource (`https://NAME.openai.azure.com`) and the api-version to ask."""

    endpoint: str
    api_version: str
