"""Template jobs: one prompt per row of a CSV or JSONL inputs file, filled in by `str.format_map`.

Rows are read one at a time, so an inputs file of millions of rows costs no memory; errors name
the inputs file, the row's line and the column or key.
"""

from __future__ import annotations

import csv
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from batchbot.errors import JobFileError
from batchbot.jobs.bodies import BodyDefaults, Draft, DraftSource
from batchbot.jobs.fields import Where, check_id, want_mapping, want_text
from batchbot.jobs.text import iter_lines, parse_json_line

SUFFIXES = (".csv", ".jsonl")
PLAIN_NAME = "put a column name in braces, like {question}"
MISSING_VALUE = (
    "this row has no {name!r} for the template's {{{name}}}: add it, or change the template"
)


def template_source(template: str, inputs: Path, defaults: BodyDefaults) -> DraftSource:
    """The drafts of a template job, one per row of `inputs`."""
    is_csv = inputs.suffix.lower() == ".csv"
    empty = (
        "no rows: add rows below the header" if is_csv else "no rows: add one JSON object a line"
    )
    return DraftSource(lambda: _drafts(template, inputs, defaults, is_csv=is_csv), inputs, empty)


def check_template(value: object, where: Where, *parts: str | int) -> str:
    """A template whose every `{...}` is a plain column name."""
    template = want_text(value, where, *parts)
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise where.error(f"{exc}: write {{{{ and }}}} for literal braces", *parts) from None
    for name in names:
        if not name or name.isdigit() or any(char in name for char in ".[]"):
            raise where.error(f"{{{name}}} is not a column name: {PLAIN_NAME}", *parts)
    return template


def resolve_inputs(value: object, job_path: Path, where: Where, *parts: str | int) -> Path:
    """The inputs file, relative to the job file; it must exist and be .csv or .jsonl."""
    inputs = job_path.parent / want_text(value, where, *parts)
    if inputs.suffix.lower() not in SUFFIXES:
        raise where.error(f"{inputs} must be a .csv or .jsonl file", *parts)
    if not inputs.is_file():
        raise where.error(f"{inputs} not found: the path is relative to the job file", *parts)
    return inputs


def _drafts(
    template: str, inputs: Path, defaults: BodyDefaults, *, is_csv: bool
) -> Iterator[Draft]:
    rows = _csv_rows(inputs) if is_csv else _jsonl_rows(inputs)
    for line, row in rows:
        where = Where(inputs, line)
        text = _render(template, row, where)
        if not text.strip():
            raise where.error("the template gives an empty prompt for this row: fill in its values")
        item_id = check_id(row["id"], where, "id") if "id" in row else None
        yield defaults.draft(item_id, [{"role": "user", "content": text}], where)


def _render(template: str, row: dict[str, Any], where: Where) -> str:
    try:
        return template.format_map(row)
    except KeyError as exc:
        name = str(exc.args[0])
        raise where.error(MISSING_VALUE.format(name=name), name) from None
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        raise where.error(f"cannot fill in the template: {exc}") from None


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(text for _, text in iter_lines(path))
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1  # a quoted value may span lines; report the first
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise JobFileError(path, f"invalid CSV: {exc}", line=reader.line_num) from None
        if not cells:
            continue
        if header is None:
            header = _check_header(cells, path, start)
        elif len(cells) != len(header):
            raise JobFileError(
                path,
                f"this row has {len(cells)} values but the header has {len(header)} columns: "
                "quote values that contain commas",
                line=start,
            )
        else:
            yield start, dict(zip(header, cells, strict=True))


def _check_header(cells: list[str], path: Path, line: int) -> list[str]:
    seen: set[str] = set()
    for name in cells:
        if name in seen:
            raise JobFileError(path, f"column {name!r} appears twice in the header", line=line)
        seen.add(name)
    return cells


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, text in iter_lines(path):
        if text.strip():
            value = parse_json_line(text, path, number)
            yield number, want_mapping(value, Where(path, number), what="a JSON object")
