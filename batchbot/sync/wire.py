"""What a run adds to its requests on the wire, and when each may go.

Every ask of an item is sent as its request plus: Flex's `service_tier` on a Flex run, and a
`prompt_cache_key` for a long shared prefix (not on Azure, which takes none). The first ask of
a long prefix goes at once and the others wait for its answer, so they find the prefix in
OpenAI's prompt cache (sync.prefixes says why).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from batchbot.answers.reask import Reask
from batchbot.jobs.job import Item
from batchbot.sync.prefixes import Lookahead, Prefixes, with_cache_key
from batchbot.sync.tries import Tries
from batchbot.tokens.cost import Cost

__all__ = ["Wire"]

Wait = Callable[[Awaitable[Any]], Awaitable[Any]]


class Wire:
    """One run's additions to its requests, and the priming of their prefixes."""

    def __init__(self, endpoint: str, *, tier: str | None, cache_keys: bool) -> None:
        """`tier`: the service tier every request asks for (Flex), if any; `cache_keys`:
        whether requests carry a prompt cache key."""
        self.endpoint, self.tier, self.cache_keys = endpoint, tier, cache_keys
        self.prefixes = Prefixes(endpoint)
        self.lookahead = Lookahead(self._digest)

    def tries(self, item: Item, ask: Reask | None, cost: Cost) -> Tries:
        """A new ask of `item`, with what goes on the wire besides its request."""
        body = ask.body if ask else item.body
        prefix = self.prefixes.of(body)
        wire = {**body, "service_tier": self.tier} if self.tier else body
        if self.cache_keys:
            wire = with_cache_key(wire, prefix)
        return Tries(item, cost, self.endpoint, ask, body=wire, prefix=prefix)

    async def warm_up(self, tries: Tries, wait: Wait) -> None:
        """Let the first ask of a long prefix go; hold the others (through `wait`, which the
        run's stop may cancel) until it has its answer."""
        if tries.prefix is None or tries.warm:
            return
        tries.warm = True
        primed = self.prefixes.claim(tries.prefix)
        if primed is None:
            tries.primer = True
        else:
            await wait(primed.wait())

    def primed(self, tries: Tries) -> None:
        """The first ask of its prefix is answered (or gave up): the others may go."""
        if tries.primer and tries.prefix is not None:
            self.prefixes.primed(tries.prefix)

    def _digest(self, item: Item) -> str | None:
        prefix = self.prefixes.of(item.body)
        return None if prefix is None else prefix.digest
