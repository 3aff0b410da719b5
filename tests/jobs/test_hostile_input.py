"""Hostile job files: each gets one clear line and exit 2, quickly, in bounded memory.

The parser's own property-based tests are in test_jobs.py; these are the named attacks:
binary, invalid UTF-8, NUL bytes, deep nesting, YAML bombs, python tags, huge files, huge
lines, a 10 MB prompt and a million duplicate ids.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import tracemalloc

import pytest

from batchbot.errors import JobFileError
from batchbot.jobs import text as jobfile_text
from batchbot.jobs import yamlfile as jobfile_yaml
from batchbot.jobs.job import load_job

MB = 1_000_000
LAUGHS = "\n".join(
    ["model: gpt-4o-mini", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    + ["prompts: *a9", ""]
)
BAD = {
    "binary yaml": ("job.yaml", os.urandom(4096), "is not UTF-8"),
    "binary jsonl": ("job.jsonl", b"\x89PNG\r\n\x1a\n" + os.urandom(4096), "is not UTF-8"),
    "invalid utf-8": ("job.yaml", b"model: m\nprompts: [caf\xe9]\n", "job.yaml:2:"),
    "nul byte yaml": ("job.yaml", b"model: m\nprompts: [a\x00b]\n", "U+0000 is not allowed"),
    "nul byte jsonl": (
        "job.jsonl",
        b'{"model": "m", "messages": [{"role": "user", "content": "a\x00b"}]}\n',
        "job.jsonl:1:",
    ),
    "deep yaml": ("job.yaml", b"model: m\nprompts: " + b"[" * 50_000 + b"]" * 50_000, "deeply"),
    "deep jsonl": (
        "job.jsonl",
        b'{"model": "m", "messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n",
        "nested too deeply",
    ),
    "billion laughs": ("job.yaml", LAUGHS.encode(), "check the aliases"),
    "alias loop": ("job.yaml", b"model: m\nprompts: &p [*p]\n", "refers to the value it is inside"),
    "python tag": (
        "job.yaml",
        b"model: m\nprompts: [!!python/object/apply:os.system ['echo pwned']]\n",
        "unsupported YAML tag !!python/object/apply:os.system",
    ),
    "python tag at top": ("job.yaml", b"!!python/name:os.system {model: m}\n", "!!python/name"),
    "set tag": ("job.yaml", b"model: m\nprompts: !!set {a, b}\n", "unsupported YAML tag !!set"),
    "duplicate ids": (
        "job.jsonl",
        b'{"id": "a", "model": "m", "messages": [{"role": "user", "content": "x"}]}\n' * 3,
        "job.jsonl:2: duplicate id 'a'",
    ),
}


@pytest.mark.parametrize(("name", "content", "message"), BAD.values(), ids=BAD.keys())
def test_hostile_file_is_one_clear_line(tmp_path, invoke, name, content, message):
    """Each hostile file: exit 2, one line naming the file and the problem, no traceback."""
    (tmp_path / name).write_bytes(content)
    started = time.monotonic()
    result = invoke("run", name, "--dry-run", key=None)
    assert time.monotonic() - started < 15
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.startswith(f"Error: {name}")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "pwned").exists()


def test_a_million_duplicate_ids_stop_at_line_2(tmp_path):
    """A million lines with one id: the duplicate is reported at line 2 without reading on."""
    line = b'{"id": "same", "model": "m", "messages": [{"role": "user", "content": "x"}]}\n'
    (tmp_path / "dupes.jsonl").write_bytes(line * 1_000_000)
    started = time.monotonic()
    with pytest.raises(JobFileError, match=r"dupes\.jsonl:2: duplicate id 'same': line 1"):
        load_job(tmp_path / "dupes.jsonl").validate()
    assert time.monotonic() - started < 2


def test_duplicate_after_many_ids_is_found(tmp_path):
    """A duplicate after 50,000 distinct ids is found and named with both lines."""
    with (tmp_path / "many.jsonl").open("w") as file:
        body = '"model": "m", "messages": [{"role": "user", "content": "x"}]'
        for i in range(50_000):
            file.write(f'{{"id": "q{i}", {body}}}\n')
        file.write('{"id": "q7", "model": "m", "messages": [{"role": "user", "content": "y"}]}\n')
    with pytest.raises(JobFileError, match=r"many\.jsonl:50001: duplicate id 'q7': line 8"):
        load_job(tmp_path / "many.jsonl").validate()


def test_huge_yaml_is_refused_before_parsing(tmp_path, monkeypatch):
    """A YAML job over the size cap is refused unread, pointing to the streamed formats."""
    monkeypatch.setattr(jobfile_yaml, "MAX_YAML_BYTES", 1 * MB)
    (tmp_path / "huge.yaml").write_text("model: m\nprompts:\n" + "  - question\n" * 200_000)
    with pytest.raises(JobFileError, match=r"huge\.yaml: is [\d,]+ bytes; .* \.jsonl"):
        load_job(tmp_path / "huge.yaml")


def test_huge_line_is_refused_without_reading_it_whole(tmp_path, monkeypatch):
    """A single line past the cap (a file with no newline at all) is refused in bounded memory."""
    monkeypatch.setattr(jobfile_text, "MAX_LINE_BYTES", 1 * MB)
    (tmp_path / "one.jsonl").write_bytes(b'{"model": "m", "messages": "' + b"a" * 20 * MB)
    tracemalloc.start()
    try:
        with pytest.raises(JobFileError, match=r"one\.jsonl:1: line longer than 1,000,000 bytes"):
            load_job(tmp_path / "one.jsonl").validate()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * MB


@pytest.mark.parametrize("suffix", [".yaml", ".jsonl"])
def test_ten_megabyte_prompt_loads_fast_and_fails_alone(tmp_path, invoke, fake_api, suffix):
    """A 10 MB prompt loads in seconds; the API refuses it and only that item fails."""
    big = "word " * (2 * MB)
    if suffix == ".yaml":
        text = f"model: gpt-4o-mini\nprompts:\n  - ok\n  - {json.dumps(big)}\n"
    else:
        line = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": big}]}
        text = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ok"}]}\n'
        text += json.dumps(line) + "\n"
    (tmp_path / f"big{suffix}").write_text(text)
    started = time.monotonic()
    assert load_job(tmp_path / f"big{suffix}").validate() == 2
    assert time.monotonic() - started < 5
    result = invoke("run", f"big{suffix}", "--base-url", fake_api.url)
    assert result.exit_code == 1, result.output
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        statuses = conn.execute("select status, attempts from requests order by length(request)")
        assert statuses.fetchall() == [("ok", 1), ("failed", 1)]  # refused, never retried


def test_ten_megabyte_prompt_under_tier_limits_is_refused_before_sending(
    tmp_path, invoke, fake_api
):
    """Under tier-1 limits a prompt larger than the whole TPM is failed without a request."""
    big = "word " * (2 * MB)
    (tmp_path / "big.yaml").write_text(f"model: gpt-4o-mini\nprompts:\n  - {json.dumps(big)}\n")
    result = invoke("run", "big.yaml", "--base-url", fake_api.url, "--tpm", "200000")
    assert result.exit_code == 1, result.output
    assert fake_api.stats.requests == 0
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        ((error,),) = conn.execute("select error from requests").fetchall()
    assert "token limit" in error
