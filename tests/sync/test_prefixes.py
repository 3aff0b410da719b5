"""The prefixes requests share: which are long enough to cache, their keys, and the look-ahead
that sends the items sharing one together."""

from __future__ import annotations

from batchbot.jobs.job import Item
from batchbot.sync.prefixes import Lookahead, Prefixes, with_cache_key

# A system prompt of about 2,100 tokens, the same for every item: long enough to be cached.
SYSTEM = "Answer kindly. " * 700


def item(n: int, system: str | None, question: str = "Why?") -> Item:
    messages = [{"role": "user", "content": question}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return Item(f"i{n}", {"model": "gpt-4o-mini", "messages": messages}, f"h{n}", n)


def test_a_prefix_is_what_requests_share_and_only_a_long_one_counts():
    """The prefix is everything but the last message; under 1,024 tokens it is none."""
    prefixes = Prefixes("/v1/chat/completions")
    long_a, long_b = prefixes.of(item(1, SYSTEM).body), prefixes.of(item(2, SYSTEM, "How?").body)
    assert long_a is not None
    assert long_a == long_b
    assert long_a.tokens > 1_900
    assert long_a.cache_key.startswith("batchbot-")
    assert prefixes.of(item(3, "Be brief.").body) is None
    assert prefixes.of(item(4, None).body) is None
    other = prefixes.of(item(5, SYSTEM + " Also be funny.").body)
    assert other is not None
    assert other.digest != long_a.digest
    assert Prefixes("/v1/embeddings").of({"model": "m", "input": SYSTEM}) is None


def test_the_jobs_own_cache_key_wins_and_null_sends_none():
    """A job's prompt_cache_key is kept; `prompt_cache_key: null` sends no key at all."""
    prefix = Prefixes("/v1/chat/completions").of(item(1, SYSTEM).body)
    body = item(1, SYSTEM).body
    assert with_cache_key(body, prefix)["prompt_cache_key"] == prefix.cache_key
    assert (
        with_cache_key({**body, "prompt_cache_key": "mine"}, prefix)["prompt_cache_key"] == "mine"
    )
    assert "prompt_cache_key" not in with_cache_key({**body, "prompt_cache_key": None}, prefix)
    assert with_cache_key(body, None) is body


def test_the_look_ahead_sends_items_sharing_a_prefix_together():
    """Interleaved prefixes come out grouped, within a bounded window; items without a long
    prefix go at once."""
    prefixes = Prefixes("/v1/chat/completions")

    def digest(it: Item) -> str | None:
        found = prefixes.of(it.body)
        return None if found is None else found.digest

    other = SYSTEM.replace("kindly", "gently")
    items = [item(n, SYSTEM if n % 2 else other) for n in range(8)] + [item(9, None)]
    ahead = Lookahead(digest, window=6)
    out = [it.id for added in items for it in ahead.add(added)] + [it.id for it in ahead.flush()]
    # The group that started first goes once six wait; i9, with no long prefix, at once.
    assert out == ["i0", "i2", "i4", "i9", "i1", "i3", "i5", "i7", "i6"]
