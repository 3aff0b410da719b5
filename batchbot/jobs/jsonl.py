"""JSONL job files: one request a line, in batchbot's own shape or the OpenAI Batch API's.

    {"id": "q1", "messages": [...], "model": "gpt-4o-mini", "temperature": 0}
    {"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions", "body": {...}}

Files written for the Batch API run unchanged. Lines are read and checked one at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from batchbot.jobs.bodies import RESERVED, Draft, DraftSource, check_messages, make_body
from batchbot.jobs.fields import Where, check_id, check_keys, want_mapping, want_text
from batchbot.jobs.text import iter_lines, open_binary, parse_json_line

BATCH_KEYS = ("body", "custom_id", "method", "url")
CHAT_URL = "/v1/chat/completions"
NO_REQUESTS = "no requests: add one JSON request a line"
NO_MESSAGES = 'missing: add "messages": [{"role": "user", "content": "..."}]'
NO_MODEL = 'no model: add "model" to the line, or pass --model'


def jsonl_source(path: Path, *, model: str | None, overrides: Mapping[str, Any]) -> DraftSource:
    """The drafts of a JSONL job; the file must be readable now, its lines are checked later."""
    open_binary(path).close()
    return DraftSource(lambda: _drafts(path, model, overrides), path, NO_REQUESTS)


def _drafts(path: Path, model: str | None, overrides: Mapping[str, Any]) -> Iterator[Draft]:
    for number, text in iter_lines(path):
        if text.strip():
            value = parse_json_line(text, path, number)
            yield line_draft(value, Where(path, number), model, overrides)


def line_draft(
    value: object, where: Where, model: str | None, overrides: Mapping[str, Any]
) -> Draft:
    """One line's Draft; `model` and `overrides` (from the CLI) win over the line's own."""
    line = want_mapping(value, where, what="a JSON object")
    if not any(key in line for key in BATCH_KEYS):
        item_id = None if line.get("id") is None else check_id(line["id"], where, "id")
        return _draft(item_id, line, where, (), model, overrides)
    check_keys(line, BATCH_KEYS, where)
    for key in BATCH_KEYS:
        if key not in line:
            raise where.error("missing: a Batch API line has custom_id, method, url and body", key)
    if line["method"] != "POST":
        raise where.error(f'must be "POST", not {json.dumps(line["method"])}', "method")
    if line["url"] != CHAT_URL:
        raise where.error(
            f"must be {CHAT_URL}: batchbot runs Chat Completions, not {json.dumps(line['url'])}",
            "url",
        )
    item_id = check_id(line["custom_id"], where, "custom_id")
    body = want_mapping(line["body"], where, "body", what="a JSON object")
    return _draft(item_id, body, where, ("body",), model, overrides)


def _draft(
    item_id: str | None,
    request: dict[str, Any],
    where: Where,
    prefix: tuple[str, ...],
    model: str | None,
    overrides: Mapping[str, Any],
) -> Draft:
    if "messages" not in request:
        raise where.error(NO_MESSAGES, *prefix, "messages")
    messages = check_messages(request["messages"], where, *prefix, "messages")
    own = request.get("model")
    own = None if own is None else want_text(own, where, *prefix, "model")
    chosen = model or own
    if chosen is None:
        raise where.error(NO_MODEL, *prefix, "model")
    skip = (*RESERVED, "id") if not prefix else RESERVED  # a chat line's id is not a parameter
    params = {key: value for key, value in request.items() if key not in skip}
    return Draft(item_id, make_body(chosen, messages, params, overrides), where.path, where.line)
