"""Checking answers: what makes one ok, invalid, refused or truncated, and what it keeps."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from batchbot.answers.check import Checker
from batchbot.endpoints import RESPONSES
from batchbot.jobs.job import Item, request_hash
from batchbot.jobs.schema import JobSchema, strict
from batchbot.outcome import OK, Choice, Outcome, ToolCall, Usage

SCHEMA = strict(
    {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}}
)
FORMAT = {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA, "strict": True}}
TOOL = {"type": "function", "function": {"name": "save", "parameters": SCHEMA}}


def outcome(body_params: dict, **answer) -> Outcome:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **body_params}
    item = Item("q1", body, request_hash(body), 1)
    answer.setdefault("finish_reason", "stop")
    return Outcome(item, OK, "t", "t", usage=Usage(1, 1, 2), **answer)


@pytest.mark.parametrize(
    ("params", "answer", "status", "parsed", "error"),
    [
        pytest.param({}, {"content": "Paris"}, "ok", None, None, id="no-schema"),
        pytest.param(
            {"response_format": FORMAT},
            {"content": '{"city": "Paris", "n": 2}'},
            "ok",
            {"city": "Paris", "n": 2},
            None,
            id="valid",
        ),
        pytest.param(
            {"response_format": FORMAT},
            {"content": '{"city": "Paris"'},
            "invalid",
            None,
            "not JSON: Expecting ',' delimiter (line 1, column 17)",
            id="not-json",
        ),
        pytest.param(
            {"response_format": FORMAT},
            {"content": '{"city": "Paris", "n": "two"}'},
            "invalid",
            None,
            "$.n: 'two' is not of type 'integer'",
            id="wrong-type",
        ),
        pytest.param(
            {"response_format": FORMAT},
            {"content": '{"city": "Paris"}'},
            "invalid",
            None,
            "$: 'n' is a required property",
            id="missing-field",
        ),
        pytest.param(
            {"response_format": FORMAT},
            {"content": '{"city": "Par', "finish_reason": "length"},
            "truncated",
            None,
            "not JSON: Unterminated string starting at (line 1, column 10)",
            id="cut-off",
        ),
        pytest.param(
            {"response_format": FORMAT},
            {"content": None, "refusal": "I can't help with that."},
            "refused",
            None,
            None,
            id="refused",
        ),
        pytest.param(
            {"response_format": {"type": "json_object"}},
            {"content": "[1, 2]"},
            "invalid",
            None,
            "$: [1, 2] is not of type 'object'",
            id="json-object-wants-an-object",
        ),
        pytest.param(
            {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "save"}}},
            {"tool_calls": (ToolCall("call_1", "save", '{"city": "Oslo", "n": 1}'),)},
            "ok",
            {"city": "Oslo", "n": 1},
            None,
            id="forced-tool",
        ),
        pytest.param(
            {"tools": [TOOL], "tool_choice": "required"},
            {"content": "I would rather talk."},
            "invalid",
            None,
            "the answer does not call save",
            id="forced-tool-not-called",
        ),
        pytest.param(
            {"tools": [TOOL]},
            {"tool_calls": (ToolCall("call_1", "save", "not json"),)},
            "ok",
            None,
            None,
            id="auto-tool-not-checked",
        ),
        pytest.param(
            {"tools": [TOOL], "response_format": FORMAT},
            {"content": None, "tool_calls": (ToolCall("call_1", "save", "{}"),)},
            "ok",
            None,
            None,
            id="chosen-tool-beside-a-response-format",
        ),
        pytest.param(
            {"tools": [TOOL], "response_format": FORMAT},
            {"content": '{"city": "Oslo"}'},
            "invalid",
            None,
            "$: 'n' is a required property",
            id="text-beside-tools-still-validated",
        ),
    ],
)
def test_checking_an_answer(params, answer, status, parsed, error):
    """Each kind of answer gets its status, its parsed JSON or the first thing wrong with it."""
    checked = Checker().check(outcome(params, **answer))
    assert checked.status == status
    assert (json.loads(checked.parsed) if checked.parsed else None) == parsed
    assert checked.validation_error == error


def test_every_choice_is_checked_and_the_gravest_wins():
    """With n > 1 each choice gets its own status; the item takes the gravest, the first error."""
    choices = (
        Choice(0, '{"city": "A", "n": 1}', "stop"),
        Choice(1, '{"city": "B"}', "stop"),
        Choice(2, None, "stop", refusal="No."),
    )
    checked = Checker().check(outcome({"response_format": FORMAT}, choices=choices))
    assert [c.status for c in checked.choices] == ["ok", "invalid", "refused"]
    assert checked.status == "invalid"
    assert checked.parsed == '{"city":"A","n":1}'
    assert checked.validation_error == "choice 1: $: 'n' is a required property"


class Place(BaseModel):
    city: str
    n: int


def test_a_pydantic_model_validates_the_answers_of_its_schema():
    """A job whose schema is a Pydantic model has its answers checked by the model itself."""
    job = JobSchema("Place", strict(Place.model_json_schema()), Place)
    spec = {"name": "Place", "schema": job.schema, "strict": True}
    params = {"response_format": {"type": "json_schema", "json_schema": spec}}
    checker = Checker(schema=job)
    assert checker.check(outcome(params, content='{"city": "A", "n": 3}')).status == "ok"
    bad = checker.check(outcome(params, content='{"city": "A", "n": "many"}'))
    assert (bad.status, bad.validation_error) == (
        "invalid",
        "$.n: Input should be a valid integer, unable to parse string as an integer",
    )


def test_a_responses_answer_follows_its_text_format():
    """A Responses request's text.format is its schema."""
    body = {
        "model": "gpt-4.1-mini",
        "input": "hi",
        "text": {"format": {"type": "json_schema", "name": "x", "schema": SCHEMA}},
    }
    item = Item("r", body, request_hash(body), 1)
    answer = Outcome(item, OK, "t", "t", content='{"city": 1, "n": 1}', usage=Usage(1, 1, 2))
    checked = Checker(RESPONSES).check(answer)
    assert (checked.status, checked.validation_error) == (
        "invalid",
        "$.city: 1 is not of type 'string'",
    )
