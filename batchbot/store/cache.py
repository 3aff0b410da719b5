"""Answers kept for reuse: looked up by a request's cache key, in a run's own database or in a
cache file shared across projects (`--cache PATH`).

In the run's database the cache is the `requests` table itself: every answer that answers its
item's request carries the request's `cache_key` (jobs.caching), under a partial index, so a
lookup is one index probe among millions of rows (bench/cache_lookup.py). A shared cache file
holds a `responses` table of the same answer columns, one row per cache key, the newest answer
winning; it is written after each commit of a run that uses it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchbot.jsonbytes import dumps_text
from batchbot.outcome import SETTLED, Choice, Outcome, ToolCall
from batchbot.store import BUSY_TIMEOUT_MS

__all__ = ["CachedAnswer", "SharedCache", "cached_answer"]

# The answer columns a reused answer is rebuilt from, by the names `requests` gives them.
ANSWER = (
    "content, finish_reason, refusal, tool_calls, output_items, response_status, "
    "response_model, vector, service_tier"
)
CHOICES = """(SELECT CASE WHEN count(*) THEN json_group_array(json_object(
    'index', choice_index, 'content', content, 'finish_reason', finish_reason,
    'refusal', refusal, 'tool_calls', json(tool_calls))) END
    FROM choices WHERE request_id = requests.id)"""
# The newest answer to this request in the run's database, and where it is.
OWN = f"""
SELECT {ANSWER}, {CHOICES} AS choices, coalesce(list_usd, cost_usd) AS list_usd,
       coalesce(cached_from, json_object('job', job, 'item_id', item_id, 'run_id', run_id,
                                         'answered_at', finished_at)) AS source
FROM requests
WHERE cache_key = ? AND status IN ({", ".join("?" * len(SETTLED))})
ORDER BY id DESC LIMIT 1
"""
SHARED_TABLE = """
CREATE TABLE IF NOT EXISTS responses (
    cache_key TEXT PRIMARY KEY, model TEXT, content TEXT, finish_reason TEXT, refusal TEXT,
    tool_calls TEXT, output_items TEXT, response_status TEXT, response_model TEXT, vector BLOB,
    service_tier TEXT, choices TEXT, list_usd REAL, source TEXT, created_at TEXT
)"""
SHARED = f"SELECT {ANSWER}, choices, list_usd, source FROM responses WHERE cache_key = ?"
PUT = """
INSERT OR REPLACE INTO responses (
    cache_key, model, content, finish_reason, refusal, tool_calls, output_items,
    response_status, response_model, vector, service_tier, choices, list_usd, source, created_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """An earlier answer to the same request: what it said, its list price, where it is."""

    choices: tuple[Choice, ...]
    output_items: tuple[Mapping[str, Any], ...]
    vector: bytes | None
    response_status: str | None
    response_model: str | None
    service_tier: str | None
    list_usd: float | None  # what it would cost to ask again at list price: the saving
    source: dict[str, Any]  # the database, job, item and run it was answered in


def cached_answer(db: sqlite3.Connection, key: str, where: str) -> CachedAnswer | None:
    """The newest answer with this cache key in the run's database (at `where`), if any."""
    row = db.execute(OWN, (key, *SETTLED)).fetchone()
    return None if row is None else _answer(row, where)


class SharedCache:
    """A cache file shared across projects: looked up after the run's own database, and
    written with every answer the run stores."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(SHARED_TABLE)
        self._db.commit()

    def look_up(self, key: str) -> CachedAnswer | None:
        row = self._db.execute(SHARED, (key,)).fetchone()
        return None if row is None else _answer(row, None)

    def add(self, outcomes: Sequence[Outcome], *, source: Mapping[str, Any]) -> None:
        """Keep the answers of `outcomes` that answer their request (those with a cache key)."""
        rows = [_row(o, source) for o in outcomes if o.cache_key is not None]
        if rows:
            with self._db:
                self._db.executemany(PUT, rows)

    def close(self) -> None:
        self._db.close()


def _answer(row: Sequence[Any], where: str | None) -> CachedAnswer:
    content, finish, refusal, calls, items, status, model, vector, tier, choices = row[:10]
    list_usd, source = row[10], json.loads(row[11])
    if where is not None:
        source = {"db": where, **source}
    first = Choice(0, content, finish, refusal, _calls(calls))
    several = tuple(_choice(c) for c in json.loads(choices)) if choices else ()
    return CachedAnswer(
        several or (first,),
        tuple(json.loads(items)) if items else (),
        vector,
        status,
        model,
        tier,
        list_usd,
        source,
    )


def _choice(raw: Mapping[str, Any]) -> Choice:
    calls = raw.get("tool_calls")
    return Choice(
        int(raw["index"]),
        raw.get("content"),
        raw.get("finish_reason"),
        raw.get("refusal"),
        _calls(json.dumps(calls) if calls else None),
    )


def _calls(text: str | None) -> tuple[ToolCall, ...]:
    return tuple(ToolCall(**call) for call in json.loads(text)) if text else ()


def _row(outcome: Outcome, source: Mapping[str, Any]) -> tuple[Any, ...]:
    calls = [call.as_json() for call in outcome.tool_calls]
    choices = [
        {
            "index": c.index,
            "content": c.content,
            "finish_reason": c.finish_reason,
            "refusal": c.refusal,
            "tool_calls": [call.as_json() for call in c.tool_calls] or None,
        }
        for c in outcome.choices
    ]
    origin = outcome.cached_from or dumps_text({**source, "item_id": outcome.item.id})
    return (
        outcome.cache_key,
        outcome.item.body.get("model"),
        outcome.content,
        outcome.finish_reason,
        outcome.refusal,
        dumps_text(calls) if calls else None,
        dumps_text(list(outcome.output_items)) if outcome.output_items else None,
        outcome.response_status,
        outcome.response_model,
        outcome.vectors[0] if outcome.vectors else None,
        outcome.service_tier,
        dumps_text(choices) if choices else None,
        outcome.totals.list_usd,
        origin,
        outcome.finished_at,
    )
