"""Hostile strings and the check that output holds none of their control bytes:
`from hostile import HOSTILE, assert_inert`."""

from __future__ import annotations

# A terminal title (OSC ... BEL), a screen clear (CSI 2J), colour, a C1 CSI, a bare BEL.
OSC = "\x1b]0;PWNED\x07"
HOSTILE = f"{OSC}\x1b[2J\x1b[31m\x9b31m\x07"
UNSAFE_BYTES = (b"\x1b", b"\x07", "\x9b".encode(), "\x9d".encode())


def assert_inert(data: bytes, what: str) -> None:
    """Fail, naming `what`, if `data` holds a byte that would act on a terminal."""
    for unsafe in UNSAFE_BYTES:
        assert unsafe not in data, f"{what} holds {unsafe!r}: {data[:500]!r}"
