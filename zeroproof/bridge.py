"""Bridges between transreal values and IEEE-754 floats / NumPy arrays.

``from_ieee``: NaN → Φ, ±inf → ±∞, finite → REAL (bit exact, −0.0 kept). ``to_ieee``: REAL →
value, ±∞ → ±inf, Φ and ⊥ → NaN. ``from_numpy``/``to_numpy`` do the same elementwise with a
``(values, tags)`` pair: ``values`` float64 (or float32) with NaN at every non-REAL entry, ``tags``
``uint8`` codes of :class:`~zeroproof.core.TRTag`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .core.scalar import (
    TRScalar, TRTag, _check_real, _is_number, scalar_from_code,
)
from .core._parse import as_float, float_codes, rectangular, short_repr

__all__ = ["from_ieee", "to_ieee", "from_numpy", "to_numpy"]


def from_ieee(x: float) -> TRScalar:
    """The transreal value of an IEEE float: NaN → Φ, ±inf → ±∞, finite → REAL (bit exact).

    >>> from_ieee(float("nan")), from_ieee(-0.0)
    (TRScalar(PHI), TRScalar(-0.0, REAL))
    """
    if x.__class__ is float:
        return scalar_from_code(x)
    if isinstance(x, TRScalar):
        return x
    if isinstance(x, (bool, np.bool_)) or not _is_number(x):
        raise TypeError(
            f"from_ieee(x): x must be a real number (int, float or NumPy real scalar), got "
            f"{type(x).__name__} {short_repr(x, 60)}"
        )
    return scalar_from_code(as_float(x))  # a huge int: ±∞


def to_ieee(x: TRScalar) -> float:
    """The IEEE float of a transreal value: REAL → value, ±∞ → ±inf, Φ and ⊥ → NaN.

    >>> from zeroproof import pinf, to_ieee
    >>> to_ieee(pinf())
    inf
    """
    if isinstance(x, TRScalar):
        return float(x)
    if _is_number(x):
        return float(_check_real(x, "to_ieee(x): x"))
    raise TypeError(f"to_ieee(x): x must be a TRScalar, got {type(x).__name__} {short_repr(x, 60)}")


def from_numpy(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(values, tags)`` of a real NumPy array: NaN → Φ, ±inf → ±∞ (values NaN there).

    Integer and bool arrays are converted to float64; float32 stays float32; complex, object and
    string arrays raise ``TypeError``. A ``TRArray`` gives copies of its own values and tags
    (⊥ kept as tag 4, not read back as NaN → Φ).

    >>> v, t = from_numpy(np.array([1.0, np.inf, np.nan]))
    >>> t.tolist()
    [0, 1, 3]
    """
    if type(arr).__name__ == "TRArray":
        from .array.trarray import TRArray

        if isinstance(arr, TRArray):
            return np.array(arr.values), np.array(arr.tags)
    a = float_codes("from_numpy(arr): arr", arr)
    tags = np.zeros(a.shape, dtype=np.uint8)
    nonfinite = ~np.isfinite(a)
    if nonfinite.any():
        tags[np.isnan(a)] = TRTag.PHI
        tags[a == np.inf] = TRTag.PINF
        tags[a == -np.inf] = TRTag.NINF
        a = np.where(nonfinite, np.nan, a).astype(a.dtype, copy=False)
    else:
        a = a.copy()
    return a, tags


def to_numpy(values: Any, tags: Any = None) -> np.ndarray:
    """IEEE array from ``(values, tags)``: REAL → value, ±∞ → ±inf, Φ and ⊥ → NaN.

    Also accepts the ``(values, tags)`` pair itself (``to_numpy(from_numpy(a))``), a sequence
    of TRScalar, or any object with ``to_numpy()`` (a ``TRArray``).

    >>> to_numpy(np.array([1.0, np.nan]), np.array([0, 2], dtype=np.uint8)).tolist()
    [1.0, -inf]
    """
    if tags is None and isinstance(values, tuple) and len(values) == 2 and all(
            isinstance(v, np.ndarray) for v in values):
        values, tags = values  # the (values, tags) pair from_numpy returns
    if tags is None:
        if hasattr(values, "to_numpy"):
            return values.to_numpy()
        if isinstance(values, TRScalar):  # one value: a 0-d array, as NumPy does for a scalar
            return np.array(to_ieee(values), dtype=np.float64)
        try:
            items = list(values)
        except TypeError:
            raise TypeError(f"to_numpy(values): values must be a TRArray, a TRScalar, a sequence "
                            f"of TRScalars or a (values, tags) pair, got {type(values).__name__} "
                            f"{short_repr(values, 60)}") from None
        return np.array([float(to_ieee(v)) for v in items], dtype=np.float64)
    v = rectangular("to_numpy(values, tags): values", values)
    t = rectangular("to_numpy(values, tags): tags", tags)
    if v.dtype.kind not in "fiu":
        raise TypeError(f"to_numpy(values, tags): values must be a real (float or int) array, got "
                        f"dtype {v.dtype}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"to_numpy(values, tags): tags must be an integer array of TRTag codes "
                        f"0-4 (uint8, as from_numpy returns), got dtype {t.dtype}")
    if v.shape != t.shape:
        raise ValueError(f"to_numpy: values shape {v.shape} and tags shape {t.shape} differ")
    if t.size and (t.min() < 0 or t.max() > int(TRTag.BOTTOM)):
        bad = t[(t < 0) | (t > int(TRTag.BOTTOM))].flat[0]
        raise ValueError(f"to_numpy(values, tags): tags holds {int(bad)}, not a TRTag code; accepted "
                         f"codes are 0-4 (REAL, PINF, NINF, PHI, BOTTOM)")
    real_tag = t == TRTag.REAL
    if v.dtype.kind == "f" and not np.isfinite(v[real_tag]).all():
        raise ValueError("to_numpy(values, tags): a REAL-tagged entry of values is NaN or ±inf; a "
                         "REAL value is finite (tag ±inf as PINF/NINF and NaN as PHI)")
    out = np.where(real_tag, v, np.nan).astype(v.dtype if v.dtype.kind == "f" else np.float64)
    out[t == TRTag.PINF] = np.inf
    out[t == TRTag.NINF] = -np.inf
    return out



