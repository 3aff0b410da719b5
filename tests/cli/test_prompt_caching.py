"""Prompt caching used on purpose: a shared long prefix is primed, keyed and sent together, and
what it saved is priced and reported as the API bills it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from stored import rows

from batchbot.fake.counting import encoder
from batchbot.fake.server import FakeServer

# About 2,000 tokens of system prompt, the same for every item.
SYSTEM = " ".join(f"Rule {n}: answer kindly, briefly and in plain words." for n in range(155))


@pytest.fixture
def slow_api() -> Iterator[FakeServer]:
    """A fake API that takes 100 ms an answer: requests sent together overlap, as for real."""
    server = FakeServer(latency_ms=100).start_in_thread()
    yield server
    server.stop()


def test_500_items_sharing_a_long_system_prompt_mostly_hit_the_cache(
    tmp_path, write_job, invoke, slow_api
):
    """500 items with a 2,000-token system prompt: the fake bills at least 80 % of what could
    be cached as cached tokens, the stored cost is the fake's bill to the cent, and a budget
    below what they would cost uncached holds them all: it counts cached tokens as billed."""
    prefix = len(encoder("gpt-4o-mini").encode_ordinary(f"system\n{SYSTEM}"))
    assert 1_900 < prefix < 2_100
    rows_text = "question\n" + "".join(f"What is fact number {n} about tea?\n" for n in range(500))
    write_job("questions.csv", rows_text)
    job = write_job(
        "tea.yaml",
        f"model: gpt-4o-mini\nsystem: {json.dumps(SYSTEM)}\n"
        "params: {temperature: 0.7, max_tokens: 40}\n"
        "template: '{question}'\ninputs: questions.csv\n",
    )
    args = ("--base-url", slow_api.url, "--concurrency", "100", "--max-cost", "0.13")
    result = invoke("run", str(job), *args)
    assert result.exit_code == 0, result.output
    could_be_cached = 499 * (prefix // 128 * 128)  # every request after the first
    billed = slow_api.stats.billed["gpt-4o-mini"]
    assert billed["requests"] == 500
    assert billed["cached_tokens"] >= 0.8 * could_be_cached
    db = tmp_path / "batchbot.db"
    (stored,) = rows(
        db,
        "select sum(cost_usd) as cost, sum(cached_tokens) as cached, "
        "sum(prompt_cache_saved_usd) as saved, sum(list_usd) as list from requests",
    )
    assert float(stored["cost"]) < 0.13 < float(stored["list"])  # uncached, over the budget
    assert stored["cached"] == billed["cached_tokens"]
    assert round(float(stored["cost"]), 2) == round(slow_api.stats.billed_usd, 2)
    assert abs(float(stored["cost"]) - slow_api.stats.billed_usd) < 1e-9 * 500
    assert stored["saved"] == pytest.approx(billed["cached_tokens"] * (0.15 - 0.075) / 1e6)
    report = invoke("report").stdout
    share = billed["cached_tokens"] / billed["input_tokens"]
    assert "prompt caching  " in report
    assert f"{share:.0%} of prompt tokens cached" in report


def test_items_of_several_long_prefixes_interleaved_are_primed_and_grouped(
    tmp_path, write_job, invoke, slow_api
):
    """Five system prompts, their 300 items interleaved in the file: each prefix's first
    request goes alone and the rest of its group after it, so nearly all find it cached
    (sent in file order, all at once, a fifth of them would miss)."""
    systems = [SYSTEM.replace("tea", "x") + f" You are assistant number {n}." for n in range(5)]
    lines = [
        {"id": f"q{n}", "messages": [{"role": "system", "content": systems[n % 5]},
                                     {"role": "user", "content": f"Fact {n} about tea?"}]}
        for n in range(300)
    ]  # fmt: skip
    job = write_job("five.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    args = ("--model", "gpt-4o-mini", "--base-url", slow_api.url, "--concurrency", "100")
    result = invoke("run", str(job), *args)
    assert result.exit_code == 0, result.output
    tokens = encoder("gpt-4o-mini").encode_ordinary
    could_be_cached = sum(
        59 * (len(tokens(f"system\n{system}")) // 128 * 128) for system in systems
    )
    assert slow_api.stats.billed["gpt-4o-mini"]["cached_tokens"] >= 0.9 * could_be_cached


def test_a_run_without_a_long_prefix_sends_no_cache_key_and_waits_for_nothing(
    write_job, invoke, fake_api
):
    """Short prompts are sent as they are: no prompt_cache_key, no priming, nothing cached."""
    job = write_job("short.yaml", "model: gpt-4o-mini\nparams: {max_tokens: 20}\nprompts: [a, b]\n")
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert fake_api.stats.billed["gpt-4o-mini"]["cached_tokens"] == 0
