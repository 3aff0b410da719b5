"""Checking an answer: refused, cut off, or - when its request asks for JSON - parsed and valid.

Every answer passes here. A refusal makes the item `refused`; a `length` finish keeps it
`truncated`. When the request has a schema (jobs.schema.output_schema: `schema:`, a json_schema
response format or text.format, or a forced tool call), the answer's text (or the forced
call's arguments) is parsed and validated: with the job's Pydantic model when it gave one, else
with jsonschema, against the schema the request sent. A valid answer keeps its JSON in
`parsed`; one that is not JSON, or does not follow the schema, makes the item `invalid` with the
first thing wrong in `validation_error`. An answer that calls a tool the model was free to call
(tools offered, the choice left to it) is an answer too: `ok`, its calls in `tool_calls`, as
the schema is for answers in text. Every choice of `n` is checked; the item takes the gravest
status of its choices (truncated, invalid, refused, then ok).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, exceptions, validators

from batchbot.endpoints import CHAT
from batchbot.jobs.schema import JobSchema, OutputSchema, output_schema
from batchbot.outcome import ANSWERED, INVALID, OK, REFUSED, TRUNCATED, Choice, Outcome

__all__ = ["Checker", "checked_text"]

GRAVEST_FIRST = (TRUNCATED, INVALID, REFUSED, OK)
MAX_ERROR_CHARS = 300  # a validation error may quote the whole answer: enough to see what


class Checker:
    """Checks the answers of one job: its endpoint, and its `schema:` (for a Pydantic model)."""

    def __init__(self, endpoint: str = CHAT, schema: JobSchema | None = None) -> None:
        self.endpoint = endpoint
        self.job_schema = schema

    def check(self, outcome: Outcome) -> Outcome:
        """`outcome` with its status, `parsed` and `validation_error` as its answer deserves."""
        if outcome.status not in ANSWERED or outcome.vectors:
            return outcome
        spec = output_schema(outcome.item.body, self.endpoint)
        if spec is None and not outcome.refusal and not outcome.choices:
            return outcome  # the common case: plain text, already ok or truncated
        choices = [self._choice(choice, spec) for choice in outcome.all_choices()]
        several = len(choices) > 1
        errors = [
            f"choice {c.index}: {c.validation_error}" if several else c.validation_error
            for c in choices
            if c.validation_error
        ]
        return dataclasses.replace(
            outcome,
            status=min((c.status for c in choices), key=GRAVEST_FIRST.index),
            parsed=choices[0].parsed,
            validation_error=errors[0] if errors else None,
            choices=tuple(choices) if several else (),
        )

    def _choice(self, choice: Choice, spec: OutputSchema | None) -> Choice:
        cut = choice.finish_reason == "length"
        if choice.refusal and not choice.content and not choice.tool_calls:
            return dataclasses.replace(choice, status=REFUSED)
        if spec is None or (spec.tool is None and choice.content is None and choice.tool_calls):
            # A tool call the model chose (the request left it the choice) is its answer, kept
            # in tool_calls; the schema is for answers in text.
            return dataclasses.replace(choice, status=TRUNCATED if cut else OK)
        parsed, error = self._parse(choice, spec)
        status = TRUNCATED if cut else INVALID if error else OK
        return dataclasses.replace(choice, status=status, parsed=parsed, validation_error=error)

    def _parse(self, choice: Choice, spec: OutputSchema) -> tuple[str | None, str | None]:
        """(the JSON, None) if the answer is valid, else (None, what is wrong)."""
        if spec.tool is None:
            text = choice.content
            if text is None:
                return None, "the answer has no text to parse"
        else:
            call = next((call for call in choice.tool_calls if call.name == spec.tool), None)
            if call is None:
                return None, f"the answer does not call {spec.tool}"
            text = call.arguments
        model = self._model_for(spec)
        if model is not None:
            return _pydantic(model, text)
        return checked_text(text, spec.schema)

    def _model_for(self, spec: OutputSchema) -> Any:
        job = self.job_schema
        if job is None or job.model is None or spec.tool is not None:
            return None
        return job.model if spec.schema == job.schema else None


def checked_text(text: str, schema: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(compact JSON, None) when `text` is JSON that `schema` accepts, else (None, why not)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except RecursionError:
        return None, "not JSON: nested too deeply"
    try:
        error = exceptions.best_match(_validator(_key(schema)).iter_errors(value))
    except exceptions.SchemaError as exc:
        return None, _short(f"the schema itself is invalid: {exc.message}")
    if error is not None:
        return None, _short(f"{error.json_path}: {error.message}")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")), None


def _pydantic(model: Any, text: str) -> tuple[str | None, str | None]:
    from pydantic import ValidationError

    try:
        model.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        return None, _short(f"{where}: {first['msg']}")
    value = json.loads(text)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")), None


def _key(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=64)
def _validator(key: str) -> Any:
    """One validator per schema for the whole run: building one costs more than validating."""
    schema = json.loads(key)
    cls = validators.validator_for(schema, default=Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
