"""End to end: embeddings, Responses and Azure jobs against the fake API, through one pipeline."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from array import array
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parent.parent / "jobs"


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
    """A transient failure of a packed request retries the whole pack; each item counts it."""
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
