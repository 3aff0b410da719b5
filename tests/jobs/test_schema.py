"""`schema:` in a job file: its forms, how it is sent, strict mode's rules, and its errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from batchbot.errors import JobFileError
from batchbot.jobs.job import load_job
from batchbot.jobs.schema import output_schema

OPEN = {"type": "object", "properties": {"city": {"type": "string"}}}
STRICT = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "additionalProperties": False,
    "required": ["city"],
}
MODELS = """\
from pydantic import BaseModel

class Street(BaseModel):
    name: str

class Place(BaseModel):
    city: str
    street: Street
    zip: str | None = None
"""


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a job (and its side files) in a fresh directory, load it, return its first body."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # imports a test makes leave no trace

    def write(text: str, **files: str) -> dict:
        for name, content in files.items():
            Path(name.replace("_", ".")).write_text(content, encoding="utf-8")
        Path("where.yaml").write_text(text, encoding="utf-8")
        return next(load_job("where.yaml").items()).body

    return write


def test_an_inline_schema_is_sent_strict_as_the_response_format(job):
    """Chat gets response_format json_schema, strict, named after the job; the schema is
    completed as strict mode wants: every property required, no others allowed."""
    body = job(f"model: gpt-4o-mini\nschema: {json.dumps(OPEN)}\nprompts: [Paris]\n")
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": STRICT, "strict": True},
    }
    assert output_schema(body).schema == STRICT


def test_nested_objects_are_completed_too(job):
    """Objects inside properties, arrays and $defs follow strict mode's rules as well; a
    property that happens to be called `properties` is a property, not a schema keyword."""
    schema = {
        "type": "object",
        "properties": {
            "properties": {"type": "string"},
            "stops": {"type": "array", "items": {"type": "object", "properties": {"at": {}}}},
            "home": {"$ref": "#/$defs/home"},
        },
        "$defs": {"home": {"type": "object", "properties": {"door": {"type": "integer"}}}},
    }
    body = job(f"model: gpt-4o-mini\nschema: {json.dumps(schema)}\nprompts: [Go]\n")
    sent = body["response_format"]["json_schema"]["schema"]
    assert sent["required"] == ["properties", "stops", "home"]
    assert sent["properties"]["properties"] == {"type": "string"}
    assert sent["properties"]["stops"]["items"]["additionalProperties"] is False
    assert sent["properties"]["stops"]["items"]["required"] == ["at"]
    assert sent["$defs"]["home"]["required"] == ["door"]


def test_a_schema_file_beside_the_job(job):
    """schema: x.json reads the file next to the job file."""
    body = job(
        "model: gpt-4o-mini\nschema: place.json\nprompts: [Paris]\n", place_json=json.dumps(OPEN)
    )
    assert body["response_format"]["json_schema"]["schema"] == STRICT


def test_a_pydantic_model_beside_the_job(job):
    """schema: module:Class imports the model (from beside the job file if need be) and sends
    its schema, strict, under the class's name."""
    body = job("model: gpt-4o-mini\nschema: places:Place\nprompts: [Paris]\n", places_py=MODELS)
    spec = body["response_format"]["json_schema"]
    assert spec["name"] == "Place"
    assert spec["schema"]["required"] == ["city", "street", "zip"]
    assert spec["schema"]["$defs"]["Street"]["additionalProperties"] is False
    assert load_job("where.yaml").settings.schema.model.__name__ == "Place"


def test_the_responses_api_gets_text_format(job):
    """A Responses job sends the schema as text.format, beside its other text settings."""
    body = job(
        "endpoint: /v1/responses\nmodel: gpt-4.1-mini\nparams: {text: {verbosity: low}}\n"
        f"schema: {json.dumps(OPEN)}\nprompts: [Paris]\n"
    )
    assert body["text"] == {
        "verbosity": "low",
        "format": {"type": "json_schema", "name": "answer", "schema": STRICT, "strict": True},
    }
    assert output_schema(body, "/v1/responses").schema == STRICT


BAD = {
    "a number": ("schema: 5", "where.yaml:2:9: schema: must be a JSON schema (a mapping like"),
    "a plain word": ("schema: invoice", "where.yaml:2:9: schema: must be a JSON schema"),
    "no such file": (
        "schema: gone.json",
        "where.yaml:2:9: schema: gone.json: no such file: check the path",
    ),
    "not json": (
        "schema: bad.json",
        "where.yaml:2:9: schema: bad.json: invalid JSON: Expecting property name enclosed in "
        "double quotes (line 1)",
    ),
    "not a module": ("schema: nowhere_at_all:Model", "where.yaml:2:9: schema: cannot import"),
    "not a model": (
        "schema: places:MODELS_TEXT",
        "where.yaml:2:9: schema: 'places:MODELS_TEXT' is missing, not a Pydantic model",
    ),
    "with a response format": (
        "schema: {type: object}\nparams: {response_format: {type: json_object}}",
        "where.yaml:2:9: schema: give schema: or a response_format in params:, not both",
    ),
    "embeddings": (
        "endpoint: /v1/embeddings\nschema: {type: object}",
        "where.yaml:3:9: schema: has no use in an embeddings job",
    ),
    "a misspelt policy": (
        "on_invalid: retyr",
        "where.yaml:2:13: on_invalid: 'retyr' is not one of keep, retry; did you mean 'retry'?",
    ),
    "a misspelt length policy": (
        "on_length: grow",
        "where.yaml:2:12: on_length: 'grow' is not one of keep, retry",
    ),
    "a zero cap": (
        "max_tokens_cap: 0",
        "where.yaml:2:17: max_tokens_cap: must be a whole number from 1 to 2,147,483,647, not "
        "the number 0",
    ),
    "a cap in text": (
        "max_tokens_cap: lots",
        "where.yaml:2:17: max_tokens_cap: must be a whole number from 1 to 2,147,483,647",
    ),
    "a fractional cap": (
        "max_tokens_cap: 1.5",
        "where.yaml:2:17: max_tokens_cap: must be a whole number",
    ),
    "no re-asks": (
        "max_reasks: 0",
        "where.yaml:2:13: max_reasks: must be a whole number from 1 to 100, not the number 0",
    ),
    "too many re-asks": (
        "max_reasks: 1e9",
        "where.yaml:2:13: max_reasks: must be a whole number from 1 to 100",
    ),
}


@pytest.mark.parametrize(("setting", "message"), BAD.values(), ids=BAD.keys())
def test_bad_schema_settings(job, setting, message):
    """Each mistake is one JobFileError naming the file, line, field and what to write."""
    with pytest.raises(JobFileError) as caught:
        job(
            f"model: gpt-4o-mini\n{setting}\nprompts: [x]\n",
            bad_json="{nope",
            places_py=MODELS,
        )
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("body", "endpoint", "tool"),
    [
        pytest.param(
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": STRICT}}],
             "tool_choice": {"type": "function", "function": {"name": "f"}}},
            "/v1/chat/completions", "f", id="chat-named",
        ),
        pytest.param(
            {"tools": [{"type": "function", "name": "f", "parameters": STRICT}],
             "tool_choice": "required"},
            "/v1/responses", "f", id="responses-required",
        ),
    ],
)  # fmt: skip
def test_a_forced_tool_is_a_schema_for_its_arguments(body, endpoint, tool):
    """A request forcing one function asks for arguments that follow its parameters."""
    found = output_schema(body, endpoint)
    assert (found.schema, found.tool) == (STRICT, tool)


def test_tools_on_auto_ask_for_nothing():
    """Tools offered on auto (or a required choice among several) force no structure."""
    tool = {"type": "function", "function": {"name": "f", "parameters": STRICT}}
    assert output_schema({"tools": [tool]}) is None
    assert (
        output_schema(
            {"tools": [tool, tool | {"function": {"name": "g"}}], "tool_choice": "required"}
        )
        is None
    )
