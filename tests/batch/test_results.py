"""Each line of a batch's error file becomes a row as the one error policy says."""

from __future__ import annotations

import pytest
from batched import FIVE, job_text
from stored import rows


@pytest.mark.parametrize(
    ("marker", "status", "error_code", "exit_code"),
    [
        pytest.param("[[fake:context_length_exceeded]]", "failed", "context_length_exceeded", 1),
        pytest.param("[[fake:500]]", "pending", None, 0, id="transient-retried-next-run"),
        pytest.param("[[fake:401]]", "pending", "invalid_api_key", 2, id="run-fatal"),
    ],
)
def test_error_file_lines_follow_the_policy(
    tmp_path, write_job, run_batch, fake_api, marker, status, error_code, exit_code
):
    """Each error-file line becomes a row as the error policy says; the others are answered."""
    job = write_job("nightly.yaml", job_text("Fine?", f"Broken {marker}?", "Also fine?"))
    assert run_batch(job).exit_code == 0
    result = run_batch(job)
    assert result.exit_code == exit_code, result.output
    stored = {r["item_id"]: r for r in rows(tmp_path / "batchbot.db", "select * from requests")}
    assert stored["q0"]["status"] == stored["q2"]["status"] == "ok"
    broken = stored["q1"]
    assert (broken["status"], broken["mode"], broken["attempts"]) == (status, "batch", 1)
    assert broken["error"]
    if error_code:
        assert broken["error_code"] == error_code
    if exit_code == 2:
        assert "rejected the key" in result.output


def test_a_misspelt_model_is_refused_in_batches_too(tmp_path, write_job, run_batch, fake_api):
    """The simulated Batch API refuses a model the API does not have, as chat requests are."""
    job = write_job("nightly.yaml", FIVE.replace("gpt-4o-mini", "gpt-4o-mni"))
    assert run_batch(job).exit_code == 0  # submitted
    result = run_batch(job)
    assert result.exit_code == 2, result.output
    assert "The model 'gpt-4o-mni' does not exist" in result.output
    stored = rows(tmp_path / "batchbot.db", "select status, error_code from requests")
    assert {(r["status"], r["error_code"]) for r in stored} == {("pending", "model_not_found")}


def test_transient_line_fails_after_max_attempts(tmp_path, write_job, run_batch, fake_api):
    """A line failing with 5xx is resubmitted until --max-attempts, then it is failed."""
    job = write_job("nightly.yaml", job_text("Broken [[fake:503]]?"))
    assert run_batch(job, "--max-attempts", "2").exit_code == 0  # submitted
    assert run_batch(job, "--max-attempts", "2").exit_code == 0  # collected: pending, attempt 1
    assert run_batch(job, "--max-attempts", "2").exit_code == 0  # submitted again
    assert run_batch(job, "--max-attempts", "2").exit_code == 1  # collected: attempt 2, failed
    (row,) = rows(tmp_path / "batchbot.db", "select * from requests")
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert row["error_code"] == "InternalServerError"
    assert row["error"].startswith("503: ")
    assert fake_api.batches.created == 2
