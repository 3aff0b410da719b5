"""A sync run's money: each request's worst case reserved, committed before it leaves, settled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from batchbot.endpoints import CHAT
from batchbot.errors import BudgetExhausted, BudgetUnbounded, RunStopped
from batchbot.jobs.job import Item, load_job
from batchbot.money.pricing import Pricer
from batchbot.store.store import Store
from batchbot.sync.spending import Spending
from batchbot.sync.stopping import StopSwitch
from batchbot.sync.tries import Tries
from batchbot.tokens.cost import cost_of

JOB = """\
model: gpt-4o-mini
params: {{max_tokens: {max_tokens}}}
prices: {{gpt-4o-mini: {{input: 1000, output: 5000}}}}
prompts: [What is a token]
"""


def first_item(tmp_path: Path, max_tokens: str = "40") -> tuple[Item, Pricer]:
    path = tmp_path / "job.yaml"
    path.write_text(JOB.format(max_tokens=max_tokens), encoding="utf-8")
    job = load_job(path)
    return next(iter(job.items())), Pricer(job_prices=job.settings.prices)


def spending(tmp_path: Path, pricer: Pricer, run_usd: float | None) -> Spending:
    store = Store.open(tmp_path / "a.db")
    run_id = store.start_run(job="job", job_path="job.yaml", mode="sync", settings={})
    return Spending(
        store,
        StopSwitch(grace_s=0.0),
        pricer,
        job="job",
        endpoint=CHAT,
        run_id=run_id,
        db_path=tmp_path / "a.db",
        tier=None,
        limits=(run_usd, None),
    )


async def test_a_request_is_held_at_its_worst_case_and_settled_at_its_cost(tmp_path) -> None:
    """Under a budget the worst case is reserved; settling keeps only what the answer cost."""
    item, pricer = first_item(tmp_path)
    money = spending(tmp_path, pricer, run_usd=10.0)
    cost = cost_of(item.body, CHAT)
    reservation = await money.reserve(item, item.body, cost)
    assert reservation is not None
    assert reservation.worst_usd == pytest.approx(40 * 5000 / 1e6 + cost.worst_prompt / 1e3)
    money.settle(reservation, None)
    assert money.budget.spent == 0.0
    assert money.budget.room == pytest.approx(10.0)


async def test_a_request_that_cannot_fit_stops_the_run(tmp_path) -> None:
    """A worst case above what is left: nothing is sent and the run stops, saying why."""
    item, pricer = first_item(tmp_path, max_tokens="4000")
    money = spending(tmp_path, pricer, run_usd=1.0)
    assert await money.reserve(item, item.body, cost_of(item.body, CHAT)) is None
    assert isinstance(money.switch.reason, BudgetExhausted)


async def test_a_cost_with_no_bound_stops_the_run(tmp_path) -> None:
    """A request with no price cannot be held under a budget: the run stops before it."""
    item, _ = first_item(tmp_path)
    money = spending(tmp_path, Pricer(), run_usd=1.0)
    body = {**item.body, "model": "a-model-nobody-prices"}
    assert await money.reserve(item, body, cost_of(body, CHAT)) is None
    assert isinstance(money.switch.reason, BudgetUnbounded)


async def test_the_reservation_is_committed_before_the_request_leaves(tmp_path) -> None:
    """`hold` writes the row a killed run leaves for the next to count, once per ask."""
    item, pricer = first_item(tmp_path)
    money = spending(tmp_path, pricer, run_usd=None)
    tries = Tries(item, cost_of(item.body, CHAT))
    money.hold(tries)
    assert tries.held is None  # no budget: nothing to hold
    tries.worst_usd = 0.25
    money.hold(tries)
    row = tries.held
    money.hold(tries)
    assert tries.held == row
    assert money.store.left_today("job") == (1, pytest.approx(0.25))


async def test_a_database_that_refuses_the_row_stops_the_run(tmp_path) -> None:
    """The reservation cannot be written: the item is not sent and the run stops naming the file."""
    item, pricer = first_item(tmp_path)
    money = spending(tmp_path, pricer, run_usd=None)
    money.store.close()
    tries = Tries(item, cost_of(item.body, CHAT))
    tries.worst_usd = 0.25
    with pytest.raises(asyncio.CancelledError):
        money.hold(tries)
    assert isinstance(money.switch.reason, RunStopped)
    assert str(money.switch.reason).startswith(f"Could not write to {tmp_path / 'a.db'}")
