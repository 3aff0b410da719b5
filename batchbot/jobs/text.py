"""Reading job and inputs files as UTF-8 text, whole or a line at a time, and JSON lines.

Large files are read one line at a time and decoded per line, so a bad byte on line 90,000
is reported with its line and byte offset, and memory stays flat. A leading BOM (Excel writes
one) is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from batchbot.errors import JobFileError

NOT_UTF8 = "byte 0x{byte:02x} at offset {offset} is not UTF-8: save the file as UTF-8"
BOM = "\ufeff"
# One line is one request: far beyond any context window, and read whole into memory.
MAX_LINE_BYTES = 64_000_000
LINE_TOO_LONG = "line longer than {limit:,} bytes: no single request can be that large"
TOO_BIG = "is {size:,} bytes, more than the {limit:,} allowed"
BAD_JSON = "invalid JSON: {reason}; each line must be one complete JSON object"


def open_binary(path: Path) -> IO[bytes]:
    """The file opened for reading, or a JobFileError saying why it cannot be."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise JobFileError(path, "no such file: check the path and the current directory") from None
    except IsADirectoryError:
        raise JobFileError(path, "is a directory: give the path of a job file") from None
    except OSError as exc:
        raise JobFileError(path, f"cannot be read: {exc.strerror}") from None


def read_text(path: Path, *, max_bytes: int | None = None, too_big: str = TOO_BIG) -> str:
    """The whole file as text (for YAML job files, which are small); at most `max_bytes`."""
    with open_binary(path) as file:
        data = _read(file, path, max_bytes)
    if max_bytes is not None and len(data) > max_bytes:
        size = _size(path, len(data))
        raise JobFileError(path, too_big.format(size=size, limit=max_bytes))
    try:
        return data.decode("utf-8").removeprefix(BOM)
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        raise _not_utf8(
            path,
            data[exc.start],
            exc.start,
            data.count(b"\n", 0, exc.start) + 1,
            exc.start - line_start,
        ) from None


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text with its newline) for every line, decoded one line at a time."""
    with open_binary(path) as file:
        offset = number = 0
        while raw := _readline(file, path, number + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise JobFileError(path, LINE_TOO_LONG.format(limit=MAX_LINE_BYTES), line=number)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(
                    path, raw[exc.start], offset + exc.start, number, exc.start
                ) from None
            offset += len(raw)
            yield number, text.removeprefix(BOM) if number == 1 else text


def parse_json_line(text: str, path: Path, line: int) -> Any:
    """One JSON value from one line; NaN and Infinity are refused, as the API would."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise JobFileError(
            path, BAD_JSON.format(reason=exc.msg), line=line, column=exc.colno
        ) from None
    except ValueError as exc:  # NaN, or an integer too long to convert
        raise JobFileError(path, BAD_JSON.format(reason=exc), line=line) from None
    except RecursionError:
        raise JobFileError(path, BAD_JSON.format(reason="nested too deeply"), line=line) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number, use a number or null")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _read(file: IO[bytes], path: Path, max_bytes: int | None = None) -> bytes:
    try:
        return file.read(-1 if max_bytes is None else max_bytes + 1)
    except OSError as exc:
        raise JobFileError(path, f"cannot be read: {exc.strerror}") from None


def _readline(file: IO[bytes], path: Path, number: int) -> bytes:
    """Line `number` (up to one byte past the limit); b"" at the end of the file.

    A file that was readable when it was opened may fail later (a network share gone, a
    failing disk): that is a JobFileError naming the line, as other problems with it are.
    """
    try:
        return file.readline(MAX_LINE_BYTES + 1)
    except OSError as exc:
        raise JobFileError(path, f"cannot be read: {exc.strerror}", line=number) from None


def _size(path: Path, read: int) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return read


def _not_utf8(path: Path, byte: int, offset: int, line: int, column: int) -> JobFileError:
    message = NOT_UTF8.format(byte=byte, offset=offset)
    return JobFileError(path, message, line=line, column=column + 1)
