"""Checking the fields of a job file: where each one is, what it must hold, what to say if not.

Every problem becomes a JobFileError that names the file, the line (and column, where the YAML
parser knows it) and the field's path, written as in JSON tools: `prompts[3].messages[1].role`,
counting from 0. Messages say what to write instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from batchbot.errors import JobFileError
from batchbot.spelling import closest

FieldPath = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line and column


def render_path(path: FieldPath) -> str:
    """`("prompts", 3, "role")` -> `prompts[3].role`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True, slots=True)
class Where:
    """Where a record came from: its file and line, plus YAML node positions when known.

    `values` maps a field path to where its value starts, `keys` to where its key starts
    (better for "unknown key"); `base` is the record's own path inside the file.
    """

    path: Path
    line: int
    base: FieldPath = ()
    values: Mapping[FieldPath, Position] = field(default_factory=dict)
    keys: Mapping[FieldPath, Position] = field(default_factory=dict)

    def at(self, *parts: str | int) -> Where:
        """The same file, one level down: a prompt inside `prompts`, say."""
        base = (*self.base, *parts)
        line = self.values[base][0] if base in self.values else self.line
        return replace(self, base=base, line=line)

    def error(self, message: str, *parts: str | int, key: bool = False) -> JobFileError:
        """A JobFileError for the field `parts` below this record (the record itself if none)."""
        path = (*self.base, *parts)
        line, column = self._locate(path, key=key)
        return JobFileError(
            self.path, message, line=line, column=column, field=render_path(path) or None
        )

    def _locate(self, path: FieldPath, *, key: bool) -> tuple[int, int | None]:
        if key and path in self.keys:
            return self.keys[path]
        # A missing field has no position of its own: point at the nearest enclosing one.
        for depth in range(len(path), -1, -1):
            if path[:depth] in self.values:
                return self.values[path[:depth]]
        return self.line, None


def describe(value: object) -> str:
    """How a value reads to a user who expected something else."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value; quote it to make it text)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def want_text(value: object, where: Where, *parts: str | int, blank: bool = False) -> str:
    """The value if it is text (and not blank, unless `blank`), every character one that can
    be stored and sent: no lone surrogate (`"\\ud800"` in YAML)."""
    if not isinstance(value, str):
        raise where.error(f"must be text, not {describe(value)}", *parts)
    if not blank and not value.strip():
        raise where.error("is empty: write something here, or remove it", *parts)
    if _SURROGATE.search(value):
        raise where.error(LONE_SURROGATE, *parts)
    return value


LONE_SURROGATE = (
    "contains an unpaired surrogate escape (\\ud800-\\udfff), which is no character: remove it"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def want_mapping(
    value: object, where: Where, *parts: str | int, what: str = "a mapping"
) -> dict[str, Any]:
    """The value if it is a mapping (a JSON object)."""
    if not isinstance(value, dict):
        raise where.error(f"must be {what}, not {describe(value)}", *parts)
    return value


def want_list(value: object, where: Where, *parts: str | int) -> list[Any]:
    """The value if it is a list."""
    if not isinstance(value, list):
        raise where.error(f"must be a list, not {describe(value)}", *parts)
    return value


def want_choice(value: object, choices: Iterable[str], where: Where, *parts: str | int) -> str:
    """The value if it is one of `choices`, with a suggestion if it is close to one."""
    options = sorted(choices)
    text = want_text(value, where, *parts)
    if text not in options:
        raise where.error(
            f"{text!r} is not one of {', '.join(options)}{_suggest(text, options)}", *parts
        )
    return text


def check_keys(
    mapping: Mapping[str, Any],
    allowed: Iterable[str],
    where: Where,
    *parts: str | int,
    parameters: Collection[str] = (),
) -> None:
    """Stop at the first key not in `allowed`, suggesting the closest valid one.

    `parameters`: the API's request parameters, which belong under `params:` here; one of
    them (or a near miss of one) gets that said instead.
    """
    valid = sorted(allowed)
    for key in mapping:
        if key in valid:
            continue
        if key in parameters:
            value = json.dumps(mapping[key], ensure_ascii=False, default=str)
            message = (
                f"is a request parameter: put it under params:, as in params: {{{key}: {value}}}"
            )
            raise where.error(message, *parts, key, key=True)
        close = _closest(key, valid, sorted(parameters))
        hint = f"; did you mean {close}?" if close else ""
        message = f"unknown key{hint}; valid keys: {', '.join(valid)}"
        raise where.error(message, *parts, key, key=True)


def _closest(word: str, keys: list[str], parameters: list[str]) -> str | None:
    """The key or parameter `word` is nearest to, by spelling: `'template'`, `params: {...}`;
    a key wins a tie."""
    name = closest(word, [*keys, *parameters])
    if name is None:
        return None
    return repr(name) if name in keys else f"params: {{{name}: ...}}"


def _suggest(word: str, options: list[str]) -> str:
    close = closest(word, options)
    return f"; did you mean {close!r}?" if close else ""


def check_id(value: object, where: Where, *parts: str | int) -> str:
    """An item id: non-empty text, or a whole number (YAML's `id: 7`), as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = want_text(value, where, *parts)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise where.error(
            "contains an unpaired surrogate escape (\\ud800-\\udfff)", *parts
        ) from None
    return text
