"""Spreadsheet cells: text that would start a formula is neutralised."""

from __future__ import annotations

import pytest

from batchbot.reports.cells import csv_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("-2", "'-2"),
        ("@A1", "'@A1"),
        ("+1", "'+1"),
        ("\t=1", "'\t=1"),
        ("\x1b[2J=1", "'=1"),
        ("fine", "fine"),
        (-2.5, -2.5),
        (None, None),
    ],
)
def test_csv_cell(value, cell):
    """Text that would start a formula gets a leading quote; numbers stay numbers."""
    assert csv_cell(value) == cell
