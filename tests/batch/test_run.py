"""BatchRun: submit -> poll -> collect over 127.0.0.1 with the real client, and batch and sync
runs of one job (crashes between the steps: test_reconcile.py, test_collect.py)."""

from __future__ import annotations

import os
import signal
import sqlite3

import pytest
from batched import FIVE
from stored import rows

from batchbot import modes
from batchbot.batch.run import BatchRun
from batchbot.config import Config
from batchbot.jobs.job import load_job
from batchbot.money.usd import usd
from batchbot.run.runner import run_job_async
from batchbot.tokens.count import prompt_tokens

# -- submit, poll, collect --------------------------------------------------------------------


def test_submit_poll_collect(tmp_path, write_job, run_batch, batch_api):
    """Run 1 submits and exits 0, run 2 reports it running, run 3 collects, run 4 has nothing."""
    db = tmp_path / "batchbot.db"
    job = write_job("nightly.yaml", FIVE)
    first = run_batch(job)
    assert first.exit_code == 0, first.output
    assert "submitted 5 requests in 1 batch(es)" in first.output
    assert "Run the same command again" in first.output
    (batch,) = rows(db, "select * from batches")
    assert batch["batch_id"].startswith("batch_")
    assert (batch["status"], batch["requests"], batch["model"]) == ("in_progress", 5, "gpt-4o-mini")
    stored = rows(db, "select * from requests")
    assert {(r["status"], r["mode"], r["batch_id"]) for r in stored} == {
        ("pending", "batch", batch["batch_id"])
    }

    second = run_batch(job)
    assert second.exit_code == 0
    assert "1 batch(es) with 5 requests in progress" in second.output
    assert f"{batch['batch_id']}: in_progress, 0/5 done" in second.output
    assert batch_api.batches.created == 1

    batch_api.batches.finish_now()
    third = run_batch(job)
    assert third.exit_code == 0, third.output
    assert "collected 1 batch(es): 5 answered, 0 failed" in third.output
    for row in rows(db, "select * from requests"):
        assert (row["status"], row["mode"], row["batch_id"]) == ("ok", "batch", batch["batch_id"])
        assert row["content"]
        assert row["finish_reason"] == "stop"
        assert row["prompt_tokens"] > 0
        assert row["completion_tokens"] > 0
        assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"]
        assert row["attempts"] == 1
    (done,) = rows(db, "select * from batches")
    assert done["status"] == "completed"
    assert done["collected_at"]
    # The run that collected says what the answers cost, as its row and the requests do.
    (cost,) = rows(db, "select sum(cost_usd) as usd from requests")
    (collecting,) = rows(db, "select cost_usd from runs where id = 3")
    assert cost["usd"] > 0
    assert collecting["cost_usd"] == pytest.approx(cost["usd"])
    assert f"tokens · {usd(cost['usd'])}\n" in third.output

    fourth = run_batch(job)
    assert "nothing to send, all 5 items already answered" in fourth.output
    assert batch_api.batches.created == 1
    runs = rows(db, "select mode, status from runs")
    assert runs == [{"mode": "batch", "status": s} for s in ("waiting", "waiting", "done", "done")]


def test_wait_polls_until_collected(tmp_path, write_job, run_batch, fake_api, monkeypatch):
    """--wait submits, reports progress and collects in one invocation."""
    monkeypatch.setattr(fake_api.batches, "delay_s", 0.3)
    job = write_job("nightly.yaml", FIVE)
    result = run_batch(job, "--wait", "--poll-interval", "0.1")
    assert result.exit_code == 0, result.output
    assert "waiting for 1 batch(es)" in result.output
    assert "collected 1 batch(es): 5 answered" in result.output
    assert {r["status"] for r in rows(tmp_path / "batchbot.db", "select * from requests")} == {"ok"}


async def test_wait_backs_off_between_polls(tmp_path, write_job, batch_api):
    """--wait first polls after 30 s, then 1.5 times later each time up to 300 s; the waits
    go to the injected sleep, so hours of polling take no time."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 8:
            batch_api.batches.finish_now()

    job = load_job(write_job("nightly.yaml", FIVE))
    config = Config(
        db_path=tmp_path / "batchbot.db",
        api_key="sk-test",
        base_url=batch_api.url,
        mode=modes.BATCH,
        wait=True,
    )
    summary = await run_job_async(job, config, sleep=sleep, handle_signals=False)
    assert (summary.collected_batches, summary.answered, summary.status) == (1, 5, "done")
    assert waits == pytest.approx([30, 45, 67.5, 101.25, 151.875, 227.8125, 300, 300])


def test_fake_flag_waits_for_its_own_batches(tmp_path, write_job, invoke):
    """With --fake the simulated Batch API ends with the command, so the run waits for it."""
    job = write_job("nightly.yaml", FIVE)
    result = invoke("run", str(job), "--fake", "--mode", "batch", key=None)
    assert result.exit_code == 0, result.output
    assert "collected 1 batch(es): 5 answered" in result.output
    stored = rows(tmp_path / "batchbot.db", "select status, mode from requests")
    assert stored == [{"status": "ok", "mode": "batch"}] * 5


def test_queue_limit_defers_then_wait_sends_the_rest(tmp_path, write_job, run_batch, fake_api):
    """A queue that holds two items gets the job through in batches of two with --wait."""
    job = write_job("nightly.yaml", FIVE)
    per_item = {prompt_tokens("gpt-4o-mini", i.body["messages"]) for i in load_job(job).items()}
    assert len(per_item) == 1  # every prompt has the same length
    room = str(2 * per_item.pop() + 1)
    result = run_batch(job, "--batch-queue-tokens", room, "--wait", "--poll-interval", "0.01")
    assert result.exit_code == 0, result.output
    assert "wait for room in the batch queue" in result.output
    assert [len(b.lines) for b in fake_api.batches.all()] == [2, 2, 1]
    stored = rows(tmp_path / "batchbot.db", "select status from requests")
    assert [r["status"] for r in stored] == ["ok"] * 5


def test_expired_batch_resubmits_only_unfinished_items(tmp_path, write_job, run_batch, fake_api):
    """An expired batch's answers are kept and only its unanswered items go out again."""
    db = tmp_path / "batchbot.db"
    job = write_job("nightly.yaml", FIVE)
    fake_api.batches.expire_next(completed=2)
    assert run_batch(job).exit_code == 0
    collect = run_batch(job)
    assert collect.exit_code == 0, collect.output
    assert "2 answered, 0 failed, 3 back to pending" in collect.output
    assert rows(db, "select status from batches") == [{"status": "expired"}]
    resubmit = run_batch(job)
    assert "submitted 3 requests in 1 batch(es)" in resubmit.output
    second = fake_api.batches.all()[1]
    assert [line["custom_id"] for line in second.lines] == ["q2", "q3", "q4"]
    assert run_batch(job).exit_code == 0
    stored = rows(db, "select item_id, status, batch_id from requests order by item_id")
    assert [r["status"] for r in stored] == ["ok"] * 5
    assert [r["batch_id"] == second.id for r in stored] == [False, False, True, True, True]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_says_fake_batches_end_with_the_run(
    tmp_path, write_job, invoke, monkeypatch, quick_fake_batches, sig
):
    """Ctrl-C or SIGTERM on a --fake batch run says its batches end with it and what the next
    run does, not that they keep running at OpenAI or are collected later."""
    pause = BatchRun._pause

    async def signalled(self, seconds):
        os.kill(os.getpid(), sig)  # the run's own handler takes it, as from the terminal
        await pause(self, seconds)

    job = write_job("nightly.yaml", FIVE)
    with monkeypatch.context() as patch:
        patch.setattr(BatchRun, "_pause", signalled)
        result = invoke("run", str(job), "--fake", "--mode", "batch", key=None)
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines() == [
        "batchbot: Interrupted: what was collected is saved; the simulated API's batches end with "
        "this run: run the same command again to send what they held (or close them with "
        "`batchbot cancel --fake`)."
    ]
    out = result.stdout.splitlines()
    assert out[-3:-1] == [
        "nightly: 1 batch(es) with 5 request(s) were still open on the simulated API, which ends "
        "with this run: the next run closes them and sends those requests again",
        "nightly: submitted 5 requests in 1 batch(es) (Batch API, half price, results within 24 h)",
    ]
    assert "OpenAI" not in result.output
    assert "collect them" not in result.output
    (run,) = rows(tmp_path / "batchbot.db", "select status, exit_code from runs")
    assert (run["status"], run["exit_code"]) == ("interrupted", 3)
    rerun = invoke("run", str(job), "--fake", "--mode", "batch", key=None)
    assert rerun.exit_code == 0, rerun.output
    assert "collected 1 batch(es): 5 answered" in rerun.output


# -- sync and batch together ------------------------------------------------------------------


def test_sync_and_batch_runs_leave_one_answer_per_item(
    tmp_path, write_job, run_batch, fake_api, invoke, monkeypatch
):
    """Half a job answered in batch, the rest synchronously: one answered row per item."""
    db = tmp_path / "batchbot.db"
    job = write_job("nightly.yaml", FIVE)
    fake_api.batches.expire_next(completed=2)
    monkeypatch.setattr(fake_api.batches, "delay_s", 3600.0)
    assert run_batch(job).exit_code == 0
    refused = invoke("run", str(job), "--base-url", fake_api.url)
    assert refused.exit_code == 2
    assert "not collected yet" in refused.output
    fake_api.batches.finish_now()
    assert run_batch(job).exit_code == 0  # collects 2 answers, 3 back to pending
    sync = invoke("run", str(job), "--base-url", fake_api.url)
    assert sync.exit_code == 0, sync.output
    assert "3 answered, 0 failed, 2 already answered" in sync.output
    assert "nothing to send" in run_batch(job).output
    stored = rows(db, "select item_id, status, mode from requests order by item_id")
    assert [(r["status"], r["mode"]) for r in stored] == [("ok", "batch")] * 2 + [
        ("ok", "sync")
    ] * 3
    assert len({r["item_id"] for r in stored}) == 5


def test_batch_rows_cost_half_the_sync_price(tmp_path, write_job, invoke, run_batch, batch_api):
    """The same five answers cost exactly half through the Batch API."""
    job = write_job("nightly.yaml", FIVE)
    assert invoke("run", str(job), "--base-url", batch_api.url, "--db", "sync.db").exit_code == 0
    assert run_batch(job, "--db", "batch.db").exit_code == 0
    batch_api.batches.finish_now()
    assert run_batch(job, "--db", "batch.db").exit_code == 0

    def costs(db: str) -> dict[str, float]:
        with sqlite3.connect(tmp_path / db) as conn:
            sql = "select item_id, cost_usd from requests where status = 'ok'"
            return dict(conn.execute(sql).fetchall())

    sync, batch = costs("sync.db"), costs("batch.db")
    assert sync.keys() == batch.keys()
    assert len(sync) == 5
    for item_id, cost in sync.items():
        assert cost > 0
        assert batch[item_id] == pytest.approx(cost / 2)
