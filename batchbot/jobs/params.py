"""The request parameters each endpoint takes, to catch a typo before anything is sent.

`max_token` for `max_tokens` is refused by the API, but only when the request arrives; a dry run
and a job file's top level can say so, with the name that was probably meant. One row per
endpoint: a new endpoint adds its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from batchbot.endpoints import CHAT
from batchbot.spelling import closest

__all__ = ["PARAMETERS", "suggestion", "unknown_parameters"]

# The request body fields of Chat Completions (its API reference), deprecated ones included.
CHAT_PARAMETERS = frozenset(
    {
        "messages", "model", "audio", "frequency_penalty", "function_call", "functions",
        "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "metadata",
        "modalities", "n", "parallel_tool_calls", "prediction", "presence_penalty",
        "prompt_cache_key", "prompt_cache_retention", "reasoning_effort", "response_format",
        "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
        "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p",
        "user", "verbosity", "web_search_options",
    }
)  # fmt: skip
PARAMETERS: Mapping[str, frozenset[str]] = {CHAT: CHAT_PARAMETERS}


def unknown_parameters(body: Mapping[str, object], endpoint: str = CHAT) -> list[str]:
    """The body's fields `endpoint` does not take, in the body's order (none for an endpoint
    with no table yet)."""
    known = PARAMETERS.get(endpoint)
    return [name for name in body if name not in known] if known else []


def suggestion(name: str, endpoint: str = CHAT) -> str | None:
    """The parameter of `endpoint` that `name` is most likely a typo of."""
    return closest(name, sorted(PARAMETERS.get(endpoint, ())))
