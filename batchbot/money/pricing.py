"""What a request costs: prices in USD per million tokens, and the cost of a usage.

Prices come, in order, from the job's `prices:`, a prices file (`--prices`, BATCHBOT_PRICES)
and genai-prices' bundled table, which needs no network and knows dated snapshots such as
`gpt-4o-mini-2024-07-18`. Batch API requests cost half. A job's `price_as:` prices every
request as that OpenAI model (an Azure deployment's name is not a model's).

OpenAI counts cached tokens inside prompt_tokens and reasoning tokens inside
completion_tokens, so a usage costs: uncached prompt tokens at the input price, cached ones at
the cached-input price, and completion tokens, reasoning ones included, at the output price.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from batchbot.outcome import Outcome, Usage
from batchbot.spelling import closest

log = logging.getLogger("batchbot")

__all__ = ["Price", "Pricer", "did_you_mean", "priced", "table_price"]

PER = 1_000_000
BATCH_DISCOUNT = 0.5
SOURCE_TABLE = "genai-prices"
UNKNOWN_MODEL = (
    "no price known for model {model!r}{suggestion}: its requests are stored with cost_usd "
    "NULL. Add prices: {{{model}: {{input: ..., output: ...}}}} (USD per million tokens) to the "
    "job or to a --prices file (for an Azure deployment, price_as: the OpenAI model it serves)."
)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens for one model, and where the numbers came from."""

    model: str
    input: float
    output: float
    cached_input: float | None = None
    source: str = SOURCE_TABLE
    batch: bool = False

    def cost(self, usage: Usage) -> float:
        """The cost of `usage` in USD at this price."""
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        micro = (
            (usage.prompt_tokens - cached) * self.input
            + cached * self.cached_rate
            + usage.completion_tokens * self.output
        )
        return micro / PER

    def worst_case(self, prompt_tokens: int, completion_allowance: int) -> float:
        """The most a request may cost: no cache hits, and the whole allowance used."""
        return (prompt_tokens * self.input + completion_allowance * self.output) / PER

    @property
    def cached_rate(self) -> float:
        return self.input if self.cached_input is None else self.cached_input

    def halved(self) -> Price:
        """The Batch API price: half of everything."""
        return Price(
            self.model,
            self.input * BATCH_DISCOUNT,
            self.output * BATCH_DISCOUNT,
            None if self.cached_input is None else self.cached_input * BATCH_DISCOUNT,
            self.source,
            batch=True,
        )

    def to_json(self) -> str:
        """The `requests.price` column: per-MTok prices and their source."""
        return _price_json(self)


PriceTable = Mapping[str, Mapping[str, float]]


class Pricer:
    """Looks prices up once per model and warns once per run about each unknown model."""

    def __init__(
        self,
        *,
        job_prices: PriceTable | None = None,
        file_prices: PriceTable | None = None,
        price_as: str | None = None,
    ) -> None:
        self._price_as = price_as
        self._overrides: list[tuple[str, PriceTable]] = [
            ("job file", job_prices or {}),
            ("prices file", file_prices or {}),
        ]
        self._known: dict[str, Price | None] = {}
        self.unknown: set[str] = set()

    def price(self, model: str | None, *, batch: bool = False) -> Price | None:
        """The price for `model`, or None (with one warning per run) if nobody knows it."""
        if not model:
            return None
        model = self._price_as or model
        if model not in self._known:
            self._known[model] = self._look_up(model)
            if self._known[model] is None:
                self.unknown.add(model)
                log.warning(UNKNOWN_MODEL.format(model=model, suggestion=did_you_mean(model)))
        price = self._known[model]
        return price.halved() if price and batch else price

    def knows(self, model: str) -> bool:
        """Whether `model` has a price, asked quietly: the caller says what is wrong."""
        if model not in self._known:
            self._known[model] = self._look_up(model)
        return self._known[model] is not None

    def _look_up(self, model: str) -> Price | None:
        for source, table in self._overrides:
            if model in table:
                return _from_mapping(model, table[model], source)
        return table_price(model)


def _from_mapping(model: str, values: Mapping[str, float], source: str) -> Price:
    return Price(
        model,
        float(values["input"]),
        float(values["output"]),
        _optional(values.get("cached_input")),
        source,
    )


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


@cache
def table_price(model: str) -> Price | None:
    """genai-prices' current OpenAI price for `model` (its bundled table: no network)."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    try:
        _provider, info = snapshot.find_provider_model(model, None, "openai", None)
    except LookupError:
        return None
    prices = info.get_prices(datetime.now(UTC))
    input_mtok, output_mtok, cached = (
        getattr(prices, key, None) for key in ("input_mtok", "output_mtok", "cache_read_mtok")
    )
    if output_mtok is None and "embedding" in model:
        output_mtok = Decimal(0)  # an embeddings model has an input price only: it writes nothing
    if not isinstance(input_mtok, Decimal) or not isinstance(output_mtok, Decimal):
        return None  # tiered or missing prices: better no cost than a wrong one
    return Price(
        model,
        float(input_mtok),
        float(output_mtok),
        float(cached) if isinstance(cached, Decimal) else None,
        source=f"{SOURCE_TABLE} {_genai_prices_version()} ({info.id})",
    )


def did_you_mean(model: str) -> str:
    """` (did you mean 'gpt-4o-mini'?)` for a model close to one OpenAI has, else ''."""
    close = closest(model, _openai_models(), most=2)
    return f" (did you mean {close!r}?)" if close else ""


@cache
def _openai_models() -> tuple[str, ...]:
    """The model names genai-prices knows for OpenAI (its bundled table)."""
    from genai_prices import data_snapshot

    providers = data_snapshot.get_snapshot().providers
    models = (m.id for p in providers if p.id == "openai" for m in p.models)
    return tuple(m for m in models if re.fullmatch(r"[a-z0-9.-]+", m))


@cache
def _genai_prices_version() -> str:
    from importlib.metadata import version

    return version("genai-prices")


@lru_cache(maxsize=256)
def _price_json(price: Price) -> str:
    # Cached: every answer stores its price, and a run uses a handful of them.
    fields = {
        "input": price.input,
        "cached_input": price.cached_rate,
        "output": price.output,
        "reasoning": price.output,  # kept in the stored JSON: reasoning tokens are output
        "unit": "USD per million tokens",
        "source": price.source,
        "model": price.model,
        "batch": price.batch,
    }
    return json.dumps(fields, sort_keys=True)


def priced(outcome: Outcome, pricer: Pricer, *, batch: bool = False) -> Outcome:
    """`outcome` with its cost and the price used; unchanged if it has no usage or no price."""
    if outcome.usage is None:
        return outcome
    price = pricer.price(outcome.item.body.get("model"), batch=batch)
    if price is None:
        return outcome
    return replace(outcome, cost_usd=price.cost(outcome.usage), price=price.to_json())


def cost_text(cost_usd: float, unpriced_models: Sequence[str]) -> str:
    """`$0.0123`, with a note when some models had no price (their cost is not included)."""
    text = f"${cost_usd:.4f}"
    if unpriced_models:
        text += f" (not counting {', '.join(unpriced_models)}: no price)"
    return text
