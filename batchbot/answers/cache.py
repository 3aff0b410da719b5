"""The response cache in a run: an identical request answered before is not bought again.

Before an item is sent, its request's cache key (jobs.caching) is looked up in the run's
database (any job, any run) and then in the shared cache file, if the run has one
(`--cache PATH`). An earlier answer found there is the item's answer: stored as answered, at
no cost, with `cached_from` saying where it came from and `list_usd` what asking again would
have cost. It is checked against the item's schema like any answer, and asked again when the
job says so. The job's `cache:` (or `--no-cache`) says which requests may be answered so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from batchbot.answers.reask import allowance
from batchbot.api.replies import Reply, answered
from batchbot.jobs.caching import cache_key, reusable
from batchbot.jobs.job import Item
from batchbot.jsonbytes import dumps_text
from batchbot.outcome import Outcome, Usage, utc_now
from batchbot.store.cache import CachedAnswer, SharedCache
from batchbot.store.store import Store

__all__ = ["ResponseCache"]


class ResponseCache:
    """Where one run looks answers up, and keeps its own for other projects."""

    def __init__(
        self,
        store: Store,
        *,
        endpoint: str,
        policy: str,
        shared: SharedCache | None = None,
        job: str = "",
        run_id: int | None = None,
    ) -> None:
        self.store, self.endpoint, self.policy, self.shared = store, endpoint, policy, shared
        self._source: dict[str, Any] = {"db": store.path, "job": job, "run_id": run_id}

    def find(self, item: Item) -> Outcome | None:
        """The item answered from an earlier answer to the same request, if the job's `cache:`
        allows it and there is one."""
        if not reusable(item.body, self.endpoint, self.policy):
            return None
        key = cache_key(item, self.endpoint)
        hit = self.store.cached_answer(key)
        if hit is None and self.shared is not None:
            hit = self.shared.look_up(key)
            if hit is not None:
                hit = replace(hit, source={"cache": str(self.shared.path), **hit.source})
        return None if hit is None else self._reused(item, key, hit)

    def keep(self, outcomes: list[Outcome]) -> None:
        """Add what the run just stored to the shared cache file, if it has one."""
        if self.shared is not None:
            self.shared.add(outcomes, source=self._source)

    def close(self) -> None:
        if self.shared is not None:
            self.shared.close()

    def _reused(self, item: Item, key: str, hit: CachedAnswer) -> Outcome:
        reply = Reply(
            choices=hit.choices,
            usage=Usage(),
            model=hit.response_model,
            headers={},
            vectors=(hit.vector,) if hit.vector is not None else (),
            status=hit.response_status,
            output_items=hit.output_items,
            service_tier=hit.service_tier,
        )
        outcome = answered(
            item,
            reply,
            created_at=utc_now(),
            attempts=(),
            max_tokens=allowance(item.body, self.endpoint),
        )
        return replace(
            outcome,
            cost_usd=0.0,
            list_usd=hit.list_usd,
            cache_key=key,
            cached_from=dumps_text(hit.source),
        )
