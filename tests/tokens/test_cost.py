"""What an item costs is counted once, and every part of a run agrees on whether it caps its
answer: the dry-run, the budget and the limiter read one table of cap keys per endpoint."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from batchbot import run_job
from batchbot.endpoints import CHAT, EMBEDDINGS, RESPONSES
from batchbot.tokens import count as tokens
from batchbot.tokens.cost import cost_of
from batchbot.tokens.count import DEFAULT_COMPLETION_ALLOWANCE, answer_cap, request_tokens

FAST = {"rpm": 60_000, "tpm": 100_000_000}  # pacing has its own tests
ITEMS = 1000

ASK = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi."}]}


@pytest.mark.parametrize(
    ("endpoint", "key", "capped"),
    [
        (CHAT, "max_tokens", True),
        (CHAT, "max_completion_tokens", True),
        (CHAT, "max_output_tokens", False),  # a Responses key: chat ignores it
        (RESPONSES, "max_output_tokens", True),
        (RESPONSES, "max_tokens", False),
        (EMBEDDINGS, "max_tokens", False),
    ],
)
def test_a_cap_counts_only_on_the_endpoint_that_takes_it(endpoint, key, capped):
    """answer_cap finds a cap only under the key the endpoint's API reads."""
    assert answer_cap({**ASK, key: 50}, endpoint) == (50 if capped else None)


def test_max_output_tokens_on_chat_is_no_cap_for_the_dry_run_nor_the_budget(invoke, write_job):
    """A chat job capped only by max_output_tokens is uncapped to the dry-run (its warning),
    the limiter (the default allowance) and the budget (refused), as the chat API sees it."""
    line = json.dumps({**ASK, "max_output_tokens": 50})
    job = write_job("chat.jsonl", line + "\n")
    allow = ("--allow-param", "max_output_tokens")
    result = invoke("run", str(job), "--dry-run", "--json", *allow)
    estimate = json.loads(result.output)
    assert estimate["completion_allowance"] == DEFAULT_COMPLETION_ALLOWANCE
    assert any("set no max_tokens" in warning for warning in estimate["warnings"])
    capped = {**ASK, "max_tokens": 50}
    assert request_tokens(json.loads(line)) - request_tokens(capped) == 1024 - 50
    refused = invoke("run", str(job), "--dry-run", "--max-cost", "1", *allow)
    assert "sets no max_tokens, so its cost has no upper bound" in refused.output


def counted(monkeypatch: pytest.MonkeyPatch, name: str) -> Counter[str]:
    """Calls to the token counter `name`, wherever batchbot holds it, counted per model."""
    original: Callable[..., Any] = getattr(tokens, name)
    calls: Counter[str] = Counter()

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return original(*args, **kwargs)

    for module in list(sys.modules.values()):
        if module.__name__.startswith("batchbot.") and getattr(module, name, None) is original:
            monkeypatch.setattr(module, name, counting)
    return calls


def test_a_budgeted_chat_run_counts_each_item_once(tmp_path, write_job, fake_api, monkeypatch):
    """A 1,000-item chat run under a budget counts each request's tokens once, for the budget
    and the limiter both, and charges the limiter the same total as before."""
    lines = (
        json.dumps({**ASK, "messages": [{"role": "user", "content": f"Q {i}?"}], "max_tokens": 20})
        for i in range(ITEMS)
    )
    job = write_job("qs.jsonl", "".join(line + "\n" for line in lines))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    calls = counted(monkeypatch, "count_request")
    summary = run_job(
        job,
        base_url=fake_api.url,
        max_cost_usd=5.0,
        db_path=str(tmp_path / "a.db"),
        **FAST,
    )
    assert (summary.answered, summary.failed) == (ITEMS, 0)
    assert calls["count_request"] == ITEMS


def test_a_packed_embeddings_run_counts_each_text_once(tmp_path, write_job, fake_api, monkeypatch):
    """1,000 texts in packs of 100 are each counted once: for the pack's size, its limiter
    charge and the split of its reported usage, whose shares still add up to what was billed."""
    write_job("texts.csv", "id,text\n" + "".join(f"t{i},text number {i}\n" for i in range(ITEMS)))
    job = write_job(
        "embed.yaml",
        "endpoint: /v1/embeddings\nmodel: text-embedding-3-small\npack: 100\n"
        "template: '{text}'\ninputs: texts.csv\n",
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    calls = counted(monkeypatch, "count_text")
    db = tmp_path / "e.db"
    summary = run_job(job, base_url=fake_api.url, db_path=str(db), **FAST)
    assert (summary.answered, fake_api.stats.requests) == (ITEMS, 10)
    assert calls["count_text"] == ITEMS
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("select sum(prompt_tokens) from requests").fetchone()
    assert stored == fake_api.stats.tokens_charged


def test_a_guessed_part_is_counted_at_its_most_for_the_budget_only():
    """An image by URL costs a typical size to the limiter and its most to the budget."""
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": [part]}], "n": 2}
    cost = cost_of(body)
    assert cost.total == request_tokens(body)
    assert cost.worst_prompt == tokens.count_request(body, worst=True).prompt > cost.prompt
    assert (cost.allowance, cost.capped) == (2 * DEFAULT_COMPLETION_ALLOWANCE, False)
    assert cost.worst == cost.worst_prompt + cost.allowance
