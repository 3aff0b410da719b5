"""YAML job files: settings plus either `prompts` or `template` + `inputs`.

The file is composed once with PyYAML's safe loader into nodes, and the nodes turned into plain
JSON-like values by hand, so every value keeps the line and column it was written at, nothing
but plain data is ever constructed, and YAML's surprises (a date where text was meant,
duplicate keys, aliases that loop) become messages instead of odd bodies. Prompts are turned
into request bodies lazily, one at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from batchbot.endpoints import CHAT, EMBEDDINGS, is_embeddings_model
from batchbot.errors import JobFileError
from batchbot.jobs.bodies import (
    EMBED_SYSTEM,
    INSTRUCTION_ROLES,
    RESERVED,
    BodyDefaults,
    Draft,
    DraftSource,
    check_messages,
    check_params,
    user_message,
)
from batchbot.jobs.fields import (
    FieldPath,
    Position,
    Where,
    check_id,
    check_keys,
    describe,
    render_path,
    want_list,
    want_mapping,
    want_text,
)
from batchbot.jobs.inputs import check_template, resolve_inputs, template_source
from batchbot.jobs.params import PARAMETERS, check_extra, check_names
from batchbot.jobs.schema import parse_schema, schema_params
from batchbot.jobs.settings import JobSettings, parse_settings
from batchbot.jobs.text import read_text

JOB_KEYS = (
    "budget_usd",
    "cache",
    "budget_usd_per_day",
    "endpoint",
    "extra_params",
    "inputs",
    "limits",
    "max_reasks",
    "max_tokens_cap",
    "mode",
    "model",
    "name",
    "on_invalid",
    "on_length",
    "pack",
    "params",
    "price_as",
    "prices",
    "prompts",
    "schema",
    "system",
    "template",
    "tier",
    "token_count",
)
PROMPT_KEYS = ("id", "messages", "params", "system", "user")
# PyYAML's context for an opening it never saw closed -> what the user typed.
UNCLOSED = {
    "while parsing a flow sequence": "the [",
    "while parsing a flow mapping": "the {",
    "while scanning a quoted scalar": "the quote",
}
STANDARD_TAG = "tag:yaml.org,2002:"
MERGE_TAG = STANDARD_TAG + "merge"
# Plain data only: no python/*, no sets or ordered maps. Dates and binary are read to say
# what they are (and that they need quotes).
SCALAR_TAGS = frozenset(
    STANDARD_TAG + name for name in ("binary", "bool", "float", "int", "null", "str", "timestamp")
)
# libyaml's composer, where PyYAML was built with it, is ~100x faster on big files (a 10 MB
# prompt takes 0.1 s, not 20) and builds the same safe nodes. It is a little more lenient
# (`{user: Safe?}` passes), so ordinary-sized files keep PyYAML's exact rules, and a big file
# libyaml refuses is composed again by PyYAML for its messages and marks.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)
FAST_ABOVE_CHARS = 1_000_000
# YAML is read whole and every value keeps its position: past this, use JSONL or
# template + inputs, which are streamed.
MAX_YAML_BYTES = 32_000_000
TOO_BIG = (
    "is {size:,} bytes; YAML job files are read whole and may be at most {limit:,}: "
    "put the prompts in a .jsonl job or in template: + inputs: (both are streamed)"
)
# Aliases can expand exponentially ("billion laughs"); no real job file comes near this.
MAX_VALUES = 1_000_000

TOO_MANY_VALUES = (
    "more than {limit:,} values: check the aliases (*), or put this many prompts in a "
    ".jsonl job or in template: + inputs: (both are streamed)"
)
YAML_HINT = (
    "check the indentation, and quote text that contains ': ' or ' #', "
    "or '?' or ',' inside {...} or [...]"
)
EMPTY_FILE = "the job file is empty: add model: and prompts: (or template: + inputs:)"
NO_PROMPTS = "no prompts: add prompts: or template: + inputs:"
NO_MODEL = "no model: add model: to the job file, or pass --model"
NOT_MAPPING = "the top level must be a mapping of settings like model: and prompts:"
PROMPT_SHAPE = "text (one user message) or a mapping with user: or messages:"
PACK_ALONE = "only an embeddings job packs items into a request: remove it, or add endpoint: "


def load_yaml_job(
    path: Path,
    *,
    model: str | None,
    overrides: Mapping[str, Any],
    endpoint: str | None = None,
    allowed: frozenset[str] = frozenset(),
) -> tuple[str, JobSettings, DraftSource]:
    """The job's name, settings and drafts; the settings are checked now, prompts when read."""
    root = _compose(read_text(path, max_bytes=MAX_YAML_BYTES, too_big=TOO_BIG), path)
    if root is None:
        raise JobFileError(path, EMPTY_FILE)
    reader = _Reader(path)
    doc = reader.value(root, ())
    where = Where(path, reader.values[()][0], (), reader.values, reader.keys)
    if not isinstance(doc, dict):
        raise where.error(f"{NOT_MAPPING}, not {describe(doc)}")
    check_keys(doc, JOB_KEYS, where, parameters=_parameters(endpoint or doc.get("endpoint")))
    name = doc.get("name")
    name = path.stem if name is None else want_text(name, where, "name")
    settings = parse_settings(doc, where)
    model = model or settings.model
    # An embeddings model says what the job is for when the job does not.
    endpoint = endpoint or settings.endpoint or (EMBEDDINGS if is_embeddings_model(model) else CHAT)
    settings = dataclasses.replace(settings, endpoint=endpoint)
    _check_endpoint_settings(settings, where)
    if doc.get("schema") is not None:
        schema = parse_schema(doc["schema"], where, "schema")
        params = schema_params(schema, endpoint, settings.params, where)
        settings = dataclasses.replace(settings, schema=schema, params=MappingProxyType(params))
    if model is None:
        raise JobFileError(path, NO_MODEL, field="model")
    allowed = allowed | check_extra(settings.extra_params, endpoint, where, "extra_params")
    check_names(settings.params, endpoint, allowed, where, "params")
    defaults = BodyDefaults(
        model,
        settings.system,
        settings.params,
        overrides,
        endpoint,
        extra=settings.extra_params,
        allowed=allowed,
    )
    return name, settings, _source(doc, where, defaults)


def _parameters(endpoint: object) -> frozenset[str]:
    """The request parameters a job's params: may set, for a key that belongs there."""
    known = PARAMETERS.get(endpoint if isinstance(endpoint, str) else CHAT, frozenset())
    return known - frozenset(RESERVED)


def _check_endpoint_settings(settings: JobSettings, where: Where) -> None:
    if settings.endpoint == EMBEDDINGS and settings.system is not None:
        raise where.error(EMBED_SYSTEM, "system")
    if settings.endpoint != EMBEDDINGS and settings.pack is not None:
        raise where.error(PACK_ALONE + EMBEDDINGS, "pack")


def _source(doc: dict[str, Any], where: Where, defaults: BodyDefaults) -> DraftSource:
    if "prompts" in doc and ("template" in doc or "inputs" in doc):
        both = "template" if "template" in doc else "inputs"
        raise where.error("give prompts: or template: + inputs:, not both", both, key=True)
    if "template" in doc or "inputs" in doc:
        for key in ("template", "inputs"):
            if doc.get(key) is None:
                raise where.error("template: and inputs: go together: add the other", key, key=True)
        template = check_template(doc["template"], where, "template")
        inputs = resolve_inputs(doc["inputs"], where.path, where, "inputs")
        return template_source(template, inputs, defaults)
    if doc.get("prompts") is None:
        raise JobFileError(where.path, NO_PROMPTS)
    prompts = want_list(doc["prompts"], where, "prompts")
    if not prompts:
        raise where.error(NO_PROMPTS, "prompts")
    return DraftSource(lambda: _prompt_drafts(prompts, where, defaults), where.path, NO_PROMPTS)


def _prompt_drafts(prompts: list[Any], where: Where, defaults: BodyDefaults) -> Iterator[Draft]:
    for index, prompt in enumerate(prompts):
        yield _prompt_draft(prompt, where.at("prompts", index), defaults)


def _prompt_draft(value: object, where: Where, defaults: BodyDefaults) -> Draft:
    """One entry of `prompts`: a string, `{id?, user}` or `{id?, messages}`, + system, params."""
    if isinstance(value, str):
        return defaults.draft(None, [user_message(value, where)], where)
    prompt = want_mapping(value, where, what=PROMPT_SHAPE)
    check_keys(prompt, PROMPT_KEYS, where, parameters=_parameters(defaults.endpoint))
    has_user, has_messages = prompt.get("user") is not None, prompt.get("messages") is not None
    if has_user == has_messages:
        raise where.error(
            "give either user: (one question) or messages: (a conversation), not both"
            if has_user
            else "needs user: (one question) or messages: (a conversation)"
        )
    if has_user:
        messages = [user_message(prompt["user"], where, "user")]
    else:
        messages = check_messages(prompt["messages"], where, "messages")
    system = prompt.get("system")
    if system is not None:
        system = want_text(system, where, "system")
        if messages[0]["role"] in INSTRUCTION_ROLES:
            raise where.error("the messages already open with one: keep one of the two", "system")
    item_id = None if prompt.get("id") is None else check_id(prompt["id"], where, "id")
    params = (
        None if prompt.get("params") is None else check_params(prompt["params"], where, "params")
    )
    check_names(params or {}, defaults.endpoint, defaults.allowed, where, "params")
    return defaults.draft(item_id, messages, where, system=system, params=params)


def _compose(text: str, path: Path) -> Node | None:
    """The document's node tree; libyaml when it can, PyYAML's own words when it cannot."""
    if _FAST_LOADER is not None and len(text) > FAST_ABOVE_CHARS:
        with contextlib.suppress(yaml.YAMLError, RecursionError):
            return yaml.compose(text, Loader=_FAST_LOADER)
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, path) from None
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"invalid YAML: character U+{exc.character:04X} is not allowed; remove it"
        raise JobFileError(path, message, line=line) from None
    except yaml.YAMLError as exc:
        raise JobFileError(path, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise JobFileError(path, "invalid YAML: nested too deeply") from None


def _yaml_error(exc: yaml.MarkedYAMLError, path: Path) -> JobFileError:
    """PyYAML's complaint, placed where the fix is: an unclosed [, { or quote is reported
    where it opened (PyYAML's context mark), not at the end of the file where it gave up."""
    opened = UNCLOSED.get(exc.context or "")
    start, end = exc.context_mark, exc.problem_mark
    mark = end or start
    if opened and start and end and end.line > start.line:
        mark, problem = start, str(exc.problem)
        found = (
            "the file ends first"
            if "stream" in problem  # PyYAML's words for the end of the text
            else f"{problem} at line {end.line + 1}"
        )
        message = f"{opened} opened here is never closed: {found}"
    else:
        message = f"{exc.problem} ({exc.context})" if exc.context else str(exc.problem)
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return JobFileError(path, f"invalid YAML: {message}; {YAML_HINT}", line=line, column=column)


class _Reader:
    """Turns composed nodes into plain values, noting each one's position by field path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[FieldPath, Position] = {}
        self.keys: dict[FieldPath, Position] = {}
        self._scalars = SafeConstructor()
        self._open: set[int] = set()  # nodes being read, to catch an alias inside itself
        self._count = 0

    def value(self, node: Node, field: FieldPath) -> Any:
        self.values.setdefault(field, _position(node))
        self._count += 1
        if self._count > MAX_VALUES:
            raise self._error(TOO_MANY_VALUES.format(limit=MAX_VALUES), field)
        if id(node) in self._open:
            raise self._error("an alias (*) refers to the value it is inside", field)
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, field)
            if isinstance(node, SequenceNode):
                self._check_tag(node, (STANDARD_TAG + "seq",), field)
                return [self.value(child, (*field, n)) for n, child in enumerate(node.value)]
            return self._scalar(node, field)
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: MappingNode, field: FieldPath) -> dict[str, Any]:
        self._check_tag(node, (STANDARD_TAG + "map",), field)
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *defaults`; explicit keys win
                merged = {**self._merge(value_node, (*field, "<<")), **merged}
                continue
            if not isinstance(key_node, ScalarNode):
                raise self._error("keys must be plain text", field)
            key, here = key_node.value, (*field, key_node.value)
            if key in result:
                first = self.keys[here][0]
                message = f"duplicate key (first on line {first}): keep one"
                raise self._error(message, here, at=_position(key_node))
            self.keys[here] = _position(key_node)
            result[key] = self.value(value_node, here)
        return {**merged, **result}

    def _merge(self, node: Node, field: FieldPath) -> dict[str, Any]:
        value = self.value(node, field)
        sources = value if isinstance(value, list) else [value]
        merged: dict[str, Any] = {}
        for source in reversed(sources):  # in `<<: [*a, *b]`, a wins
            if not isinstance(source, dict):
                raise self._error(f"<< merges mappings, not {describe(source)}", field)
            merged.update(source)
        return merged

    def _scalar(self, node: Node, field: FieldPath) -> Any:
        self._check_tag(node, SCALAR_TAGS, field)
        try:
            value = self._scalars.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self._error(f"cannot read this value: {exc.problem}", field) from None
        except (ValueError, OverflowError) as exc:
            raise self._error(f"cannot read this value: {exc}", field) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise self._error(f"{node.value} is not a usable number: quote it for text", field)
        if value is None or isinstance(value, str | int | float):
            return value
        kind = "a date" if isinstance(value, datetime.date) else describe(value)
        raise self._error(f"{node.value!r} reads as {kind}: quote it to make it text", field)

    def _check_tag(self, node: Node, tags: Collection[str], field: FieldPath) -> None:
        if node.tag not in tags:
            tag = node.tag.replace(STANDARD_TAG, "!!", 1)
            raise self._error(f"unsupported YAML tag {tag}: remove it", field)

    def _error(self, message: str, field: FieldPath, at: Position | None = None) -> JobFileError:
        if at is not None:
            line, column = at
            return JobFileError(
                self.path, message, line=line, column=column, field=render_path(field)
            )
        return Where(self.path, 1, (), self.values, self.keys).error(message, *field)


def _position(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1
