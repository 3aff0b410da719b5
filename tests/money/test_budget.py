"""Budgets: a request is sent only if spent + in-flight worst cases + its own fit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchbot.api.client import ChatClient
from batchbot.money.budget import Budget
from batchbot.money.usd import usd
from batchbot.store.store import Store


async def test_reserve_waits_for_in_flight_then_gives_up():
    """A request that does not fit waits for in-flight ones; alone, it never fits."""
    budget = Budget(run_limit=1.0)
    first = await budget.reserve(0.6)
    assert first is not None
    waiting = asyncio.create_task(budget.reserve(0.6))
    await asyncio.sleep(0)
    assert not waiting.done()
    budget.settle(first, 0.5)  # cost less than its worst case
    assert await waiting is None  # 0.5 spent + 0.6 > 1.0 and nothing left in flight
    assert budget.spent == pytest.approx(0.5)
    second = await budget.reserve(0.5)
    assert second is not None
    budget.settle(second, 0.5)
    assert budget.room == pytest.approx(0.0)


async def test_day_limit_counts_earlier_runs():
    """The daily cap starts from what the job spent earlier today; the smaller room wins."""
    budget = Budget(run_limit=5.0, day_limit=2.0, spent_today=1.5)
    assert budget.room == pytest.approx(0.5)
    assert await budget.reserve(0.6) is None
    assert await budget.reserve(0.5) is not None


def test_hold_never_waits_and_an_earlier_runs_reservation_settles_into_spent():
    """`hold` takes what fits now and refuses the rest even with others in flight; settling
    an earlier run's reservation moves it from today's count to what this run spent."""
    budget = Budget(run_limit=1.0, day_limit=2.0, spent_today=1.25)
    assert budget.hold(1.0) is None  # 1.25 + 1.0 > 2.0 a day
    held = budget.hold(0.25)
    assert held is not None
    assert budget.hold(0.75) is None  # at once, though 0.25 in flight may settle for less
    budget.release_earlier(1.0, 0.25)  # its worst case was 1.0, it cost 0.25
    assert (budget.spent_today, budget.spent) == (pytest.approx(0.25), pytest.approx(0.25))
    assert budget.room == pytest.approx(0.5)  # the run's: 1.0 - 0.25 spent - 0.25 held
    budget.settle(held, 0.125)
    assert budget.room == pytest.approx(0.625)


JOB = """\
model: gpt-4o-mini
params: {{max_tokens: 40}}
prices: {{gpt-4o-mini: {{input: 1000, output: 5000}}}}
{budget}
prompts:
{prompts}
"""


def _job(write_job, name, count, budget=""):
    prompts = "\n".join(f"  - Question number {i}, what is a token" for i in range(count))
    return write_job(name, JOB.format(budget=budget, prompts=prompts))


def _spent(db) -> tuple[float, int]:
    with sqlite3.connect(db) as conn:
        cost, answered = conn.execute(
            "select coalesce(sum(cost_usd), 0), count(cost_usd) from requests"
        ).fetchone()
    return cost, answered


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    limit=st.floats(min_value=0.05, max_value=2.0),
    concurrency=st.integers(min_value=2, max_value=40),
)
def test_budget_never_exceeded(tmp_path, write_job, invoke, fake_api, limit, concurrency):
    """Many concurrent workers and a slow server: total cost <= budget in every run."""
    fake_api.latency_ms = 30.0
    try:
        db = tmp_path / f"b-{limit}-{concurrency}.db"
        job = _job(write_job, "j.yaml", 60)
        result = invoke(
            "run", str(job), "--db", str(db), "--base-url", fake_api.url,
            "--max-cost", str(limit), "--concurrency", str(concurrency),
        )  # fmt: skip
    finally:
        fake_api.latency_ms = 0.0
    spent, answered = _spent(db)
    assert spent <= limit + 1e-9
    assert result.exit_code == 3, result.output
    assert answered > 0 or limit < 0.25
    assert "budget reached" in result.output
    assert "items not sent" in result.output
    assert "run the same command again to resume" in result.output


def test_budget_stop_line_and_resume(tmp_path, write_job, invoke, fake_api):
    """A budget stop exits 3 with spent and items left; a rerun with more budget finishes."""
    job = _job(write_job, "j.yaml", 20, budget="budget_usd: 0.5")
    stopped = invoke("run", str(job), "--base-url", fake_api.url, "--concurrency", "4")
    assert stopped.exit_code == 3
    spent, answered = _spent(tmp_path / "batchbot.db")
    assert 0 < spent <= 0.5
    assert f"Spent {usd(spent)} in this run; {20 - answered} items not sent." in stopped.output
    assert "Raise the budget and run the same command again to resume." in stopped.output
    assert "tomorrow" not in stopped.output  # a run's budget does not refill overnight
    done = invoke("run", str(job), "--base-url", fake_api.url, "--max-cost", "100")
    assert done.exit_code == 0, done.output
    assert f"{answered} already answered" in done.output


def test_daily_budget_across_runs(tmp_path, write_job, invoke, fake_api):
    """budget_usd_per_day counts what earlier runs of the job spent today."""
    first = _job(write_job, "j.yaml", 3, budget="budget_usd_per_day: 1.0")
    assert invoke("run", str(first), "--base-url", fake_api.url).exit_code == 0
    spent_first, _ = _spent(tmp_path / "batchbot.db")
    more = _job(write_job, "j.yaml", 40, budget="budget_usd_per_day: 1.0")
    result = invoke("run", str(more), "--base-url", fake_api.url)
    assert result.exit_code == 3
    assert "(or wait for tomorrow's, from 00:00 UTC)" in result.output
    total, _ = _spent(tmp_path / "batchbot.db")
    assert spent_first < total <= 1.0 + 1e-9


def test_reservations_are_committed_before_sending_and_gone_with_the_answers(
    tmp_path, write_job, invoke, fake_api, monkeypatch
):
    """Each request's worst case is in the database when it leaves; none is left after."""
    job = _job(write_job, "j.yaml", 5, budget="budget_usd: 100")
    seen: list[int] = []
    complete = ChatClient.complete

    async def sending(self, body):
        with sqlite3.connect(tmp_path / "batchbot.db") as conn:
            seen.append(conn.execute("select count(*) from reservations").fetchone()[0])
        return await complete(self, body)

    monkeypatch.setattr(ChatClient, "complete", sending)
    result = invoke("run", str(job), "--base-url", fake_api.url, "--concurrency", "1")
    assert result.exit_code == 0, result.output
    assert seen == [1] * 5  # another process reads it: it is committed
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        assert conn.execute("select count(*) from reservations").fetchone() == (0,)


def test_what_a_dead_run_left_reserved_counts_as_spent_today(tmp_path, write_job, invoke, fake_api):
    """Reservations a killed run left count against the day's budget at their worst case."""
    job = _job(write_job, "j.yaml", 3, budget="budget_usd_per_day: 1.0")
    store = Store.open(tmp_path / "batchbot.db")
    dead = store.start_run(job="j", job_path=str(job), mode="sync", settings={})
    store.reserve(dead, "j", "q0", "gpt-4o-mini", 0.9)
    store.close()
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 3, result.output
    assert "1 request(s) of this job were on the wire today when a run was killed" in result.output
    assert "($0.90 spent earlier)" in result.output
    assert fake_api.stats.requests == 0  # one item's worst case is more than the $0.10 left
    report = invoke("report")
    assert "In flight when a run died: 1 request(s)" in report.output
    assert "their worst case, $0.90." in report.output


def test_budget_without_bound_sends_nothing(write_job, invoke, fake_api):
    """With a budget, a job with an item whose cost cannot be bounded is refused before
    anything is sent: exit 2, no run row, and the advice is the fix the message names, not a
    bigger budget nor a rerun."""
    prompts = "".join(
        f"  - {{id: q{i}, user: Hi {i}, params: {{max_tokens: 5}}}}\n" for i in range(3)
    )
    job_text = f"model: gpt-4o-mini\nbudget_usd: 1\nprompts:\n{prompts}  - {{id: last, user: Hi}}\n"
    result = invoke("run", str(write_job("j.yaml", job_text)), "--base-url", fake_api.url)
    assert result.exit_code == 2
    assert result.output == (
        "Error: budget set but item 'last' sets no max_tokens, so its cost has no upper bound: "
        "add max_tokens (or max_completion_tokens; max_output_tokens for Responses) to the "
        "job's params.\n"
    )
    assert fake_api.stats.requests == 0
    assert not Path("batchbot.db").exists()


def test_budget_with_an_unpriced_model_stops_before_sending(write_job, invoke, fake_api):
    """A budget and a model with no price (a typo, say): exit 2 and one line, before anything."""
    text = "model: gpt-4o-mni\nparams: {max_tokens: 5}\nbudget_usd: 1\nprompts: [Hi]\n"
    result = invoke("run", str(write_job("j.yaml", text)), "--base-url", fake_api.url)
    assert result.exit_code == 2
    assert result.output == (
        "Error: budget set but no price is known for model 'gpt-4o-mni' (did you mean "
        "'gpt-4o-mini'?), so its cost cannot be capped: add prices: {gpt-4o-mni: {input: ..., "
        "output: ...}} to the job or a --prices file (for an Azure deployment, price_as: the "
        "OpenAI model it serves).\n"
    )
    assert fake_api.stats.requests == 0
    assert not Path("batchbot.db").exists()


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"run_limit": 2.0}, "$2.00 for this run"),
        ({"run_limit": 0.0008}, "$0.0008 for this run"),
        (
            {"run_limit": 5, "day_limit": 1.5, "spent_today": 0.25},
            "$5.00 for this run and $1.50 a day ($0.25 spent earlier)",
        ),
    ],
)
def test_limit_wording(limits, expected):
    """The stop line names each limit in dollars, small ones to a hundredth of a cent."""
    assert Budget(**limits).describe_limit() == expected
