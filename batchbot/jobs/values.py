"""Every number a job or a run's settings may hold, and the request parameters batchbot reads
itself: their types and ranges, checked by Pydantic.

One table per kind, so a range is written once:

    PARAMETERS   numeric request parameters, as the API takes them (`max_tokens`, `n`, ...)
    SHAPES       the structured ones batchbot counts tokens of (`tools`, `response_format`)
    SETTINGS     a run's numeric flags (`--rpm`, `--max-cost`, ...), by their Python names
    RATE, COUNT, MONEY, PACK, REASKS, TOKENS   the job file's own numbers (limits, budgets,
                 pack, prices, re-asks and the cap on a re-ask's max_tokens)

A value the API would refuse (a negative `max_tokens`, `n: 1e308`, a `temperature` of 5,
`tools: 0.5`) is refused here, before anything is sent, with what is allowed: `must be a
whole number from 1 to 128, not the number 1e+308`. Wrong types count as out of range:
`'abc'`, `{a: 1}`, `true`, and a decimal where the API wants a whole number, as the API itself
refuses them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from batchbot.endpoints import MAX_PACK
from batchbot.jobs.fields import FieldPath, Where, describe

__all__ = [
    "COUNT",
    "MONEY",
    "PACK",
    "PARAMETERS",
    "RATE",
    "REASKS",
    "SETTINGS",
    "TOKENS",
    "Range",
    "check_parameters",
    "checked",
    "parameter_problem",
    "want",
]

INT32 = 2**31 - 1  # the API's largest integer parameter
INT64 = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Range:
    """What a number may be: whole or not, at least `low` (more than it if `low_open`), at
    most `high`. Never NaN or infinite."""

    whole: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    @property
    def words(self) -> str:
        """`a whole number from 1 to 128`, `a number greater than 0`, ..."""
        kind = "a whole number" if self.whole else "a number"
        low, high = _figure(self.low), _figure(self.high)
        if self.low is None:
            return f"{kind} of at most {high}" if self.high is not None else kind
        if self.low_open:
            return f"{kind} greater than {low}" + (f" and at most {high}" if high else "")
        return (
            f"{kind} from {low} to {high}" if self.high is not None else f"{kind} of {low} or more"
        )

    def annotation(self) -> Any:
        """The Pydantic type that holds this range."""
        low_open = self.low_open and self.low is not None
        field = Field(
            strict=True,
            allow_inf_nan=False,
            gt=self.low if low_open else None,
            ge=None if low_open else self.low,
            le=self.high,
        )
        return Annotated[int if self.whole else float, field]


def _figure(value: float | None) -> str:
    if value is None:
        return ""
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


TOKENS = Range(whole=True, low=1, high=INT32)
PROBABILITY = Range(low=0, high=1)
PENALTY = Range(low=-2, high=2)
BIAS = Range(low=-100, high=100)
PARAMETERS: Mapping[str, Range] = {
    # Chat Completions
    "max_tokens": TOKENS,
    "max_completion_tokens": TOKENS,
    "n": Range(whole=True, low=1, high=128),
    "temperature": Range(low=0, high=2),
    "top_p": PROBABILITY,
    "presence_penalty": PENALTY,
    "frequency_penalty": PENALTY,
    "top_logprobs": Range(whole=True, low=0, high=20),
    "seed": Range(whole=True, low=-INT64 - 1, high=INT64),
    # Responses
    "max_output_tokens": Range(whole=True, low=16, high=INT32),
    "max_tool_calls": TOKENS,
    # Embeddings
    "dimensions": TOKENS,
}
LOGIT_BIAS = "a mapping of token ids to numbers from -100 to 100"
# What each structured parameter (or a part of one) must be, by its field path; a list's
# items by the list's name.
SHAPES: Mapping[FieldPath, str] = {
    ("logit_bias",): LOGIT_BIAS,
    ("tools",): "a list of tools like [{type: function, function: {name: ...}}]",
    ("functions",): "a list of functions like [{name: ..., parameters: {...}}]",
    ("response_format",): "a mapping like {type: json_object}",
    ("response_format", "type"): "text naming the format (text, json_object or json_schema)",
    ("response_format", "json_schema"): "a mapping like {name: ..., schema: {...}}",
}
ITEMS: Mapping[str, str] = {
    "tools": "a mapping like {type: function, function: {name: ...}}",
    "functions": "a mapping like {name: ..., parameters: {...}}",
}


class _ResponseFormat(BaseModel):
    """`response_format` as far as batchbot reads it (tools.schema_tokens)."""

    model_config = ConfigDict(extra="allow", strict=True)
    type: str
    json_schema: dict[str, Any] | None = None


RATE = Range(low=0, low_open=True)
COUNT = Range(whole=True, low=1, high=INT32)
MONEY = Range(low=0)
PACK = Range(whole=True, low=1, high=MAX_PACK)  # the API's most inputs a request
REASKS = Range(whole=True, low=1, high=100)  # re-asks of one invalid answer: more is a typo
LONGEST_S = 1_000_000  # eleven days and a half: any wait longer is a typo
SECONDS = Range(low=0, high=LONGEST_S)
SETTINGS: Mapping[str, Range] = {
    "rpm": RATE,
    "tpm": RATE,
    "concurrency": COUNT,
    "timeout_s": Range(low=0, low_open=True, high=LONGEST_S),
    "max_attempts": Range(whole=True, low=1, high=1000),
    "grace_s": SECONDS,
    "max_cost_usd": MONEY,
    "max_cost_per_day_usd": MONEY,
    "batch_queue_tokens": Range(whole=True, low=1, high=INT64),
    "deadline_minutes": Range(low=0, low_open=True, high=1e9),
    "poll_s": Range(low=0, low_open=True, high=LONGEST_S),
    "outage_wait_s": SECONDS,
    "max_reasks": REASKS,
    "max_tokens_cap": TOKENS,
}


@functools.cache
def _adapter(allowed: Range) -> TypeAdapter[Any]:
    return TypeAdapter(allowed.annotation())


def checked(value: object, allowed: Range) -> Any:
    """`value` if it is a number in `allowed` (an int for a whole one); else ValueError saying
    `must be <what is allowed>, not <what it is>`."""
    try:
        return _adapter(allowed).validate_python(value)
    except ValidationError:
        raise ValueError(f"must be {allowed.words}, not {describe(value)}") from None


def _parameters_model() -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (allowed.annotation() | None, None) for name, allowed in PARAMETERS.items()
    }
    mapping: Any = dict  # of a type made at run time, which no static annotation can name
    fields["logit_bias"] = (mapping[str, BIAS.annotation()] | None, None)
    fields["tools"] = fields["functions"] = (list[dict[str, Any]] | None, None)
    fields["response_format"] = (_ResponseFormat | None, None)
    config = ConfigDict(extra="ignore", strict=True)
    return create_model("RequestValues", __config__=config, **fields)


_PARAMETERS_MODEL = _parameters_model()


def parameter_problem(params: Mapping[str, Any]) -> tuple[FieldPath, str] | None:
    """The first value in a request's parameters the API would refuse: where it is (its
    field path) and what is wrong; None when every one is fine."""
    try:
        _PARAMETERS_MODEL.model_validate(dict(params))
    except ValidationError as exc:
        error = exc.errors()[0]
        path: FieldPath = tuple(error["loc"])
        name = str(path[0])
        if name in PARAMETERS:
            words = PARAMETERS[name].words
        elif name == "logit_bias" and len(path) > 1:
            words = BIAS.words
        elif name in ITEMS and len(path) > 1:
            words, path = ITEMS[name], path[:2]
        else:  # the shape, or a part of it, as its table entry says
            words = SHAPES.get(path[:2]) or SHAPES[path[:1]]
            path = path[:2] if path[:2] in SHAPES else path[:1]
        if error["type"] == "missing":
            return path, f"is missing: add it, {words}"
        return path, f"must be {words}, not {describe(_at(params, path))}"
    return None


def _at(params: Mapping[str, Any], path: FieldPath) -> Any:
    value: Any = params
    for key in path:
        value = value[key]
    return value


def want(value: object, allowed: Range, where: Where, *parts: str | int) -> Any:
    """`checked`, for a field of a job file: a JobFileError naming where it is."""
    try:
        return checked(value, allowed)
    except ValueError as exc:
        raise where.error(str(exc), *parts) from None


def check_parameters(params: Mapping[str, Any], where: Where, *parts: str | int) -> None:
    """`parameter_problem`, for the parameters at `parts` in a job file: a JobFileError."""
    problem = parameter_problem(params)
    if problem is not None:
        path, message = problem
        raise where.error(message, *parts, *path)
