"""A job's settings: everything in a YAML job file besides its prompts.

None means "not set here": the CLI, the environment or a tier preset may fill it in later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from batchbot import modes
from batchbot.endpoints import ENDPOINTS
from batchbot.jobs.bodies import check_params
from batchbot.jobs.fields import Where, check_keys, want_choice, want_mapping, want_text
from batchbot.jobs.schema import JobSchema
from batchbot.jobs.values import COUNT, MONEY, PACK, RATE, REASKS, TOKENS, Range, want

MODES = tuple(sorted(modes.MODES))  # sorted: the order an error message lists them in
TOKEN_COUNTS = ("chars", "exact")
# What to do with an invalid or cut-off answer: keep it as it is, or ask again.
KEEP, RETRY = "keep", "retry"
ON_ANSWER = (KEEP, RETRY)
LIMIT_KEYS = ("concurrency", "rpm", "tpm")
PRICE_KEYS = ("cached_input", "input", "output")
TIER_KEYS = ("flex", "priority")  # a service tier's own prices, in the same shape
# `cache:`, which answers an earlier identical request's answer may stand for (jobs.caching).
ALWAYS, DETERMINISTIC, NEVER = "always", "deterministic", "never"
CACHE_POLICIES = (ALWAYS, DETERMINISTIC, NEVER)
REQUIRED_PRICES = ("input", "output")

T = TypeVar("T")


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Limits:
    """Rate limits from the job file: requests and tokens per minute, requests at once."""

    rpm: float | None = None
    tpm: float | None = None
    concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class JobSettings:
    """The job's settings; prices are USD per million tokens, by model."""

    model: str | None = None
    system: str | None = None
    params: Mapping[str, Any] = field(default_factory=_empty)
    tier: str | None = None
    limits: Limits = field(default_factory=Limits)
    budget_usd: float | None = None
    budget_usd_per_day: float | None = None
    mode: str | None = None
    prices: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)
    endpoint: str | None = None
    pack: int | None = None  # embedding items a request: None is the default
    price_as: str | None = None  # the OpenAI model whose price applies (an Azure deployment)
    token_count: str | None = None  # how the server counts against TPM: exact or chars
    schema: JobSchema | None = None  # structured outputs: what every answer must follow
    on_invalid: str | None = None  # keep / retry: re-ask an answer that does not validate
    max_reasks: int | None = None  # re-asks of an invalid answer, per item
    on_length: str | None = None  # keep / retry: re-ask a cut-off answer with more tokens
    max_tokens_cap: int | None = None  # the most max_tokens an on_length re-ask may ask for
    # Parameters a compatible server takes beyond the endpoint's own, sent as they are.
    extra_params: Mapping[str, Any] = field(default_factory=_empty)
    cache: str | None = None  # always / deterministic / never: answers reused (jobs.caching)


def parse_settings(doc: Mapping[str, Any], where: Where) -> JobSettings:
    """The settings in a job file's top-level mapping, each checked."""
    params = _optional(doc, "params", where, check_params)
    return JobSettings(
        model=_optional(doc, "model", where, want_text),
        system=_optional(doc, "system", where, want_text),
        params=MappingProxyType(params or {}),
        tier=_optional(doc, "tier", where, want_text),
        limits=_optional(doc, "limits", where, parse_limits) or Limits(),
        budget_usd=_optional(doc, "budget_usd", where, _money),
        budget_usd_per_day=_optional(doc, "budget_usd_per_day", where, _money),
        mode=_optional(doc, "mode", where, lambda v, w, *p: want_choice(v, MODES, w, *p)),
        prices=_optional(doc, "prices", where, parse_prices) or _empty(),
        endpoint=_optional(
            doc, "endpoint", where, lambda v, w, *p: want_choice(v, ENDPOINTS, w, *p)
        ),
        pack=_optional(doc, "pack", where, _whole(PACK)),
        price_as=_optional(doc, "price_as", where, want_text),
        token_count=_optional(
            doc, "token_count", where, lambda v, w, *p: want_choice(v, TOKEN_COUNTS, w, *p)
        ),
        on_invalid=_optional(doc, "on_invalid", where, _on_answer),
        max_reasks=_optional(doc, "max_reasks", where, _whole(REASKS)),
        on_length=_optional(doc, "on_length", where, _on_answer),
        max_tokens_cap=_optional(doc, "max_tokens_cap", where, _whole(TOKENS)),
        extra_params=MappingProxyType(_optional(doc, "extra_params", where, want_mapping) or {}),
        cache=_optional(
            doc, "cache", where, lambda v, w, *p: want_choice(v, CACHE_POLICIES, w, *p)
        ),
    )


def _on_answer(value: object, where: Where, *parts: str | int) -> str:
    return want_choice(value, ON_ANSWER, where, *parts)


def _whole(allowed: Range) -> Callable[..., int]:
    """A check for a whole number in `allowed` (`pack`, `max_reasks`, `max_tokens_cap`)."""
    return lambda value, where, *parts: int(want(value, allowed, where, *parts))


def _optional(doc: Mapping[str, Any], key: str, where: Where, check: Callable[..., T]) -> T | None:
    value = doc.get(key)
    return None if value is None else check(value, where, key)


def _money(value: object, where: Where, *parts: str | int) -> float:
    return float(want(value, MONEY, where, *parts))


def parse_limits(value: object, where: Where, *parts: str | int) -> Limits:
    """`limits: {rpm, tpm, concurrency}`; each is optional."""
    limits = want_mapping(value, where, *parts)
    check_keys(limits, LIMIT_KEYS, where, *parts)
    rpm, tpm, concurrency = (limits.get(key) for key in ("rpm", "tpm", "concurrency"))
    return Limits(
        rpm=None if rpm is None else float(want(rpm, RATE, where, *parts, "rpm")),
        tpm=None if tpm is None else float(want(tpm, RATE, where, *parts, "tpm")),
        concurrency=None
        if concurrency is None
        else int(want(concurrency, COUNT, where, *parts, "concurrency")),
    )


def parse_prices(value: object, where: Where, *parts: str | int) -> Mapping[str, Mapping[str, Any]]:
    """`prices: {model: {input, output, cached_input?, flex?, priority?}}` in USD per million
    tokens."""
    models = want_mapping(value, where, *parts)
    return MappingProxyType(
        {model: _model_prices(price, where, *parts, model) for model, price in models.items()}
    )


def _model_prices(
    value: object, where: Where, *parts: str | int, tiers: tuple[str, ...] = TIER_KEYS
) -> Mapping[str, Any]:
    """`{input, output, cached_input?}`, and for the model's service tiers (`flex:`,
    `priority:`) a mapping of the same shape each."""
    price = want_mapping(value, where, *parts, what="a mapping like {input: 0.15, output: 0.6}")
    check_keys(price, PRICE_KEYS + tiers, where, *parts)
    for key in REQUIRED_PRICES:
        if price.get(key) is None:
            raise where.error(f"has no {key} price: add {key}: in USD per million tokens", *parts)
    return MappingProxyType(
        {
            key: _model_prices(amount, where, *parts, key, tiers=())
            if key in tiers
            else _money(amount, where, *parts, key)
            for key, amount in price.items()
            if amount is not None
        }
    )
