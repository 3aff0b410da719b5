"""A job's settings: everything in a YAML job file besides its prompts.

None means "not set here": the CLI, the environment or a tier preset may fill it in later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from batchbot import modes
from batchbot.endpoints import ENDPOINTS, MAX_PACK
from batchbot.jobs.bodies import check_params
from batchbot.jobs.fields import (
    Where,
    check_keys,
    want_choice,
    want_count,
    want_mapping,
    want_number,
    want_text,
)

MODES = tuple(sorted(modes.MODES))  # sorted: the order an error message lists them in
TOKEN_COUNTS = ("chars", "exact")
LIMIT_KEYS = ("concurrency", "rpm", "tpm")
PRICE_KEYS = ("cached_input", "input", "output")
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
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=_empty)
    endpoint: str | None = None
    pack: int | None = None  # embedding items a request: None is the default
    price_as: str | None = None  # the OpenAI model whose price applies (an Azure deployment)
    token_count: str | None = None  # how the server counts against TPM: exact or chars


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
        pack=_optional(doc, "pack", where, _pack),
        price_as=_optional(doc, "price_as", where, want_text),
        token_count=_optional(
            doc, "token_count", where, lambda v, w, *p: want_choice(v, TOKEN_COUNTS, w, *p)
        ),
    )


def _pack(value: object, where: Where, *parts: str | int) -> int:
    pack = want_count(value, where, *parts)
    if pack > MAX_PACK:
        raise where.error(f"must be at most {MAX_PACK}, the API's most inputs a request", *parts)
    return pack


def _optional(doc: Mapping[str, Any], key: str, where: Where, check: Callable[..., T]) -> T | None:
    value = doc.get(key)
    return None if value is None else check(value, where, key)


def _money(value: object, where: Where, *parts: str | int) -> float:
    return want_number(value, where, *parts, positive=False)


def parse_limits(value: object, where: Where, *parts: str | int) -> Limits:
    """`limits: {rpm, tpm, concurrency}`; each is optional."""
    limits = want_mapping(value, where, *parts)
    check_keys(limits, LIMIT_KEYS, where, *parts)
    rpm, tpm, concurrency = (limits.get(key) for key in ("rpm", "tpm", "concurrency"))
    return Limits(
        rpm=None if rpm is None else want_number(rpm, where, *parts, "rpm", positive=True),
        tpm=None if tpm is None else want_number(tpm, where, *parts, "tpm", positive=True),
        concurrency=None
        if concurrency is None
        else want_count(concurrency, where, *parts, "concurrency"),
    )


def parse_prices(
    value: object, where: Where, *parts: str | int
) -> Mapping[str, Mapping[str, float]]:
    """`prices: {model: {input, output, cached_input?}}` in USD per million tokens."""
    models = want_mapping(value, where, *parts)
    return MappingProxyType(
        {model: _model_prices(price, where, *parts, model) for model, price in models.items()}
    )


def _model_prices(value: object, where: Where, *parts: str | int) -> Mapping[str, float]:
    price = want_mapping(value, where, *parts, what="a mapping like {input: 0.15, output: 0.6}")
    check_keys(price, PRICE_KEYS, where, *parts)
    for key in REQUIRED_PRICES:
        if price.get(key) is None:
            raise where.error(f"has no {key} price: add {key}: in USD per million tokens", *parts)
    return MappingProxyType(
        {
            key: _money(amount, where, *parts, key)
            for key, amount in price.items()
            if amount is not None
        }
    )
