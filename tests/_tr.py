"""Helpers shared by the core tests: a tiny notation for transreal values and a bit-exact match.

Tokens: a float literal (``2``, ``-0.5``, ``+0``, ``-0``) is REAL with exactly those bits;
``+inf``, ``-inf``, ``phi`` and ``bot`` are ``+∞``, ``−∞``, ``Φ`` and ``⊥``.
"""
from __future__ import annotations

import struct

from zeroproof.core import TRScalar, TRTag, bottom, ninf, phi, pinf, real

_SPECIAL = {"+inf": pinf, "-inf": ninf, "phi": phi, "bot": bottom}


def tv(token: str) -> TRScalar:
    """The transreal value named by a table token."""
    if token in _SPECIAL:
        return _SPECIAL[token]()
    return real(float(token))


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same(got: object, want: TRScalar) -> bool:
    """Same tag and, for REAL, the same float64 bits (so ``+0`` and ``-0`` differ)."""
    if not isinstance(got, TRScalar) or got.tag is not want.tag:
        return False
    if want.tag is TRTag.REAL:
        return type(got.value) is float and bits(got.value) == bits(want.value)
    return got.value != got.value  # NaN for every non-REAL tag


def show(x: object) -> str:
    if isinstance(x, TRScalar) and x.tag is TRTag.REAL:
        return f"REAL {x.value!r} ({float.hex(x.value)})"
    return repr(x)


def parse_table(text: str) -> list[tuple[str, str, str]]:
    """``(left, right, expected)`` for each cell of a whitespace-aligned table."""
    lines = [ln.split() for ln in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    cells = []
    for row in rows:
        left, results = row[0], row[1:]
        assert len(results) == len(header), row
        cells.extend((left, right, want) for right, want in zip(header, results))
    return cells
