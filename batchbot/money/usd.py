"""Dollars as people read them: cents from a dollar up, and below that enough significant
digits that small spend shows (`$0.000031`, never `$0.0000`).

Every amount batchbot prints goes through `usd` (with a sign) or `usd_figure` (a table cell
under a `USD` heading); CSV and JSON keep the full stored precision (`usd_exact`).
"""

from __future__ import annotations

import math

__all__ = ["usd", "usd_exact", "usd_figure"]

SIGNIFICANT = 3
NOTHING = 5e-10  # under half a nano-dollar: float noise, not money


def usd(amount: float) -> str:
    """`$1,234.57`, `$0.41`, `$0.0034`, `$0.000031`; `$0.00` for nothing."""
    figure = usd_figure(amount)
    return f"-${figure[1:]}" if figure.startswith("-") else f"${figure}"


def usd_figure(amount: float) -> str:
    """`usd` without the dollar sign, for a column headed USD."""
    if abs(amount) < NOTHING:
        return "0.00"
    if abs(amount) >= 1:
        return f"{amount:,.2f}"
    decimals = max(2, SIGNIFICANT - 1 - math.floor(math.log10(abs(amount))))
    whole, _, fraction = f"{amount:.{decimals}f}".partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def usd_exact(amount: float) -> str:
    """The amount to the nano-dollar the database keeps, as a plain decimal: `0.000031`."""
    text = f"{amount:.9f}".rstrip("0")
    return text + "0" if text.endswith(".") else text
