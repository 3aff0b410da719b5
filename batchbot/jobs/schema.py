"""Structured outputs: the JSON schema a job's answers must follow, and how it is sent.

A YAML job gives one with `schema:`, in one of three forms:

    schema: {type: object, properties: {...}}   # inline
    schema: invoice.json                         # a file, relative to the job file
    schema: models:Invoice                       # a Pydantic model, as module:Class

and batchbot sends it the way the endpoint wants it: chat as `response_format` (json_schema,
strict), Responses as `text.format`. A request that carries its own schema counts the same, from
any job (a JSONL line, `params:`): a json_schema `response_format` or `text.format`, a
json_object one (any JSON object), or a `tool_choice` forcing one function, whose `parameters`
the call's arguments must then follow (`output_schema`).

Strict mode has rules of its own (OpenAI's structured-outputs guide): every object lists all its
properties as required and allows no others. A schema given with `schema:` is completed to
follow them, as the openai SDK does for a Pydantic model, so the API takes it as written; make a
field optional by letting it be null (`type: [string, "null"]`).
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchbot.endpoints import CHAT, EMBEDDINGS, RESPONSES
from batchbot.errors import JobFileError
from batchbot.jobs.fields import Where, describe
from batchbot.jobs.text import read_text

__all__ = ["JobSchema", "OutputSchema", "output_schema", "parse_schema", "schema_params"]

SCHEMA_SHAPE = (
    "a JSON schema (a mapping like {type: object, properties: {...}}), the path of a .json file "
    "holding one, or a Pydantic model as module:Class"
)
NOT_A_MODEL = "{value!r} is {kind}, not a Pydantic model: name a class that subclasses BaseModel"
NO_MODULE = (
    "cannot import {module!r} ({error}): put it beside the job file or on the Python path, or "
    "give the schema as JSON"
)
BOTH = "give schema: or a {key} in params:, not both: schema: sends it as {key}"
NO_EMBEDDINGS = "has no use in an embeddings job: an embedding is no answer to check; remove it"
NAME = re.compile(r"[^A-Za-z0-9_-]+")
NAME_LENGTH = 64  # what the API takes as a schema's name
ANY_OBJECT: Mapping[str, Any] = {"type": "object"}
# Where a JSON schema holds further schemas: by name, in a list, or one.
NAMED_SCHEMAS = ("properties", "$defs", "definitions", "patternProperties")
LISTED_SCHEMAS = ("anyOf", "oneOf", "allOf", "prefixItems")
ONE_SCHEMA = ("items", "additionalProperties", "not", "contains", "if", "then", "else")


@dataclass(frozen=True, slots=True)
class JobSchema:
    """A job's `schema:`: its name, the schema as sent (strict), and its Pydantic model if any."""

    name: str
    schema: Mapping[str, Any]
    model: type | None = None


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """What an item's answer must be: JSON following `schema`, in its text or, when `tool`
    names a function, in the arguments of the call to it."""

    schema: Mapping[str, Any]
    tool: str | None = None


def parse_schema(value: object, where: Where, *parts: str | int) -> JobSchema:
    """`schema:` read into a JobSchema; file and import problems are JobFileErrors."""
    if isinstance(value, dict):
        return JobSchema(_schema_name(value), strict(value))
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"must be {SCHEMA_SHAPE}, not {describe(value)}", *parts)
    if value.lower().endswith(".json"):
        path = where.path.parent / value
        schema = _json_file(path, where, *parts)
        return JobSchema(_schema_name(schema), strict(schema))
    if ":" in value:
        model = _import_model(value, where.path.parent, where, *parts)
        return JobSchema(model.__name__[:NAME_LENGTH], strict(model.model_json_schema()), model)
    raise where.error(f"must be {SCHEMA_SHAPE}, not {value!r}", *parts)


def _schema_name(schema: Mapping[str, Any]) -> str:
    """The name sent with a schema: its `title`, else "answer" — never the job's name, so the
    same schema asked by two jobs is the same request to the response cache."""
    title = schema.get("title")
    name = NAME.sub("_", title).strip("_")[:NAME_LENGTH] if isinstance(title, str) else ""
    return name or "answer"


def schema_params(
    schema: JobSchema, endpoint: str, params: Mapping[str, Any], where: Where
) -> dict[str, Any]:
    """The job's params with the schema added as the endpoint takes it."""
    if endpoint == EMBEDDINGS:
        raise where.error(NO_EMBEDDINGS, "schema")
    if endpoint == RESPONSES:
        text = params.get("text")
        text = dict(text) if isinstance(text, Mapping) else {}
        if "format" in text:
            raise where.error(BOTH.format(key="text.format"), "schema")
        spec: dict[str, Any] = {"type": "json_schema", "name": schema.name}
        spec |= {"schema": schema.schema, "strict": True}
        return {**params, "text": {**text, "format": spec}}
    if "response_format" in params:
        raise where.error(BOTH.format(key="response_format"), "schema")
    inner: dict[str, Any] = {"name": schema.name, "schema": schema.schema, "strict": True}
    return {**params, "response_format": {"type": "json_schema", "json_schema": inner}}


def output_schema(body: Mapping[str, Any], endpoint: str = CHAT) -> OutputSchema | None:
    """What the request asks its answer to be, if anything: see the module docstring."""
    tool = _forced_tool(body, endpoint)
    if tool is not None:
        return tool
    if endpoint == RESPONSES:
        text = body.get("text")
        spec = text.get("format") if isinstance(text, Mapping) else None
        return _format(spec, spec)
    if endpoint == CHAT:
        spec = body.get("response_format")
        inner = spec.get("json_schema") if isinstance(spec, Mapping) else None
        return _format(spec, inner)
    return None


def _format(spec: Any, inner: Any) -> OutputSchema | None:
    """A response format's schema: json_schema's own, or any object for json_object."""
    if not isinstance(spec, Mapping):
        return None
    if spec.get("type") == "json_object":
        return OutputSchema(ANY_OBJECT)
    if spec.get("type") == "json_schema" and isinstance(inner, Mapping):
        schema = inner.get("schema")
        return OutputSchema(schema if isinstance(schema, Mapping) else ANY_OBJECT)
    return None


def _forced_tool(body: Mapping[str, Any], endpoint: str) -> OutputSchema | None:
    """The function `tool_choice` makes the model call (one by name, or `required` with one
    function offered), with its parameters as the schema of the call's arguments."""
    functions = {}
    for tool in body.get("tools") or ():
        if isinstance(tool, Mapping) and tool.get("type", "function") == "function":
            spec = tool.get("function", tool) if endpoint == CHAT else tool
            if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
                functions[spec["name"]] = spec.get("parameters")
    choice = body.get("tool_choice")
    name = None
    if choice == "required" and len(functions) == 1:
        (name,) = functions
    elif isinstance(choice, Mapping) and choice.get("type") == "function":
        named = choice.get("function") if endpoint == CHAT else choice
        name = named.get("name") if isinstance(named, Mapping) else None
    if name not in functions:
        return None
    parameters = functions[name]
    return OutputSchema(parameters if isinstance(parameters, Mapping) else ANY_OBJECT, tool=name)


def strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `schema` that follows strict mode's rules: every object's properties all
    required and no others allowed (where it does not say otherwise)."""
    result = copy.deepcopy(dict(schema))
    _strictify(result)
    return result


def _strictify(node: Any) -> None:
    if not isinstance(node, dict):
        return
    properties = node.get("properties")
    if node.get("type") == "object" or isinstance(properties, dict):
        node.setdefault("additionalProperties", False)
        if isinstance(properties, dict):
            node["required"] = list(properties)
    if node.get("default", ...) is None:
        del node["default"]  # a null default says nothing once the field is required
    for key in NAMED_SCHEMAS:
        if isinstance(node.get(key), dict):
            for child in node[key].values():
                _strictify(child)
    for key in LISTED_SCHEMAS:
        if isinstance(node.get(key), list):
            for child in node[key]:
                _strictify(child)
    for key in ONE_SCHEMA:
        _strictify(node.get(key))


def _json_file(path: Path, where: Where, *parts: str | int) -> Mapping[str, Any]:
    try:
        text = read_text(path)
    except JobFileError as exc:  # said where `schema:` names it, which is what to fix
        raise where.error(f"{path}: {exc.reason}", *parts) from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise where.error(f"{path}: invalid JSON: {exc.msg} (line {exc.lineno})", *parts) from None
    if not isinstance(schema, dict):
        raise where.error(f"{path} must hold a JSON schema object, not {describe(schema)}", *parts)
    return schema


def _import_model(value: str, beside: Path, where: Where, *parts: str | int) -> Any:
    """The class `module:Class` names, its module looked for on the path, then beside the job."""
    module_name, _, class_name = value.partition(":")
    try:
        module = _import(module_name.strip(), beside)
    except ImportError as exc:
        message = NO_MODULE.format(module=module_name, error=exc)
        raise where.error(message, *parts) from None
    model = getattr(module, class_name.strip(), None)
    if not callable(getattr(model, "model_json_schema", None)):
        kind = "missing" if model is None else describe(model)
        raise where.error(NOT_A_MODEL.format(value=value, kind=kind), *parts)
    return model


def _import(name: str, beside: Path) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name.split(".")[0]:
            raise  # the module exists, something it imports does not
    sys.path.insert(0, str(beside.resolve()))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(beside.resolve()))
