"""The HTML report for the person who pays: spend against the budget, what was saved, money
with its significant digits, full dates, a legend of the models that spent, one day sensibly."""

# ruff: noqa: E501  (seed rows read best one per line, however wide)

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_report import CHROMIUM, screenshot

from batchbot.store.store import Store

COLUMNS = (
    "job, item_id, run_id, model, status, prompt_tokens, cached_tokens, completion_tokens, "
    "cost_usd, list_usd, prompt_cache_saved_usd, service_tier, mode, cached_from, finished_at"
)
REUSED = json.dumps({"job": "faq", "item_id": "a", "run_id": 1})
ROWS = [
    ("faq", "a", 1, "gpt-4o-mini", "ok", 100, 0, 50, 0.000045, 0.000045, 0.0, "default", "sync", None, "2026-11-01T10:00:01"),
    ("faq", "b", 1, "gpt-4o-mini", "ok", 2000, 1024, 50, 0.000253, 0.00033, 0.0000768, "default", "sync", None, "2026-11-02T10:00:01"),
    ("faq", "c", 2, "gpt-5-mini", "ok", 100, 0, 300, 0.00031, 0.00062, 0.0, "flex", "sync", None, "2026-11-02T11:00:01"),
    ("faq", "d", 2, "gpt-4o-mini", "ok", 0, 0, 0, 0.0, 0.000045, None, "default", "sync", REUSED, "2026-11-03T09:00:01"),
    ("faq", "e", 2, "my-model", "ok", 10, 0, 5, None, None, None, "default", "sync", None, "2026-11-03T09:00:02"),
]  # fmt: skip
SETTINGS = json.dumps({"max_cost_usd": 2.0, "max_cost_per_day_usd": 0.0006})


def seed(path: Path, rows: list[tuple[object, ...]]) -> Path:
    """A database with these rows, in two runs of job faq, the latest under budgets."""
    store = Store.open(path)
    with store.db.atomic():
        store.db.execute(
            "INSERT INTO runs (id, job, status, started_at, settings, cost_usd) VALUES "
            "(1, 'faq', 'done', '2026-11-01T09:00:00', '{}', 0.000298), "
            f"(2, 'faq', 'done', '2026-11-02T11:00:00', '{SETTINGS}', 0.0004)"
        )
        store.db.conn.executemany(
            f"INSERT INTO requests ({COLUMNS}, request_hash, created_at, request) "
            f"VALUES ({', '.join('?' * 15)}, 'h', '2026-11-01T09:00:00', '{{}}')",
            rows,
        )
    store.close()
    return path


def page(tmp_path: Path, invoke, *args: str) -> str:
    out = tmp_path / "report.html"
    result = invoke("report", "--html", str(out), *args)
    assert result.exit_code == 0, result.output
    return out.read_text()


def test_the_page_says_spend_budgets_and_savings_with_their_digits(tmp_path, invoke):
    """Spend against the daily budget (a line on the chart) and the run's, what the cache,
    prompt caching and Flex saved, every amount with its significant digits, full dates, and
    a legend of the models that spent only."""
    seed(tmp_path / "batchbot.db", ROWS)
    html = page(tmp_path, invoke)
    assert re.search(r"\$0\.0000(?!\d)", html) is None  # no small amount shown as nothing
    for amount in ("$0.000045", "$0.000608", "$0.000432", "$0.000563"):
        assert amount in html
    days = re.findall(r'text-anchor="middle">([^<]+)</text>', html)
    assert days == ["2026-11-01", "2026-11-02", "2026-11-03"]
    legend = re.findall(r"</i>([^<]+)</span>", html)
    assert legend == ["gpt-5-mini", "gpt-4o-mini"]  # my-model has no price; nothing spent
    assert "budget $0.0006 a day" in html  # the daily budget, drawn across the chart
    budgets = html.split('id="budgets"')[1].split("</figure>")[0]
    assert "<td>faq</td>" in budgets
    assert "$2.00" in budgets
    assert "run 2: $0.0004 (0.02 % of it)" in budgets
    assert "2026-11-02: $0.000563 (94 % of it)" in budgets
    saved = html.split('id="saved"')[1].split("</figure>")[0]
    for source, amount in (
        ("response cache", "$0.000045"),
        ("prompt caching", "$0.0000768"),
        ("Flex", "$0.00031"),
    ):
        assert re.search(f"<td>{source}</td>.*?{re.escape(amount)}", saved), source
    assert "of prompt tokens cached" in saved


def test_one_day_is_drawn_as_a_bar_per_model(tmp_path, invoke):
    """A report of one day draws its models side by side, not one page-wide column."""
    seed(tmp_path / "batchbot.db", [ROWS[1], ROWS[2]])
    html = page(tmp_path, invoke)
    over_time = html.split('id="by-day"')[1].split("</figure>")[0]
    assert "All of it on 2026-11-02, by model" in over_time
    assert re.findall(r'text-anchor="end">([^<]+)</text>', over_time) == [
        "gpt-5-mini",
        "gpt-4o-mini",
    ]
    assert "<rect" in over_time
    assert 'text-anchor="middle"' not in over_time  # no day columns


def test_a_budget_far_above_the_spend_is_said_not_drawn(tmp_path, invoke):
    """A daily budget the spend comes nowhere near is said under the chart, which keeps the
    spend's own scale."""
    seed(tmp_path / "batchbot.db", ROWS)
    store = Store.open(tmp_path / "batchbot.db")
    store.db.execute("UPDATE runs SET settings = json_set(settings, '$.max_cost_per_day_usd', 5)")
    store.db.conn.commit()
    store.close()
    html = page(tmp_path, invoke)
    assert "a day</text>" not in html
    assert (
        "The daily budget, $5.00, is above the chart: the most spent in a day was $0.000563, 0.011 % of it."
        in html
    )


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs headless Chromium at /usr/bin/chromium (apt-get install chromium)",
)
def test_chromium_draws_the_budget_line_and_the_spending_models(tmp_path, invoke):
    """In Chromium the daily budget is a red dashed line across the chart, above two models'
    stacks."""
    seed(tmp_path / "batchbot.db", ROWS)
    out = tmp_path / "report.html"
    assert invoke("report", "--html", str(out)).exit_code == 0
    width, _, pixels = screenshot(out, tmp_path, "900,900")
    red = [i for i, p in enumerate(pixels) if p == bytes((0xC9, 0x2A, 0x2A))]
    assert len(red) > 300  # the dashes and the label
    assert max(i % width for i in red) - min(i % width for i in red) > 0.7 * width  # across
    blue, orange = bytes((0x1F, 0x6F, 0xEB)), bytes((0xE8, 0x59, 0x0C))
    assert sum(1 for p in pixels if p == blue) > 500
    assert sum(1 for p in pixels if p == orange) > 100
