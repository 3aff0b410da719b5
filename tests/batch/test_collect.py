"""Collecting a finished batch: a collection a crash cut short writes nothing twice."""

from __future__ import annotations

import pytest
from batched import Crash, job_text
from stored import rows

from batchbot.store.batches import BatchRows


def test_collection_cut_short_writes_nothing_twice(
    tmp_path, write_job, run_batch, fake_api, monkeypatch
):
    """Results written before a crash are not written again when the batch is collected again."""
    job = write_job("nightly.yaml", job_text("Fine?", "Broken [[fake:context_length_exceeded]]?"))
    assert run_batch(job).exit_code == 0

    def crash_on_close(self, row, values):
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(BatchRows, "close", crash_on_close)
        with pytest.raises(Crash):
            run_batch(job)
    again = run_batch(job)
    assert again.exit_code == 0, again.output
    assert "collected 1 batch(es): 0 answered, 0 failed" in again.output
    stored = rows(tmp_path / "batchbot.db", "select status, attempts from requests order by id")
    # The failed item is tried again, as failed items are on every run; it was counted once.
    assert stored == [{"status": "ok", "attempts": 1}, {"status": "pending", "attempts": 1}]
    assert len(rows(tmp_path / "batchbot.db", "select * from attempts")) == 2
    assert [[line["custom_id"] for line in b.lines] for b in fake_api.batches.all()] == [
        ["q0", "q1"],
        ["q1"],
    ]
