"""The one table renderer: alignment, widths and the rule line."""

from __future__ import annotations

from batchbot.reports.table import render_table


def test_text_left_numbers_right_no_trailing_spaces():
    """Text columns are left-aligned, numeric ones right-aligned, and lines end in no space."""
    lines = render_table(
        ["name", "n", "note"], [["a", "1", ""], ["bbb", "1,000", "x"]], numeric={1}
    )
    assert lines == [
        "name      n  note",
        "a         1",
        "bbb   1,000  x",
    ]


def test_least_widths_and_rule():
    """`widths` are minimums (wider cells still fit), and `rule` adds a line of dashes."""
    lines = render_table(
        ["id", "job"], [["7", "faq-answers"]], numeric={0}, widths=[4, 3], rule=True
    )
    assert lines == [
        "  id  job",
        "----  -----------",
        "   7  faq-answers",
    ]
