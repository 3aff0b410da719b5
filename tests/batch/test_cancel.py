"""`batchbot cancel`, and the batches an interrupted `--fake` run left, closed by `cancel --fake`
or by the next run."""

from __future__ import annotations

import re

import pytest
from batched import FIVE, interrupt_while_waiting, job_text
from stored import rows

from batchbot.run.lock import job_lock


def test_cancel_then_collect_returns_items_to_pending(
    tmp_path, write_job, run_batch, batch_api, invoke
):
    """`batchbot cancel` cancels the running batch; the next run collects it and frees its items."""
    job = write_job("nightly.yaml", FIVE)
    assert run_batch(job).exit_code == 0
    listed = invoke("batches")
    assert listed.exit_code == 0
    (batch,) = batch_api.batches.all()
    assert batch.id in listed.output
    assert "in_progress" in listed.output
    cancelled = invoke("cancel", str(job), "--base-url", batch_api.url)
    assert cancelled.exit_code == 0, cancelled.output
    assert f"{batch.id}: cancelling" in cancelled.output
    collect = run_batch(job)
    assert "0 answered, 0 failed, 5 back to pending" in collect.output
    (line,) = [line for line in invoke("batches").output.splitlines() if batch.id in line]
    assert "cancelled, 5 back to pending" in line
    assert line.split("pending")[1].split()[:3] == ["5", "0", "0"]  # requests, done, failed
    again = run_batch(job)
    assert "submitted 5 requests in 1 batch(es)" in again.output


def test_cancel_fake_closes_what_an_interrupted_fake_run_left(
    tmp_path, write_job, invoke, monkeypatch
):
    """The simulated API's batches end with their run: `cancel --fake` marks them cancelled
    here, not asking a new fake server about them; the items are pending and sent next run."""
    job = write_job("nightly.yaml", FIVE)
    db = tmp_path / "batchbot.db"
    with monkeypatch.context() as patch:
        interrupt_while_waiting(patch)
        interrupted = invoke("run", str(job), "--fake", "--mode", "batch", key=None)
    assert interrupted.exit_code == 3, interrupted.output
    (row,) = rows(db, "select batch_id, status, collected_at from batches")
    assert (row["status"], row["collected_at"]) == ("in_progress", None)
    with job_lock(db, "nightly"):  # a --fake run of the job still going owns its batches
        assert invoke("cancel", str(job), "--fake", key=None).exit_code == 4

    cancelled = invoke("cancel", str(job), "--fake", key=None)
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.output.splitlines() == [
        f"{row['batch_id']}: cancelled; it ran on the simulated API of --fake run 1, which "
        "ended with that run",
        "nightly: 1 batch(es) of --fake runs marked cancelled here (the simulated API's batches "
        "end with its run); their 5 request(s) are pending again, and the next run sends them.",
    ]
    (closed,) = rows(db, "select status, collected_at, error from batches")
    assert closed["status"] == "cancelled"
    assert closed["collected_at"]
    assert "--fake run" in closed["error"]
    assert {r["status"] for r in rows(db, "select status from requests")} == {"pending"}
    again = invoke("cancel", str(job), "--fake", key=None)
    assert again.output == "nightly: no batch in progress to cancel.\n"

    sync = invoke("run", str(job), "--fake", key=None)
    assert sync.exit_code == 0, sync.output
    assert "5 answered, 0 failed" in sync.output
    assert {r["status"] for r in rows(db, "select status from requests")} == {"ok"}


@pytest.mark.parametrize(
    ("mode", "sent_as", "real"),
    [
        ("batch", "batch", False),
        ("batch", "batch", True),
        ("sync", "sync", False),
        ("auto", "sync", False),
        ("sync", "sync", True),
        ("auto", "sync", True),
    ],
)
def test_a_rerun_closes_what_an_interrupted_fake_run_left(
    tmp_path, write_job, invoke, monkeypatch, quick_fake_batches, fake_api, mode, sent_as, real
):
    """A rerun, --fake or at a real API, closes the batches an interrupted --fake run left, as
    `cancel --fake` does (no 404 from a server that never knew them), says so in one line,
    then sends their items; `--mode auto` no longer counts them as batches to collect."""
    job = write_job("nightly.yaml", FIVE)
    db = tmp_path / "batchbot.db"
    with monkeypatch.context() as patch:
        interrupt_while_waiting(patch)
        assert invoke("run", str(job), "--fake", "--mode", "batch", key=None).exit_code == 3

    api = ["--base-url", fake_api.url, "--wait"] if real else ["--fake"]
    rerun = invoke("run", str(job), *api, "--mode", mode, key="sk-test" if real else None)
    assert rerun.exit_code == 0, rerun.output
    assert not re.search(r"\b404\b", rerun.output)  # a 404, not those digits inside an id
    assert [line for line in rerun.stderr.splitlines() if "--fake runs" in line] == [
        "batchbot: nightly: 1 batch(es) of --fake runs marked cancelled here (the simulated API's "
        "batches end with its run); their 5 request(s) are pending again, and this run sends them."
    ]
    closed = rows(db, "select status, collected_at, error from batches order by id")[0]
    assert closed["status"] == "cancelled"
    assert closed["collected_at"]
    assert closed["error"].endswith("closed by a later run of the job")
    (run,) = rows(db, "select mode, status from runs where id = 2")
    assert (run["mode"], run["status"]) == (sent_as, "done")
    answers = rows(db, "select count(*) as n from answers")
    assert answers == [{"n": 5}]
    assert (
        "--fake runs" not in invoke("run", str(job), *api, key="sk-test" if real else None).output
    )


def test_cancel_with_and_without_fake_leave_the_other_kind_alone(
    tmp_path, write_job, invoke, run_batch, batch_api, monkeypatch
):
    """`cancel --fake` never touches a batch at a real API; `cancel` never asks one about a
    batch of a --fake run (and says which command closes it)."""
    real_job = write_job("nightly.yaml", FIVE)
    assert run_batch(real_job).exit_code == 0
    (real,) = batch_api.batches.all()
    kept = invoke("cancel", str(real_job), "--fake", key=None)
    assert kept.exit_code == 0, kept.output
    assert f"{real.id}: in_progress, left alone: it went to a real API" in kept.output
    assert "no batch in progress" not in kept.output
    assert batch_api.batches.all()[0].status == "in_progress"

    fake_job = write_job("other.yaml", job_text("Hello?", name="other"))
    with monkeypatch.context() as patch:
        interrupt_while_waiting(patch)
        assert invoke("run", str(fake_job), "--fake", "--mode", "batch").exit_code == 3
    asked = invoke("cancel", str(fake_job), "--base-url", batch_api.url)
    assert asked.exit_code == 0, asked.output
    assert "left alone: it ran on the simulated API of --fake run 2" in asked.output
    assert "`batchbot cancel --fake` closes it" in asked.output
    assert len(batch_api.batches.all()) == 1
    (row,) = rows(tmp_path / "batchbot.db", "select status from batches where job = 'other'")
    assert row["status"] == "in_progress"
