"""One rule for exit codes, run through the CLI for every error batchbot raises.

0 every item answered; 1 some failed (or an unexpected error); 2 the job or its settings must
change, and the output never advises running the same command again to resume; 3 the run
stopped early and running the same command again resumes it; 4 another run of the job is
going. The table in docs/troubleshooting.md lists the same classes.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import socket
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import after_checking

from batchbot import errors
from batchbot.jobs import job as jobs
from batchbot.run.lock import job_lock

MODEL = "gpt-4o-mini"
FAQ = "name: faq\nmodel: gpt-4o-mini\nparams: {max_tokens: 20}\nprompts: [one, two, three]\n"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def faq(write_job, *prompts: str) -> Path:
    lines = "".join(f"  - {{id: q{n}, user: '{p}'}}\n" for n, p in enumerate(prompts or "abc"))
    return write_job(
        "faq.yaml", f"name: faq\nmodel: {MODEL}\nparams: {{max_tokens: 20}}\nprompts:\n{lines}"
    )


def lines_job(write_job, count: int = 4, **fields) -> Path:
    text = "".join(
        json.dumps(
            {
                "id": f"q{n}",
                "model": MODEL,
                "messages": [{"role": "user", "content": f"Q{n}"}],
                "max_tokens": 20,
                **fields,
            }
        )
        + "\n"
        for n in range(count)
    )
    return write_job("job.jsonl", text)


class Case:
    """One error through the CLI: how to cause it, the exit code, the class, a phrase."""

    def __init__(self, error: type[BaseException] | None, code: int, words: str) -> None:
        self.error, self.code, self.words = error, code, words


def broken_yaml(t):
    return t.invoke("run", str(t.write_job("j.yaml", "model: m\nprompts: [a\n")))


def no_key(t):
    return t.invoke("run", str(faq(t.write_job)), key=None)


def bad_setting(t):
    return t.invoke("run", str(faq(t.write_job)), "--base-url", "ftp://example.com/v1")


def unknown_model(t):
    job = t.write_job("j.yaml", "model: gpt-4o-mni\nparams: {max_tokens: 5}\nprompts: [a]\n")
    return t.invoke("run", str(job), "--fake")


def export_after_an_edit(t):
    job = faq(t.write_job)
    assert t.invoke("run", str(job), "--base-url", t.api.url).exit_code == 0
    job.write_text(job.read_text().replace("max_tokens: 20", "max_tokens: 30"))
    return t.invoke("export", "faq")


def marker(fault: str) -> Callable[[Setup], Result]:
    def run(t):
        job = faq(t.write_job, "fine", f"breaks [[fake:{fault}]]", "fine too")
        return t.invoke("run", str(job), "--base-url", t.api.url, "--concurrency", "1")

    return run


def wrong_base_url(t):
    return t.invoke("run", str(faq(t.write_job)), "--base-url", t.api.url + "/nope")


def changed_on_the_way(line: str) -> Callable[[Setup], Result]:
    """Line 3 of a JSONL job is rewritten once every line was checked."""

    def run(t):
        job = lines_job(t.write_job)

        def rewrite() -> None:
            text = job.read_text().splitlines(keepends=True)
            job.write_text("".join([*text[:2], line + "\n", *text[3:]]))

        after_checking(t.monkeypatch, rewrite)
        return t.invoke(
            "run", str(job), "--base-url", t.api.url, "--concurrency", "1", "--max-cost", "1"
        )

    return run


def a_bug_while_reading(t):
    job = lines_job(t.write_job)
    read = jobs.Job.items

    def items(self):
        yield from list(read(self))[:2]
        raise RuntimeError("read wrong")

    after_checking(t.monkeypatch, lambda: t.monkeypatch.setattr(jobs.Job, "items", items))
    return t.invoke("run", str(job), "--base-url", t.api.url)


def budget(flag: str) -> Callable[[Setup], Result]:
    def run(t):
        return t.invoke("run", str(faq(t.write_job)), "--base-url", t.api.url, flag, "0.000001")

    return run


def nobody_listening(t):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    return t.invoke("run", str(faq(t.write_job)), "--base-url", url, "--outage-wait", "0.5")


def no_batch_api_reachable(t):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    return t.invoke(
        "run", str(faq(t.write_job)), "--base-url", url, "--mode", "batch", "--max-attempts", "1"
    )


def database_held(t):
    t.monkeypatch.setattr("batchbot.store.store.BUSY_TIMEOUT_MS", 200)
    job = faq(t.write_job)
    assert t.invoke("run", str(job), "--base-url", t.api.url).exit_code == 0
    holder = sqlite3.connect(t.tmp_path / "batchbot.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        return t.invoke("run", str(job), "--base-url", t.api.url)
    finally:
        holder.rollback()
        holder.close()


def worker_dies(t):
    from batchbot.sync import worker

    real = worker.priced

    def priced(outcome, pricer, **kwargs):
        if outcome.item.id == "q1":
            raise RuntimeError("priced wrong")
        return real(outcome, pricer, **kwargs)

    t.monkeypatch.setattr(worker, "priced", priced)
    return t.invoke("run", str(faq(t.write_job)), "--base-url", t.api.url, "--concurrency", "1")


def ctrl_c(t):
    """SIGINT once the first answer is in, as a user's Ctrl-C."""
    t.api.latency_ms = 100

    def press() -> None:
        while t.api.stats.answered < 1:
            threading.Event().wait(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press)
    presser.start()
    try:
        job = faq(t.write_job, *"abcdefgh")
        return t.invoke("run", str(job), "--base-url", t.api.url, "--concurrency", "1")
    finally:
        presser.join()
        t.api.latency_ms = 0


def locked(t):
    job = faq(t.write_job)
    with job_lock(t.tmp_path / "batchbot.db", "faq"):
        return t.invoke("run", str(job), "--base-url", t.api.url)


def unexpected(t):
    t.monkeypatch.delenv("BATCHBOT_RAISE_ERRORS")
    t.monkeypatch.setattr("batchbot.run.runner.close_crashed", _bug)
    return t.invoke("run", str(faq(t.write_job)), "--base-url", t.api.url)


def _bug(*args, **kwargs):
    raise RuntimeError("a bug")


def all_answered(t):
    return t.invoke("run", str(faq(t.write_job)), "--base-url", t.api.url)


CASES = {
    # 2: the job or its settings must change
    "JobFileError": (broken_yaml, Case(errors.JobFileError, 2, "invalid YAML")),
    "MissingKeyError": (no_key, Case(errors.MissingKeyError, 2, "No OpenAI API key")),
    "ConfigError": (bad_setting, Case(errors.ConfigError, 2, "is not an http(s) URL")),
    "ConfigError, unknown model": (unknown_model, Case(errors.ConfigError, 2, "has no model")),
    "JobChanged": (export_after_an_edit, Case(errors.JobChanged, 2, "has changed since")),
    "AuthError": (marker("401"), Case(errors.AuthError, 2, "rejected the key")),
    "ModelNotFound": (marker("model_not_found"), Case(errors.ModelNotFound, 2, "does not exist")),
    "EndpointNotFound": (wrong_base_url, Case(errors.EndpointNotFound, 2, "check --base-url")),
    "BudgetUnbounded": (
        changed_on_the_way(
            '{"id": "q2", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Q2"}]}'
        ),
        Case(errors.BudgetUnbounded, 2, "sets no max_tokens"),
    ),
    "JobFileChanged": (
        changed_on_the_way('{"id": "q2", "model":'),
        Case(errors.JobFileChanged, 2, "found during the run"),
    ),
    # 3: the run stopped early; the same command resumes it
    "QuotaExhausted": (
        marker("insufficient_quota"),
        Case(errors.QuotaExhausted, 3, "out of credit"),
    ),
    "BudgetExhausted": (budget("--max-cost"), Case(errors.BudgetExhausted, 3, "budget reached")),
    "DailyBudgetExhausted": (
        budget("--max-cost-per-day"),
        Case(errors.DailyBudgetExhausted, 3, "tomorrow's"),
    ),
    "ServerUnreachable": (
        nobody_listening,
        Case(errors.ServerUnreachable, 3, "Could not connect to the API"),
    ),
    "DatabaseBusy": (database_held, Case(errors.DatabaseBusy, 3, "stayed locked")),
    "WorkerDied": (worker_dies, Case(errors.WorkerDied, 3, "died of an unexpected error")),
    "FeedFailed": (a_bug_while_reading, Case(errors.FeedFailed, 3, "reading the job's items")),
    "Interrupted": (ctrl_c, Case(errors.Interrupted, 3, "Interrupted")),
    "RunStopped": (
        no_batch_api_reachable,
        Case(errors.RunStopped, 3, "Could not reach the API to upload"),
    ),
    # 4: another run of the job is going
    "JobLocked": (locked, Case(errors.JobLocked, 4, "another batchbot run of job 'faq'")),
    # 1 and 0
    "items failed": (marker("context_length_exceeded"), Case(None, 1, "1 failed")),
    "unexpected error": (unexpected, Case(None, 1, "unexpected error: RuntimeError: a bug")),
    "all answered": (all_answered, Case(None, 0, "0 failed ·")),
}


class Setup:
    """What a case needs: the test's directory, job writer, CLI, fake API and monkeypatch."""

    def __init__(self, tmp_path, write_job, invoke, api, monkeypatch) -> None:
        self.tmp_path, self.write_job, self.invoke = tmp_path, write_job, invoke
        self.api, self.monkeypatch = api, monkeypatch


@pytest.mark.parametrize("name", CASES)
def test_each_error_exits_with_its_code(tmp_path, write_job, invoke, fake_api, monkeypatch, name):
    """The error's exit code is its class's; 2 never advises resuming, 3 always does."""
    cause, case = CASES[name]
    result = cause(Setup(tmp_path, write_job, invoke, fake_api, monkeypatch))
    assert result.exit_code == case.code, result.output
    assert case.words in result.output, result.output
    assert "Traceback" not in result.output
    if case.error is not None:
        assert case.error.exit_code == case.code
    if case.code == 2:
        assert "resume" not in result.output
        assert "run the same command again" not in result.output
    if case.code == 3:
        assert (
            "resume" in result.output
            or "run again" in result.output
            or ("run the same command again" in result.output)
        ), result.output


def test_every_error_class_has_a_case():
    """A new error class needs its row here (and in docs/troubleshooting.md)."""
    raised = {
        cls
        for cls in vars(errors).values()
        if inspect.isclass(cls) and issubclass(cls, errors.BatchbotError)
    }
    never_raised_alone = {errors.BatchbotError, errors.InputError, errors.RunRefused}
    covered = {case.error for _, case in CASES.values()}
    assert raised - never_raised_alone <= covered


def test_the_troubleshooting_table_names_every_class():
    """docs/troubleshooting.md's exit-code table has a row for each class, with its code."""
    text = (Path(__file__).parents[2] / "docs" / "troubleshooting.md").read_text()
    for cls in {case.error for _, case in CASES.values()} - {None}:
        assert cls is not None
        row = next((line for line in text.splitlines() if f"`{cls.__name__}`" in line), None)
        assert row is not None, cls.__name__
        assert f"| {cls.exit_code} |" in row, row
