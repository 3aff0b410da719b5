"""What the fake server bills, in dollars: OpenAI's published prices, in a table of its own.

A second opinion: batchbot prices answers from genai-prices (its `money` part); the fake bills
from this table and its own token counts, so a test in which the two agree to the cent means
batchbot read the usage, the cached tokens and the service tier right.

USD per million tokens, (input, cached input, output), by model and service tier, as OpenAI's
pricing page lists them. A tier a model is not listed at is not offered for it: the fake
refuses a Flex request for such a model, as the API does. Batch API requests cost half the
default tier's prices.
"""

from __future__ import annotations

from collections.abc import Mapping

from batchbot.fake.known import base_name

DEFAULT, FLEX, PRIORITY = "default", "flex", "priority"
PER = 1_000_000
Rates = tuple[float, float, float]

PRICES: Mapping[str, Mapping[str, Rates]] = {
    "gpt-4o-mini": {DEFAULT: (0.15, 0.075, 0.60), PRIORITY: (0.25, 0.125, 1.00)},
    "gpt-4o": {DEFAULT: (2.50, 1.25, 10.00), PRIORITY: (4.25, 2.125, 17.00)},
    "gpt-4.1": {DEFAULT: (2.00, 0.50, 8.00), PRIORITY: (3.50, 0.875, 14.00)},
    "gpt-4.1-mini": {DEFAULT: (0.40, 0.10, 1.60), PRIORITY: (0.70, 0.175, 2.80)},
    "gpt-4.1-nano": {DEFAULT: (0.10, 0.025, 0.40), PRIORITY: (0.20, 0.05, 0.80)},
    "gpt-5": {
        DEFAULT: (1.25, 0.125, 10.00),
        FLEX: (0.625, 0.0625, 5.00),
        PRIORITY: (2.50, 0.25, 20.00),
    },
    "gpt-5-mini": {
        DEFAULT: (0.25, 0.025, 2.00),
        FLEX: (0.125, 0.0125, 1.00),
        PRIORITY: (0.45, 0.045, 3.60),
    },
    "gpt-5-nano": {DEFAULT: (0.05, 0.005, 0.40), FLEX: (0.025, 0.0025, 0.20)},
    "o3": {DEFAULT: (2.00, 0.50, 8.00), FLEX: (1.00, 0.25, 4.00), PRIORITY: (3.50, 0.875, 14.00)},
    "o4-mini": {
        DEFAULT: (1.10, 0.275, 4.40),
        FLEX: (0.55, 0.138, 2.20),
        PRIORITY: (2.00, 0.50, 8.00),
    },
    "o3-mini": {DEFAULT: (1.10, 0.55, 4.40)},
    "gpt-3.5-turbo": {DEFAULT: (0.50, 0.50, 1.50)},
    "text-embedding-3-small": {DEFAULT: (0.02, 0.02, 0.0)},
    "text-embedding-3-large": {DEFAULT: (0.13, 0.13, 0.0)},
    "text-embedding-ada-002": {DEFAULT: (0.10, 0.10, 0.0)},
}
# What a request's service_tier asks for, as the API serves it: `auto` is the project's
# default, `fast` is priority by another name.
SERVED = {None: DEFAULT, "auto": DEFAULT, DEFAULT: DEFAULT, FLEX: FLEX, PRIORITY: PRIORITY}
SERVED["fast"] = PRIORITY


def served_tier(model: str, asked: object) -> str | None:
    """The tier that serves a request asking for `asked`: None for Flex on a model not
    offered on Flex (the API refuses it), the default tier for priority where there is none."""
    tier = SERVED.get(asked if isinstance(asked, str) else None, DEFAULT)
    offered = _rates(model) or {}
    if tier == FLEX:
        return FLEX if FLEX in offered else None
    return tier if tier in offered else DEFAULT


def bill_usd(
    model: str, tier: str, *, prompt: int, cached: int, completion: int, batch: bool = False
) -> float | None:
    """What the API bills for these tokens, or None for a model the table does not list."""
    rates = (_rates(model) or {}).get(DEFAULT if batch else tier)
    if rates is None:
        return None
    input_rate, cached_rate, output_rate = rates
    usd = ((prompt - cached) * input_rate + cached * cached_rate + completion * output_rate) / PER
    return usd / 2 if batch else usd


def _rates(model: str) -> Mapping[str, Rates] | None:
    base = base_name(model, PRICES)
    return None if base is None else PRICES[base]
