"""The stop switch: what a stop cancels, the grace period for requests on the wire, and why."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from batchbot.errors import DatabaseBusy, Interrupted, RunStopped
from batchbot.sync.stopping import StopSwitch, could_not_write, finish_in_flight


async def test_a_stop_cancels_the_waiting_workers_and_keeps_the_first_reason() -> None:
    """A worker waiting for its turn is cancelled at once; one on the wire is left to finish."""
    switch = StopSwitch(grace_s=30.0)
    waiting = asyncio.create_task(switch.cancellable(asyncio.sleep(60)))
    on_wire = asyncio.create_task(asyncio.sleep(0.01, result="answered"))
    await asyncio.sleep(0)
    switch.stop(Interrupted("first"))
    switch.stop(Interrupted("second"))
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await on_wire == "answered"
    assert str(switch.reason) == "first"


async def test_nothing_waits_once_the_run_stopped() -> None:
    """After a stop, a wait for the limiter or a backoff is refused before it starts."""
    switch = StopSwitch(grace_s=30.0)
    switch.stop(Interrupted("stop"))
    with pytest.raises(asyncio.CancelledError):
        await switch.cancellable(asyncio.sleep(60))


async def test_requests_on_the_wire_get_the_grace_period_then_are_cancelled() -> None:
    """Once stopped, workers still sending are waited for at most `grace_s`, then cancelled."""
    switch = StopSwitch(grace_s=0.05)
    tasks = {asyncio.create_task(asyncio.sleep(60)), asyncio.create_task(asyncio.sleep(0))}
    switch.stop(Interrupted("stop"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await finish_in_flight(tasks, switch)
    assert loop.time() - started < 5.0
    assert all(task.done() for task in tasks)
    assert sum(task.cancelled() for task in tasks) == 1


async def test_a_second_stop_drops_the_grace_period() -> None:
    """A second Ctrl-C while waiting for the grace period ends the wait at once."""
    switch = StopSwitch(grace_s=600.0)
    slow = asyncio.create_task(asyncio.sleep(600))
    tasks = {slow}
    slow.add_done_callback(tasks.discard)
    switch.stop(Interrupted("first"))
    finishing = asyncio.create_task(finish_in_flight(tasks, switch))
    await asyncio.sleep(0.01)
    assert not finishing.done()
    switch.stop(Interrupted("second"))
    await asyncio.wait_for(finishing, timeout=5.0)
    assert slow.cancelled()


async def test_without_a_stop_every_worker_is_waited_for() -> None:
    """A run not stopped waits for its last worker, however long."""
    switch = StopSwitch(grace_s=0.0)
    done: list[int] = []

    async def work(n: int) -> None:
        await asyncio.sleep(0.01 * n)
        done.append(n)

    tasks = {asyncio.create_task(work(n)) for n in range(3)}
    for task in list(tasks):
        task.add_done_callback(tasks.discard)
    await finish_in_flight(tasks, switch)
    assert sorted(done) == [0, 1, 2]


def test_a_refused_write_names_the_database_unless_it_says_why_itself() -> None:
    """An error from the database: "Could not write to <path>"; a RunStopped stays as it is."""
    stopped = could_not_write(Path("runs.db"), OSError("disk full"))
    assert type(stopped) is RunStopped
    assert str(stopped) == "Could not write to runs.db: disk full"
    busy = DatabaseBusy("runs.db", 5.0)
    assert could_not_write(Path("runs.db"), busy) is busy
