"""Runs on one machine that share a key: how much of it each may use now.

Two `batchbot run`s on the same key, base URL and model (two cron jobs that overlap) would
each pace at the whole limit and learn of the other only through 429s and the headers.
On one machine they can simply tell each other: each publishes what it uses and wants
(`Claim`), and reads the others' (the files are `sync.neighbours`' business). Shares are
fractions of the key's limits, per kind (requests, tokens); the key's limit of a kind is the
highest any of the runs has in force.

- Demand. In a kind it is held back by (requests wait at its limiter, and it sends near
  what it may), a run wants all its own limit allows; in the others, what it sends now with
  room to grow (`GROW`, `FLOOR`). A run that sends small requests is held back by requests
  and wants few tokens; one that sends large ones, the other way round.
- Targets. Each kind is divided by water-filling: each run gets its demand, or an equal part
  of what is left if that is less; what nobody wants is spread over all of them, so a run
  whose demand grows has room at once.
- In use. A run never takes more than the others leave of what they say they use now: when a
  newcomer arrives the others give up their part first, at their next beat, and only then
  does it take it. Every run follows the same rule, so the shares in use never add up to
  more than the whole key; a run that ends, or dies, gives its share back.

Pure arithmetic: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

GROW = 1.25  # a run that is not held back may grow this much before it asks again
FLOOR = 0.02  # and always has this share of the key to grow into
BOUND = 0.8  # a run sending this share of what its pace allows in a kind is held back by it
KINDS = ("requests", "tokens")

Limits = Mapping[str, float | None]
Shares = dict[str, float]


@dataclass(frozen=True, slots=True)
class Claim:
    """What one run publishes: the limits it has in force, what it sends (per minute, as the
    server counts), the kinds it is held back by, and the share of each it uses now."""

    limits: Limits
    rates: Mapping[str, float]
    bound: Collection[str]
    in_use: Mapping[str, float]

    def most(self, key: Limits, kind: str) -> float:
        """The share of the key's `kind` its own limit lets it use."""
        own, whole = self.limits.get(kind), key.get(kind)
        return min(1.0, own / whole) if own and whole else 1.0

    def demand(self, key: Limits, kind: str) -> float:
        """The share of the key's `kind` it wants (see the module docstring)."""
        most, whole = self.most(key, kind), key.get(kind)
        if kind in self.bound or not whole:
            return most
        return min(most, self.rates.get(kind, 0.0) / whole * GROW + FLOOR)


def key_limits(claims: Iterable[Claim]) -> dict[str, float | None]:
    """The key's limits as the runs know them: per kind, the highest any has in force; None
    (unlimited) if any run has no limit for it."""
    key: dict[str, float | None] = {}
    for kind in KINDS:
        limits = [claim.limits.get(kind) for claim in claims]
        key[kind] = None if not limits or None in limits else max(x for x in limits if x)
    return key


def targets(claims: Mapping[str, Claim]) -> dict[str, Shares]:
    """Each run's target share of each kind of the key, by water-filling their demands."""
    key = key_limits(claims.values())
    given: dict[str, Shares] = {run: {} for run in claims}
    for kind in KINDS:
        demands = {run: claim.demand(key, kind) for run, claim in claims.items()}
        left = 1.0
        for count, run in enumerate(sorted(demands, key=demands.__getitem__)):
            given[run][kind] = min(demands[run], left / (len(demands) - count))
            left -= given[run][kind]
        for run, claim in claims.items():  # what nobody wants: room to grow into at once
            given[run][kind] = min(claim.most(key, kind), given[run][kind] + left / len(claims))
    return given


def share_now(me: str, claims: Mapping[str, Claim]) -> Shares:
    """The share of each kind `me` may use now: its target, but no more than the others
    leave of what they use now."""
    target = targets(claims)[me]
    shares = {}
    for kind in KINDS:
        others = sum(claim.in_use.get(kind, 0.0) for run, claim in claims.items() if run != me)
        shares[kind] = max(0.0, min(target[kind], 1.0 - others))
    return shares


def paces(shares: Mapping[str, float], limits: Limits, claims: Iterable[Claim]) -> Shares:
    """What `shares` of the key are as shares of a run's own `limits`: its pace per kind."""
    key = key_limits(claims)
    result = {}
    for kind in KINDS:
        own, whole = limits.get(kind), key.get(kind)
        result[kind] = min(1.0, shares[kind] * whole / own) if own and whole else 1.0
    return result
