"""After a crash between uploading a file and recording its batch: the next run adopts the
batch the API did create, or reports the orphan file and sends its items once."""

from __future__ import annotations

import pytest
from batched import FIVE, Crash, crash_before_create
from stored import rows

from batchbot.store.batches import BatchRows


def test_crash_between_upload_and_create(tmp_path, write_job, run_batch, fake_api, monkeypatch):
    """An upload with no batch is reported as an orphan file and its items go out exactly once."""
    job = write_job("nightly.yaml", FIVE)
    crash_before_create(run_batch, job, monkeypatch)
    assert fake_api.files.count("batch") == 1
    assert fake_api.batches.created == 0
    (orphan,) = rows(tmp_path / "batchbot.db", "select * from batches")
    assert orphan["status"] == "uploaded"
    assert orphan["batch_id"] is None

    after = run_batch(job)
    assert after.exit_code == 0, after.output
    assert f"input file {orphan['input_file_id']} (5 requests) was uploaded but no batch" in (
        after.output
    )
    assert "submitted 5 requests in 1 batch(es)" in after.output
    assert fake_api.batches.created == 1
    assert run_batch(job).exit_code == 0  # collects, and does not report the orphan again
    assert fake_api.batches.created == 1
    stored = rows(tmp_path / "batchbot.db", "select status from requests")
    assert [r["status"] for r in stored] == ["ok"] * 5
    statuses = rows(tmp_path / "batchbot.db", "select status from batches order by id")
    assert statuses == [{"status": "orphaned"}, {"status": "completed"}]


def test_batch_created_but_not_recorded_is_adopted(
    tmp_path, write_job, run_batch, fake_api, monkeypatch
):
    """A batch the API created before a crash is found by its input file, not created twice."""
    job = write_job("nightly.yaml", FIVE)

    def crash(self, row, **kwargs):
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(BatchRows, "record_created", crash)
        with pytest.raises(Crash):
            run_batch(job)
    assert fake_api.batches.created == 1
    after = run_batch(job)
    assert after.exit_code == 0, after.output
    (batch,) = fake_api.batches.all()
    assert f"found batch {batch.id}" in after.output
    assert "5 answered" in after.output
    assert fake_api.batches.created == 1
