"""What a response-cache lookup costs in a database of a million cached answers.

    python bench/cache_lookup.py [--rows 1000000] [--lookups 20000] [--db bench-cache.db] [--keep]

Builds the database through batchbot's own migrations (the spend rollup's triggers included),
with `--rows` answered requests, each with its own cache key, as runs leave them; then times,
over `--lookups` requests each: the bare indexed lookup of a key that is there (a hit) and of
one that is not (a miss), and the whole of `ResponseCache.find` for an item whose request was
answered before (hashing its request, the lookup, rebuilding the answer as the item's). Prints
the median and the 99th percentile of each, and the query plan, which must use the index.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _database import fill

from batchbot.answers.cache import ResponseCache
from batchbot.endpoints import CHAT
from batchbot.jobs.caching import ALWAYS, cache_key
from batchbot.jobs.job import Item, request_hash
from batchbot.store.cache import OWN
from batchbot.store.store import Store

INSERT = """
INSERT INTO requests (job, item_id, request_hash, run_id, mode, model, request, status, content,
    finish_reason, prompt_tokens, completion_tokens, total_tokens, cost_usd, list_usd, attempts,
    created_at, finished_at, cache_key, service_tier)
VALUES (?, ?, ?, 1, 'sync', 'gpt-4o-mini', ?, 'ok', ?, 'stop', 30, 60, 90, 0.000041, 0.000041, 1,
    '2026-11-01T02:00:00.000+00:00', '2026-11-01T02:00:01.000+00:00', ?, 'default')
"""
ANSWER = "Here is a short answer to your question. " * 8  # about 80 tokens, as answers go


def item(n: int) -> Item:
    body = {
        "model": "gpt-4o-mini",
        "temperature": 0,
        "messages": [{"role": "user", "content": f"Question number {n}: what is a token?"}],
    }
    return Item(f"q{n}", body, request_hash(body), n)


def build(db_path: Path, rows: int) -> float:
    """A fresh database holding `rows` answers with their cache keys; the seconds it took."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    store = Store.open(db_path)
    db = store.db
    started = time.perf_counter()
    db.execute("INSERT INTO runs (id, job, status, started_at) VALUES (1, 'faq', 'done', 'x')")
    fill(db, INSERT, (_row(n) for n in range(rows)))
    store.close()
    return time.perf_counter() - started


def _row(n: int) -> tuple[object, ...]:
    answered = item(n)
    body = json.dumps(answered.body)
    key = cache_key(answered, CHAT)
    return (f"job-{n % 20:02d}", answered.id, answered.request_hash, body, ANSWER, key)


def timed(calls: int, call: object) -> list[float]:
    seconds = []
    for n in range(calls):
        started = time.perf_counter()
        call(n)  # type: ignore[operator]
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--db", type=Path, default=Path("bench-cache.db"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    built = build(args.db, args.rows)
    print(f"built {args.rows:,} cached answers in {built:.1f} s ({args.db})")
    store = Store.open(args.db)
    plan = " ".join(
        str(row[-1])
        for row in store.db.execute(f"EXPLAIN QUERY PLAN {OWN}", ("k", "ok", "a", "b", "c"))
    )
    print(f"query plan: {plan}")
    if "requests_cache_key" not in plan:
        raise SystemExit("the lookup does not use the cache_key index")
    rng = random.Random(7)
    picks = [rng.randrange(args.rows) for _ in range(args.lookups)]
    hits = [cache_key(item(n), CHAT) for n in picks]
    misses = [hashlib.sha256(f"missing {n}".encode()).hexdigest() for n in range(args.lookups)]
    cache = ResponseCache(store, endpoint=CHAT, policy=ALWAYS, job="again")
    found = sum(cache.find(item(n)) is not None for n in picks[:100])
    if found != 100:
        raise SystemExit(f"only {found} of 100 cached requests were found")
    results = {
        "lookup, a hit": timed(args.lookups, lambda n: store.cached_answer(hits[n])),
        "lookup, a miss": timed(args.lookups, lambda n: store.cached_answer(misses[n])),
        "find(item), a hit": timed(args.lookups, lambda n: cache.find(item(picks[n]))),
    }
    store.close()
    print(f"\n{'over ' + format(args.lookups, ',') + ' requests':<28}  {'median':>9}  {'p99':>9}")
    for name, seconds in results.items():
        p99 = statistics.quantiles(seconds, n=100)[98]
        print(f"{name:<28}  {statistics.median(seconds) * 1e6:>6.1f} µs  {p99 * 1e6:>6.1f} µs")
    if not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
