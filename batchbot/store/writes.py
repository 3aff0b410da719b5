"""How an item's outcome is written: its `requests` row, its choices and its attempts.

`Store.record_results` runs these statements; this module only says what they write. A row is
keyed by (job, item id, request hash); a re-ask rewrites it with the item's totals so far
(`Outcome.totals`), and its new attempts are added beside the earlier ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from batchbot.jsonbytes import dumps_text
from batchbot.modes import BATCH
from batchbot.outcome import INVALID, REFUSED, Choice, Outcome

UPSERT_REQUEST = """
INSERT INTO requests (
    job, item_id, request_hash, run_id, mode, model, request, status, content, finish_reason,
    prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens, total_tokens,
    cost_usd, price, latency_ms, attempts, error, error_code, response_model, created_at,
    finished_at, vector, dimensions, response_status, tool_calls, refusal, output_items,
    parsed, validation_error, max_tokens, reasks, reask_cost_usd, metadata, http_requests,
    service_tier, list_usd, prompt_cache_saved_usd, cache_key, cached_from
) VALUES (
    :job, :item_id, :request_hash, :run_id, :mode, :model, :request, :status, :content,
    :finish_reason, :prompt_tokens, :cached_tokens, :completion_tokens, :reasoning_tokens,
    :total_tokens, :cost_usd, :price, :latency_ms, :attempts, :error, :error_code,
    :response_model, :created_at, :finished_at, :vector, :dimensions, :response_status,
    :tool_calls, :refusal, :output_items, :parsed, :validation_error, :max_tokens, :reasks,
    :reask_cost_usd, :metadata, :http_requests, :service_tier, :list_usd,
    :prompt_cache_saved_usd, :cache_key, :cached_from
)
ON CONFLICT (job, item_id, request_hash) DO UPDATE SET
    run_id = excluded.run_id, mode = excluded.mode, model = excluded.model,
    status = excluded.status, content = excluded.content,
    finish_reason = excluded.finish_reason, prompt_tokens = excluded.prompt_tokens,
    cached_tokens = excluded.cached_tokens, completion_tokens = excluded.completion_tokens,
    reasoning_tokens = excluded.reasoning_tokens, total_tokens = excluded.total_tokens,
    cost_usd = excluded.cost_usd, price = excluded.price,
    latency_ms = excluded.latency_ms, attempts = requests.attempts + excluded.attempts,
    error = excluded.error, error_code = excluded.error_code,
    response_model = excluded.response_model, finished_at = excluded.finished_at,
    vector = excluded.vector, dimensions = excluded.dimensions,
    response_status = excluded.response_status, tool_calls = excluded.tool_calls,
    refusal = excluded.refusal, output_items = excluded.output_items,
    parsed = excluded.parsed, validation_error = excluded.validation_error,
    max_tokens = excluded.max_tokens, reasks = excluded.reasks,
    reask_cost_usd = excluded.reask_cost_usd, metadata = excluded.metadata,
    http_requests = coalesce(requests.http_requests, 0) + excluded.http_requests,
    service_tier = excluded.service_tier,
    list_usd = excluded.list_usd, prompt_cache_saved_usd = excluded.prompt_cache_saved_usd,
    cache_key = excluded.cache_key, cached_from = excluded.cached_from
"""

# A re-ask that got no answer: the item keeps the answer it has; only its attempts are new.
MORE_ATTEMPTS = """
UPDATE requests SET attempts = attempts + ?, http_requests = coalesce(http_requests, 0) + ?
WHERE job = ? AND item_id = ? AND request_hash = ?
"""

REQUEST_ID = "(SELECT id FROM requests WHERE job = ? AND item_id = ? AND request_hash = ?)"
DELETE_CHOICES = f"DELETE FROM choices WHERE request_id = {REQUEST_ID}"
INSERT_CHOICE = f"""
INSERT INTO choices (
    request_id, choice_index, status, content, finish_reason, refusal, tool_calls, parsed,
    validation_error
) VALUES ({REQUEST_ID}, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# The request is found by its key, so a batch of results is two executemany calls.
INSERT_ATTEMPT = f"""
INSERT INTO attempts (
    request_id, run_id, number, started_at, status_code, error_code, error, wait_before_ms,
    latency_ms, ratelimit, reask, finish_reason, prompt_tokens, completion_tokens, cost_usd
) VALUES ({REQUEST_ID}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def key(job: str, outcome: Outcome) -> tuple[str, str, str]:
    return job, outcome.item.id, outcome.item.request_hash


def attempt_rows(run_id: int, job: str, outcome: Outcome) -> Iterator[tuple[Any, ...]]:
    last = len(outcome.attempts) - 1
    for n, attempt in enumerate(outcome.attempts):
        # The last attempt of an answer is the one that got it: its figures are the answer's.
        answer = n == last and outcome.usage is not None
        usage = outcome.usage if answer else None
        error_code, error = attempt.error_code, attempt.error
        if answer and outcome.status in (INVALID, REFUSED):
            error_code, error = outcome.status, outcome.validation_error or outcome.refusal
        yield (
            *key(job, outcome),
            run_id,
            attempt.number,
            attempt.started_at,
            attempt.status_code,
            error_code,
            error,
            attempt.wait_before_ms,
            attempt.latency_ms,
            dumps_text(dict(attempt.ratelimit)) if attempt.ratelimit else None,
            attempt.reask,
            outcome.finish_reason if answer else None,
            usage.prompt_tokens if usage else None,
            usage.completion_tokens if usage else None,
            outcome.cost_usd if answer else None,
        )


def choice_rows(job: str, outcome: Outcome) -> Iterator[tuple[Any, ...]]:
    for choice in outcome.choices:
        yield (
            *key(job, outcome),
            choice.index,
            choice.status,
            choice.content,
            choice.finish_reason,
            choice.refusal,
            _calls(choice),
            choice.parsed,
            choice.validation_error,
        )


def _calls(answer: Outcome | Choice) -> str | None:
    """Tool calls as the `tool_calls` column holds them: JSON, or NULL when there are none."""
    if not answer.tool_calls:
        return None
    return dumps_text([call.as_json() for call in answer.tool_calls])


def request_row(run_id: int, job: str, mode: str, outcome: Outcome) -> dict[str, Any]:
    item, totals = outcome.item, outcome.totals
    usage = totals.usage
    vector = outcome.vectors[0] if outcome.vectors else None
    return {
        "job": job,
        "item_id": item.id,
        "request_hash": item.request_hash,
        "run_id": run_id,
        "mode": mode,
        "model": item.body.get("model"),
        "request": dumps_text(item.body),
        "status": outcome.status,
        "content": outcome.content,
        "finish_reason": outcome.finish_reason,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "cached_tokens": usage.cached_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "reasoning_tokens": usage.reasoning_tokens if usage else None,
        "total_tokens": usage.total_tokens if usage else None,
        "cost_usd": totals.cost_usd,
        "price": outcome.price,
        "latency_ms": outcome.latency_ms,
        "attempts": len(outcome.attempts),
        "error": outcome.error,
        "error_code": outcome.error_code,
        "response_model": outcome.response_model,
        "created_at": outcome.created_at,
        "finished_at": outcome.finished_at,
        "vector": vector,
        "dimensions": len(vector) // 4 if vector is not None else None,
        "response_status": outcome.response_status,
        "tool_calls": _calls(outcome),
        "refusal": outcome.refusal,
        "output_items": dumps_text(list(outcome.output_items)) if outcome.output_items else None,
        "parsed": outcome.parsed,
        "validation_error": outcome.validation_error,
        "max_tokens": outcome.max_tokens,
        "reasks": totals.reasks,
        "reask_cost_usd": totals.reask_cost_usd if totals.reasks else None,
        "metadata": item.metadata,
        "http_requests": http_requests(mode, outcome),
        "service_tier": outcome.service_tier,
        "list_usd": totals.list_usd,
        "prompt_cache_saved_usd": totals.prompt_cache_saved_usd,
        "cache_key": outcome.cache_key,
        "cached_from": outcome.cached_from,
    }


def http_requests(mode: str, outcome: Outcome) -> int:
    """The HTTP requests a result adds to its row: each attempt, but none for an item sent
    in another's request (a pack) or as a line of a Batch API file."""
    return 0 if outcome.shared_request or mode == BATCH else len(outcome.attempts)


# A request's worst-case cost under a budget, committed before it can be billed (money/budget.py).
RESERVE = """
INSERT INTO reservations (run_id, job, item_id, model, worst_usd, created_at)
VALUES (?, ?, ?, ?, ?, ?)
"""
