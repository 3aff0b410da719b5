"""The Batch API's rows: a file's items pending in it and, under a budget, reserved until the
file is closed; closing releases that file's reservations and no others."""

from __future__ import annotations

import pytest
from stored import rows

from batchbot.jobs.job import Item
from batchbot.outcome import utc_now
from batchbot.store.store import Store


def items(*ids: str) -> list[Item]:
    return [Item(i, {"model": "gpt-4o-mini", "messages": []}, f"hash-{i}", 0) for i in ids]


def upload(store: Store, run_id: int, file_id: str, ids: tuple[str, ...], worst: float) -> int:
    """A file of `ids` uploaded by run `run_id`, each item reserved at `worst` USD."""
    row = store.batches.start_file(job="j", run_id=run_id, model="gpt-4o-mini", requests=len(ids))
    store.batches.record_upload(
        row,
        input_file_id=file_id,
        job="j",
        run_id=run_id,
        items=items(*ids),
        worst_usd=[worst] * len(ids),
    )
    return row


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path / "batchbot.db")
    yield store
    store.close()


def start_run(store: Store) -> int:
    return store.start_run(job="j", job_path="j.yaml", mode="batch", settings={})


def test_a_closed_file_releases_only_its_own_reservations(store, tmp_path):
    """Two files of one run and a sync run's reservation of the same item: closing the first
    file returns its worst cases by day and leaves the others held."""
    first_run, second_run = start_run(store), start_run(store)
    first = upload(store, first_run, "file-a", ("q0", "q1"), 0.25)
    upload(store, first_run, "file-b", ("q2",), 0.5)
    store.reserve(second_run, "j", "q0", "gpt-4o-mini", 0.125)
    assert store.left_today("j") == (4, pytest.approx(1.125))

    released = store.batches.close(first, {"status": "completed", "collected_at": utc_now()})
    assert released == {utc_now()[:10]: pytest.approx(0.5)}
    left = rows(tmp_path / "batchbot.db", "select run_id, item_id from reservations order by id")
    assert left == [
        {"run_id": first_run, "item_id": "q2"},
        {"run_id": second_run, "item_id": "q0"},
    ]
    assert store.spent_today("j") == pytest.approx(0.625)
    assert store.batches.open("j")[0]["input_file_id"] == "file-b"


def test_a_file_uploaded_without_a_budget_reserves_nothing(store, tmp_path):
    """No worst cases given: the items are pending in the file, and nothing is reserved."""
    run_id = start_run(store)
    row = store.batches.start_file(job="j", run_id=run_id, model="gpt-4o-mini")
    store.batches.record_upload(
        row, input_file_id="file-a", job="j", run_id=run_id, items=items("q0", "q1")
    )
    assert store.left_today("j") == (0, 0.0)
    pending = rows(tmp_path / "batchbot.db", "select item_id, status from requests")
    assert pending == [
        {"item_id": "q0", "status": "pending"},
        {"item_id": "q1", "status": "pending"},
    ]
    assert store.batches.close(row, {"collected_at": utc_now()}) == {}


def test_closing_a_file_never_uploaded_releases_nothing(store):
    """A row whose upload never finished has no items, so nothing of the run is released."""
    run_id = start_run(store)
    store.reserve(run_id, "j", "q0", "gpt-4o-mini", 0.5)
    row = store.batches.start_file(job="j", run_id=run_id, model="gpt-4o-mini")
    assert store.batches.close(row, {"status": "orphaned", "collected_at": utc_now()}) == {}
    assert store.left_today("j") == (1, 0.5)
