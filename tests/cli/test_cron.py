"""What cron sees: exit codes, --quiet output, --log-file, and never the API key."""

from __future__ import annotations

import json
import sqlite3

import pytest

from batchbot.fake.server import FakeServer
from batchbot.run.lock import job_lock

PLANTED = "sk-PLANTED-secret-0123456789abcdef"
JOBS = {
    "done": "model: gpt-4o-mini\nprompts: [one, two]\n",
    "some-failed": "model: gpt-4o-mini\nprompts: [one, 'two [[fake:context_length_exceeded]]']\n",
    "bad-input": "model: gpt-4o-mini\nprompts: [one, {usr: typo}]\n",
    "rejected-key": "model: gpt-4o-mini\nprompts: ['one [[fake:401]]', two]\n",
    "stopped": "model: gpt-4o-mini\nprompts: ['one [[fake:insufficient_quota]]', two]\n",
    "locked": "model: gpt-4o-mini\nprompts: [one, two]\n",
}
# exit code, lines --quiet prints, words one of them must contain
EXPECTED = {
    "done": (0, 0, ""),
    "some-failed": (1, 2, "failed: 1 × 400: This model's maximum context length"),
    "bad-input": (2, 1, "job.yaml:2"),
    "rejected-key": (2, 2, "rejected the key"),
    "stopped": (3, 2, "out of credit"),
    "locked": (4, 1, "--wait-lock"),
}


@pytest.mark.parametrize("case", EXPECTED)
def test_exit_codes_and_quiet_output(tmp_path, write_job, invoke, fake_api, case):
    """Each documented exit code; --quiet prints nothing on success, a line per problem else."""
    code, lines, words = EXPECTED[case]
    job = write_job("job.yaml", JOBS[case])
    log = tmp_path / "cron.log"
    args = ["run", str(job), "--base-url", fake_api.url, "--quiet", "--log-file", str(log)]
    if case == "locked":
        with job_lock(tmp_path / "batchbot.db", "job"):
            result = invoke(*args)
    else:
        result = invoke(*args)
    assert result.exit_code == code, result.output
    assert len(result.output.splitlines()) == lines, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert f"(exit {code})" in log.read_text()


def test_json_log_file(tmp_path, write_job, invoke, fake_api):
    """--log-format json writes one object a line: start, each saved item (--verbose), end."""
    job = write_job("job.yaml", JOBS["some-failed"])
    log = tmp_path / "run.jsonl"
    result = invoke(
        "run", str(job), "--base-url", fake_api.url, "-q", "-v",
        "--log-file", str(log), "--log-format", "json",
    )  # fmt: skip
    assert result.exit_code == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(r["time"].endswith("+00:00") and r["level"] for r in records)
    assert records[0]["message"] == "run 1 of job job started: 2 items"
    saved = {r["item_id"]: r["status"] for r in records if r["message"].startswith("saved")}
    assert sorted(saved.values()) == ["failed", "ok"]
    assert records[-1]["exit_code"] == 1
    assert records[-1]["level"] == "warning"


def test_log_file_folder_is_created(tmp_path, write_job, invoke, fake_api):
    """A log file in a folder that does not exist yet: the folder is made, the run logged."""
    job = write_job("job.yaml", JOBS["done"])
    log = tmp_path / "logs" / "nightly" / "batchbot.log"
    result = invoke("run", str(job), "--base-url", fake_api.url, "-q", "--log-file", str(log))
    assert result.exit_code == 0, result.output
    assert "(exit 0)" in log.read_text()


def test_unwritable_log_file_is_a_usage_error(tmp_path, write_job, invoke, fake_api):
    """A log file under a plain file: exit 2 and one line, before anything is sent."""
    job = write_job("job.yaml", JOBS["done"])
    (tmp_path / "taken").write_text("not a folder")
    result = invoke("run", str(job), "--base-url", fake_api.url, "--log-file", "taken/x.log")
    assert result.exit_code == 2
    assert result.output.startswith("Error: cannot write the log file taken/x.log: ")
    assert len(result.output.splitlines()) == 1
    assert fake_api.stats.requests == 0


def test_planted_key_appears_nowhere(tmp_path, write_job, invoke):
    """A planted key is in no output, log (text or JSON), row, setting or error text."""
    server = FakeServer(api_key="sk-the-right-key-000000").start_in_thread()
    try:
        job = write_job("job.yaml", JOBS["done"])
        outputs = []
        for fmt in ("text", "json"):
            result = invoke(
                "run", str(job), "--base-url", server.url, "--verbose",
                "--log-file", f"run.{fmt}", "--log-format", fmt, key=PLANTED,
            )  # fmt: skip
            assert result.exit_code == 2, result.output
            outputs.append(result.output)
        outputs.append(invoke("run", str(job), "--dry-run", "-v", key=PLANTED).output)
    finally:
        server.stop()
    db = tmp_path / "batchbot.db"
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
        errors = [r[0] for r in conn.execute("select error from attempts")]
        (settings,) = conn.execute("select settings from runs limit 1").fetchone()
    assert any("401" in e for e in errors)
    assert json.loads(settings)["api_key_set"] is True
    texts = [
        *outputs,
        dump,
        (tmp_path / "run.text").read_text(),
        (tmp_path / "run.json").read_text(),
    ]
    for text in texts:
        assert PLANTED not in text
        assert "PLANTED" not in text  # not even a masked piece of it
        assert "0123456789abcdef" not in text


@pytest.mark.parametrize("content", [b"SQLite format 3\x00" + b"\xff" * 4000, b"\x00junk" * 999])
def test_damaged_database_is_one_clear_line(tmp_path, write_job, invoke, fake_api, content):
    """A --db that is not a usable SQLite file: exit 2, one line, no request sent."""
    (tmp_path / "bad.db").write_bytes(content)
    job = write_job("job.yaml", JOBS["done"])
    result = invoke("run", str(job), "--base-url", fake_api.url, "--db", "bad.db")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: bad.db cannot be used as the database")
    assert len(result.output.splitlines()) == 1
    assert fake_api.stats.requests == 0
