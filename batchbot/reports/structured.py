"""Structured answers in exports: a tool call's arguments as the answer, and CSV columns for a
schema's fields.

A CSV export of a job with a schema (`schema:`, a json_schema response format or text.format,
a forced tool) has one column per top-level field of the schema after the usual ones, holding
the parsed answer's value (nested objects and lists as JSON text); a field named like one of
the usual columns is prefixed `parsed.`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from batchbot.endpoints import CHAT, RESPONSES
from batchbot.jobs.schema import output_schema

__all__ = ["answer_text", "field_columns", "field_values"]


def answer_text(content: str | None, tool_calls: str | None) -> str | None:
    """The answer: its text, else one tool call's arguments, else every call (as JSON)."""
    if content is not None or tool_calls is None:
        return content
    calls = json.loads(tool_calls)
    return str(calls[0]["arguments"]) if len(calls) == 1 else tool_calls


def field_columns(request: str, taken: Iterable[str]) -> dict[str, str]:
    """The schema's top-level fields of this request, each with its column's name."""
    body = json.loads(request)
    spec = output_schema(body, CHAT) or output_schema(body, RESPONSES)
    properties = spec.schema.get("properties") if spec else None
    if not isinstance(properties, Mapping):
        return {}
    taken = set(taken)
    return {str(name): f"parsed.{name}" if name in taken else str(name) for name in properties}


def field_values(parsed: str | None, columns: Mapping[str, str]) -> dict[str, Any]:
    """A parsed answer's fields as CSV cells: scalars as they are, the rest as JSON text."""
    value = json.loads(parsed) if parsed else None
    cells: dict[str, Any] = {}
    for field, column in columns.items():
        found = value.get(field) if isinstance(value, dict) else None
        cells[column] = json.dumps(found, ensure_ascii=False) if _nested(found) else found
    return cells


def _nested(value: Any) -> bool:
    return isinstance(value, dict | list)
