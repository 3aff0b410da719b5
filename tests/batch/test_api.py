"""The Files and Batches endpoints under the error policy: refused, unlisted and missing APIs."""

from __future__ import annotations

import pytest
from batched import FIVE, crash_before_create, job_text
from stored import rows

from batchbot.fake.errors import ApiError


def test_refused_create_stops_and_frees_the_items(
    tmp_path, write_job, run_batch, fake_api, monkeypatch
):
    """A batch the API refuses to create stops the run (exit 3); the next run submits again."""
    job = write_job("nightly.yaml", FIVE)

    def refuse(data):
        raise ApiError(400, "Batch creation is paused for this organization.")

    with monkeypatch.context() as patch:
        patch.setattr(fake_api.batches, "create", refuse)
        refused = run_batch(job)
    assert refused.exit_code == 3, refused.output
    assert "refused to create a batch" in refused.output
    assert "Batch creation is paused" in refused.output
    (row,) = rows(tmp_path / "batchbot.db", "select status, error from batches")
    assert row["status"] == "orphaned"
    assert "paused" in row["error"]
    again = run_batch(job)
    assert again.exit_code == 0, again.output
    assert "submitted 5 requests in 1 batch(es)" in again.output
    assert "was uploaded but no batch" not in again.output
    assert fake_api.batches.created == 1


def _questions(*groups: str) -> str:
    """A job whose items are three questions of each group, ids q0, q1, ... in order."""
    return job_text(*(f"{group} question {i}?" for group in groups for i in range(3)))


@pytest.mark.parametrize("status", [404, 503])
def test_a_server_that_cannot_list_batches_degrades(
    tmp_path, write_job, run_batch, batch_api, monkeypatch, status
):
    """Listing failing: open batches are polled and collected by id, new items submitted, and
    a file whose batch cannot be looked up keeps its items until a run can check."""
    db = tmp_path / "batchbot.db"
    assert run_batch(write_job("nightly.yaml", _questions("First"))).exit_code == 0
    job = write_job("nightly.yaml", _questions("First", "Second"))
    crash_before_create(run_batch, job, monkeypatch)
    (unknown,) = rows(db, "select input_file_id from batches where batch_id is null")

    batch_api.batches.list_status = status
    batch_api.batches.finish_now()
    job = write_job("nightly.yaml", _questions("First", "Second", "Third"))
    degraded = run_batch(job)
    assert degraded.exit_code == 0, degraded.output
    assert (
        f"could not check whether a batch was created from input file {unknown['input_file_id']}"
        " (3 requests)" in degraded.output
    )
    assert "collected 1 batch(es): 3 answered" in degraded.output
    assert "submitted 3 requests in 1 batch(es)" in degraded.output  # the third group
    held = rows(
        db, "select item_id from requests where batch_input_file_id = ?", unknown["input_file_id"]
    )
    assert [r["item_id"] for r in held] == ["q3", "q4", "q5"]  # not sent again

    batch_api.batches.list_status = None
    batch_api.batches.finish_now()
    assert "was uploaded but no batch" in run_batch(job).output  # checked: none was made
    batch_api.batches.finish_now()
    assert run_batch(job).exit_code == 0
    answered = rows(db, "select count(*) as n from requests where status = 'ok'")
    assert answered == [{"n": 9}]
    assert batch_api.batches.created == 3  # first, third and the second again: none twice


def test_a_failed_create_that_cannot_be_looked_up_is_not_repeated(
    tmp_path, write_job, run_batch, batch_api, monkeypatch
):
    """A create that failed while listing fails too: not created again, its items held."""
    batch_api.batches.list_status = 404
    create = batch_api.batches.create
    tries: list[int] = []

    def fail_once(data):
        tries.append(1)
        if len(tries) == 1:
            raise ApiError(500, "The server had an error while processing your request.")
        return create(data)

    monkeypatch.setattr(batch_api.batches, "create", fail_once)
    job = write_job("nightly.yaml", FIVE)
    result = run_batch(job)
    assert result.exit_code == 0, result.output
    assert "listing batches cannot tell whether it was made anyway" in result.output
    assert len(tries) == 1
    (row,) = rows(tmp_path / "batchbot.db", "select status, batch_id from batches")
    assert row == {"status": "uploaded", "batch_id": None}


def test_server_without_batch_api(write_job, invoke, fake_api):
    """A server with no Files API gets a message that says so, and exit 2: the settings must
    change (--mode sync, or another base URL)."""
    job = write_job("nightly.yaml", FIVE)
    result = invoke("run", str(job), "--mode", "batch", "--base-url", fake_api.url + "/nope")
    assert result.exit_code == 2, result.output
    assert "offers the Files and Batch APIs" in result.output
