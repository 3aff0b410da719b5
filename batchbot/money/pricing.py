"""What a request costs: prices in USD per million tokens, and the cost of a usage.

One code path prices a request for the budget, the dry run and the stored cost: `Pricer`.
Prices come, in order, from the job's `prices:`, a prices file (`--prices`, BATCHBOT_PRICES)
and genai-prices' bundled table (money.tables). A job's `price_as:` prices every request as
that OpenAI model (an Azure deployment's name is not a model's). Batch API requests cost half.

The price follows the service tier that served the answer (the response's `service_tier`):
Flex and priority at their own rates, where the source has them; a tier whose price nobody
knows has no price, and its answers are stored with no cost (never the standard one).

OpenAI counts cached tokens inside prompt_tokens and reasoning tokens inside
completion_tokens, so a usage costs: uncached prompt tokens at the input price, cached ones at
the cached-input price, and completion tokens, reasoning ones included, at the output price.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from batchbot.money.tables import DEFAULT, FLEX, PRIORITY, SOURCE, did_you_mean, table_rates
from batchbot.money.usd import usd
from batchbot.outcome import Outcome, Usage

log = logging.getLogger("batchbot")

__all__ = [
    "DEFAULT",
    "FLEX",
    "PRIORITY",
    "Price",
    "Pricer",
    "billed_tier",
    "did_you_mean",
    "priced",
]

PER = 1_000_000
BATCH_DISCOUNT = 0.5
SOURCE_TABLE = SOURCE
UNKNOWN_MODEL = (
    "no price known for model {model!r}{suggestion}: its requests are stored with cost_usd "
    "NULL. Add prices: {{{model}: {{input: ..., output: ...}}}} (USD per million tokens) to the "
    "job or to a --prices file (for an Azure deployment, price_as: the OpenAI model it serves)."
)
UNKNOWN_TIER = (
    "no {tier} price known for model {model!r}: its answers served at {tier} are stored with "
    "cost_usd NULL, not at another tier's price. Add prices: {{{model}: {{input: ..., output: "
    "..., {tier}: {{input: ..., output: ...}}}}}} to the job or to a --prices file."
)
# What a service_tier (asked for, or reported by the response) is billed as. `fast` is
# priority's other name; anything else (`scale`) is a tier of its own, with no price here.
BILLED_AS: Mapping[str | None, str] = {
    None: DEFAULT,
    "auto": DEFAULT,
    DEFAULT: DEFAULT,
    FLEX: FLEX,
    PRIORITY: PRIORITY,
    "fast": PRIORITY,
}


def billed_tier(service_tier: object) -> str:
    """The price list a `service_tier` is billed by: default, flex, priority, or its own."""
    key = service_tier if isinstance(service_tier, str) or service_tier is None else None
    return BILLED_AS.get(key, str(service_tier))


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens for one model at one tier, and where the numbers came from."""

    model: str
    input: float
    output: float
    cached_input: float | None = None
    source: str = SOURCE_TABLE
    batch: bool = False
    tier: str = DEFAULT

    def cost(self, usage: Usage) -> float:
        """The cost of `usage` in USD at this price."""
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        micro = (
            (usage.prompt_tokens - cached) * self.input
            + cached * self.cached_rate
            + usage.completion_tokens * self.output
        )
        return micro / PER

    def list_cost(self, usage: Usage) -> float:
        """What `usage` costs with no cached-input discount: the list price of an answer."""
        return (usage.prompt_tokens * self.input + usage.completion_tokens * self.output) / PER

    def cache_saving(self, usage: Usage) -> float:
        """What prompt caching took off `usage`'s cost at this price."""
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        return cached * (self.input - self.cached_rate) / PER

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


# {model: {input, output, cached_input?, flex?: {...}, priority?: {...}}}, USD per MTok.
PriceTable = Mapping[str, Mapping[str, Any]]


class Pricer:
    """Looks prices up once per model and tier, and warns once per run about each unknown one.

    `price` is what an answer costs, `request_prices` what a request may cost before it is
    sent (the budget and the dry run); both take the same lookup.
    """

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
        self._known: dict[tuple[str, str], Price | None] = {}
        self.unknown: set[str] = set()  # what the run could not price: models, or model (tier)

    def price(self, model: str | None, *, tier: object = None, batch: bool = False) -> Price | None:
        """The price of an answer of `model` served at `tier` (None: the default tier), or
        None, with one warning per run, if nobody knows it. Batch API answers cost half the
        default tier's price."""
        found = self.quiet(model, tier=tier, batch=batch)
        if found is None and model:
            self._warn(self._price_as or model, DEFAULT if batch else billed_tier(tier))
        return found

    def quiet(self, model: str | None, *, tier: object = None, batch: bool = False) -> Price | None:
        """`price`, asked quietly: the caller says what is wrong."""
        if not model:
            return None
        model = self._price_as or model
        name = DEFAULT if batch else billed_tier(tier)
        if (model, name) not in self._known:
            self._known[model, name] = self._look_up(model, name)
        price = self._known[model, name]
        return price.halved() if price and batch else price

    def priced_as(self, model: str) -> str:
        """The model whose prices `model` is priced by (`price_as:`, else itself)."""
        return self._price_as or model

    def request_prices(
        self,
        body: Mapping[str, Any],
        *,
        tier: object = None,
        batch: bool = False,
        quiet: bool = False,
    ) -> list[Price] | None:
        """The prices a request may be billed at: first the tier it asks for (`tier`, else its
        `service_tier`), then the default tier, which may serve it instead. None (warned,
        unless `quiet`: the caller says what is wrong) when one is unknown: then its cost has
        no bound."""
        model = body.get("model")
        asked = tier if tier is not None else body.get("service_tier")
        tiers = [None] if batch else list(dict.fromkeys([billed_tier(asked), DEFAULT]))
        look_up = self.quiet if quiet else self.price
        prices = [look_up(str(model or ""), tier=name, batch=batch) for name in tiers]
        known = [price for price in prices if price is not None]
        return known if len(known) == len(prices) else None

    def _look_up(self, model: str, tier: str) -> Price | None:
        for source, table in self._overrides:
            if model in table:
                return _from_mapping(model, table[model], source, tier)
        rates = table_rates(model, tier)
        return None if rates is None else Price(model, *rates, tier=tier)

    def _warn(self, model: str, tier: str) -> None:
        label = model if tier == DEFAULT else f"{model} at {tier}"
        if label not in self.unknown:
            if tier == DEFAULT:
                message = UNKNOWN_MODEL.format(model=model, suggestion=did_you_mean(model))
            else:
                message = UNKNOWN_TIER.format(model=model, tier=tier)
            self.unknown.add(label)
            log.warning(message)


def _from_mapping(model: str, values: Mapping[str, Any], source: str, tier: str) -> Price | None:
    """The price a `prices:` entry gives for `tier`: its own figures, or a tier's mapping."""
    if tier != DEFAULT:
        values = values.get(tier) or {}
        if not values:
            return None
    return Price(
        model,
        float(values["input"]),
        float(values["output"]),
        _optional(values.get("cached_input")),
        source,
        tier=tier,
    )


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


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
        "service_tier": price.tier,
    }
    return json.dumps(fields, sort_keys=True)


def priced(outcome: Outcome, pricer: Pricer, *, batch: bool = False) -> Outcome:
    """`outcome` with its cost at the price of the tier that served it, the price used, its
    list price (the default tier's, synchronous, no cached input) and what prompt caching
    saved; unchanged if it has no usage, and without a cost if its price is unknown."""
    usage = outcome.usage
    if usage is None:
        return outcome
    model = outcome.item.body.get("model")
    standard = pricer.quiet(model)
    listed = replace(outcome, list_usd=standard.list_cost(usage) if standard else None)
    price = pricer.price(model, tier=outcome.service_tier, batch=batch)
    if price is None:
        return listed
    return replace(
        listed,
        cost_usd=price.cost(usage),
        price=price.to_json(),
        prompt_cache_saved_usd=price.cache_saving(usage),
    )


def cost_text(cost_usd: float, unpriced_models: Sequence[str]) -> str:
    """`$0.0123`, with a note when some models had no price (their cost is not included)."""
    text = usd(cost_usd)
    if unpriced_models:
        text += f" (not counting {', '.join(unpriced_models)}: no price)"
    return text
