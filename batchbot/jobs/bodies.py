"""Request bodies: checking messages and params, and assembling `{model, messages, **params}`.

A YAML prompt becomes the body of the job's endpoint: messages for Chat Completions, `input`
(and `instructions` from `system:`) for Responses, one text as `input` for embeddings.

Every job form (YAML prompts, template rows, JSONL lines) ends here, as a `Draft`: the body the
API will get, its id if the file gave one, and where it came from. `job.py` hashes drafts
into Items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchbot.endpoints import CHAT, EMBEDDINGS, RESPONSES
from batchbot.jobs.fields import Where, describe, want_choice, want_list, want_mapping, want_text
from batchbot.jobs.values import check_parameters

ROLES = ("assistant", "developer", "system", "tool", "user")
# A conversation that opens with one of these already has its instructions.
INSTRUCTION_ROLES = ("developer", "system")
# Body keys a params mapping may not set: they have fields of their own.
RESERVED = ("messages", "model")
EMBED_TEXT = "is not one text: an embeddings job embeds each prompt's text, written as text"
EMBED_SYSTEM = "has no use in an embeddings job: the API embeds the text alone; remove it"


@dataclass(frozen=True, slots=True)
class Draft:
    """One request before hashing: the given id (None: use the hash), the body, its origin."""

    id: str | None
    body: dict[str, Any]
    path: Path
    line: int
    metadata: str | None = None  # the item's own metadata as compact JSON; never sent


@dataclass(frozen=True, slots=True)
class DraftSource:
    """A job's drafts, read afresh by each call to `read`, and what to say if there are none."""

    read: Callable[[], Iterator[Draft]]
    empty_path: Path
    empty_message: str


def make_body(model: str, messages: list[Any], *params: Mapping[str, Any]) -> dict[str, Any]:
    """`{"model", "messages", ...}`; later params mappings win over earlier ones."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    for layer in params:
        body.update(layer)
    return body


def with_system(messages: list[Any], system: str | None) -> list[Any]:
    """`system` as the first message, unless there is none or the messages open with one."""
    if system is None or (messages and messages[0].get("role") in INSTRUCTION_ROLES):
        return messages
    return [{"role": "system", "content": system}, *messages]


def user_message(value: object, where: Where, *parts: str | int) -> dict[str, Any]:
    """One user message from a question's text."""
    if isinstance(value, str) and not value.strip():
        raise where.error("is an empty prompt: write the question, or remove it", *parts)
    return {"role": "user", "content": want_text(value, where, *parts)}


def check_messages(value: object, where: Where, *parts: str | int) -> list[Any]:
    """A non-empty list of well-formed chat messages."""
    messages = want_list(value, where, *parts)
    if not messages:
        raise where.error(
            "is empty: give at least one message, like {role: user, content: Hello}", *parts
        )
    for index, message in enumerate(messages):
        check_message(message, where, *parts, index)
    return messages


def check_message(value: object, where: Where, *parts: str | int) -> None:
    """One chat message: a known role, and content (text or content parts)."""
    message = want_mapping(value, where, *parts, what="a mapping with role: and content:")
    if "role" not in message:
        raise where.error(f"has no role: add role: with one of {', '.join(ROLES)}", *parts)
    role = want_choice(message["role"], ROLES, where, *parts, "role")
    content = message.get("content")
    if content is None:
        if role == "assistant" and message.get("tool_calls"):
            return  # an assistant turn that only calls tools has no text
        raise where.error("has no content: add content: with the message's text", *parts)
    if isinstance(content, list):
        for index, part in enumerate(content):
            entry = want_mapping(
                part,
                where,
                *parts,
                "content",
                index,
                what="a content part like {type: text, text: Hi}",
            )
            want_text(entry.get("type"), where, *parts, "content", index, "type")
    elif not isinstance(content, str):
        raise where.error(
            f"must be text or a list of content parts, not {describe(content)}", *parts, "content"
        )


def check_params(value: object, where: Where, *parts: str | int) -> dict[str, Any]:
    """Parameters to pass through, every number in range; `model` and `messages` have their
    own keys."""
    params = want_mapping(value, where, *parts)
    for name in RESERVED:
        if name in params:
            raise where.error(
                f"is not a parameter: write {name}: outside params", *parts, name, key=True
            )
    check_parameters(params, where, *parts)
    return params


@dataclass(frozen=True, slots=True)
class BodyDefaults:
    """What a YAML job adds to each prompt; `overrides` (the CLI's params) win over all."""

    model: str
    system: str | None
    params: Mapping[str, Any]
    overrides: Mapping[str, Any]
    endpoint: str = CHAT
    extra: Mapping[str, Any] = field(default_factory=dict)  # the job's extra_params
    allowed: frozenset[str] = frozenset()  # names the endpoint lacks that the run may send

    def draft(
        self,
        item_id: str | None,
        messages: list[Any],
        where: Where,
        *,
        system: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Draft:
        """The prompt's Draft: its own system and params over the job's."""
        system = system if system is not None else self.system
        layers = (self.params, self.extra, params or {}, self.overrides)
        if self.endpoint == RESPONSES:
            body = responses_body(self.model, messages, system, *layers)
        elif self.endpoint == EMBEDDINGS:
            body = embeddings_body(self.model, messages, system, where, *layers)
        else:
            body = make_body(self.model, with_system(messages, system), *layers)
        return Draft(item_id, body, where.path, where.line)


def responses_body(
    model: str, messages: list[Any], system: str | None, *params: Mapping[str, Any]
) -> dict[str, Any]:
    """`{model, input, instructions?}`: one question goes as text, a conversation as items."""
    first = messages[0]
    one_text = len(messages) == 1 and first["role"] == "user" and isinstance(first["content"], str)
    body: dict[str, Any] = {"model": model, "input": first["content"] if one_text else messages}
    if system is not None and first["role"] not in INSTRUCTION_ROLES:
        body["instructions"] = system
    for layer in params:
        body.update(layer)
    return body


def embeddings_body(
    model: str, messages: list[Any], system: str | None, where: Where, *params: Mapping[str, Any]
) -> dict[str, Any]:
    """`{model, input}` with the prompt's one text."""
    if system is not None:
        raise where.error(f"system: {EMBED_SYSTEM}")
    if len(messages) != 1 or not isinstance(messages[0].get("content"), str):
        raise where.error(EMBED_TEXT)
    body: dict[str, Any] = {"model": model, "input": messages[0]["content"]}
    for layer in params:
        body.update(layer)
    return body
