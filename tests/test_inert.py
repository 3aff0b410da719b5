"""Text made inert for a terminal or a log: escapes and controls gone, the data kept."""

from __future__ import annotations

import json

import pytest
from hostile import HOSTILE, OSC, assert_inert

from batchbot.inert import inert_json, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"job{OSC}done", "jobdone"),
        ("a\x1b[2Jb\x1b[1;31mc\x1b[0m", "abc"),
        ("link \x1b]8;;http://evil\x1b\\here\x1b]8;;\x1b\\", "link here"),
        ("c1 \x9b2J and \x9d0;T\x9c end", "c1  and  end"),
        ("keep\nlines\tand tabs\r\n", "keep\nlines\tand tabs\n"),
        ("nul\x00 del\x7f bs\x08", "nul del bs"),
        ("plain text, é and 字", "plain text, é and 字"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
    ],
)
def test_printable(text, shown):
    """Escape sequences go whole, other controls go, newlines, tabs and Unicode stay; a lone
    surrogate, which no terminal can be written, shows as the replacement character."""
    assert printable(text) == shown


def test_inert_json_keeps_the_data():
    """C1 controls in JSON become \\u escapes: the same value when read back."""
    text = json.dumps({"id": f"a{HOSTILE}\x7f"}, ensure_ascii=False)
    inert = inert_json(text)
    assert json.loads(inert) == json.loads(text)
    assert_inert(inert.encode(), "the JSON")
