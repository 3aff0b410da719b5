"""Asking again: when, with how many tokens, and what the re-ask says."""

from __future__ import annotations

import pytest

from batchbot.answers.reask import FIX_CALL, FIX_TEXT, ReaskPolicy, plan
from batchbot.endpoints import CHAT, RESPONSES
from batchbot.jobs.job import Item, request_hash
from batchbot.outcome import LastAnswer, ToolCall, Totals

ASK = [{"role": "user", "content": "Where is it?"}]
RETRY_BOTH = ReaskPolicy(on_invalid=True, max_reasks=2, on_length=True, max_tokens_cap=1000)


def item(**params) -> Item:
    body = {"model": "gpt-4o-mini", "messages": ASK, **params}
    return Item("q", body, request_hash(body), 1)


def last(status: str, *, max_tokens=None, invalid_reasks=0, content='{"a": 1', calls=()):
    return LastAnswer(status, content, calls, "$.b: missing", max_tokens, invalid_reasks, Totals())


@pytest.mark.parametrize(
    ("allowance", "policy", "grown"),
    [
        pytest.param(300, RETRY_BOTH, 600, id="doubled"),
        pytest.param(600, RETRY_BOTH, 1000, id="up-to-the-cap"),
        pytest.param(1000, RETRY_BOTH, None, id="at-the-cap"),
        pytest.param(1500, RETRY_BOTH, None, id="above-the-cap"),
        pytest.param(None, RETRY_BOTH, 1000, id="no-allowance-asks-for-the-cap"),
        pytest.param(300, ReaskPolicy(on_invalid=True), None, id="on-length-keep"),
    ],
)
def test_a_cut_off_answer_is_asked_again_with_twice_the_tokens(allowance, policy, grown):
    """on_length: retry doubles max_tokens up to max_tokens_cap, then the answer stands."""
    given = item(max_tokens=allowance) if allowance else item()
    asked = plan(given, last("truncated", max_tokens=allowance), policy, CHAT)
    if grown is None:
        assert asked is None
        return
    assert (asked.reason, asked.max_tokens) == ("length", grown)
    key = "max_tokens" if allowance else "max_completion_tokens"
    assert asked.body == {**given.body, key: grown}


def test_an_invalid_answer_is_sent_back_with_its_error():
    """on_invalid: retry continues the conversation with the answer and what to fix in it,
    at the allowance the answer had, at most max_reasks times."""
    body = item(max_tokens=300)
    asked = plan(body, last("invalid", max_tokens=600, invalid_reasks=1), RETRY_BOTH, CHAT)
    assert (asked.reason, asked.max_tokens) == ("invalid", 600)
    assert asked.body["max_tokens"] == 600
    assert asked.body["messages"] == [
        *ASK,
        {"role": "assistant", "content": '{"a": 1'},
        {"role": "user", "content": FIX_TEXT.format(error="$.b: missing")},
    ]
    assert plan(body, last("invalid", invalid_reasks=2), RETRY_BOTH, CHAT) is None
    assert plan(body, last("invalid"), ReaskPolicy(on_length=True, max_tokens_cap=9), CHAT) is None


def test_an_invalid_tool_call_is_answered_with_a_tool_message():
    """A forced call whose arguments do not validate gets its call and a tool message back."""
    tool = {"type": "function", "function": {"name": "save", "parameters": {"type": "object"}}}
    forced = item(tools=[tool], tool_choice="required")
    call = ToolCall("call_9", "save", '{"x": 1}')
    asked = plan(forced, last("invalid", calls=(call,)), RETRY_BOTH, CHAT)
    function = {"name": "save", "arguments": '{"x": 1}'}
    assert asked.body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_9", "type": "function", "function": function}],
        },
        {
            "role": "tool",
            "tool_call_id": "call_9",
            "content": FIX_CALL.format(name="save", error="$.b: missing"),
        },
    ]


def test_a_responses_re_ask_continues_its_input():
    """A Responses request's input becomes a list that goes on with the answer and the fix."""
    body = {"model": "gpt-4.1-mini", "input": "Where is it?", "max_output_tokens": 100}
    responses_item = Item("r", body, request_hash(body), 1)
    asked = plan(responses_item, last("invalid", max_tokens=100), RETRY_BOTH, RESPONSES)
    assert asked.body["input"] == [
        {"role": "user", "content": "Where is it?"},
        {"role": "assistant", "content": '{"a": 1'},
        {"role": "user", "content": FIX_TEXT.format(error="$.b: missing")},
    ]
    grown = plan(responses_item, last("truncated", max_tokens=100), RETRY_BOTH, RESPONSES)
    assert grown.body == {**body, "max_output_tokens": 200}


def test_refusals_and_good_answers_are_not_asked_again():
    """A refusal is the model's answer; an ok one needs nothing."""
    for status in ("refused", "ok"):
        assert plan(item(max_tokens=10), last(status, max_tokens=10), RETRY_BOTH, CHAT) is None
