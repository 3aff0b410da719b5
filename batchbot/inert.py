"""Text from outside made inert before it reaches a terminal or a log.

Job names, item ids, prompts, answers, model names and the API's error messages come from
files and servers batchbot does not control. Printed raw, `ESC ] 0 ; title BEL` retitles the
terminal and `ESC [ 2J` clears it; in a log they hide or forge lines. So everything the CLI
prints and every log line pass through `printable` (escape sequences and control characters
dropped, newlines and tabs kept), and JSON output through `inert_json` (C1 controls escaped,
so nothing is lost). CSV cells get the spreadsheet treatment in `reports.cells`.
"""

from __future__ import annotations

import re

__all__ = ["inert_json", "printable"]

# Whole sequences first, so their parameters go with them: OSC (a title, a hyperlink) up to
# BEL or ST; DCS, SOS, PM and APC strings; CSI (colours, cursor moves, clearing); any other
# ESC sequence; and the same introduced by the C1 forms of CSI and OSC.
_SEQUENCES = re.compile(
    r"""
      \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?
    | \x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?
    | \x1b\[[0-?]*[ -/]*[@-~]?
    | \x9b[0-?]*[ -/]*[@-~]?
    | \x1b[ -/]*[0-~]?
    """,
    re.VERBOSE,
)
# Then any control character left: C0 but tab and newline, DEL, C1.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A lone surrogate (a job named "\ud800" in YAML) is no character: no terminal or log file
# can be written it. It shows as the replacement character.
_SURROGATES = re.compile("[\ud800-\udfff]")
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` without escape sequences or control characters; newlines and tabs stay."""
    return _SURROGATES.sub("\ufffd", _CONTROLS.sub("", _SEQUENCES.sub("", text)))


def inert_json(text: str) -> str:
    """JSON text (from `json.dumps`, which escapes C0 already) with DEL and C1 escaped too, as
    `\\u009b`: the same data, nothing a terminal acts on."""
    return _JSON_UNSAFE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
