"""Splitting a job's items into Batch API input files: request, byte, queue and model limits."""

from __future__ import annotations

import json

import pytest

from batchbot.batch import files as batch_files
from batchbot.batch.files import Splitter
from batchbot.jobs.job import Item, request_hash


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


def test_pending_worst_case_is_that_of_the_files_still_filling():
    """Under a budget each file adds up its items' worst cases; those not yet handed back as
    full files are what `pending_usd` still counts."""
    splitter = Splitter(lambda model: (None, 0), max_requests=2)
    full = [f for i in range(3) for f in splitter.add(item(i), 10, worst_usd=0.25)]
    assert [(len(f.items), f.worst, f.worst_usd) for f in full] == [(2, [0.25, 0.25], 0.5)]
    assert splitter.pending_usd == pytest.approx(0.25)
    assert splitter.add(item(3, model="gpt-4o"), 10, worst_usd=1.0) == []
    assert splitter.pending_usd == pytest.approx(1.25)
    assert [f.worst_usd for f in splitter.finish()] == pytest.approx([0.25, 1.0])
    assert splitter.pending_usd == 0.0
