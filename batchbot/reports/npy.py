"""Writing vectors as a NumPy `.npy` file without NumPy: a small header, then the raw floats.

The format (NumPy's `format.py`, version 1.0): the magic `\\x93NUMPY`, the version, the header's
length as a little-endian uint16, then a Python-literal dict of dtype, order and shape, padded
with spaces to a multiple of 64 bytes and ended by a newline. The data that follows is the
float32 little-endian values exactly as the database stores them, row after row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

MAGIC = b"\x93NUMPY\x01\x00"
ALIGN = 64


def header(rows: int, dimensions: int) -> bytes:
    """The .npy header of a (rows, dimensions) float32 little-endian array."""
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dimensions}), }}"
    # Magic (8 bytes) + length (2) + the dict, spaces and a newline: a multiple of ALIGN.
    padding = -(len(MAGIC) + 2 + len(text) + 1) % ALIGN
    text += " " * padding + "\n"
    return MAGIC + len(text).to_bytes(2, "little") + text.encode("latin-1")


def write_npy(out: BinaryIO, rows: int, dimensions: int, vectors: Iterable[bytes]) -> None:
    """`rows` vectors of `dimensions` float32 values each, as one array."""
    out.write(header(rows, dimensions))
    for vector in vectors:
        out.write(vector)
