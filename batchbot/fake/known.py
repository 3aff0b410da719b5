"""What the real API knows: the parameters each endpoint takes, and the models it serves.

The fake refuses the rest as OpenAI does, so a typo (`max_token`, `gpt-4o-mni`) fails under
`--fake` as it would for real, instead of being answered. One table per endpoint: a new endpoint
adds its own row.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Mapping

from openai.types import embedding_create_params
from openai.types.chat import completion_create_params
from openai.types.responses import response_create_params

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"


def _sdk_fields(params: type) -> frozenset[str]:
    """The request body fields of an endpoint as the `openai` package types them: its
    machine-readable API reference, read independently of batchbot's own table (`stream`
    is typed on the streaming variants only)."""
    return frozenset(typing.get_type_hints(params)) | {"stream"}


PARAMETERS: Mapping[str, frozenset[str]] = {
    CHAT: _sdk_fields(completion_create_params.CompletionCreateParamsBase),
    RESPONSES: _sdk_fields(response_create_params.ResponseCreateParamsBase),
    EMBEDDINGS: _sdk_fields(embedding_create_params.EmbeddingCreateParams),
}

# Chat models by base name; dated snapshots, previews and fine-tunes of them are served too.
CHAT_MODELS = frozenset(
    {
        "gpt-3.5-turbo", "gpt-3.5-turbo-16k", "gpt-4", "gpt-4-32k", "gpt-4-turbo",
        "gpt-4o", "gpt-4o-mini", "chatgpt-4o-latest", "gpt-4.1", "gpt-4.1-mini",
        "gpt-4.1-nano", "gpt-4.5-preview", "gpt-5", "gpt-5-mini", "gpt-5-nano",
        "gpt-5-chat-latest", "gpt-5.1", "gpt-5.2", "o1", "o1-mini", "o1-preview", "o1-pro",
        "o3", "o3-mini", "o3-pro", "o4-mini",
    }
)  # fmt: skip
# The Responses API serves the chat models and some of its own.
RESPONSES_MODELS = CHAT_MODELS | frozenset(
    {
        "o1-pro", "o3-pro", "o3-deep-research", "o4-mini-deep-research", "codex-mini-latest",
        "computer-use-preview", "gpt-5-pro", "gpt-5-codex",
    }
)  # fmt: skip
# Embeddings models: their vectors' sizes are in `endpoints.DIMENSIONS`.
EMBEDDING_MODELS = frozenset(
    {"text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"}
)
MODELS: Mapping[str, frozenset[str]] = {
    CHAT: CHAT_MODELS,
    RESPONSES: RESPONSES_MODELS,
    EMBEDDINGS: EMBEDDING_MODELS,
}
# What may follow a base name: a date or a 4-digit snapshot, a variant such as `search-preview`.
SNAPSHOT = re.compile(r"(\d{4}(-\d{2}-\d{2})?|([a-z]+-)*(preview|latest))(-\d{4}(-\d{2}-\d{2})?)?")


def unknown_parameters(endpoint: str, body: Mapping[str, object]) -> list[str]:
    """The body's fields that `endpoint` does not take, in the body's order."""
    known = PARAMETERS[endpoint]
    return [name for name in body if name not in known]


def served() -> frozenset[str]:
    """Every base name some endpoint serves, as `GET /v1/models` lists them."""
    return frozenset().union(*MODELS.values())


def serves(model: str) -> bool:
    """Whether the server has `model` at all, as `GET /v1/models/{model}` says."""
    return base_name(model, served()) is not None


def is_known_model(endpoint: str, model: str) -> bool:
    """Whether `endpoint` serves `model`: a base name, a snapshot of one, or a fine-tune.

    An endpoint with no table of models (an Azure deployment's path, whose names are the
    user's own) serves any.
    """
    bases = MODELS.get(endpoint)
    return True if bases is None else base_name(model, bases) is not None


def base_name(model: str, bases: Iterable[str]) -> str | None:
    """The name in `bases` that `model` is, or is a snapshot or fine-tune of (the longest)."""
    if model.startswith("ft:"):
        model = model.split(":")[1]
    found = [
        base
        for base in bases
        if model == base
        or (model.startswith(f"{base}-") and SNAPSHOT.fullmatch(model[len(base) + 1 :]))
    ]
    return max(found, key=len, default=None)
