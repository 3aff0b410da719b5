"""What an item costs is counted once, and every part of a run agrees on whether it caps its
answer: the dry-run, the budget and the limiter read one table of cap keys per endpoint."""

from __future__ import annotations

import json

import pytest

from batchbot.endpoints import CHAT, EMBEDDINGS, RESPONSES
from batchbot.pace.tokens import DEFAULT_COMPLETION_ALLOWANCE, answer_cap, request_tokens

ASK = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi."}]}


@pytest.mark.parametrize(
    ("endpoint", "key", "capped"),
    [
        (CHAT, "max_tokens", True),
        (CHAT, "max_completion_tokens", True),
        (CHAT, "max_output_tokens", False),  # a Responses key: chat ignores it
        (RESPONSES, "max_output_tokens", True),
        (RESPONSES, "max_tokens", False),
        (EMBEDDINGS, "max_tokens", False),
    ],
)
def test_a_cap_counts_only_on_the_endpoint_that_takes_it(endpoint, key, capped):
    """answer_cap finds a cap only under the key the endpoint's API reads."""
    assert answer_cap({**ASK, key: 50}, endpoint) == (50 if capped else None)


def test_max_output_tokens_on_chat_is_no_cap_for_the_dry_run_nor_the_budget(invoke, write_job):
    """A chat job capped only by max_output_tokens is uncapped to the dry-run (its warning),
    the limiter (the default allowance) and the budget (refused), as the chat API sees it."""
    line = json.dumps({**ASK, "max_output_tokens": 50})
    job = write_job("chat.jsonl", line + "\n")
    allow = ("--allow-param", "max_output_tokens")
    result = invoke("run", str(job), "--dry-run", "--json", *allow)
    estimate = json.loads(result.output)
    assert estimate["completion_allowance"] == DEFAULT_COMPLETION_ALLOWANCE
    assert any("set no max_tokens" in warning for warning in estimate["warnings"])
    capped = {**ASK, "max_tokens": 50}
    assert request_tokens(json.loads(line)) - request_tokens(capped) == 1024 - 50
    refused = invoke("run", str(job), "--dry-run", "--max-cost", "1", *allow)
    assert "sets no max_tokens, so its cost has no upper bound" in refused.output
