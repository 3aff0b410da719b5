"""The one plain-text table: every listing batchbot prints (report, runs, batches, limits)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

GAP = "  "


def render_table(
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Collection[int] = (),
    widths: Sequence[int] = (),
    rule: bool = False,
) -> list[str]:
    """Cells as aligned lines: the headings, a line of dashes if `rule`, then one line a row.

    Columns are two spaces apart, as wide as their widest cell or `widths` (the least each
    takes), text left-aligned and the `numeric` ones (by index) right-aligned; no line ends
    in spaces.
    """
    least = [*widths, *[0] * (len(headings) - len(widths))]
    sizes = [max(least[i], len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headings)]

    def line(cells: Sequence[str]) -> str:
        return GAP.join(
            cell.rjust(size) if i in numeric else cell.ljust(size)
            for i, (cell, size) in enumerate(zip(cells, sizes, strict=True))
        ).rstrip()

    dashes = [line(["-" * size for size in sizes])] if rule else []
    return [line(headings), *dashes, *(line(row) for row in rows)]
