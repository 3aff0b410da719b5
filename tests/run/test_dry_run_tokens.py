"""`batchbot run --dry-run` counts tools and images as OpenAI does, part by part, and says what
it had to guess."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent.parent / "data"


def dry_run(invoke: Callable[..., Any], job: Path, model: str, *more: str) -> Any:
    result = invoke("run", str(job), "--dry-run", "--model", model, *more)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize(
    ("job", "model", "published"),
    [
        ("notebook-tools.jsonl", "gpt-4o", 101),
        ("notebook-tools.jsonl", "gpt-4o-mini", 101),
        ("notebook-tools.jsonl", "gpt-4", 105),
        ("notebook-messages.jsonl", "gpt-4o", 124),
        ("notebook-messages.jsonl", "gpt-4", 129),
    ],
)
def test_notebook_examples_count_what_openai_reported(invoke, job, model, published):
    """The cookbook's examples, run as job files, report the prompt tokens the API reported."""
    output = dry_run(invoke, DATA / job, model).output
    assert f"prompt tokens:        {published} (text " in output
    estimate = json.loads(dry_run(invoke, DATA / job, model, "--json").output)
    assert estimate["prompt_tokens"] == published


@pytest.mark.parametrize(("detail", "published"), [("high", 765), ("low", 85)])
def test_png_data_url_adds_what_the_vision_guide_says(invoke, detail, published):
    """A 1024 x 1024 PNG adds 765 tokens on gpt-4o at detail high, 85 at low."""
    job = DATA / f"png-1024-{detail}.jsonl"
    estimate = json.loads(dry_run(invoke, job, "gpt-4o", "--json").output)
    assert estimate["prompt_parts"]["images"] == published
    assert estimate["assumed"] == {}
    assert f"images {published})" in dry_run(invoke, job, "gpt-4o").output


def test_remote_images_are_flagged_and_budgeted_at_their_most(invoke, write_job):
    """An image by URL is an assumption the dry-run names; its worst case is 8 tiles."""
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    line = {"messages": [{"role": "user", "content": [part]}], "max_tokens": 10}
    job = write_job("remote.jsonl", json.dumps(line) + "\n" + json.dumps({**line, "n": 2}) + "\n")
    output = dry_run(invoke, job, "gpt-4o").output
    assert "assumed: 2 item(s) with an image by URL of unknown size" in output
    assert "#WIDTHxHEIGHT" in output
    estimate = json.loads(dry_run(invoke, job, "gpt-4o", "--json").output)
    assert estimate["assumed"] == {"remote image": 2}
    assert estimate["prompt_parts"]["images"] == 2 * 765
    assert estimate["worst_prompt_tokens"] - estimate["prompt_tokens"] == 2 * (1445 - 765)


def test_json_needs_dry_run(invoke):
    """--json alone is a usage error naming --dry-run."""
    result = invoke("run", str(DATA / "png-1024-low.jsonl"), "--json")
    assert result.exit_code == 2
    assert "--json prints the --dry-run estimate: add --dry-run." in result.output
