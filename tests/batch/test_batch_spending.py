"""Batch mode under --max-cost and --max-cost-per-day against the fake Batch API: a file is
reserved at its worst case before it is submitted, what does not fit stays unsent, and a rerun
with room resumes; the fake's own answers say what was billed."""

from __future__ import annotations

import orjson
import pytest
from batched import job_text
from stored import rows

from batchbot.batch.spending import BatchBudget
from batchbot.config import Config
from batchbot.jobs.job import load_job
from batchbot.money.budget import worst_case
from batchbot.money.pricing import Pricer
from batchbot.money.usd import usd
from batchbot.store.store import Store
from batchbot.tally import items
from batchbot.tokens.cost import cost_of
from batchbot.tokens.count import prompt_tokens

# USD per million tokens at the synchronous price; the Batch API bills half of each.
INPUT, OUTPUT = 1.0, 2.0
MAX_TOKENS = 200
FIVE = job_text(*(f"Question number {i}?" for i in range(5))) + (
    f"prices: {{gpt-4o-mini: {{input: {INPUT}, output: {OUTPUT}}}}}\n"
)


def item_worst(job) -> float:
    """One item's worst case at the Batch price, worked out here from the job's prices."""
    prompts = {prompt_tokens("gpt-4o-mini", i.body["messages"]) for i in load_job(job).items()}
    assert len(prompts) == 1  # every prompt has the same length
    return (prompts.pop() * INPUT + MAX_TOKENS * OUTPUT) / 2 / 1e6


def billed(fake_api) -> float:
    """What the fake's batches answered, at half the job's prices, by the usage it reported."""
    total = 0.0
    for batch in fake_api.batches.all():
        if batch.output_file_id:
            for line in fake_api.files.get(batch.output_file_id).data.splitlines():
                usage = orjson.loads(line)["response"]["body"]["usage"]
                spent = usage["prompt_tokens"] * INPUT + usage["completion_tokens"] * OUTPUT
                total += spent / 2 / 1e6
    return total


def reserved(db) -> list[dict[str, object]]:
    return rows(db, "select item_id, worst_usd from reservations order by item_id")


def test_run_budget_holds_back_a_file_and_a_rerun_resumes(
    tmp_path, write_job, run_batch, batch_api, invoke
):
    """Room for two worst cases: two items go in a batch, three stay unsent (exit 3); a rerun
    with a larger budget collects them and sends the rest, each item once."""
    db = tmp_path / "batchbot.db"
    job = write_job("nightly.yaml", FIVE)
    worst = item_worst(job)
    cap = round(2.5 * worst, 9)

    first = run_batch(job, "--max-cost", str(cap))
    assert first.exit_code == 3, first.output
    assert "submitted 2 requests in 1 batch(es)" in first.stdout
    assert first.stderr == (
        "batchbot: budget reached: the next request could cost more than what is left of "
        f"{usd(cap)} for this run. Spent $0.00 in this run; 3 items not sent. Raise the "
        "budget and run the same command again to resume.\n"
    )
    held = reserved(db)
    assert [r["item_id"] for r in held] == ["q0", "q1"]
    assert [r["worst_usd"] for r in held] == pytest.approx([worst, worst])
    (run,) = rows(db, "select status, exit_code from runs")
    assert (run["status"], run["exit_code"]) == ("stopped", 3)
    pending = rows(db, "select item_id from requests where status = 'pending'")
    assert [r["item_id"] for r in pending] == ["q0", "q1"]  # q2-q4 were never submitted
    # A batch in flight is no request a dead run left on the wire.
    assert "when a run died" not in invoke("report").output

    batch_api.batches.finish_now()
    second = run_batch(job, "--max-cost", str(10 * worst))
    assert second.exit_code == 0, second.output
    assert "collected 1 batch(es): 2 answered" in second.stdout
    assert "submitted 3 requests in 1 batch(es)" in second.stdout
    assert [r["item_id"] for r in reserved(db)] == ["q2", "q3", "q4"]

    batch_api.batches.finish_now()
    assert run_batch(job).exit_code == 0
    assert reserved(db) == []
    stored = rows(db, "select status from requests")
    assert [r["status"] for r in stored] == ["ok"] * 5
    sent = [[line["custom_id"] for line in b.lines] for b in batch_api.batches.all()]
    assert sent == [["q0", "q1"], ["q2", "q3", "q4"]]
    (collected,) = rows(db, "select sum(cost_usd) as usd from requests")
    assert collected["usd"] == pytest.approx(billed(batch_api))
    assert billed(batch_api) <= 12.5 * worst


def test_daily_budget_counts_batches_in_flight(tmp_path, write_job, run_batch, batch_api):
    """A second run the same day finds the first run's batch still in flight and holds it at
    its worst case; once it is collected at what it really cost, the room left goes to more
    items. What the fake billed never passes the cap."""
    db = tmp_path / "batchbot.db"
    job = write_job("nightly.yaml", FIVE)
    worst = item_worst(job)
    cap = round(2.5 * worst, 9)
    per_day = ["--max-cost-per-day", str(cap)]

    first = run_batch(job, *per_day)
    assert first.exit_code == 3, first.output
    assert "submitted 2 requests" in first.stdout
    assert "(or wait for tomorrow's, from 00:00 UTC)" in first.stderr

    second = run_batch(job, *per_day)
    assert second.exit_code == 3, second.output
    assert "submitted" not in second.stdout
    assert f"{usd(cap)} a day ({usd(2 * worst)} spent earlier)" in second.stderr
    assert "3 items not sent" in second.stderr  # the two in the open batch are not counted
    assert batch_api.batches.created == 1

    batch_api.batches.finish_now()
    third = run_batch(job, *per_day)
    assert "collected 1 batch(es): 2 answered" in third.stdout, third.output
    spent = billed(batch_api)
    assert spent < 2 * worst  # answers shorter than max_tokens leave room behind them
    room = cap - spent
    sent_now = int(room // worst)
    assert sent_now >= 1
    assert f"submitted {sent_now} requests" in third.stdout
    assert sum(r["worst_usd"] for r in reserved(db)) == pytest.approx(sent_now * worst)
    batch_api.batches.finish_now()
    run_batch(job, *per_day)
    assert billed(batch_api) <= cap


def test_wait_sends_more_as_batches_come_back_cheaper(tmp_path, write_job, run_batch, fake_api):
    """With --wait a run held back by its budget waits for its batches, then fills the room
    their answers left; what the fake billed stays within the budget."""
    db = tmp_path / "batchbot.db"
    job = write_job("nightly.yaml", FIVE)
    worst = item_worst(job)
    cap = round(2.5 * worst, 9)
    result = run_batch(job, "--max-cost", str(cap), "--wait", "--poll-interval", "0.01")
    assert fake_api.batches.created >= 2, result.output
    assert billed(fake_api) <= cap
    assert reserved(db) == []
    answered = rows(db, "select count(*) as n from requests where status = 'ok'")[0]["n"]
    (run,) = rows(db, "select cost_usd, exit_code from runs")
    assert run["cost_usd"] == pytest.approx(billed(fake_api))
    if answered < 5:  # the budget ran out before the job did
        assert run["exit_code"] == 3
        assert f"; {items(5 - answered)} not sent" in result.stderr
    else:
        assert run["exit_code"] == 0, result.output


def test_crash_before_create_frees_the_reservation(tmp_path, write_job, run_batch, fake_api):
    """A file uploaded under a budget by a run that died before creating its batch holds its
    items' worst cases until the next run finds no batch came of it and gives them back."""
    from batched import crash_before_create

    db = tmp_path / "batchbot.db"
    job = write_job("nightly.yaml", FIVE)
    worst = item_worst(job)
    cap = str(round(5.5 * worst, 9))
    with pytest.MonkeyPatch.context() as patch:
        crash_before_create(lambda j: run_batch(j, "--max-cost-per-day", cap), job, patch)
    assert len(reserved(db)) == 5
    after = run_batch(job, "--max-cost-per-day", cap)
    assert after.exit_code == 0, after.output
    assert "was uploaded but no batch was created" in after.stdout
    assert "submitted 5 requests in 1 batch(es)" in after.stdout
    assert len(reserved(db)) == 5  # the new file's, not the orphan's as well


def test_a_file_costs_half_the_sync_worst_case(tmp_path, write_job):
    """Each item is reserved at the Batch price: half the worst case a sync run reserves."""
    job = load_job(write_job("nightly.yaml", FIVE))
    pricer = Pricer(job_prices=job.settings.prices)
    store = Store.open(tmp_path / "batchbot.db")
    spending = BatchBudget(Config(max_cost_usd=1.0), store, job.name, pricer)
    for item in job.items():
        cost = cost_of(item.body)
        sync = worst_case(item.id, item.body, cost, pricer)
        assert spending.worst_case(item, cost) == pytest.approx(sync / 2)
    store.close()
