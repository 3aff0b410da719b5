"""End to end: embeddings jobs against the fake API: vectors, packing, resume, export, batch."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from array import array
from pathlib import Path

import pytest

from batchbot.jobs.job import load_job
from batchbot.tokens.count import request_tokens

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def rows(db: Path, sql: str, *params: object) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def embed_job(write_job, count: int, *, pack: int | None = 100, extra: str = "") -> Path:
    """An embeddings template job over `count` rows of a CSV."""
    write_job("texts.csv", "id,text\n" + "".join(f"t{i},text number {i}\n" for i in range(count)))
    pack_line = "" if pack is None else f"pack: {pack}\n"
    return write_job(
        "embed.yaml",
        "endpoint: /v1/embeddings\nmodel: text-embedding-3-small\n"
        f"{pack_line}{extra}template: '{{text}}'\ninputs: texts.csv\n",
    )


def test_embeddings_example_stores_one_vector_per_item(tmp_path, invoke, fake_api):
    """The embeddings example stores a float32 BLOB per row, resends nothing, is priced."""
    for name in ("embed.yaml", "faq_questions.csv"):
        shutil.copy(JOBS / name, tmp_path / name)
    result = invoke("run", "embed.yaml", "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    db = tmp_path / "batchbot.db"
    stored = rows(db, "select *, typeof(vector) as kind from requests")
    assert len(stored) == 12
    assert fake_api.stats.requests == 1  # twelve rows fit in one packed request
    for row in stored:
        assert (row["status"], row["kind"], row["dimensions"]) == ("ok", "blob", 1536)
        vector = array("f", row["vector"])  # the test machine is little-endian
        assert len(vector) == 1536
        assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-4)
        assert row["prompt_tokens"] > 0
        assert row["cost_usd"] == pytest.approx(row["prompt_tokens"] * 0.02 / 1e6)
    total = sum(row["prompt_tokens"] for row in stored)
    assert total == fake_api.stats.tokens_charged  # the shares add up to what the API billed
    charged = sum(request_tokens(i.body, "/v1/embeddings") for i in load_job("embed.yaml").items())
    assert charged == total  # the limiter is charged what the API charges: the input tokens
    again = invoke("run", "embed.yaml", "--base-url", fake_api.url)
    assert again.exit_code == 0
    assert fake_api.stats.requests == 1
    report = json.loads(invoke("report", "--by", "endpoint", "--json").output)
    assert report[0]["endpoint"] == "/v1/embeddings"
    assert report[0]["prompt_tokens"] == total
    assert report[0]["cost_usd"] == pytest.approx(total * 0.02 / 1e6)


def test_pack_of_100_sends_1000_items_in_10_requests(tmp_path, write_job, invoke, fake_api):
    """With pack: 100, a thousand items take ten requests and keep a thousand rows."""
    job = embed_job(write_job, 1000)
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.stats.requests == 10
    (count,) = rows(
        tmp_path / "batchbot.db", "select count(*) as n from requests where status='ok'"
    )
    assert count["n"] == 1000


def test_the_report_counts_items_and_http_requests_apart(write_job, invoke, fake_api):
    """250 texts embedded in 3 HTTP requests show as 250 items and 3 HTTP requests, in the
    table and in JSON; a retry of a pack counts once more, not once per item."""
    job = embed_job(write_job, 250)
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    (total,) = json.loads(invoke("report", "--json").output)
    assert (total["requests"], total["http_requests"]) == (250, fake_api.stats.requests) == (250, 3)
    heading, _, row = invoke("report").output.splitlines()[:3]
    assert heading.split()[:3] == ["items", "HTTP", "requests"]
    assert row.split()[:2] == ["250", "3"]


def test_resume_packs_only_the_new_items(tmp_path, write_job, invoke, fake_api):
    """Items answered earlier are skipped one by one; the new ones share one request."""
    job = embed_job(write_job, 250)
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert fake_api.stats.requests == 3
    with (tmp_path / "texts.csv").open("a") as csv:
        csv.writelines(f"n{i},new text {i}\n" for i in range(5))
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert fake_api.stats.requests == 4
    (count,) = rows(tmp_path / "batchbot.db", "select count(*) as n from requests")
    assert count["n"] == 255


def test_a_packed_request_retried_answers_all_its_items(tmp_path, write_job, invoke, fake_api):
    """A transient failure of a packed request retries the whole pack; each item counts it,
    and the report counts its three HTTP requests once for all five items."""
    lines = [{"id": f"t{i}", "input": f"text {i}"} for i in range(5)]
    lines[2]["input"] = "text [[fake:500x2]]"
    job = write_job(
        "embed.jsonl",
        "".join(json.dumps({**line, "model": "text-embedding-3-small"}) + "\n" for line in lines),
    )
    result = invoke("run", str(job), "--endpoint", "/v1/embeddings", "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.stats.requests == 3
    stored = rows(tmp_path / "batchbot.db", "select status, attempts, dimensions from requests")
    assert stored == [{"status": "ok", "attempts": 3, "dimensions": 1536}] * 5
    (total,) = json.loads(invoke("report", "--json").output)
    assert (total["requests"], total["http_requests"]) == (5, 3)


def test_a_packed_request_refused_fails_its_items_only(tmp_path, write_job, invoke, fake_api):
    """An item error fails every item of its pack; other packs are answered."""
    job = embed_job(write_job, 0, pack=2)
    texts = "id,text\na,one\nb,[[fake:context_length_exceeded]]\nc,three\nd,four\n"
    write_job("texts.csv", texts)
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 1, result.output
    stored = rows(tmp_path / "batchbot.db", "select item_id, status from requests order by item_id")
    assert [(r["item_id"], r["status"]) for r in stored] == [
        ("a", "failed"),
        ("b", "failed"),
        ("c", "ok"),
        ("d", "ok"),
    ]


def test_export_writes_vectors_as_numbers(tmp_path, write_job, invoke, fake_api):
    """`export` gives each embedded item its vector as a list of 1536 numbers."""
    job = embed_job(write_job, 3, extra="name: vec\n")
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    result = invoke("export", "vec")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["prompt"] for line in lines] == ["text number 0", "text number 1", "text number 2"]
    stored = rows(tmp_path / "batchbot.db", "select vector from requests order by id")
    for line, row in zip(lines, stored, strict=True):
        assert line["vector"] == array("f", row["vector"]).tolist()


def test_export_npy_writes_the_vectors_as_one_array(tmp_path, write_job, invoke, fake_api):
    """`export --format npy` writes a (items, dimensions) <f4 array numpy.load would read."""
    import ast

    job = embed_job(write_job, 3, extra="name: vec\nparams: {dimensions: 8}\n")
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert invoke("export", "vec", "--format", "npy", "-o", "v.npy").exit_code == 0
    data = (tmp_path / "v.npy").read_bytes()
    assert data[:8] == b"\x93NUMPY\x01\x00"
    length = int.from_bytes(data[8:10], "little")
    assert (10 + length) % 64 == 0
    header = ast.literal_eval(data[10 : 10 + length].decode("latin-1"))
    assert header == {"descr": "<f4", "fortran_order": False, "shape": (3, 8)}
    stored = rows(tmp_path / "batchbot.db", "select vector from requests order by id")
    assert data[10 + length :] == b"".join(row["vector"] for row in stored)
    refused = invoke("export", "vec", "--format", "npy")
    assert refused.exit_code == 2
    assert "give it with -o vectors.npy" in refused.output


def test_export_npy_refuses_vectors_of_different_sizes(tmp_path, write_job, invoke, fake_api):
    """Items asking for other sizes are not packed together, and one .npy array refuses them."""
    lines = [
        {"id": f"t{size}", "input": "text", "model": "text-embedding-3-small", "dimensions": size}
        for size in (4, 8)
    ]
    job = write_job("mixed.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    run = invoke("run", str(job), "--endpoint", "/v1/embeddings", "--base-url", fake_api.url)
    assert run.exit_code == 0, run.output
    assert fake_api.stats.requests == 2  # requests differing in more than their text: not packed
    refused = invoke("export", "mixed", "--format", "npy", "-o", "v.npy")
    assert refused.exit_code == 2
    assert "different sizes (4, 8)" in refused.output


def test_dry_run_counts_packed_requests_against_rpm(write_job):
    """--dry-run's time for an embeddings job is its packed requests over the requests limit."""
    from batchbot.config import Flags, resolve_config
    from batchbot.run.estimate import estimate_job

    job = load_job(embed_job(write_job, 1000))
    estimate = estimate_job(job, resolve_config(job, Flags(rpm=10, tpm=10**9), {}))
    assert (estimate.to_send, estimate.requests, estimate.completion_allowance) == (1000, 10, 0)
    assert estimate.minutes == pytest.approx(1.0)


def test_batch_mode_runs_an_embeddings_job(tmp_path, write_job, invoke, fake_api, monkeypatch):
    """--mode batch embeds each item as a line of its own and stores its vector as a BLOB."""
    monkeypatch.setattr(fake_api.batches, "delay_s", 0.1)
    job = embed_job(write_job, 5)
    args = ("--mode", "batch", "--wait", "--poll-interval", "0.05", "--base-url", fake_api.url)
    result = invoke("run", str(job), *args)
    assert result.exit_code == 0, result.output
    stored = rows(tmp_path / "batchbot.db", "select * from requests")
    assert len(stored) == 5
    for row in stored:
        assert (row["mode"], row["status"], row["dimensions"]) == ("batch", "ok", 1536)
        assert len(array("f", row["vector"])) == 1536
        assert row["cost_usd"] == pytest.approx(row["prompt_tokens"] * 0.01 / 1e6)
    (batch,) = rows(tmp_path / "batchbot.db", "select * from batches")
    assert batch["requests"] == 5
    (total,) = json.loads(invoke("report", "--json").output)
    assert (total["requests"], total["http_requests"]) == (5, 0)  # lines of a file: no requests


def test_packs_stay_under_the_tokens_a_request_may_carry(
    tmp_path, write_job, invoke, fake_api, monkeypatch
):
    """Packs end before the API's input tokens per request, which the fake refuses past."""
    monkeypatch.setattr("batchbot.fake.endpoints.MAX_REQUEST_TOKENS", 300)
    write_job("texts.csv", "id,text\n" + "".join(f"t{i},{'word ' * 40}{i}\n" for i in range(20)))
    job = write_job(
        "embed.yaml",
        "endpoint: /v1/embeddings\nmodel: text-embedding-3-small\n"
        "template: '{text}'\ninputs: texts.csv\n",
    )
    refused = invoke("run", str(job), "--base-url", fake_api.url)
    assert refused.exit_code == 1
    (error,) = {r["error"] for r in rows(tmp_path / "batchbot.db", "select error from requests")}
    assert error.startswith("400: Requested ")
    assert error.endswith("tokens, max 300 tokens per request")
    monkeypatch.setattr("batchbot.sync.pack.MAX_PACK_TOKENS", 300)
    fake_api.reset()
    answered = invoke("run", str(job), "--base-url", fake_api.url)
    assert answered.exit_code == 0, answered.output
    assert fake_api.stats.requests == 3  # 20 texts of 41 tokens: 7 + 7 + 6
    stored = rows(tmp_path / "batchbot.db", "select status from requests")
    assert [row["status"] for row in stored] == ["ok"] * 20


def test_an_input_longer_than_the_model_takes_fails_its_pack(tmp_path, write_job, invoke, fake_api):
    """An input over the model's 8,192 tokens is refused as the API refuses it."""
    job = write_job(
        "long.yaml",
        f"endpoint: /v1/embeddings\nmodel: text-embedding-3-small\nprompts: ['{'word ' * 9000}']\n",
    )
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 1
    (row,) = rows(tmp_path / "batchbot.db", "select error, error_code from requests")
    assert row["error_code"] == "context_length_exceeded"
    assert "maximum context length is 8192 tokens, however you requested 9001" in row["error"]
