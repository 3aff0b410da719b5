"""The request parameters each endpoint takes, so a typo is refused before anything is sent.

`max_token` for `max_tokens` is refused by the API, but only when each request arrives: a job
of 100,000 items would send 100,000 doomed requests. A job file naming a parameter its endpoint
does not have is a job file error instead, with the name that was probably meant. A parameter
a compatible server takes beyond OpenAI's (vLLM's `top_k`, say) passes when the run allows it:
`--allow-param top_k`, or `extra_params: {top_k: 40}` in a YAML job. One row per endpoint: a
new endpoint adds its own.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from batchbot.endpoints import CHAT, EMBEDDINGS, RESPONSES
from batchbot.jobs.bodies import RESERVED
from batchbot.jobs.fields import Where
from batchbot.spelling import closest

__all__ = [
    "API_NAMES",
    "PARAMETERS",
    "check_extra",
    "check_names",
    "suggestion",
    "unknown_parameters",
]

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
# The request body fields of the Responses API (its API reference).
RESPONSES_PARAMETERS = frozenset(
    {
        "input", "model", "background", "conversation", "include", "instructions",
        "max_output_tokens", "max_tool_calls", "metadata", "parallel_tool_calls",
        "previous_response_id", "prompt", "prompt_cache_key", "prompt_cache_retention",
        "reasoning", "safety_identifier", "service_tier", "store", "stream", "stream_options",
        "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation",
        "user",
    }
)  # fmt: skip
# The request body fields of the embeddings API (its API reference).
EMBEDDINGS_PARAMETERS = frozenset({"input", "model", "dimensions", "encoding_format", "user"})
PARAMETERS: Mapping[str, frozenset[str]] = {
    CHAT: CHAT_PARAMETERS,
    RESPONSES: RESPONSES_PARAMETERS,
    EMBEDDINGS: EMBEDDINGS_PARAMETERS,
}
API_NAMES: Mapping[str, str] = {
    CHAT: "Chat Completions",
    RESPONSES: "the Responses API",
    EMBEDDINGS: "the embeddings API",
}
UNKNOWN = (
    "is not a parameter of {api}{hint}: the API refuses every request that has it, so nothing was "
    "sent. If your server takes it, pass --allow-param {name} (or, in a YAML job, put it under "
    "extra_params:)"
)


def unknown_parameters(
    body: Iterable[str], endpoint: str = CHAT, allowed: Collection[str] = ()
) -> list[str]:
    """The names in `body` that `endpoint` does not take and the run does not allow, in order."""
    known = PARAMETERS.get(endpoint)
    if known is None:
        return []
    return [name for name in body if name not in known and name not in allowed]


def suggestion(name: str, endpoint: str = CHAT) -> str | None:
    """The parameter of `endpoint` that `name` is most likely a typo of."""
    return closest(name, sorted(PARAMETERS.get(endpoint, ())))


def unknown_message(name: str, endpoint: str) -> str:
    """Why `name` stops the job, with what was probably meant and how to pass it anyway."""
    close = suggestion(name, endpoint)
    hint = f" (did you mean {close!r}?)" if close else ""
    return UNKNOWN.format(name=name, api=API_NAMES.get(endpoint, endpoint), hint=hint)


def check_names(
    params: Iterable[str],
    endpoint: str,
    allowed: Collection[str],
    where: Where,
    *parts: str | int,
) -> None:
    """A JobFileError at the first name in `params` the endpoint does not take (see module)."""
    for name in unknown_parameters(params, endpoint, allowed):
        raise where.error(unknown_message(name, endpoint), *parts, name, key=True)


def check_extra(
    extra: Mapping[str, object], endpoint: str, where: Where, *parts: str | int
) -> frozenset[str]:
    """The names in a job's `extra_params:`, which must be ones the endpoint lacks (the model
    and the messages have keys of their own, the endpoint's parameters go under `params:`)."""
    for name in extra:
        if name in RESERVED:
            message = f"is not a parameter: write {name}: outside extra_params"
            raise where.error(message, *parts, name, key=True)
        if name in PARAMETERS.get(endpoint, ()):
            message = f"is a parameter of {API_NAMES[endpoint]}: put it under params:"
            raise where.error(message, *parts, name, key=True)
    return frozenset(extra)
