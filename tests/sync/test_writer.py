"""The result writer: commits paced by COMMIT_EVERY_S, waited out on an injected sleep."""

from __future__ import annotations

import sqlite3

from batchbot.jobs.job import Item, request_hash
from batchbot.outcome import OK, Outcome, utc_now
from batchbot.store.store import Store
from batchbot.sync.writer import COMMIT_EVERY_S, ResultWriter


def answer(n: int) -> Outcome:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{n}"}]}
    now = utc_now()
    return Outcome(Item(f"q{n}", body, request_hash(body), n), OK, now, now, content="a")


async def test_a_result_right_after_a_commit_waits_for_the_next(tmp_path):
    """The first result commits at once; one arriving just after waits out the rest of the
    interval (on the injected sleep) before its own commit; both end up in the database."""
    store = Store.open(tmp_path / "batchbot.db")
    run_id = store.start_run(job="j", job_path="j.yaml", mode="sync", settings={})
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    writer = ResultWriter(store, run_id=run_id, job="j", mode="sync", sleep=sleep)
    await writer.write(answer(1))
    assert waits == []
    await writer.write(answer(2))
    await writer.close()
    store.close()
    assert len(waits) == 1
    assert 0 < waits[0] <= COMMIT_EVERY_S
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        stored = conn.execute("SELECT item_id, status FROM requests ORDER BY item_id").fetchall()
    assert stored == [("q1", "ok"), ("q2", "ok")]
