"""Parsing of the library's mode enums, in one place (one set of rules, one error wording)."""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
from enum import Enum
from typing import Any, TypeVar

E = TypeVar("E", bound=Enum)


def parse_enum(cls: type[E], value: Any, argname: str = "mode") -> E:
    """``value`` as a member of ``cls``: a member, or a string equal to a member's value or name
    (case, ``_`` and ``-`` do not matter). Another type is a ``TypeError``, an unknown string a
    ``ValueError``; both name the argument and list what is accepted.

    >>> from zeroproof.core import ReductionMode
    >>> parse_enum(ReductionMode, "DROP-NULL")
    <ReductionMode.DROP_NULL: 'drop_null'>
    """
    if isinstance(value, cls):
        return value
    accepted = f"one of {[m.value for m in cls]} (or a member of {cls.__name__})"
    if not isinstance(value, str):
        raise TypeError(f"{argname} must be {accepted}, got {type(value).__name__} "
                        f"{short_repr(value, 40)}")
    key = value.strip().lower().replace("_", "-")
    for m in cls:
        if key in (str(m.value).lower().replace("_", "-"), m.name.lower().replace("_", "-")):
            return m
    raise ValueError(f"{argname} must be {accepted}, got {value!r}")


# Never numbers here, although Python or NumPy files them under numbers.Integral / np.integer:
# bools and NumPy durations (np.timedelta64 is an np.signedinteger). (An IntEnum member is an
# int, as Python says; the transreal operand test of the scalar core refuses Enum members too,
# since a TRTag names a tag.)
_NOT_NUMBERS = (bool, np.bool_, np.timedelta64)


def is_real_number(x: object) -> bool:
    """True for the real numbers the library accepts: int, float, other ``numbers.Real``, NumPy
    integer and floating scalars; never a bool or a ``np.timedelta64``.

    >>> is_real_number(2), is_real_number(np.float32(0.5)), is_real_number(True)
    (True, True, False)
    >>> is_real_number(np.timedelta64(5, "ns"))
    False
    """
    if x.__class__ is float or x.__class__ is int:
        return True
    if isinstance(x, _NOT_NUMBERS):
        return False
    return isinstance(x, (numbers.Real, np.integer, np.floating))


def is_integer(x: object) -> bool:
    """True for an int, another ``numbers.Integral``, a NumPy integer scalar or a 0-d integer
    array (NumPy takes one wherever an index is meant); never a bool or a ``np.timedelta64``.

    >>> is_integer(3), is_integer(np.int8(3)), is_integer(np.array(2)), is_integer(3.0)
    (True, True, True, False)
    >>> is_integer(np.bool_(True)), is_integer(np.array(True))
    (False, False)
    """
    if x.__class__ is int:
        return True
    if isinstance(x, _NOT_NUMBERS):
        return False
    if isinstance(x, np.ndarray):
        return x.ndim == 0 and x.dtype.kind in "iu"
    return isinstance(x, (numbers.Integral, np.integer))


def check_int(name: str, value: Any, minimum: int, allow_none: bool = False,
              maximum: int | None = None) -> Any:
    """``value`` as an int ``>= minimum`` (and ``<= maximum`` when given; None passes when
    ``allow_none``): a non-int (bool included) is a ``TypeError``, an int out of range a
    ``ValueError``; both name the argument.

    >>> check_int("epochs", 3, 1)
    3
    """
    if value is None and allow_none:
        return None
    accepted = f"an int >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "") \
        + (" or None" if allow_none else "")
    if not is_integer(value):
        raise TypeError(f"{name} must be {accepted}, got {type(value).__name__} "
                        f"{short_repr(value, 40)}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {accepted}, got {short_repr(value, 40)}")
    return int(value)


def axis_index(name: str, axis: Any, ndim: int, accepted: str = "an int") -> int:
    """``axis`` as an index ``0 … ndim − 1`` (a negative axis counts from the end, as in NumPy):
    a non-int (bool included) is a ``TypeError``, an axis out of range (however large) a
    ``ValueError``; both name ``name``.

    >>> axis_index("axis", -1, 3)
    2
    >>> axis_index("axis", 10**400, 2)
    Traceback (most recent call last):
    ValueError: axis=<int of 401 digits> is out of bounds for 2 dimension(s)
    """
    if not is_integer(axis):
        raise TypeError(f"{name} must be {accepted}, got {type(axis).__name__} "
                        f"{short_repr(axis, 40)}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={short_repr(axis, 40)} is out of bounds for {ndim} "
                         f"dimension(s)")
    return int(axis) % ndim


def axis_indices(name: str, axis: Any, ndim: int, accepted: str = "an int or a tuple of ints",
                 sequences: tuple = (tuple,)) -> tuple[int, ...]:
    """``axis`` — one axis, or several in one of ``sequences`` — as indices by
    :func:`axis_index`; an axis given twice is a ``ValueError`` naming ``name``.

    >>> axis_indices("axis", (0, -1), 3)
    (0, 2)
    >>> axis_indices("axis", (0, -3), 3)
    Traceback (most recent call last):
    ValueError: axis=(0, -3) repeats an axis
    """
    items = axis if isinstance(axis, sequences) else (axis,)
    out = tuple(axis_index(name, a, ndim, accepted) for a in items)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}={short_repr(axis, 40)} repeats an axis")
    return out


def is_iterable(x: object) -> bool:
    """True when ``x`` can be read item by item: ``iter(x)`` works and ``x`` is not a str or
    bytes (a 0-d array has ``__iter__`` but refuses to iterate: False).

    >>> is_iterable([1.0]), is_iterable(np.array([1.0])), is_iterable(np.array(1.0)), is_iterable("ab")
    (True, True, False, False)
    """
    if isinstance(x, (str, bytes, bytearray)):
        return False
    try:
        iter(x)  # (a generator returns itself: nothing is consumed)
    except TypeError:
        return False
    return True


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool: anything but ``True``/``False`` (NumPy bools included) is a
    ``TypeError`` naming the argument (no truthiness: ``"no"`` is not False).

    >>> check_bool("persistent", False)
    False
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False), got {type(value).__name__} "
                        f"{short_repr(value, 40)}")
    return bool(value)


def check_seed(name: str, value: Any) -> Any:
    """A seed for ``np.random.default_rng``: None, a non-negative int, or a Generator (passed
    through); anything else a ``TypeError``, a negative int a ``ValueError``, naming ``name``.

    >>> check_seed("seed", 3)
    3
    """
    if value is None or isinstance(value, np.random.Generator):
        return value
    accepted = "None, a non-negative int or a numpy.random.Generator"
    if not is_integer(value):
        raise TypeError(f"{name} must be {accepted}, got {type(value).__name__} "
                        f"{short_repr(value, 40)}")
    if value < 0:
        raise ValueError(f"{name} must be {accepted}, got {value}")
    return int(value)


def check_real(name: str, value: Any, accepted: str, ok: Any) -> float:
    """``value`` as a float: a non-real (bool, str, None, …) is a ``TypeError``; a real for
    which ``ok(float)`` is false (NaN included) a ``ValueError``; ``accepted`` words both.

    >>> check_real("theta_scale", 2, "a finite non-zero number", lambda v: v != 0)
    2.0
    """
    if not is_real_number(value):
        raise TypeError(f"{name} must be {accepted}, got {type(value).__name__} "
                        f"{short_repr(value, 40)}")
    v = as_float(value)
    if v != v or not ok(v):
        raise ValueError(f"{name} must be {accepted}, got {short_repr(value, 40)}")
    return v


def as_float(value: Any) -> float:
    """``float(value)`` for a real number, with an int beyond the float range read as ``±inf``
    (instead of ``OverflowError``), so validators refuse it as "not finite" with their own
    message.

    >>> as_float(10**400), as_float(-(10**400)), as_float(2)
    (inf, -inf, 2.0)
    """
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


# What PyTorch users reach for on a graph node, and where it is here.
_ATTRIBUTE_HINTS = {
    "grad": "the accumulated gradient is .gradient (PyTorch's .grad)",
    "data": "the forward value is .value (a constant copy: .detach())",
}


def spelled_differently(name: str) -> property:
    """A class attribute for a PyTorch name that is spelled differently here (``grad``,
    ``data``): reading it raises an ``AttributeError`` that names ours, so ``hasattr`` is False.
    (A property, not a ``__getattr__``: a class with ``__getattr__`` loses CPython's fast
    attribute access, which the tapes' hot loops depend on.)

    >>> class Node:
    ...     grad = spelled_differently("grad")
    >>> Node().grad
    Traceback (most recent call last):
    ...
    AttributeError: Node has no attribute 'grad'; the accumulated gradient is .gradient (PyTorch's .grad)
    """
    hint = _ATTRIBUTE_HINTS[name]

    def get(self: Any) -> Any:
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}; {hint}",
                             name=name, obj=self)

    return property(get, doc=f"Not here: {hint}.")


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)`` for an error message, at most about ``limit`` characters and marked where
    cut: an int too long to show says how many digits it has (so ``10**400`` is never shown as a
    number that fits), anything else ends with ``…``.

    >>> short_repr(10**400)
    '<int of 401 digits>'
    >>> short_repr("x" * 50, 10)
    "'xxxxxxxx…"
    >>> short_repr(1.5)
    '1.5'
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        sign = "negative " if value < 0 else ""
        try:
            digits = str(len(str(abs(value))))
        except ValueError:  # beyond Python's int-to-str digit limit
            digits = f"about {int(abs(value).bit_length() * 0.30103) + 1}"
        return f"<{sign}int of {digits} digits>"
    try:
        r = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        r = object.__repr__(value)
    return r if len(r) <= limit else r[: max(1, limit - 1)] + "…"


def check_path(name: str, value: Any, what: str) -> Path:
    """``value`` as a ``Path``; anything but a ``str`` or ``os.PathLike`` is a ``TypeError`` that
    names the argument and says what the path is for (``what``).

    >>> check_path("path", "run/ck.npz", "a checkpoint file").name
    'ck.npz'
    >>> check_path("path", 123, "a checkpoint file")
    Traceback (most recent call last):
    ...
    TypeError: path must be a str or os.PathLike (a checkpoint file), got int 123
    """
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike ({what}), got "
                        f"{type(value).__name__} {short_repr(value, 60)}")
    return Path(value)


_FILL_NAN = ("pass m.filled(np.nan) to read them as NaN (Φ in a transreal array, bottom for "
             "the strict decoder)")


def rectangular(name: str, x: Any, remedy: str = _FILL_NAN) -> np.ndarray:
    """``np.asarray(x)``, with NumPy's "inhomogeneous shape" error for a ragged nested sequence
    turned into a ``ValueError`` that names ``name``.

    >>> rectangular("x", [[1, 2], [3, 4]]).shape
    (2, 2)

    A NumPy masked array is a ``TypeError`` that ends with ``remedy``: ``np.asarray`` would drop
    its mask and the masked entries would read as ordinary values.
    """
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{name}: a masked array is not read (its mask would be lost and the "
                        f"masked entries read as ordinary values); {remedy}")
    try:
        a = np.asarray(x)
    except ValueError:
        raise ValueError(f"{name} is a ragged nested sequence (its rows have different lengths); "
                         f"give one with a rectangular shape") from None
    if a.dtype.kind in "fiuc" and isinstance(x, (list, tuple)) and a.size:
        bad = _first_bool(x)  # NumPy reads [1.0, True] as [1.0, 1.0]: a bool alone is refused,
        if bad is not None:   # so is one among numbers
            raise TypeError(f"{name} holds a bool ({bad!r}) among numbers; give real numbers "
                            f"(1.0 or 0.0), or a boolean array where a mask is meant")
    return a


def _first_bool(seq: Any) -> Any:
    """The first bool (Python or NumPy) in a nested list/tuple, or None."""
    stack = [seq]
    while stack:
        for v in stack.pop():
            if v is True or v is False or isinstance(v, np.bool_):
                return v
            if isinstance(v, (list, tuple)):
                stack.append(v)
    return None


_FILL_MASK = ("pass m.filled(v) with the value a masked entry should take (m.filled(True) "
              "counts masked rows as bottom), or leave the masked rows out")


def bool_mask(name: str, x: Any) -> np.ndarray:
    """``x`` read by :func:`rectangular` as a boolean mask (any other dtype is a ``TypeError``
    naming ``name``). An empty array of another dtype (``[]`` reads as float64) holds no
    non-bool value and is an empty mask.

    >>> bool_mask("bottom_mask", [True, False]).tolist()
    [True, False]
    >>> bool_mask("bottom_mask", []).dtype
    dtype('bool')
    """
    a = rectangular(name, x, _FILL_MASK)
    if a.size == 0 and a.dtype.kind in "fO":
        return a.astype(np.bool_)
    if a.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean mask, got dtype {a.dtype}")
    return a


def native_float(dtype: np.dtype) -> "np.dtype | None":
    """``dtype`` as native float32/float64 when it is one of those in either byte order (a
    big-endian ``'>f4'`` read from a file is float32), else None.

    >>> native_float(np.dtype(">f4")), native_float(np.dtype(np.float16))
    (dtype('float32'), None)
    """
    if dtype.kind != "f":
        return None
    native = dtype.newbyteorder("=")
    return native if native in (np.float32, np.float64) else None


def real_array(name: str, x: Any) -> np.ndarray:
    """``x`` as a float64 ndarray of real numbers (ints and floats; NaN/±inf kept): a str,
    bool, complex or object array is a ``TypeError`` naming ``name``, never a silent cast (NumPy
    would parse ``"0.5"`` and drop imaginary parts).

    >>> real_array("x", [1, 2.5]).tolist()
    [1.0, 2.5]
    """
    a = rectangular(name, x)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be an array of real numbers (int or float), got "
                        f"{type(x).__name__} of dtype {a.dtype}")
    with np.errstate(all="ignore"):  # longdouble beyond float64 → ±inf, below it → ±0
        return a.astype(np.float64)


def no_lone_bool(name: str, x: Any) -> None:
    """Refuse a bool on its own (Python or NumPy) where numeric data is read, with a
    ``TypeError`` naming ``name``; a boolean *array* passes (it is data).

    >>> no_lone_bool("x", np.array([True]))
    >>> no_lone_bool("x", True)
    Traceback (most recent call last):
    TypeError: x must be a real number or array, got bool True; use 1.0 or 0.0 (a boolean array is read as 1.0/0.0)
    """
    if x is True or x is False or isinstance(x, np.bool_):
        raise TypeError(f"{name} must be a real number or array, got bool {x!r}; use 1.0 or 0.0 "
                        f"(a boolean array is read as 1.0/0.0)")


def float_codes(name: str, x: Any) -> np.ndarray:
    """``x`` as a native float64/float32 ndarray (no copy when it already is one): int and bool
    arrays become float64, float16/longdouble float64, a float32/float64 array of the other byte
    order keeps its precision. Complex, object and string data are a ``TypeError`` naming
    ``name``, and so is a bool on its own (a boolean *array* is data; ``True`` alone is far
    more often a mistake than a 1.0).

    >>> float_codes("x", np.array([1, 2], np.int8)).dtype, float_codes("x", [0.5]).dtype
    (dtype('float64'), dtype('float64'))
    """
    no_lone_bool(name, x)
    a = rectangular(name, x)
    kind = a.dtype.kind
    if kind == "f":
        native = native_float(a.dtype)
        if native is None:
            with np.errstate(all="ignore"):  # longdouble beyond float64 → ±inf, below it → ±0
                return a.astype(np.float64)
        return a if a.dtype == native else a.astype(native)
    if kind in "iub":
        return a.astype(np.float64)
    raise TypeError(f"{name} must hold real numbers (float64/float32, or ints/bools, which "
                    f"become float64), got an array of dtype {a.dtype}")


def real_pair(name: str, value: Any) -> tuple[float, float]:
    """``value`` as a pair ``(lo, hi)`` of finite real numbers with ``lo < hi`` (a domain):
    ``TypeError`` for anything but two real numbers (str, complex, bool included),
    ``ValueError`` for non-finite ends or ``lo >= hi``.

    >>> real_pair("domain", (-1, 1))
    (-1.0, 1.0)
    """
    try:
        items = list(value)
    except TypeError:
        items = None
    if (items is None or isinstance(value, (str, bytes)) or len(items) != 2
            or not all(is_real_number(v) for v in items)):
        raise TypeError(f"{name} must be a pair (lo, hi) of finite real numbers, got "
                        f"{type(value).__name__} {short_repr(value, 60)}")
    lo, hi = as_float(items[0]), as_float(items[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be a pair (lo, hi) of finite numbers with lo < hi, got "
                         f"{short_repr(value, 60)}")
    return lo, hi


def no_modulus(kind: str, modulo: Any) -> None:
    """Refuse ``pow(x, k, modulo)`` on a transreal ``kind`` with a ``TypeError`` (modular powers
    are integer arithmetic). Callers test ``modulo is not None`` first (``__pow__`` is hot).

    >>> no_modulus("TRNode", 3)
    Traceback (most recent call last):
    TypeError: pow(x, k, modulo): a modulus is not supported for a TRNode (modular powers are integer arithmetic); use x ** k
    """
    raise TypeError(f"pow(x, k, modulo): a modulus is not supported for a {kind} (modular "
                    f"powers are integer arithmetic); use x ** k")


def no_ordering(kind: str, remedy: str) -> Any:
    """An ``__lt__``/``__le__``/``__gt__``/``__ge__`` for graph nodes (``kind``) that raises a
    ``TypeError`` with ``remedy``: an ordering of nodes would leave the graph silently."""
    def refuse(self: Any, other: Any) -> bool:
        raise TypeError(f"{kind} has no ordering (<, <=, >, >=, max, sorted): a comparison would "
                        f"leave the graph silently; compare the values instead, e.g. {remedy}, "
                        f"got a comparison with {type(other).__name__}")
    return refuse
