"""The fake answers structured requests as the API does: tool calls, JSON that validates, n
choices, Responses function calls; and, on demand, invalid JSON, refusals and cut-off answers.

Answers are checked with jsonschema here, not with batchbot's own checker: the fake is a
second opinion, and so is this test.
"""

from __future__ import annotations

import json
import urllib.request

import jsonschema
import openai
import pytest

from batchbot.fake.counting import text_tokens

CONTACT = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "age": {"type": "integer", "minimum": 18, "maximum": 30},
        "tags": {"type": "array", "items": {"enum": ["new", "vip"]}, "minItems": 1},
        "address": {"$ref": "#/$defs/address"},
        "nickname": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["name", "email", "age", "tags", "address", "nickname"],
    "additionalProperties": False,
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        }
    },
}
TOOL = {"type": "function", "function": {"name": "save_contact", "parameters": CONTACT}}
TOOL_NAME = {"name": "save_contact"}
ASK = [{"role": "user", "content": "Alice Smith, alice@example.com, 24, lives in Leeds"}]


@pytest.fixture
def client(fake_api):
    """The real openai client, pointed at the fake."""
    with openai.OpenAI(base_url=fake_api.url, api_key="sk-test", max_retries=0) as client:
        yield client


def chat(client, **params):
    return client.chat.completions.create(model="gpt-4o-mini", messages=ASK, **params)


def test_a_forced_tool_is_called_with_arguments_that_follow_its_parameters(client):
    """tool_choice naming a function gets a call to it (finish_reason stop, as the API says);
    `required` gets one too, with finish_reason tool_calls."""
    named = chat(client, tools=[TOOL], tool_choice={"type": "function", "function": TOOL_NAME})
    required = chat(client, tools=[TOOL], tool_choice="required")
    for answer, finish in ((named, "stop"), (required, "tool_calls")):
        (choice,) = answer.choices
        assert (choice.finish_reason, choice.message.content) == (finish, None)
        (call,) = choice.message.tool_calls
        assert call.id.startswith("call_")
        assert call.function.name == "save_contact"
        jsonschema.validate(json.loads(call.function.arguments), CONTACT)
        assert answer.usage.completion_tokens == text_tokens("gpt-4o-mini", call.function.arguments)


def test_auto_tool_choice_calls_a_tool_for_some_requests(client):
    """Offered tools on auto, the fake calls one for some questions and answers others in text,
    the same way each time for the same question."""
    kinds = []
    for n in range(12):
        messages = [{"role": "user", "content": f"Question {n}"}]
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=[TOOL]
        )
        again = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[TOOL])
        message = answer.choices[0].message
        kinds.append(bool(message.tool_calls))
        assert bool(again.choices[0].message.tool_calls) == kinds[-1]
        if message.tool_calls:
            assert answer.choices[0].finish_reason == "tool_calls"
            jsonschema.validate(json.loads(message.tool_calls[0].function.arguments), CONTACT)
        else:
            assert message.content
    assert any(kinds)
    assert not all(kinds)


def test_json_schema_and_json_object_answers_are_json(client):
    """A json_schema response format gets JSON that validates; json_object a JSON object."""
    spec = {"name": "contact", "schema": CONTACT, "strict": True}
    strict = chat(client, response_format={"type": "json_schema", "json_schema": spec})
    jsonschema.validate(json.loads(strict.choices[0].message.content), CONTACT)
    loose = chat(client, response_format={"type": "json_object"})
    assert isinstance(json.loads(loose.choices[0].message.content), dict)


def test_n_choices_are_all_answered_and_all_counted(client):
    """n: 3 gives three choices, and the usage counts the completion tokens of all three."""
    spec = {"name": "contact", "schema": CONTACT, "strict": True}
    answer = chat(client, n=3, response_format={"type": "json_schema", "json_schema": spec})
    assert [c.index for c in answer.choices] == [0, 1, 2]
    texts = [c.message.content for c in answer.choices]
    for text in texts:
        jsonschema.validate(json.loads(text), CONTACT)
    assert len(set(texts)) > 1  # three answers, not one thrice
    assert answer.usage.completion_tokens == sum(text_tokens("gpt-4o-mini", t) for t in texts)


def test_the_bill_counts_every_call_of_every_choice(client, fake_api):
    """n: 3 with a forced tool: the fake bills the prompt once and the arguments of all three
    choices' calls, as its usage says."""
    forced = {"type": "function", "function": TOOL_NAME}
    answer = chat(client, n=3, tools=[TOOL], tool_choice=forced)
    arguments = [c.message.tool_calls[0].function.arguments for c in answer.choices]
    completion = sum(text_tokens("gpt-4o-mini", text) for text in arguments)
    assert len(set(arguments)) > 1  # three calls, not one thrice
    assert answer.usage.completion_tokens == completion
    assert fake_api.stats.billed == {
        "gpt-4o-mini": {
            "requests": 1,
            "input_tokens": answer.usage.prompt_tokens,
            "cached_tokens": 0,
            "output_tokens": completion,
        }
    }


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        pytest.param(
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            "Invalid schema for response_format 'x': In context=(), 'additionalProperties' is "
            "required to be supplied and to be false.",
            id="open-object",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "required": ["a"],
                "additionalProperties": False,
            },
            "Invalid schema for response_format 'x': In context=(), 'required' is required to be "
            "supplied and to be an array including every key in properties. Missing 'b'.",
            id="optional-field",
        ),
    ],
)
def test_a_strict_schema_that_breaks_the_rules_is_refused(client, schema, message):
    """Strict mode's rules are the API's: an open object or an optional field is a 400."""
    spec = {"name": "x", "schema": schema, "strict": True}
    with pytest.raises(openai.BadRequestError) as refused:
        chat(client, response_format={"type": "json_schema", "json_schema": spec})
    assert refused.value.body == {
        "message": message,
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }


def test_responses_function_calls_and_text_format(client):
    """The Responses API answers a forced function with a function_call item, and text.format
    with JSON in its output text."""
    tool = {"type": "function", "name": "save_contact", "parameters": CONTACT}
    called = client.responses.create(
        model="gpt-4.1-mini",
        input=ASK[0]["content"],
        tools=[tool],
        tool_choice={"type": "function", "name": "save_contact"},
    )
    (call,) = [item for item in called.output if item.type == "function_call"]
    assert (called.status, call.name) == ("completed", "save_contact")
    jsonschema.validate(json.loads(call.arguments), CONTACT)
    formatted = client.responses.create(
        model="gpt-4.1-mini",
        input=ASK[0]["content"],
        text={"format": {"type": "json_schema", "name": "c", "schema": CONTACT, "strict": True}},
    )
    jsonschema.validate(json.loads(formatted.output_text), CONTACT)


def post(fake_api, path: str, data: dict) -> dict:
    url = fake_api.url.removesuffix("/v1") + path
    request = urllib.request.Request(url, json.dumps(data).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_shares_of_wrong_answers_are_set_over_http(client, fake_api):
    """POST /_fake/answers makes about that share of requests invalid, refused or cut off, the
    same ones each time; a seed picks others."""
    assert post(fake_api, "/_fake/answers", {"invalid": 0.2, "refusal": 0.1, "length": 0.1}) == {
        "ok": True
    }
    spec = {"name": "c", "schema": CONTACT, "strict": True}

    def outcomes() -> list[str]:
        found = []
        for n in range(200):
            messages = [{"role": "user", "content": f"Contact number {n}"}]
            answer = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                max_tokens=300,
                response_format={"type": "json_schema", "json_schema": spec},
            )
            found.append(_kind(answer.choices[0]))
        return found

    first = outcomes()
    assert first == outcomes()
    shares = {kind: first.count(kind) / len(first) for kind in set(first)}
    assert shares["invalid"] == pytest.approx(0.2, abs=0.07)
    assert shares["refused"] == pytest.approx(0.1, abs=0.05)
    assert shares["length"] == pytest.approx(0.1, abs=0.05)
    post(fake_api, "/_fake/answers", {"seed": 7})
    assert outcomes() != first


def _kind(choice) -> str:
    if choice.message.refusal:
        assert choice.message.content is None
        return "refused"
    if choice.finish_reason == "length":
        return "length"
    try:
        jsonschema.validate(json.loads(choice.message.content), CONTACT)
    except (ValueError, jsonschema.ValidationError):
        return "invalid"
    return "valid"


def test_markers_choose_the_wrong_answer(client):
    """[[fake:invalid]], [[fake:refusal]] and [[fake:length]] give that answer every time; a
    cut-off answer bills the whole max_tokens."""
    spec = {"name": "c", "schema": CONTACT, "strict": True}
    form = {"type": "json_schema", "json_schema": spec}
    for marker, kind in (("invalid", "invalid"), ("refusal", "refused"), ("length", "length")):
        messages = [{"role": "user", "content": f"Contact [[fake:{marker}]]"}]
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, max_tokens=200, response_format=form
        )
        assert _kind(answer.choices[0]) == kind
        if kind == "length":
            assert answer.usage.completion_tokens == 200


def test_bad_answer_shares_are_refused(fake_api):
    """Shares outside 0..1, or adding up past 1, are a 400 from the control endpoint."""
    request = urllib.request.Request(
        fake_api.url.removesuffix("/v1") + "/_fake/answers",
        json.dumps({"invalid": 0.8, "length": 0.5}).encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    refused.value.close()
    assert refused.value.code == 400
