"""What a batch-mode run and its dry run say: the queue plan, the closing lines."""

from __future__ import annotations

from batched import FIVE


def test_dry_run_in_batch_mode_shows_the_queue(write_job, invoke):
    """--dry-run --mode batch says how the job meets the model's enqueued-token limit."""
    job = write_job("nightly.yaml", FIVE)
    result = invoke("run", str(job), "--mode", "batch", "--dry-run", "--batch-queue-tokens", "10")
    assert result.exit_code == 0, result.output
    assert "mode: batch (--mode batch)" in result.output
    assert "batch: 5 requests in at least 1 input file(s)" in result.output
    assert "exceed the 10-token queue" in result.output
