"""A client that paces as OpenAI's cookbook script does (`api_request_parallel_processor.py`).

Written for these benchmarks from the script's description, not copied: request and token
budgets that start full (a whole minute's worth) and refill continuously up to that, one
request let out per 1 ms turn of the loop when both budgets cover it, each charged its prompt
tokens (the cookbook's own count: 4 a message, 2 for the reply) plus n x max_tokens; after
any answer whose error message says "Rate limit", every new send waits until 15 s have passed
since it; a failed request goes back on a retry queue, up to 5 attempts in all. It stores
nothing but counts what was answered and what failed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from batchbot.tokens.count import count_text

PAUSE_AFTER_429_S = 15.0
MAX_ATTEMPTS = 5
TURN_S = 0.001


def cookbook_tokens(body: dict[str, Any]) -> int:
    """The cookbook's estimate: message text plus 4 a message, 2 for the reply, the allowance."""
    model = str(body["model"])
    tokens = 2
    for message in body["messages"]:
        tokens += 4 + sum(count_text(model, str(value)) for value in message.values())
        tokens -= 1 if "name" in message else 0
    return tokens + int(body.get("n", 1)) * int(body.get("max_tokens", 15))


class _Tracker:
    def __init__(self, count: int) -> None:
        self.in_progress = count
        self.answered = self.failed = 0
        self.last_429 = -float("inf")


async def run_cookbook(
    url: str, bodies: list[dict[str, Any]], rpm: float, tpm: float, *, give_up_s: float
) -> tuple[int, int]:
    """Send `bodies` as the cookbook script would with these limits; (answered, failed).

    After `give_up_s` it stops, and what was not done is neither: under short windows its
    15 s pauses can stretch a run of minutes to most of an hour.
    """
    give_up_at = time.monotonic() + give_up_s
    tracker = _Tracker(len(bodies))
    retries: asyncio.Queue[tuple[dict[str, Any], int, int]] = asyncio.Queue()
    pending = iter(bodies)
    requests_left, tokens_left, updated = rpm, tpm, time.monotonic()
    upcoming: tuple[dict[str, Any], int, int] | None = None
    headers = {"Authorization": "Bearer sk-bench"}
    async with aiohttp.ClientSession(headers=headers) as session:
        tasks = set()
        while tracker.in_progress and time.monotonic() < give_up_at:
            if upcoming is None:
                if not retries.empty():
                    upcoming = retries.get_nowait()
                elif (body := next(pending, None)) is not None:
                    upcoming = (body, cookbook_tokens(body), MAX_ATTEMPTS)
            now = time.monotonic()
            requests_left = min(rpm, requests_left + rpm * (now - updated) / 60)
            tokens_left = min(tpm, tokens_left + tpm * (now - updated) / 60)
            updated = now
            if upcoming is not None and requests_left >= 1 and tokens_left >= upcoming[1]:
                requests_left -= 1
                tokens_left -= upcoming[1]
                task = asyncio.create_task(_call(session, url, upcoming, retries, tracker))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                upcoming = None
            await asyncio.sleep(TURN_S)
            since_429 = time.monotonic() - tracker.last_429
            if since_429 < PAUSE_AFTER_429_S:
                await asyncio.sleep(min(PAUSE_AFTER_429_S - since_429, give_up_at - now))
        for task in tasks:
            task.cancel()
    return tracker.answered, tracker.failed


async def _call(
    session: aiohttp.ClientSession,
    url: str,
    request: tuple[dict[str, Any], int, int],
    retries: asyncio.Queue[tuple[dict[str, Any], int, int]],
    tracker: _Tracker,
) -> None:
    body, tokens, attempts_left = request
    error = False
    try:
        async with session.post(f"{url}/chat/completions", json=body) as response:
            answer = await response.json()
        if "error" in answer:
            error = True
            if "Rate limit" in answer["error"].get("message", ""):
                tracker.last_429 = time.monotonic()
    except (TimeoutError, aiohttp.ClientError, ValueError):
        error = True
    if not error:
        tracker.answered += 1
        tracker.in_progress -= 1
    elif attempts_left > 1:
        retries.put_nowait((body, tokens, attempts_left - 1))
    else:
        tracker.failed += 1
        tracker.in_progress -= 1
