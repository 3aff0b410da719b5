"""genai-prices' bundled table: OpenAI's prices by model and service tier, with no network.

The table knows dated snapshots such as `gpt-4o-mini-2024-07-18`, and for the models OpenAI
offers them on, the Flex and priority prices as variants of the standard ones. A tier the table
has no variant for has no price here: the standard one would be wrong.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import NamedTuple

from batchbot.spelling import closest

__all__ = ["DEFAULT", "FLEX", "PRIORITY", "Rates", "did_you_mean", "table_rates"]

DEFAULT, FLEX, PRIORITY = "default", "flex", "priority"
SOURCE = "genai-prices"


class Rates(NamedTuple):
    """USD per million tokens, and where they came from."""

    input: float
    output: float
    cached_input: float | None
    source: str


@cache
def table_rates(model: str, tier: str = DEFAULT) -> Rates | None:
    """genai-prices' current OpenAI price for `model` served at `tier`, if it has one."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    try:
        _provider, info = snapshot.find_provider_model(model, None, "openai", None)
    except LookupError:
        return None
    context = None
    if tier != DEFAULT:
        variants = info.price_variants or ()
        if not any(variant.when.get("service_tier") == tier for variant in variants):
            return None  # no price for this tier: better no cost than the standard one
        context = {"service_tier": tier}
    prices = info.get_prices(datetime.now(UTC), context)
    input_mtok, output_mtok, cached = (
        getattr(prices, key, None) for key in ("input_mtok", "output_mtok", "cache_read_mtok")
    )
    if output_mtok is None and "embedding" in model:
        output_mtok = Decimal(0)  # an embeddings model has an input price only: it writes nothing
    if not isinstance(input_mtok, Decimal) or not isinstance(output_mtok, Decimal):
        return None  # tiered or missing prices: better no cost than a wrong one
    return Rates(
        float(input_mtok),
        float(output_mtok),
        float(cached) if isinstance(cached, Decimal) else None,
        f"{SOURCE} {_version()} ({info.id}{'' if tier == DEFAULT else f', {tier}'})",
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
def _version() -> str:
    from importlib.metadata import version

    return version("genai-prices")
