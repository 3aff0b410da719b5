"""Files written for OpenAI's cookbook script (api_request_parallel_processor.py) run unchanged.

Its example file is 10,000 embeddings requests, each with the script's own `metadata` (which
the script pops before sending): no endpoint named, no ids.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sqlite3

import pytest

from batchbot.fake import endpoints as fake_endpoints
from batchbot.fake.server import FakeServer

MODEL = "text-embedding-3-small"


def cookbook_file(path, count: int = 10_000):
    """The script's example, line for line: `{"model", "input": "<n>\\n", "metadata"}`."""
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            out.write(json.dumps({"model": MODEL, "input": f"{n}\n", "metadata": {"row_id": n}}))
            out.write("\n")
    return path


@pytest.fixture
def received(monkeypatch):
    """Every embeddings body a fake server receives, and the fake servers started."""
    bodies: list[dict] = []
    servers: list[FakeServer] = []
    kind = fake_endpoints.KINDS["embeddings"]

    def validate(raw):
        bodies.append(raw)
        return kind.validate(raw)

    monkeypatch.setitem(
        fake_endpoints.KINDS, "embeddings", dataclasses.replace(kind, validate=validate)
    )
    start = FakeServer.start

    async def started(self):
        servers.append(self)
        await start(self)

    monkeypatch.setattr(FakeServer, "start", started)
    return bodies, servers


def test_the_cookbook_example_runs_unchanged_with_fake(tmp_path, invoke, received):
    """10,000 vectors stored, packed 100 to a request, each item's metadata kept in its row
    and none of it in what the simulated API received."""
    bodies, servers = received
    job = cookbook_file(tmp_path / "example_requests_to_parallel_process.jsonl")
    result = invoke("run", str(job), "--fake", key=None)
    assert result.exit_code == 0, result.output
    assert "10,000 answered, 0 failed" in result.output
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        stored = conn.execute(
            "select count(*), count(vector), sum(dimensions = 1536), sum(http_requests), "
            "count(distinct metadata) from requests where status = 'ok'"
        ).fetchone()
        row = conn.execute(
            "select request, metadata from requests where metadata = '{\"row_id\":7}'"
        ).fetchone()
    assert stored == (10_000, 10_000, 10_000, 100, 10_000)
    assert json.loads(row[0]) == {"model": MODEL, "input": "7\n"}
    (server,) = servers
    assert server.stats.by_status == {200: 100}
    assert len(bodies) == 100
    assert all(len(body["input"]) == 100 and "metadata" not in body for body in bodies)


def test_exports_carry_each_items_metadata(tmp_path, invoke, fake_api):
    """JSONL export gives the metadata back as it was written; CSV as JSON text."""
    job = cookbook_file(tmp_path / "cookbook.jsonl", count=3)
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    lines = [json.loads(line) for line in invoke("export", "cookbook").stdout.splitlines()]
    assert [(line["prompt"], line["metadata"]) for line in lines] == [
        ("0\n", {"row_id": 0}),
        ("1\n", {"row_id": 1}),
        ("2\n", {"row_id": 2}),
    ]
    rows = list(csv.DictReader(io.StringIO(invoke("export", "cookbook", "--format", "csv").stdout)))
    assert [row["metadata"] for row in rows] == ['{"row_id":0}', '{"row_id":1}', '{"row_id":2}']


def test_metadata_the_api_takes_is_sent_when_the_job_asks(tmp_path, write_job, invoke, fake_api):
    """A YAML job's params.metadata (string values, with store) goes to the API, which the
    fake checks as the API does: the same with a number for a value is refused."""
    good = "model: gpt-4o-mini\nparams: {store: true, metadata: {topic: faq}}\nprompts: [a]\n"
    assert (
        invoke("run", str(write_job("good.yaml", good)), "--base-url", fake_api.url).exit_code == 0
    )
    bad = write_job("bad.yaml", good.replace("topic: faq", "row_id: 7"))
    result = invoke("run", str(bad), "--base-url", fake_api.url)
    assert result.exit_code == 1
    assert (
        "400: Invalid type for 'metadata.row_id': expected a string, but got an integer instead."
    ) in result.output
