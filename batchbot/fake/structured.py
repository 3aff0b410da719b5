"""What shape the fake server's answer takes: JSON that follows a schema, or a tool call.

As the API does: a request whose `tool_choice` forces a function (by name, or `required`) is
answered with a call to it, its arguments following the function's `parameters`; one that
offers tools on `auto` calls one now and then (the same request always decides the same way);
a `response_format` / `text.format` json_schema gets JSON that validates, json_object some
JSON object. The JSON comes from the fake's own small generator below, which knows the parts
of JSON Schema that structured outputs allow (objects, arrays, enums, anyOf, $ref, formats,
bounds); strings are words from the question, so answers read as answers to it.

Strict schemas are checked as the API checks them: every object must list all its properties
as required and set additionalProperties to false, else the request is refused with a 400.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batchbot.fake.errors import ApiError

AUTO_CALL_SHARE = 0.5  # of requests offering tools on `auto`, the share that calls one
MAX_DEPTH = 8
FORMATS = {
    "date": "2024-05-17",
    "date-time": "2024-05-17T09:30:00Z",
    "time": "09:30:00",
    "email": "alex.morgan@example.com",
    "uri": "https://example.com/answer",
    "uuid": "3f2b8c1e-6d4a-4e8b-9c1f-2a7d5e9b0c44",
}
STRICT_OBJECT = (
    "Invalid schema for {what} '{name}': In context={context}, 'additionalProperties' is required "
    "to be supplied and to be false."
)
STRICT_REQUIRED = (
    "Invalid schema for {what} '{name}': In context={context}, 'required' is required to be "
    "supplied and to be an array including every key in properties. Missing '{key}'."
)


@dataclass(frozen=True, slots=True)
class Wanted:
    """What the answer must be: JSON following `schema` as text, or as `tool`'s arguments.

    `named`: the request forced the tool by name (the API then says finish_reason `stop`).
    """

    schema: Mapping[str, Any]
    tool: str | None = None
    named: bool = False


def wanted(body: Mapping[str, Any], *, chat: bool, seed: int) -> Wanted | None:
    """The structure the request asks its answer to have, if any."""
    functions = _functions(body, chat=chat)
    choice = body.get("tool_choice", "auto")
    if functions and choice != "none":
        if isinstance(choice, Mapping):
            named = (choice.get("function") or {}) if chat else choice
            name = named.get("name")
            if name in functions:
                return Wanted(functions[name], name, named=True)
        elif choice == "required" or random.Random(seed).random() < AUTO_CALL_SHARE:
            name = sorted(functions)[seed % len(functions)]
            return Wanted(functions[name], name)
    spec = body.get("response_format") if chat else (body.get("text") or {}).get("format")
    if isinstance(spec, Mapping) and spec.get("type") == "json_object":
        return Wanted({"type": "object", "properties": {"answer": {"type": "string"}}})
    if isinstance(spec, Mapping) and spec.get("type") == "json_schema":
        inner = spec.get("json_schema") if chat else spec
        schema = inner.get("schema") if isinstance(inner, Mapping) else None
        return Wanted(schema if isinstance(schema, Mapping) else {"type": "object"})
    return None


def check_strict(body: Mapping[str, Any], *, chat: bool) -> None:
    """Refuse, as the API does, a strict schema that breaks strict mode's rules."""
    spec = body.get("response_format") if chat else (body.get("text") or {}).get("format")
    if isinstance(spec, Mapping) and spec.get("type") == "json_schema":
        inner = spec.get("json_schema") if chat else spec
        if isinstance(inner, Mapping) and inner.get("strict"):
            what = "response_format" if chat else "text.format"
            _check_object(inner.get("schema"), what, str(inner.get("name", "")), ())
    for tool in body.get("tools") or ():
        function = tool.get("function", tool) if isinstance(tool, Mapping) else {}
        if isinstance(function, Mapping) and function.get("strict"):
            name = str(function.get("name", ""))
            _check_object(function.get("parameters"), "function", name, ())


def _check_object(node: Any, what: str, name: str, context: tuple[str, ...]) -> None:
    if isinstance(node, list):
        for entry in node:
            _check_object(entry, what, name, context)
        return
    if not isinstance(node, Mapping):
        return
    properties = node.get("properties")
    where = "(" + ", ".join(repr(part) for part in context) + ("," if len(context) == 1 else "")
    where += ")"
    if node.get("type") == "object" or isinstance(properties, Mapping):
        if node.get("additionalProperties") is not False:
            raise _invalid_schema(STRICT_OBJECT.format(what=what, name=name, context=where), what)
        for key in properties or {}:
            if key not in (node.get("required") or ()):
                message = STRICT_REQUIRED.format(what=what, name=name, context=where, key=key)
                raise _invalid_schema(message, what)
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            for child, spec in value.items():
                _check_object(spec, what, name, (*context, key, str(child)))
        elif key in ("items", "anyOf", "oneOf", "allOf"):
            _check_object(value, what, name, (*context, key))


def _invalid_schema(message: str, what: str) -> ApiError:
    return ApiError(400, message, param="response_format" if what != "function" else "tools")


def _functions(body: Mapping[str, Any], *, chat: bool) -> dict[str, Mapping[str, Any]]:
    """The function tools offered, by name, with their parameters."""
    found = {}
    for tool in body.get("tools") or ():
        if not isinstance(tool, Mapping) or tool.get("type", "function") != "function":
            continue
        spec = tool.get("function", {}) if chat else tool
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            parameters = spec.get("parameters")
            found[spec["name"]] = parameters if isinstance(parameters, Mapping) else {}
    return found


def json_text(wanted: Wanted, rng: random.Random, words: Sequence[str], *, broken: bool) -> str:
    """Compact JSON that follows the schema; `broken`: JSON that does not (a share of the
    time not even JSON), as a model gets it wrong now and then."""
    value = generate(wanted.schema, wanted.schema, rng, words or ("answer",), 0)
    if broken:
        if rng.random() < 0.5 and isinstance(value, dict) and value:
            value.pop(next(iter(value)))  # a required field missing
        else:
            return json.dumps(value, ensure_ascii=False)[:-1]  # cut short
    return json.dumps(value, ensure_ascii=False)


def generate(
    schema: Any, root: Mapping[str, Any], rng: random.Random, words: Sequence[str], depth: int
) -> Any:
    """A value that `schema` accepts (within what structured outputs allow)."""
    if not isinstance(schema, Mapping) or depth > MAX_DEPTH:
        return None
    schema = _resolved(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        variants = [v for v in schema.get(key) or () if isinstance(v, Mapping)]
        if variants:
            typed = [v for v in variants if _resolved(v, root).get("type") != "null"]
            return generate((typed or variants)[0], root, rng, words, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            name: generate(spec, root, rng, words, depth + 1) for name, spec in properties.items()
        }
    if kind == "array":
        count = max(int(schema.get("minItems") or 0), min(int(schema.get("maxItems") or 2), 2))
        return [generate(schema.get("items"), root, rng, words, depth + 1) for _ in range(count)]
    return _scalar(kind, schema, rng, words)


def _scalar(kind: str, schema: Mapping[str, Any], rng: random.Random, words: Sequence[str]) -> Any:
    if kind == "integer":
        return int(_bounded(schema, rng.randint(1, 100)))
    if kind == "number":
        return round(_bounded(schema, rng.uniform(1, 100)), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if schema.get("format") in FORMATS:
        return FORMATS[schema["format"]]
    start = rng.randrange(len(words))
    text = " ".join(words[start : start + rng.randint(1, 3)]).strip(" ?.!,:;") or "yes"
    low, high = int(schema.get("minLength") or 0), schema.get("maxLength")
    text = text.ljust(low, "x")
    return text[: int(high)] if isinstance(high, int) else text


def _bounded(schema: Mapping[str, Any], value: float) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if isinstance(low, int | float) and value <= low:
        value = low + (1 if "exclusiveMinimum" in schema else 0)
    if isinstance(high, int | float) and value >= high:
        value = high - (1 if "exclusiveMaximum" in schema else 0)
    return value


def _resolved(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """`{"$ref": "#/$defs/X"}` as the schema it points at (other keys win)."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    target: Any = root
    for part in ref[2:].split("/"):
        target = target.get(part) if isinstance(target, Mapping) else None
    if not isinstance(target, Mapping):
        return {k: v for k, v in schema.items() if k != "$ref"}
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
