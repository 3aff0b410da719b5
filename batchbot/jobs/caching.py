"""The response cache's rules: which requests are the same, and which may be answered again.

Two requests are the same when they ask the same endpoint for the same thing: the same model,
messages (or input) and every parameter that changes the answer, in any key order. Parameters
that only say how a request is handled or billed (who asks, what to keep, which tier serves
it, how to route it to a warm prompt cache) do not make it another request; they are left out
of its cache key.

An identical request answered before, in any job or run, is answered from there instead of
being bought again, as the job's `cache:` allows:

    deterministic   (the default) only requests that ask for the same answer every time:
                    `temperature: 0` or a `seed`; and embeddings, which are the same anyway
    always          every request: an answer sampled at temperature 0.7 is reused as it is
    never           none (`--no-cache`)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from batchbot.endpoints import EMBEDDINGS
from batchbot.jobs.job import Item, request_hash
from batchbot.jobs.settings import ALWAYS, CACHE_POLICIES, DETERMINISTIC, NEVER

__all__ = ["ALWAYS", "CACHE_POLICIES", "DETERMINISTIC", "NEVER", "cache_key", "reusable"]
# Parameters that change how a request is handled or billed, not what it answers.
NOT_IN_THE_ANSWER = frozenset(
    {
        "metadata",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "service_tier",
        "store",
        "user",
    }
)


def cache_key(item: Item, endpoint: str) -> str:
    """What an item's request asks, as a hash: the same for the same request in any job, under
    any id, with its keys in any order."""
    body = item.body
    if NOT_IN_THE_ANSWER.isdisjoint(body):
        asked = item.request_hash
    else:
        asked = request_hash({k: v for k, v in body.items() if k not in NOT_IN_THE_ANSWER})
    return hashlib.sha256(f"{endpoint}\n{asked}".encode()).hexdigest()


def reusable(body: Mapping[str, Any], endpoint: str, policy: str) -> bool:
    """Whether `policy` lets an earlier answer to this request stand for a new one."""
    if policy == NEVER:
        return False
    if policy == ALWAYS or endpoint == EMBEDDINGS:
        return True
    return body.get("temperature") == 0 or body.get("seed") is not None
