"""JSONL job files: one request a line, in batchbot's own shape or the OpenAI Batch API's.

    {"id": "q1", "messages": [...], "model": "gpt-4o-mini", "temperature": 0}
    {"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions", "body": {...}}

Files written for the Batch API run unchanged, and so do files written for OpenAI's cookbook
script (api_request_parallel_processor.py): their `metadata` is the item's own (stored with its
answer and exported, never sent), as that script keeps it. Lines are read and checked one at
a time. The job's endpoint is `--endpoint`, else the first line's `url`, else what the first
line looks like: `messages` is chat, `input` the embeddings API when the model is an
embeddings model and the Responses API when not. A line asking for another endpoint is an
error, as one job calls one endpoint. Responses lines carry `input` (and pass every other key
through), embeddings lines one text as `input`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from batchbot.endpoints import CHAT, EMBEDDINGS, ENDPOINTS, RESPONSES, is_embeddings_model
from batchbot.errors import JobFileError
from batchbot.jobs.bodies import RESERVED, Draft, DraftSource, check_messages, make_body
from batchbot.jobs.fields import Where, check_id, check_keys, want_list, want_mapping, want_text
from batchbot.jobs.params import check_names
from batchbot.jobs.text import iter_lines, open_binary, parse_json_line
from batchbot.jobs.values import check_parameters

BATCH_KEYS = ("body", "custom_id", "method", "url")
# A line's own metadata, kept with its answer and never sent (the cookbook script's sidecar).
METADATA = "metadata"
INFINITE_METADATA = "holds a number too large to keep (it reads as infinity): use a smaller one"
NO_REQUESTS = "no requests: add one JSON request a line"
NO_MESSAGES = 'missing: add "messages": [{"role": "user", "content": "..."}]'
NO_INPUT = 'missing: add "input" with the text{what}'
NO_MODEL = 'no model: add "model" to the line, or pass --model'
OTHER_ENDPOINT = (
    "asks for {url}, but this job calls {endpoint} ({why}): one job, one endpoint; put these "
    "requests in a job file of their own"
)


def jsonl_source(
    path: Path,
    *,
    model: str | None,
    overrides: Mapping[str, Any],
    endpoint: str | None = None,
    allowed: frozenset[str] = frozenset(),
) -> tuple[str, DraftSource]:
    """The job's endpoint and drafts; the file must be readable now, its lines are checked later."""
    open_binary(path).close()
    why = "--endpoint"
    if endpoint is None:
        endpoint, why = _first_endpoint(path, model)
    lines = _Lines(endpoint, why, model, overrides, allowed)
    return endpoint, DraftSource(lambda: lines.drafts(path), path, NO_REQUESTS)


def _metadata(value: object, where: Where) -> str:
    """A line's own metadata as the compact JSON text it is stored as."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise where.error(INFINITE_METADATA, METADATA) from None


def _first_endpoint(path: Path, model: str | None) -> tuple[str, str]:
    """The endpoint the first line asks for, and what says so: its Batch API `url`, else its
    shape (see the module docstring); Chat Completions when it says nothing."""
    for number, text in iter_lines(path):
        if not text.strip():
            continue
        with contextlib.suppress(JobFileError):
            value = parse_json_line(text, path, number)
            if isinstance(value, dict):
                return _endpoint_of(value, model)
        break
    return CHAT, "the default"


def _endpoint_of(line: dict[str, Any], model: str | None) -> tuple[str, str]:
    if "url" in line:
        url = line["url"]
        return (url if url in ENDPOINTS else CHAT), "line 1's url"
    if "input" in line and "messages" not in line:
        if is_embeddings_model(model or line.get("model")):
            return EMBEDDINGS, "line 1's input for an embeddings model"
        return RESPONSES, "line 1's input"
    return CHAT, "line 1's messages"


class _Lines:
    """Turns lines into Drafts of one endpoint; the CLI's model and params win."""

    def __init__(
        self,
        endpoint: str,
        why: str,
        model: str | None,
        overrides: Mapping[str, Any],
        allowed: frozenset[str],
    ) -> None:
        self.endpoint, self.why, self.model, self.overrides = endpoint, why, model, overrides
        self.allowed = allowed

    def drafts(self, path: Path) -> Iterator[Draft]:
        for number, text in iter_lines(path):
            if text.strip():
                value = parse_json_line(text, path, number)
                yield self.draft(value, Where(path, number))

    def draft(self, value: object, where: Where) -> Draft:
        line = want_mapping(value, where, what="a JSON object")
        if not any(key in line for key in BATCH_KEYS):
            item_id = None if line.get("id") is None else check_id(line["id"], where, "id")
            request = {key: value for key, value in line.items() if key != METADATA}
            draft = self._draft(item_id, request, where, ())
            if line.get(METADATA) is None:
                return draft
            return dataclasses.replace(draft, metadata=_metadata(line[METADATA], where))
        check_keys(line, BATCH_KEYS, where)
        for key in BATCH_KEYS:
            if key not in line:
                raise where.error(
                    "missing: a Batch API line has custom_id, method, url and body", key
                )
        if line["method"] != "POST":
            raise where.error(f'must be "POST", not {json.dumps(line["method"])}', "method")
        self._check_url(line["url"], where)
        item_id = check_id(line["custom_id"], where, "custom_id")
        body = want_mapping(line["body"], where, "body", what="a JSON object")
        return self._draft(item_id, body, where, ("body",))

    def _check_url(self, url: object, where: Where) -> None:
        if url not in ENDPOINTS:
            raise where.error(
                f"must be one of {', '.join(ENDPOINTS)}, not {json.dumps(url)}", "url"
            )
        if url != self.endpoint:
            message = OTHER_ENDPOINT.format(url=url, endpoint=self.endpoint, why=self.why)
            raise where.error(message, "url")

    def _draft(
        self, item_id: str | None, request: dict[str, Any], where: Where, prefix: tuple[str, ...]
    ) -> Draft:
        check_parameters(request, where, *prefix)
        messages: list[Any] = []
        if self.endpoint == CHAT:
            if "messages" not in request:
                raise where.error(NO_MESSAGES, *prefix, "messages")
            messages = check_messages(request["messages"], where, *prefix, "messages")
        else:
            self._check_input(request, where, prefix)
        own = request.get("model")
        own = None if own is None else want_text(own, where, *prefix, "model")
        chosen = self.model or own
        if chosen is None:
            raise where.error(NO_MODEL, *prefix, "model")
        skip = ("model", "id") if not prefix else ("model",)  # a plain line's id is no parameter
        params = {key: value for key, value in request.items() if key not in skip}
        check_names(params, self.endpoint, self.allowed, where, *prefix)
        if self.endpoint == CHAT:
            params = {key: value for key, value in params.items() if key not in RESERVED}
            body = make_body(chosen, messages, params, self.overrides)
        else:
            body = {"model": chosen, **params, **self.overrides}
        return Draft(item_id, body, where.path, where.line)

    def _check_input(self, request: dict[str, Any], where: Where, prefix: tuple[str, ...]) -> None:
        embeddings = self.endpoint == EMBEDDINGS
        if "input" not in request:
            what = " to embed" if embeddings else ', or a list of {"role", "content"} items'
            raise where.error(NO_INPUT.format(what=what), *prefix, "input")
        value = request["input"]
        if embeddings or isinstance(value, str):
            want_text(value, where, *prefix, "input")
        elif not want_list(value, where, *prefix, "input"):
            raise where.error("is empty: give at least one input item", *prefix, "input")
