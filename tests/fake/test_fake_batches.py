"""The fake Files and Batches API answers as OpenAI's does, through the real client."""

from __future__ import annotations

import json

import openai
import pytest


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
