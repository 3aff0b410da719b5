"""The limiter inside a real run: too-large requests fail their item, learned limits are said."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from batchbot.cli import cli
from batchbot.fake.server import FakeServer, FakeStats

JOB = """\
name: sizes
model: gpt-4o-mini
prompts:
  - {id: small, user: 'What is a chatbot?', params: {max_tokens: 100}}
  - {id: huge, user: 'Write a book.', params: {max_tokens: 50000}}
"""


def test_request_larger_than_tpm_fails_its_item_with_a_clear_message(
    tmp_path, write_job, invoke, fake_api
):
    """An item needing more tokens than the whole TPM fails at once; the others are answered."""
    job = write_job("sizes.yaml", JOB)
    result = invoke("run", str(job), "--base-url", fake_api.url, "--tpm", "30000")
    assert result.exit_code == 1, result.output
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        stored = dict(
            conn.execute("select item_id, status || ' ' || coalesce(error, '') from requests")
        )
    assert stored["small"] == "ok "
    assert stored["huge"].startswith("failed RequestTooLarge: This request needs 50,0")
    assert "the token limit is 30,000 per minute (TPM)" in stored["huge"]
    assert "lower max_tokens" in stored["huge"]
    assert fake_api.stats.requests == 1  # the huge one was never sent


def test_limits_learned_from_the_server_are_said_once(write_job, invoke, fake_api):
    """A run told 100,000 RPM against a server reporting 30,000 says so once."""
    job = write_job("sizes.yaml", JOB.replace("50000", "10"))
    result = invoke("run", str(job), "--base-url", fake_api.url, "--rpm", "100000")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "limits from server" in line]
    assert notes == [
        "batchbot: limits from server: 30,000 RPM / 100,000,000 TPM "
        "(configured 100,000 / 100,000,000)"
    ]
    quiet = invoke("run", str(job), "--base-url", fake_api.url, "--rpm", "100000", "--quiet")
    assert quiet.output == ""


MODEL = "gpt-4o-mini"
# Long words are one token each but many characters: counted by characters, ~55 % more.
WORDS = ["the", "information", "of", "a", "development", "in", "international", "government"]


SHORT = ["a", "of", "in", "to", "is", "on", "at", "by"]  # by characters, ~40 % fewer


def strict_job(write_job, words: list[str] = WORDS) -> Path:
    """120 prompts of `words`: long ones count ~55 % more by characters than by tokens."""
    lines = []
    for i in range(120):
        text = " ".join(words[(i + k) % len(words)] for k in range(80))
        messages = [{"role": "user", "content": text}]
        lines.append(json.dumps({"id": f"q{i}", "messages": messages, "max_tokens": 50}))
    return write_job("strict.jsonl", "\n".join(lines) + "\n")


def run_strict(server: FakeServer, job: Path, invoke, *flags: str) -> tuple[Result, FakeStats]:
    """The job against `server` (240,000 TPM, its window full as the run starts)."""
    server.start_in_thread()
    try:
        server.spend(tokens=240_000)  # as in the middle of a long run: no headroom to spend
        limits = ["--tpm", "240000", "--rpm", "10000", *flags]
        result = invoke("run", str(job), "--base-url", server.url, "--model", MODEL, *limits)
        return result, server.stats
    finally:
        server.stop()


CHARACTERS = "the server counts a request by its characters (about 4 a token) plus max_tokens"


@pytest.mark.parametrize(
    ("flags", "said", "refused"),
    [
        ((), re.escape(CHARACTERS), 3),
        (("--token-count", "chars"), None, 2),
        (("--token-count", "exact"), r"the server counts ~[4-6]\d % more tokens than tiktoken", 3),
    ],
)
def test_a_strict_server_that_counts_by_characters_refuses_almost_nothing(
    write_job, invoke, flags, said, refused
):
    """Sliding 1-s windows and a count by characters: two or three 429s.

    The first 429 on tokens quotes the server's count of the request ("Requested N"): it is
    the count by characters, and the run is charged so from then on, and says so. Told to
    count by characters, it is right from the start; told to count exactly, it learns a
    ratio instead. A client that paces by its own estimate with a bucket is refused again
    and again (5 or 6 times in this run).
    """
    server = FakeServer(tpm=240_000, windows="sliding", count="chars", latency_ms=20)
    result, stats = run_strict(server, strict_job(write_job), invoke, *flags)
    assert result.exit_code == 0, result.output
    assert stats.answered == 120
    assert stats.by_status.get(429, 0) <= refused
    if said is None:
        assert "the server counts" not in result.output
    else:
        assert re.search(said, result.output)


def test_a_server_that_counts_fewer_by_characters_is_found_out(write_job, invoke):
    """Charged exactly, a server that counts ~40 % fewer by characters never refuses: the fall
    of its remaining count shows how it counts, and the run is charged so."""
    server = FakeServer(tpm=240_000, count="chars", latency_ms=20)
    result, stats = run_strict(server, strict_job(write_job, SHORT), invoke)
    assert result.exit_code == 0, result.output
    assert stats.answered == 120
    assert CHARACTERS in result.output


def test_a_rerun_starts_from_the_limits_the_server_stated_last_time(
    tmp_path, write_job, invoke, fake_api
):
    """The first run learns the server's limits from its answers; the second starts from
    them (no probe), says how old they are (under the user's own), and the key is never
    stored."""
    job = write_job("sizes.yaml", JOB.replace("50000", "10"))
    first = invoke("run", str(job), "--base-url", fake_api.url, key="sk-k1")
    assert "limits from server: 30,000 RPM / 100,000,000 TPM (configured 60,000" in first.output
    job = write_job("sizes.yaml", JOB.replace("50000", "11"))
    second = invoke("run", str(job), "--base-url", fake_api.url, key="sk-k1")
    assert second.exit_code == 0, second.output
    assert re.search(
        r"limits the server stated to the last run, \d+ s ago: 30,000 RPM / 100,000,000 TPM",
        second.output,
    )
    assert "limits from server" not in second.output
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        rows = conn.execute("select * from server_limits").fetchall()
        everything = "\n".join(line for line in conn.iterdump())
    assert len(rows) == 1
    assert rows[0][1:5] == (fake_api.url + "/", "gpt-4o-mini", 30000, 150_000_000)
    assert "sk-k1" not in everything
    job = write_job("sizes.yaml", JOB.replace("50000", "12"))
    other_key = invoke("run", str(job), "--base-url", fake_api.url, key="sk-2")
    assert "limits from server" in other_key.output  # another key: its own limits


def test_fake_runs_are_not_remembered(tmp_path, write_job, invoke):
    """Each --fake run has a simulated server of its own: nothing to keep for the next."""
    job = write_job("sizes.yaml", JOB.replace("50000", "10"))
    assert invoke("run", str(job), "--fake").exit_code == 0
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        assert conn.execute("select count(*) from server_limits").fetchone() == (0,)


@pytest.mark.parametrize(("tier", "alone"), [("tier-1", False), ("tier-2", True)])
def test_only_a_preset_above_the_lowest_paid_tier_sends_its_first_request_alone(
    tmp_path, write_job, tier, alone
):
    """From tier-2 a run may be above the key's limits: its first request goes alone, the
    rest after its answer (300 ms). From tier-1 no paid key is lower: they all go at once."""
    from datetime import datetime

    server = FakeServer(latency_ms=300).start_in_thread()
    try:
        prompts = "".join(f"  - question {i}\n" for i in range(4))
        settings = "model: gpt-4o-mini\nparams: {max_tokens: 10}\n"
        job = write_job("four.yaml", f"{settings}prompts:\n{prompts}")
        runner = CliRunner()
        argv = ["run", str(job), "--base-url", server.url, "--tier", tier]
        result = runner.invoke(cli, argv, env={"OPENAI_API_KEY": "sk-test"})
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        started = sorted(row[0] for row in conn.execute("select started_at from attempts"))
    first, second = (datetime.fromisoformat(at) for at in started[:2])
    assert ((second - first).total_seconds() >= 0.25) is alone
