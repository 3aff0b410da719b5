"""Batch mode: split rules, and submit -> poll -> collect over 127.0.0.1 with the real client."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import sqlite3
from pathlib import Path

import openai
import pytest

from batchbot import modes
from batchbot.batch import files as batch_files
from batchbot.batch.files import Splitter
from batchbot.batch.run import BatchRun
from batchbot.config import Config
from batchbot.errors import Interrupted
from batchbot.fake.errors import ApiError
from batchbot.jobs.job import Item, load_job, request_hash
from batchbot.money.usd import usd
from batchbot.pace.tokens import prompt_tokens
from batchbot.run.lock import job_lock
from batchbot.run.runner import run_job_async
from batchbot.store.store import Store


def rows(db: Path, sql: str, *params: object) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def job_text(*prompts: str, name: str = "nightly") -> str:
    lines = [f"name: {name}", "model: gpt-4o-mini", "params: {max_tokens: 200}", "prompts:"]
    lines += [f"  - {{id: q{i}, user: {json.dumps(p)}}}" for i, p in enumerate(prompts)]
    return "\n".join(lines) + "\n"


FIVE = job_text(*(f"Question number {i}?" for i in range(5)))


@pytest.fixture
def batch_api(fake_api, monkeypatch):
    """The fake API, with batches that stay in progress until the test says finish_now()."""
    monkeypatch.setattr(fake_api.batches, "delay_s", 3600.0)
    return fake_api


@pytest.fixture
def run_batch(invoke, fake_api):
    """`batchbot run JOB --mode batch` against the fake API, plus any extra arguments."""

    def run(job: Path, *args: str):
        return invoke("run", str(job), "--mode", "batch", "--base-url", fake_api.url, *args)

    return run


# -- split rules ------------------------------------------------------------------------------


def item(i: int, model: str = "gpt-4o-mini", text: str = "hi") -> Item:
    body = {"model": model, "messages": [{"role": "user", "content": f"{text} {i}"}]}
    return Item(f"q{i}", body, request_hash(body), i)


def split(items, *, tokens=10, queue=(None, 0), **limits):
    splitter = Splitter(lambda model: queue, **limits)
    files = [f for it in items for f in splitter.add(it, tokens)] + splitter.finish()
    return files, splitter


def test_openai_limits_are_the_defaults():
    """A file holds at most 50,000 requests and 200 MB, as the Batch API allows."""
    assert (batch_files.MAX_REQUESTS, batch_files.MAX_BYTES) == (50_000, 200_000_000)
    files, _ = split(item(i) for i in range(50_001))
    assert [len(f.items) for f in files] == [50_000, 1]


@pytest.mark.parametrize(
    ("limits", "sizes"),
    [
        pytest.param({"max_requests": 3}, [3, 3, 1], id="requests"),
        pytest.param(
            {"max_bytes": 2 * len(batch_files.input_line(item(0)))}, [2, 2, 2, 1], id="bytes"
        ),
        pytest.param({}, [7], id="no-limit-reached"),
    ],
)
def test_split_at_request_and_byte_limits(limits, sizes):
    """Files fill to the request or byte limit and no further; none is empty."""
    files, _ = split((item(i) for i in range(7)), **limits)
    assert [len(f.items) for f in files] == sizes
    cap = limits.get("max_bytes")
    assert all(f.size <= cap for f in files) if cap else True
    assert [i.id for f in files for i in f.items] == [f"q{i}" for i in range(7)]


@pytest.mark.parametrize(
    ("queue", "fits", "deferred", "too_big"),
    [
        pytest.param((250, 0), 2, 3, 0, id="queue-fills"),
        pytest.param((250, 100), 1, 4, 0, id="open-batches-hold-part"),
        pytest.param((50, 0), 0, 0, 5, id="bigger-than-the-queue"),
        pytest.param((None, 10**9), 5, 0, 0, id="no-queue-limit"),
    ],
)
def test_split_within_the_enqueued_token_limit(queue, fits, deferred, too_big):
    """Items beyond the model's queue room wait for a later run; oversized ones are counted."""
    files, splitter = split((item(i) for i in range(5)), tokens=100, queue=queue)
    assert sum(len(f.items) for f in files) == fits
    assert (splitter.deferred, splitter.too_big) == (deferred, too_big)


def test_split_one_model_per_file():
    """The Batch API takes one model per file, so models never share one."""
    files, _ = split([item(0), item(1, "gpt-4o"), item(2), item(3, "gpt-4o")])
    assert sorted((f.model, len(f.items)) for f in files) == [("gpt-4o", 2), ("gpt-4o-mini", 2)]
    line = json.loads(files[0].lines[0])
    assert line["method"] == "POST"
    assert line["url"] == "/v1/chat/completions"
    assert line["custom_id"] == files[0].items[0].id


# -- the fake Batch API ----------------------------------------------------------------------


def test_fake_batch_api_shapes(fake_api):
    """The fake answers like the API: input files stay private, lists page newest first."""
    client = openai.OpenAI(base_url=fake_api.url, api_key="sk-test", max_retries=0)
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions"}
    line["body"] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    uploaded = client.files.create(file=("in.jsonl", json.dumps(line).encode()), purpose="batch")
    assert (uploaded.purpose, uploaded.bytes) == ("batch", len(json.dumps(line)))
    with pytest.raises(openai.BadRequestError):
        client.files.content(uploaded.id)
    made = [
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        for _ in range(3)
    ]
    page = client.batches.list(limit=2)
    assert len(page.data) == 2
    assert page.has_more
    assert {b.id for b in client.batches.list(limit=2)} == {b.id for b in made}  # auto-paging
    done = client.batches.retrieve(made[0].id)
    assert done.status == "completed"
    assert done.request_counts.completed == 1
    (result,) = client.files.content(done.output_file_id).text.splitlines()
    assert json.loads(result)["response"]["body"]["object"] == "chat.completion"
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_missing")


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


def interrupt_while_waiting(monkeypatch) -> None:
    """The first pause of --wait is cut short as Ctrl-C would: the run stops, batches open."""

    async def ctrl_c(self, seconds):
        self.stop(Interrupted("Interrupted"))

    monkeypatch.setattr(BatchRun, "_pause", ctrl_c)


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


@pytest.fixture
def quick_fake_batches(monkeypatch):
    """--fake's simulated batches finish at once and are polled at once (not after 2 s)."""
    from batchbot import config as configs

    resolve = configs.resolve_config

    def quick(*args, **kwargs):
        config = resolve(*args, **kwargs)
        return dataclasses.replace(config, fake_batch_delay_s=0.0, poll_s=0.01)

    monkeypatch.setattr(configs, "resolve_config", quick)


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


# -- crashes ----------------------------------------------------------------------------------


class Crash(Exception):
    """Stands for the process dying at that point (kill -9, a power cut)."""


def crash_before_create(run_batch, job: Path, monkeypatch) -> None:
    """Run `job` in batch mode, dying between the upload of its file and the batch's create."""

    async def crash(self, **kwargs):
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(openai.resources.batches.AsyncBatches, "create", crash)
        with pytest.raises(Crash):
            run_batch(job)


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


def test_batch_created_but_not_recorded_is_adopted(
    tmp_path, write_job, run_batch, fake_api, monkeypatch
):
    """A batch the API created before a crash is found by its input file, not created twice."""
    job = write_job("nightly.yaml", FIVE)

    def crash(self, row, **kwargs):
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(Store, "record_batch_created", crash)
        with pytest.raises(Crash):
            run_batch(job)
    assert fake_api.batches.created == 1
    after = run_batch(job)
    assert after.exit_code == 0, after.output
    (batch,) = fake_api.batches.all()
    assert f"found batch {batch.id}" in after.output
    assert "5 answered" in after.output
    assert fake_api.batches.created == 1


def test_collection_cut_short_writes_nothing_twice(
    tmp_path, write_job, run_batch, fake_api, monkeypatch
):
    """Results written before a crash are not written again when the batch is collected again."""
    job = write_job("nightly.yaml", job_text("Fine?", "Broken [[fake:context_length_exceeded]]?"))
    assert run_batch(job).exit_code == 0
    update_batch = Store.update_batch

    def crash_on_close(self, row, values):
        if "collected_at" in values:
            raise Crash
        update_batch(self, row, values)

    with monkeypatch.context() as patch:
        patch.setattr(Store, "update_batch", crash_on_close)
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


# -- mode choice and price --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to_send", "minutes", "open_batches", "deadline", "mode"),
    [
        (5, 0.1, 0, None, "sync"),
        (100_000, 400.0, 0, None, "batch"),
        (100_000, 400.0, 0, 60.0, "sync"),
        (100_000, 20.0, 0, None, "sync"),
        (5, 0.1, 2, None, "batch"),
    ],
)
def test_auto_mode_rule(to_send, minutes, open_batches, deadline, mode):
    """auto: batch when there is something to collect, or for big slow jobs without a deadline."""
    choice = modes.choose_mode(
        "auto",
        to_send=to_send,
        sync_minutes=minutes,
        open_batches=open_batches,
        deadline_minutes=deadline,
    )
    assert choice.mode == mode
    assert choice.reason.startswith("auto:")


def test_dry_run_shows_the_mode(write_job, invoke):
    """--dry-run says which engine --mode auto picks and why."""
    job = write_job("nightly.yaml", FIVE)
    result = invoke("run", str(job), "--mode", "auto", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "mode: sync (auto: 5 items to send" in result.output


def test_dry_run_in_batch_mode_shows_the_queue(write_job, invoke):
    """--dry-run --mode batch says how the job meets the model's enqueued-token limit."""
    job = write_job("nightly.yaml", FIVE)
    result = invoke("run", str(job), "--mode", "batch", "--dry-run", "--batch-queue-tokens", "10")
    assert result.exit_code == 0, result.output
    assert "mode: batch (--mode batch)" in result.output
    assert "batch: 5 requests in at least 1 input file(s)" in result.output
    assert "exceed the 10-token queue" in result.output


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
