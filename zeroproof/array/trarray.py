"""``TRArray``: a NumPy array of transreal values, and the functions that operate on it.

Internally a ``TRArray`` holds the IEEE *code array* (float64 or float32: REAL values as
themselves, ``+∞, −∞, Φ`` as ``inf, -inf, nan``) and a ⊥ mask that is ``None`` when no element is
⊥. ``.values`` and ``.tags`` (the public ``(values, tags)`` form of SPEC §5) are computed on
demand. Every operation runs a kernel of :mod:`zeroproof.array.kernels` or
:mod:`zeroproof.array.reductions`, whose results equal the scalar kernels elementwise.

>>> import numpy as np
>>> import zeroproof.array as za
>>> x = za.array([1.0, 0.0, -2.0])
>>> 1.0 / x
TRArray([1.0, +∞, -0.5], dtype=float64)
>>> (x / 0.0).tag_counts()
{'REAL': 0, 'PINF': 1, 'NINF': 1, 'PHI': 1, 'BOTTOM': 0}
"""
from __future__ import annotations

import collections.abc
import math
import operator
import struct
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from ..core.ops import _NEVER_OPERANDS, _dispatcher, check_int_exponent
from ..core.reductions import ReductionMode
from ..core.scalar import (
    REAL, TRScalar, TRTag, _check_real, _exact_number, _is_number,
    bottom as _bottom, scalar_from_code,
)
from . import kernels as K
from .reductions import reduce_codes
from ..core._parse import (
    as_float, axis_index, axis_indices, float_codes, is_integer, is_iterable, native_float,
    no_lone_bool, no_modulus, parse_enum, rectangular, short_repr,
)

__all__ = [
    "TRArray", "array", "asarray", "zeros", "ones", "full", "from_numpy", "to_numpy",
    "array_equal", "array_identical",
    "add", "sub", "mul", "div", "neg", "abs", "sign", "log", "exp", "sqrt", "pow_int",
    "relu", "sin", "cos", "tanh", "sum", "mean", "prod", "min", "max", "matmul",
]

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
_SYM = {1: "+∞", 2: "−∞", 3: "Φ", 4: "⊥"}
_BOT_BITS = 0x7FF8_0000_DEAD_0001  # NaN payload marking ⊥ in repr only


def _check_dtype(dtype: Any, argname: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"{argname} must be float64 or float32, got {short_repr(dtype, 40)}"
        ) from None
    native = native_float(dt)  # either byte order: the array is made in the native one
    if native is not None:
        return native
    raise TypeError(f"{argname} must be float64 or float32, got {dt}")


def _quieted(c: np.ndarray) -> np.ndarray:
    """``c`` (a new array this module owns) with its float32 NaNs made quiet, in place.

    A signalling NaN (a payload with the quiet bit clear, as a file or ``ndarray.view`` can hold)
    raises NumPy's *invalid* flag whenever it is widened to float64, which every float32 lane of
    a reduction, ``repr`` and the comparisons do: a RuntimeWarning, or an exception under
    ``np.seterr(invalid="raise")``. Its tag is Φ like any NaN's, so it is stored as the quiet
    NaN. Cost: one ``isnan`` pass (a ``min`` pass, through which NaN propagates, for a large
    array: half the time); the fix-up runs only when a NaN is present. Float64 codes are never
    widened (and their narrowing casts are silent and quiet the NaN), so they are left as they
    are.

    >>> s = np.array([1.0, np.nan], np.float32); s.view(np.uint32)[1] = 0x7FA00000
    >>> hex(int(_quieted(s).view(np.uint32)[1]))
    '0x7fc00000'
    """
    if c.dtype != np.float32 or not c.size:
        return c
    if c.size <= _QUIET_SCAN:
        has_nan = np.isnan(c).any()  # (a classification: no IEEE flag, no errstate needed)
    else:
        with np.errstate(all="ignore"):
            has_nan = np.isnan(c.min())
    if has_nan:
        c[np.isnan(c)] = np.nan
    return c


_QUIET_SCAN = 1 << 14  # up to this size an isnan pass is cheaper than errstate + min


class TRArray:
    """An n-dimensional array of transreal values (float64 or float32).

    ``TRArray(values, tags)``: ``values`` a real array (ints become float64; its entries at
    non-REAL positions are ignored), ``tags`` an integer array of :class:`~zeroproof.TRTag` codes
    of the same shape. ``TRArray(values)`` without tags reads ``values`` as IEEE floats
    (``nan → Φ``, ``±inf → ±∞``), like :meth:`from_numpy`; ``TRArray(other_trarray)`` is a
    copy (⊥ kept).

    Arithmetic operators, ``@``, ``abs`` and ``**`` (int exponents) work elementwise with NumPy
    broadcasting against ``TRArray``, ``TRScalar``, real numbers and real NumPy arrays. Real
    numbers must be finite (as in ``real(x)``); NumPy arrays are read as IEEE floats.
    ``TRArray`` is immutable: operations return new arrays, slices are read-only views.

    >>> import numpy as np
    >>> from zeroproof.array import TRArray
    >>> a = TRArray(np.array([1.0, np.nan, np.nan]), np.array([0, 1, 3], dtype=np.uint8))
    >>> a
    TRArray([1.0, +∞, Φ], dtype=float64)
    >>> a.tags.tolist(), (a * 0.0).tags.tolist()
    ([0, 1, 3], [0, 3, 3])
    """

    __slots__ = ("_codes", "_bottom")

    def __init__(self, values: Any, tags: Any = None) -> None:
        if tags is None and isinstance(values, TRArray):  # a copy, ⊥ included
            c = values.copy()
            self._codes, self._bottom = c._codes, c._bottom
            return
        codes = float_codes("TRArray(values, tags): values", values)
        if tags is None:
            self._codes = _quieted(np.array(codes, copy=True))
            self._bottom = None
            return
        t = np.asarray(tags)
        if t.dtype.kind not in "iu" or t.dtype == np.bool_:
            raise TypeError(
                f"TRArray(values, tags): tags must be an integer (uint8) array of TRTag codes "
                f"0..4, got dtype {t.dtype}"
            )
        if t.shape != codes.shape:
            raise ValueError(
                f"TRArray(values, tags): values shape {codes.shape} and tags shape {t.shape} "
                "differ; they must be equal"
            )
        if t.size and (t.min() < 0 or t.max() > 4):
            bad = t[(t < 0) | (t > 4)].ravel()[0]
            raise ValueError(
                f"TRArray(values, tags): tags must be TRTag codes 0..4 (REAL, PINF, NINF, PHI, "
                f"BOTTOM), got {int(bad)}"
            )
        real = t == 0
        if not np.isfinite(codes[real]).all():
            raise ValueError(
                "TRArray(values, tags): a REAL-tagged entry has a non-finite value; use tags "
                "1/2/3 for ±∞/Φ, or TRArray.from_numpy(arr) to read nan/±inf as Φ/±∞"
            )
        c = np.array(codes, copy=True)
        if not real.all():
            c[t == 1] = np.inf
            c[t == 2] = -np.inf
            c[t >= 3] = np.nan
        bot = t == 4
        self._codes = c
        self._bottom = bot if bot.any() else None

    # construction -------------------------------------------------------------------------------
    @classmethod
    def from_numpy(cls, arr: Any) -> "TRArray":
        """Read a real NumPy array as IEEE floats: ``nan → Φ``, ``±inf → ±∞`` (a copy).

        Int and bool arrays become float64; complex, object and string arrays raise ``TypeError``.
        A ``TRArray`` gives a copy of itself (its tags, ⊥ included, are kept).

        >>> import numpy as np
        >>> TRArray.from_numpy(np.array([1, 2]))
        TRArray([1.0, 2.0], dtype=float64)
        >>> TRArray.from_numpy(np.array([np.nan, -np.inf], dtype=np.float32))
        TRArray([Φ, −∞], dtype=float32)
        """
        if isinstance(arr, TRArray):
            return arr.copy()
        return _from_real(arr, "from_numpy(arr): arr")

    @classmethod
    def from_codes(cls, codes: np.ndarray, bottom: Optional[np.ndarray] = None) -> "TRArray":
        """Wrap a code array and a ⊥ mask **without copying** (for kernels and the tape).

        ``codes``: float64/float32 ndarray (``inf, -inf, nan`` for ``+∞, −∞, Φ``);
        ``bottom``: ``None`` or a bool array broadcastable to ``codes`` (⊥ where True; the codes
        there should be NaN). The caller must not modify the arrays afterwards.

        >>> import numpy as np
        >>> TRArray.from_codes(np.array([np.nan, 1.0]), np.array([True, False]))
        TRArray([⊥, 1.0], dtype=float64)
        """
        if not isinstance(codes, np.ndarray) or codes.dtype not in _FLOATS:
            raise TypeError(
                f"from_codes(codes): codes must be a float64 or float32 ndarray, got "
                f"{type(codes).__name__}{' of dtype ' + str(codes.dtype) if hasattr(codes, 'dtype') else ''}"
            )
        self = object.__new__(cls)
        self._codes = codes
        if bottom is not None:
            if not isinstance(bottom, np.ndarray) or bottom.dtype != np.bool_:
                raise TypeError(
                    f"from_codes(codes, bottom): bottom must be None or a bool ndarray, got "
                    f"{type(bottom).__name__}"
                )
            if bottom.shape != codes.shape:
                bottom = np.broadcast_to(bottom, codes.shape)
        self._bottom = bottom
        return self

    # public views -------------------------------------------------------------------------------
    @property
    def codes(self) -> np.ndarray:
        """The IEEE code array (read-only view): REAL values, ``inf, -inf, nan`` (NaN also at ⊥).

        >>> array([1.0, -np.inf]).codes.tolist()
        [1.0, -inf]
        """
        v = self._codes.view()
        v.flags.writeable = False
        return v

    @property
    def bottom(self) -> Optional[np.ndarray]:
        """The ⊥ mask (read-only view), or ``None`` when no element is ⊥.

        >>> array([1.0]).bottom is None
        True
        """
        if self._bottom is None:
            return None
        v = self._bottom.view()
        v.flags.writeable = False
        return v

    @property
    def values(self) -> np.ndarray:
        """A new read-only array: the REAL values, NaN at every non-REAL entry.

        >>> array([1.0, np.inf]).values.tolist()
        [1.0, nan]
        """
        c = self._codes
        v = np.where(np.isfinite(c), c, np.nan).astype(c.dtype, copy=False)
        v.flags.writeable = False
        return v

    @property
    def tags(self) -> np.ndarray:
        """A new read-only ``uint8`` array of :class:`~zeroproof.TRTag` codes.

        >>> array([1.0, np.inf, -np.inf, np.nan]).tags.tolist()
        [0, 1, 2, 3]
        """
        c = self._codes
        t = np.zeros(c.shape, dtype=np.uint8)
        nf = ~np.isfinite(c)
        if nf.any():
            t[c == np.inf] = TRTag.PINF
            t[c == -np.inf] = TRTag.NINF
            t[np.isnan(c)] = TRTag.PHI
        if self._bottom is not None:
            t[self._bottom] = TRTag.BOTTOM
        t.flags.writeable = False
        return t

    def to_numpy(self) -> np.ndarray:
        """A new IEEE array: REAL → value, ``±∞ → ±inf``, Φ and ⊥ → NaN.

        >>> array([1.0, np.inf]).to_numpy().tolist()
        [1.0, inf]
        """
        return self._codes.copy()

    numpy = to_numpy  # (the name TRTensor and PyTorch use)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The IEEE codes for NumPy (``np.asarray(x)``): a read-only view unless a copy is asked
        for, so NumPy cannot write into this (immutable) array; ⊥ reads as NaN there."""
        if copy:
            a = self._codes.copy()
        else:
            a = self._codes.view()
            a.flags.writeable = False
        return a if dtype is None else a.astype(dtype, copy=bool(copy))

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy ufuncs run their transreal twins: ``np.exp(a)`` is ``za.exp(a)``, ``ndarray + a``
        and ``np.add(ndarray, a)`` are ``za.add(ndarray, a)``, ``np.less(a, b)`` is ``a < b``;
        a ufunc without a twin, ``out=`` (so ``ndarray += a``) and the ufunc methods
        (``np.add.reduce``) are a ``TypeError`` naming what to use.

        >>> np.exp(array([0.0, -np.inf]))
        TRArray([1.0, 0.0], dtype=float64)
        """
        return numpy_ufunc(self, ufunc, method, inputs, kwargs, "TRArray")

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        """NumPy functions: the reductions (``np.sum``, ``np.mean``, …) and shape queries run the
        transreal versions; every other NumPy function is a ``TypeError``, because NumPy would
        work on IEEE floats and turn ⊥ into Φ without a word."""
        return numpy_function(self, func, args, kwargs, "TRArray")

    def tag_counts(self) -> dict[str, int]:
        """Number of elements per tag name (every tag is a key).

        >>> array([1.0, np.nan, np.nan]).tag_counts()
        {'REAL': 1, 'PINF': 0, 'NINF': 0, 'PHI': 2, 'BOTTOM': 0}
        """
        counts = np.bincount(self.tags.ravel(), minlength=5)
        return {t.name: int(counts[int(t)]) for t in TRTag}

    # shape --------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """Shape, as in NumPy. ``zeros((2, 3)).shape`` → ``(2, 3)``."""
        return self._codes.shape

    @property
    def ndim(self) -> int:
        """Number of dimensions. ``zeros((2, 3)).ndim`` → ``2``."""
        return self._codes.ndim

    @property
    def size(self) -> int:
        """Number of elements. ``zeros((2, 3)).size`` → ``6``."""
        return self._codes.size

    @property
    def dtype(self) -> np.dtype:
        """``float64`` or ``float32``. ``zeros(2, dtype=np.float32).dtype`` → ``dtype('float32')``."""
        return self._codes.dtype

    def __len__(self) -> int:
        if self._codes.ndim == 0:
            raise TypeError("len() of a 0-d TRArray")
        return self._codes.shape[0]

    def _wrap(self, codes: np.ndarray, bottom: Optional[np.ndarray]) -> "TRArray":
        if bottom is not None and not bottom.any():
            bottom = None
        return TRArray.from_codes(codes, bottom)

    def __getitem__(self, idx: Any) -> "TRArray | TRScalar":
        if isinstance(idx, TRArray):
            raise TypeError("a TRArray cannot be used as an index; use a bool or int NumPy array")
        c = self._codes[idx]
        b = self._bottom
        if not isinstance(c, np.ndarray):  # a single element
            if b is not None and b[idx]:
                return _bottom()
            return scalar_from_code(float(c))
        if c.base is not None:
            c = c.view()
            c.flags.writeable = False
        return self._wrap(c, None if b is None else b[idx])

    def __iter__(self) -> Iterator["TRArray | TRScalar"]:
        for i in range(len(self)):
            yield self[i]

    def astype(self, dtype: Any) -> "TRArray":
        """Convert to float64 or float32 (REAL values that overflow float32 become ±∞).

        >>> array([1.5, 1e300]).astype(np.float32)
        TRArray([1.5, +∞], dtype=float32)
        """
        dt = _check_dtype(dtype, "astype(dtype): dtype")
        with np.errstate(all="ignore"):  # an IEEE cast, silent whatever np.seterr says: beyond
            c = self._codes.astype(dt)    # float32's range ±∞, below it a subnormal or ±0
        return TRArray.from_codes(c, None if self._bottom is None else self._bottom.copy())

    def reshape(self, *shape: Any) -> "TRArray":
        """Reshape like ``ndarray.reshape``. ``zeros(6).reshape(2, 3).shape`` → ``(2, 3)``."""
        dims = reshape_dims(shape)
        try:
            codes = self._codes.reshape(dims)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape an array of shape {self.shape} into "
                             f"{dims}") from None
        b = self._bottom
        return self._wrap(codes, None if b is None else np.broadcast_to(b, self.shape).reshape(dims))

    def ravel(self) -> "TRArray":
        """A 1-D array. ``zeros((2, 3)).ravel().shape`` → ``(6,)``."""
        return self.reshape(-1)

    flatten = ravel  # (NumPy's copy and view are the same thing for an immutable array)

    def squeeze(self, axis: Any = None) -> "TRArray":
        """Drop axes of length one (all, or ``axis``), like ``np.squeeze``.

        >>> zeros((1, 3, 1)).squeeze().shape
        (3,)
        """
        return self.reshape(squeezed_shape(self.shape, axis))

    def transpose(self, *axes: Any) -> "TRArray":
        """Permute axes like ``ndarray.transpose``. ``zeros((2, 3)).transpose().shape`` → ``(3, 2)``."""
        perm = transpose_axes(axes, self.ndim)
        b = self._bottom
        return self._wrap(self._codes.transpose(perm),
                          None if b is None else np.broadcast_to(b, self.shape).transpose(perm))

    @property
    def T(self) -> "TRArray":
        """The axes reversed, like ``ndarray.T``. ``zeros((2, 3)).T.shape`` → ``(3, 2)``."""
        return self.transpose()

    @property
    def mT(self) -> "TRArray":
        """The last two axes swapped, like ``ndarray.mT``. ``zeros((2, 3, 4)).mT.shape`` →
        ``(2, 4, 3)``."""
        n = self.ndim
        if n < 2:
            raise ValueError(f"mT: a matrix transpose needs at least 2 dimensions, got shape "
                             f"{self.shape}")
        return self.transpose(*range(n - 2), n - 1, n - 2)

    def broadcast_to(self, shape: Any) -> "TRArray":
        """A read-only broadcast view. ``array([1.0]).broadcast_to((3,)).shape`` → ``(3,)``."""
        dims = _check_shape(shape, "broadcast_to(shape): shape")
        try:
            codes = np.broadcast_to(self._codes, dims)
        except ValueError:
            raise ValueError(f"broadcast_to: an array of shape {self.shape} cannot be broadcast "
                             f"to {dims}") from None
        b = self._bottom
        return self._wrap(codes, None if b is None else np.broadcast_to(b, dims))

    def copy(self) -> "TRArray":
        """A copy with its own memory. ``array([1.0]).copy()`` → ``TRArray([1.0], dtype=float64)``."""
        b = self._bottom
        return TRArray.from_codes(self._codes.copy(), None if b is None else np.array(b))

    # printing -----------------------------------------------------------------------------------
    def __repr__(self) -> str:
        c = self._codes.astype(np.float64)
        if self._bottom is not None:
            c[np.broadcast_to(self._bottom, c.shape)] = np.array(_BOT_BITS, np.uint64).view(np.float64)
        f32 = self._codes.dtype == np.float32

        def fmt(x: float) -> str:
            x = float(x)
            if x == x:
                if x == np.inf:
                    return "+∞"
                if x == -np.inf:
                    return "−∞"
                return str(np.float32(x)) if f32 else repr(x)
            if struct.unpack("<Q", struct.pack("<d", x))[0] == _BOT_BITS:
                return "⊥"
            return "Φ"

        body = np.array2string(c, separator=", ", formatter={"float_kind": fmt},
                               prefix="TRArray(")
        empty_nd = self._codes.size == 0 and self._codes.ndim > 1  # shape shown as NumPy does
        shape = f", shape={self._codes.shape}" if empty_nd else ""
        return f"TRArray({body}{shape}, dtype={self._codes.dtype})"

    __str__ = __repr__

    # comparisons and truth ----------------------------------------------------------------------
    def _compared(self, other: Any, opname: str) -> Any:
        """``(a, b, bottoms)`` for an elementwise comparison: both sides as float64 codes (so
        float32 0.1 is not the number 0.1) and the ⊥ mask of either side, plus the exact number
        when ``other`` is an int or a Fraction that no float equals (else None); None when
        ``other`` is a NaN number (no transreal value: equal to nothing, unordered);
        NotImplemented when it is no operand at all."""
        exact = _exact_number(other)
        if exact is not None:
            f = as_float(exact)  # the nearest float (±inf beyond the range)
            if f != exact:  # compared exactly, as TRScalar does (Python's int/Fraction rules)
                a = self._codes.astype(np.float64, copy=False)
                return a, np.float64(f), (None if self._bottom is None else
                                          (self._bottom, np.zeros((), bool))), exact
        if isinstance(other, (list, tuple)):
            other = array(other)
        try:
            o = _operand(other, opname)
        except ValueError:
            # an infinite float reads as ±∞, as TRScalar compares it; NaN is no transreal value
            if isinstance(other, (float, np.floating)) and math.isinf(other):
                o = (float(other), None)
            else:
                return None
        if o is NotImplemented:
            return NotImplemented
        oc, ob = o
        with np.errstate(all="ignore"):  # a signalling NaN in a NumPy operand: no invalid flag
            a, b = self._codes.astype(np.float64, copy=False), np.asarray(oc, dtype=np.float64)
        _broadcast_shape(a, b, opname)
        if self._bottom is None and ob is None:
            return a, b, None, None
        ab = np.zeros((), bool) if self._bottom is None else self._bottom
        bb = np.zeros((), bool) if ob is None else ob
        return a, b, (ab, bb), None

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        """Elementwise transreal equality (``Φ == Φ``; ``0.0 == -0.0``; ⊥ equals only ⊥) as a
        bool ndarray.

        A NaN number equals no element and an infinite float is ±∞ (as for a TRScalar);
        ``None``, a string or a bool is not comparable and gives ``False`` (``!=``: ``True``).

        >>> array([1.0, np.inf, np.nan]) == array([1.0, np.inf, np.nan])
        array([ True,  True,  True])
        """
        try:
            c = self._compared(other, "==")
        except TypeError:  # None, a str, a bool, ...: not comparable, so == is False (as TRScalar
            return NotImplemented  # and Python's convention: `a in (None, "auto")` works)
        if c is None or c is NotImplemented:
            return np.zeros(self.shape, dtype=bool) if c is None else c
        a, b, bots, exact = c
        if exact is not None:  # no float equals that number
            return np.zeros(self.shape, dtype=bool)
        with np.errstate(invalid="ignore"):
            eq = (a == b) | (np.isnan(a) & np.isnan(b))
        if bots is None:
            return np.asarray(eq)
        return np.asarray(eq & (bots[0] == bots[1]))

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        r = self.__eq__(other)
        return r if r is NotImplemented else ~r

    def _order(self, other: Any, op: Any, opname: str) -> Any:
        c = self._compared(other, opname)
        if c is None or c is NotImplemented:
            return np.zeros(self.shape, dtype=bool) if c is None else c
        a, b, bots, exact = c
        r = op(a, b)  # −∞ < REAL < +∞; a NaN code (Φ, ⊥) compares False: unordered
        if exact is not None:
            # b is the float nearest the exact number: any other float orders against it as
            # against the number; an element equal to b orders as b itself does
            r = np.where(a == b, _PY_ORDER[op](float(b), exact), r)
        if bots is not None:
            r &= ~(bots[0] | bots[1])
        return np.asarray(r)

    def __lt__(self, other: Any) -> Any:
        """Elementwise transreal order as a bool ndarray: ``−∞ < REAL < +∞``; every comparison
        with Φ or ⊥ is False (SPEC §2, as for a TRScalar).

        >>> array([-np.inf, 1.0, np.nan]) < 2.0
        array([ True,  True, False])
        """
        return self._order(other, np.less, "<")

    def __le__(self, other: Any) -> Any:
        return self._order(other, np.less_equal, "<=")

    def __gt__(self, other: Any) -> Any:
        return self._order(other, np.greater, ">")

    def __ge__(self, other: Any) -> Any:
        return self._order(other, np.greater_equal, ">=")

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a TRArray with {self.size} elements is ambiguous; use "
                "za.array_equal, .tag_counts() or index a single element"
            )
        return bool(self.reshape(()).__getitem__(()))

    def _only(self, what: str, error: type) -> TRScalar:
        if self.size != 1:
            raise error(f"{what} needs a TRArray of exactly one element, got shape {self.shape}; "
                        f"index an element or reduce first")
        return self.reshape(()).__getitem__(())

    def item(self) -> float:
        """The only element as a Python float, as NumPy's ``item()`` and PyTorch's: REAL → the
        float, ±∞ → ±inf, Φ and ⊥ → NaN (``a[()]`` gives the ``TRScalar``, tag kept).

        >>> array([2.5]).item(), array(np.inf).item()
        (2.5, inf)
        """
        return float(self._only("item()", ValueError))

    def __float__(self) -> float:
        return float(self._only("float()", TypeError))

    def __int__(self) -> int:
        """``int(a)`` of a one-element array: ``int`` of its ``TRScalar`` (±∞ an
        ``OverflowError``, Φ and ⊥ a ``ValueError``, as for IEEE inf and NaN)."""
        return int(self._only("int()", TypeError))

    def __format__(self, spec: str) -> str:
        """A 0-d array formats as the TRScalar it holds (``f"{loss:.4f}"``; Φ as its symbol, as
        ``TRScalar.__format__``); an empty spec gives ``str(a)``; another shape with a spec is a
        ``TypeError``, as in NumPy.

        >>> f"{array(0.123456):.3f}|{array(np.nan):>4.2f}"
        '0.123|   Φ'
        """
        if not spec:
            return str(self)
        if self._codes.ndim == 0:
            return format(self.__getitem__(()), spec)
        raise TypeError(f"format spec {spec!r} needs a 0-d TRArray, got shape {self.shape}; "
                        f"format an element (a[i]) or use str(a)")

    # arithmetic ---------------------------------------------------------------------------------
    def __add__(self, o: Any) -> Any:
        return _binop(K.add, self, o, "+")

    def __radd__(self, o: Any) -> Any:
        return _binop(K.add, o, self, "+", reflected=True)

    def __sub__(self, o: Any) -> Any:
        return _binop(K.sub, self, o, "-")

    def __rsub__(self, o: Any) -> Any:
        return _binop(K.sub, o, self, "-", reflected=True)

    def __mul__(self, o: Any) -> Any:
        return _binop(K.mul, self, o, "*")

    def __rmul__(self, o: Any) -> Any:
        return _binop(K.mul, o, self, "*", reflected=True)

    def __truediv__(self, o: Any) -> Any:
        return _binop(K.div, self, o, "/")

    def __rtruediv__(self, o: Any) -> Any:
        return _binop(K.div, o, self, "/", reflected=True)

    def __matmul__(self, o: Any) -> Any:
        return _binop(K.matmul, self, o, "@")

    def __rmatmul__(self, o: Any) -> Any:
        return _binop(K.matmul, o, self, "@", reflected=True)

    def __neg__(self) -> "TRArray":
        return TRArray.from_codes(*K.neg(self._codes, self._bottom))

    def __pos__(self) -> "TRArray":
        return self

    def __abs__(self) -> "TRArray":
        return TRArray.from_codes(*K.abs(self._codes, self._bottom))

    def __pow__(self, k: Any, modulo: Any = None) -> "TRArray":
        if modulo is not None:
            no_modulus("TRArray", modulo)
        if isinstance(k, (TRArray, np.ndarray, TRScalar)):
            raise TypeError(
                f"TRArray ** k: k must be an int, got {type(k).__name__}; integer exponents "
                "only (use exp(k * log(x)) for real or elementwise powers)"
            )
        return pow_int(self, k)

    def __rpow__(self, base: Any) -> Any:
        raise TypeError(
            "x ** TRArray is not supported: exponents must be ints (use exp(y * log(x)))"
        )

    # reductions as methods (``np.sum(arr)`` & co. call these with dtype=/out=) -----------------
    def sum(self, axis: Any = None, mode: Any = ReductionMode.STRICT,
            keepdims: bool = False, *, dtype: Any = None,
            out: Any = None) -> "TRArray | TRScalar":
        """Exactly rounded transreal sum (see :func:`zeroproof.array.sum`).

        >>> array([1e16, 1.0, -1e16]).sum()
        TRScalar(1.0, REAL)
        """
        numpy_reduction_args("sum", dtype, out)
        return sum(self, axis=axis, mode=mode, keepdims=keepdims)

    def mean(self, axis: Any = None, mode: Any = ReductionMode.STRICT,
             keepdims: bool = False, *, dtype: Any = None,
             out: Any = None) -> "TRArray | TRScalar":
        """Transreal mean (see :func:`zeroproof.array.mean`). ``array([1.0, 2.0]).mean()`` → 1.5."""
        numpy_reduction_args("mean", dtype, out)
        return mean(self, axis=axis, mode=mode, keepdims=keepdims)

    def prod(self, axis: Any = None, mode: Any = ReductionMode.STRICT,
             keepdims: bool = False, *, dtype: Any = None,
             out: Any = None) -> "TRArray | TRScalar":
        """Exactly rounded transreal product (see :func:`zeroproof.array.prod`)."""
        numpy_reduction_args("prod", dtype, out)
        return prod(self, axis=axis, mode=mode, keepdims=keepdims)

    def min(self, axis: Any = None, mode: Any = ReductionMode.STRICT,
            keepdims: bool = False, *, dtype: Any = None,
            out: Any = None) -> "TRArray | TRScalar":
        """Transreal minimum (see :func:`zeroproof.array.min`)."""
        numpy_reduction_args("min", dtype, out)
        return min(self, axis=axis, mode=mode, keepdims=keepdims)

    def max(self, axis: Any = None, mode: Any = ReductionMode.STRICT,
            keepdims: bool = False, *, dtype: Any = None,
            out: Any = None) -> "TRArray | TRScalar":
        """Transreal maximum (see :func:`zeroproof.array.max`)."""
        numpy_reduction_args("max", dtype, out)
        return max(self, axis=axis, mode=mode, keepdims=keepdims)

    # protocol with zeroproof.core's tr_* functions ---------------------------------------------
    @staticmethod
    def __tr_dispatch__(name: str, args: tuple) -> Any:
        """Run ``zeroproof.core``'s ``tr_*`` functions on TRArrays (``tr_add(arr, 1.0)`` …)."""
        for a in args:  # another type with its own protocol (e.g. a batched node) takes over
            if not isinstance(a, TRArray):
                d = getattr(type(a), "__tr_dispatch__", None)
                if d is not None:
                    return d(name, args)
        fn = _DISPATCH.get(name)
        if fn is None:
            raise TypeError(f"{name} is not supported for TRArray operands")
        if name in _REDUCTION_NAMES:
            values, mode = args
            return fn(values, mode=mode)
        return fn(*args)


# --- operand conversion --------------------------------------------------------------------------
def _operand(x: Any, opname: str) -> Any:
    """``(codes, bottom)`` of an operand, or NotImplemented for types we do not handle."""
    if isinstance(x, TRArray):
        return x._codes, x._bottom
    if isinstance(x, TRScalar):
        t = x.tag
        if t is REAL:
            return x.value, None
        if t is TRTag.BOTTOM:
            return np.nan, np.True_
        return {TRTag.PINF: np.inf, TRTag.NINF: -np.inf, TRTag.PHI: np.nan}[t], None
    if x.__class__ is float:
        return _check_real(x, f"TRArray {opname} operand"), None
    if isinstance(x, (np.float32, np.float64)):
        _check_real(x, f"TRArray {opname} operand")
        return x, None  # a NumPy float scalar keeps its dtype (NumPy's promotion rules)
    if _is_number(x):
        return _check_real(x, f"TRArray {opname} operand"), None
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(
            f"TRArray {opname} operand must be a real number, got bool {x!r}; use 1.0 or 0.0"
        )
    if isinstance(x, np.ndarray):
        return float_codes(f"TRArray {opname} operand", x), None
    if type(x) in _NEVER_OPERANDS:  # built-ins no reflected operator will take (as TRScalar's)
        raise TypeError(
            f"TRArray {opname} operand must be a TRArray, a TRScalar, a real number or a real "
            f"NumPy array, got {type(x).__name__} {short_repr(x, 40)}"
        )
    return NotImplemented


def _broadcast_shape(a: Any, b: Any, opname: str) -> None:
    try:
        np.broadcast_shapes(np.shape(a), np.shape(b))
    except ValueError:
        raise ValueError(
            f"operands of {opname} do not broadcast: shapes {np.shape(a)} and {np.shape(b)}"
        ) from None


def _matmul_shape(sa: tuple, sb: tuple) -> None:
    """``ValueError`` naming both shapes unless ``np.matmul`` accepts them."""
    ok = len(sa) >= 1 and len(sb) >= 1
    if ok:
        ka = sa[-1]
        kb = sb[0] if len(sb) == 1 else sb[-2]
        ok = ka == kb
    if ok and len(sa) > 2 and len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            ok = False
    if not ok:
        zero_d = " (0-d operands are not accepted: use * for a scalar)" if not (sa and sb) else ""
        raise ValueError(
            f"matmul: shapes {sa} and {sb} are not aligned (need (..., n, k) @ (..., k, m) with "
            f"broadcastable batch dimensions, or 1-D vectors){zero_d}"
        )


def _binop(kernel: Any, a: Any, b: Any, opname: str, reflected: bool = False) -> Any:
    """Run a binary kernel on two operands; NotImplemented if one is of an unknown type."""
    oa = _operand(a, opname)
    ob = _operand(b, opname)
    if oa is NotImplemented or ob is NotImplemented:
        return NotImplemented
    if kernel is K.matmul:
        _matmul_shape(np.shape(oa[0]), np.shape(ob[0]))
        c, bot = kernel(oa[0], ob[0], oa[1], ob[1])
        if c.ndim == 0:  # vector @ vector is a scalar, as in NumPy
            return _bottom() if bot is not None and bool(bot) else scalar_from_code(float(c))
        return TRArray.from_codes(c, bot)
    else:
        _broadcast_shape(oa[0], ob[0], opname)
    return TRArray.from_codes(*kernel(oa[0], ob[0], oa[1], ob[1]))


def _from_real(arr: Any, argname: str) -> TRArray:
    """A real NumPy array (or array-like) read as IEEE codes into a new TRArray (a copy);
    errors name ``argname``. The one reader behind ``from_numpy`` and the operand/leaf paths.
    Float32 signalling NaNs are stored as the quiet NaN (:func:`_quieted`)."""
    return TRArray.from_codes(_quieted(np.array(float_codes(argname, arr), copy=True)))


def _as_trarray(x: Any, argname: str) -> TRArray:
    if isinstance(x, TRArray):
        return x
    if isinstance(x, np.ndarray) and x.dtype != object:  # an error names the caller's argument
        return _from_real(x, argname)
    if isinstance(x, (list, tuple, TRScalar)) or _is_number(x):
        return array(x)
    raise TypeError(
        f"{argname} must be a TRArray, a real NumPy array, a TRScalar or a real number, got "
        f"{type(x).__name__}"
    )


# --- factories -----------------------------------------------------------------------------------
def _code_of_item(v: Any, where: str) -> tuple[float, bool]:
    if isinstance(v, TRScalar):
        t = v.tag
        if t is TRTag.BOTTOM:
            return np.nan, True
        return float(v), False
    if isinstance(v, (bool, np.bool_)) or not _is_number(v):
        raise TypeError(
            f"array(obj): {where} must be a TRScalar or a real number, got {type(v).__name__} "
            f"{short_repr(v, 40)}"
        )
    try:
        return float(v), False
    except OverflowError:
        raise ValueError(f"array(obj): {where} = {short_repr(v, 40)} does not fit in a float64; "
                         "use float('inf') or zp.pinf()/zp.ninf() for infinities") from None


def array(obj: Any, dtype: Any = None) -> TRArray:
    """A new ``TRArray`` from a TRArray, a real NumPy array, or (nested) sequences of numbers and
    TRScalars. Floats are read as IEEE (``nan → Φ``, ``±inf → ±∞``); ints become float64.

    >>> import zeroproof as zp
    >>> array([[1, 2], [3, 4]]).shape
    (2, 2)
    >>> array([zp.real(1.0), zp.pinf(), zp.bottom()])
    TRArray([1.0, +∞, ⊥], dtype=float64)
    """
    dt = None if dtype is None else _check_dtype(dtype, "array(obj, dtype): dtype")
    if isinstance(obj, TRArray):
        out = obj.copy()
    elif isinstance(obj, TRScalar):
        c, isbot = _code_of_item(obj, "obj")
        out = TRArray.from_codes(np.array(c), np.array(True) if isbot else None)
    else:
        if isinstance(obj, (str, bytes)):
            raise TypeError(f"array(obj): obj must be numeric, got {type(obj).__name__}")
        no_lone_bool("array(obj): obj", obj)
        if isinstance(obj, (list, tuple)) and any(isinstance(v, (TRArray, list, tuple))
                                                  for v in obj) and _holds_trarray(obj):
            parts = [array(v) for v in obj]  # each part keeps its tags (⊥ included)
            try:
                codes = np.stack([q._codes for q in parts])
                bot = np.stack([np.zeros(q.shape, bool) if q._bottom is None
                                else np.broadcast_to(q._bottom, q.shape) for q in parts])
            except ValueError:
                raise ValueError(f"array(obj): the parts of obj have different shapes "
                                 f"{[q.shape for q in parts]}") from None
            out = TRArray.from_codes(codes, bot if bot.any() else None)
            if dt is not None and out.dtype != dt:
                out = out.astype(dt)
            return out
        a = rectangular("array(obj): obj", obj)
        if a.dtype == object:
            flat = a.ravel()
            pairs = [_code_of_item(v, f"obj element {i}") for i, v in enumerate(flat.tolist())]
            codes = np.array([p[0] for p in pairs], dtype=np.float64).reshape(a.shape)
            bot = np.array([p[1] for p in pairs], dtype=bool).reshape(a.shape)
            out = TRArray.from_codes(codes, bot if bot.any() else None)
        else:
            out = TRArray.from_numpy(a)
    if dt is not None and out.dtype != dt:
        out = out.astype(dt)
    return out


def _holds_trarray(obj: Any) -> bool:
    """Whether a (nested) list or tuple holds a TRArray somewhere."""
    return any(isinstance(v, TRArray) or (isinstance(v, (list, tuple)) and _holds_trarray(v))
               for v in obj)


_PY_ORDER = {np.less: operator.lt, np.less_equal: operator.le, np.greater: operator.gt,
             np.greater_equal: operator.ge}

_NP_JOINS: dict[Any, Any] = {}  # np.concatenate/stack/where → ours (filled below their defs)

_NP_REDUCTIONS: dict[Any, tuple[str, tuple[str, ...]]] = {
    np.sum: ("sum", ("axis", "dtype", "out", "keepdims")),
    np.mean: ("mean", ("axis", "dtype", "out", "keepdims")),
    np.prod: ("prod", ("axis", "dtype", "out", "keepdims")),
    np.min: ("min", ("axis", "out", "keepdims")), np.amin: ("min", ("axis", "out", "keepdims")),
    np.max: ("max", ("axis", "out", "keepdims")), np.amax: ("max", ("axis", "out", "keepdims")),
}


def numpy_function(x: Any, func: Any, args: tuple, kwargs: dict, kind: str) -> Any:
    """The ``__array_function__`` of TRArray and TRTensor: NumPy reductions run the object's own
    transreal method, ``np.shape/ndim/size`` answer, anything else is a ``TypeError``."""
    if func in (np.shape, np.ndim, np.size) and args and args[0] is x and not kwargs:
        return {np.shape: x.shape, np.ndim: x.ndim, np.size: x.size}[func]
    spec = _NP_REDUCTIONS.get(func)
    if spec is not None and args and args[0] is x:
        name, positional = spec
        if not hasattr(x, name):
            raise TypeError(f"numpy.{func.__name__} is not supported on a {kind}: the tape "
                            f"differentiates sum and mean only (use .value for the others)")
        if len(args) - 1 > len(positional):
            raise TypeError(f"numpy.{func.__name__}: too many arguments for a {kind}")
        kw = dict(zip(positional, args[1:]))
        for k, v in kwargs.items():
            if k in kw:
                raise TypeError(f"numpy.{func.__name__}: {k} given twice")
            kw[k] = v
        unknown = set(kw) - {"axis", "dtype", "out", "keepdims"}
        if unknown:
            raise TypeError(f"numpy.{func.__name__}({', '.join(sorted(unknown))}=...) is not "
                            f"supported on a {kind}")
        if func in (np.min, np.amin, np.max, np.amax) and "dtype" in kw:
            raise TypeError(f"numpy.{func.__name__} takes no dtype")
        return getattr(x, name)(**kw)
    if func in _NP_JOINS:  # (on TRTensors: recorded on the tape)
        return _NP_JOINS[func](*args, **kwargs)
    name = getattr(func, "__name__", str(func))
    import zeroproof.array as za  # the package's public names (this module is loaded by it)
    if name in za.__all__ and callable(getattr(za, name, None)):
        twin = f"use za.{name}"
    else:
        twin = _no_twin(name)
    raise _ieee_refusal(name, kind, twin)


# What to use instead of a NumPy function or ufunc that zeroproof.array has no twin of.
_MAX_HINT = "for max(x, 0) use za.relu(x), for a reduction za.max, on TRArrays za.where(a >= b, a, b)"
_MIN_HINT = "for a reduction use za.min, on TRArrays za.where(a <= b, a, b)"
_INSTEAD = {
    "maximum": _MAX_HINT, "fmax": _MAX_HINT, "minimum": _MIN_HINT, "fmin": _MIN_HINT,
    "isnan": "Φ and ⊥ are tags: test a.tags == TRTag.PHI (or TRTag.BOTTOM)",
    "isinf": "±∞ are tags: test a.tags == TRTag.PINF (or TRTag.NINF)",
    "isfinite": "REAL is a tag: test a.tags == TRTag.REAL",
    "median": "take a.to_numpy() and decide what Φ and ±∞ mean for a median",
}


def _no_twin(name: str) -> str:
    """The hint for a NumPy name that has no transreal twin."""
    hint = _INSTEAD.get(name)
    return f"zeroproof.array has no transreal {name}" + (f"; {hint}" if hint else "")


def _ieee_refusal(name: str, kind: str, twin: str) -> TypeError:
    """The error for a NumPy function or ufunc that has no transreal meaning on ``kind``."""
    return TypeError(
        f"numpy.{name} is not supported on a {kind} (NumPy would work on IEEE floats and turn ⊥ "
        f"into Φ): {twin}. For plain IEEE floats use .to_numpy() or .codes")


# NumPy ufuncs with a transreal twin in zeroproof.array (same name there unless given), and the
# ufuncs that are Python operators (run as the operator of the transreal operand).
_UFUNC_TWINS = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div",
                np.negative: "neg", np.absolute: "abs", np.sign: "sign", np.exp: "exp",
                np.log: "log", np.sqrt: "sqrt", np.sin: "sin", np.cos: "cos", np.tanh: "tanh",
                np.matmul: "matmul"}
_UFUNC_OPERATORS = {np.less: ("__lt__", "__gt__"), np.less_equal: ("__le__", "__ge__"),
                    np.greater: ("__gt__", "__lt__"), np.greater_equal: ("__ge__", "__le__"),
                    np.equal: ("__eq__", "__eq__"), np.not_equal: ("__ne__", "__ne__"),
                    np.power: ("__pow__", "__rpow__"), np.positive: ("__pos__", None)}


def numpy_ufunc(x: Any, ufunc: Any, method: str, inputs: tuple, kwargs: dict, kind: str) -> Any:
    """The ``__array_ufunc__`` of TRArray and TRTensor (NEP 13): a NumPy ufunc called on one runs
    its transreal twin (``np.exp(a)`` is ``za.exp(a)``, ``np.add(ndarray, a)`` is
    ``za.add(ndarray, a)``, a comparison ufunc the comparison operator); anything NumPy would
    otherwise compute on IEEE floats (a ufunc without a twin, ``out=``/``where=``/``dtype=``, the
    ``reduce``/``accumulate``/``outer``/``at`` methods) is a ``TypeError`` that names the way."""
    name = getattr(ufunc, "__name__", str(ufunc))
    twin = _UFUNC_TWINS.get(ufunc)
    dunders = _UFUNC_OPERATORS.get(ufunc)
    if method != "__call__":
        alt = {"add": "za.sum", "multiply": "za.prod", "maximum": "za.max",
               "minimum": "za.min"}.get(name) if method == "reduce" else None
        raise TypeError(f"numpy.{name}.{method} is not supported on a {kind}"
                        + (f": use {alt}" if alt else "; use .to_numpy() for plain IEEE floats"))
    if kwargs:
        if "out" in kwargs:
            raise TypeError(
                f"numpy.{name}(..., out=...) is not supported with a {kind} operand: a NumPy "
                f"array cannot hold transreal results (an in-place `x += a` on a NumPy array x "
                f"is this case); write x = x + a, which gives a new {kind}")
        raise TypeError(f"numpy.{name}({', '.join(sorted(kwargs))}=...) is not supported with a "
                        f"{kind} operand; call it without them")
    if twin is not None:
        import zeroproof.array as za  # the package's public functions (it loads this module)
        return getattr(za, twin)(*inputs)
    if dunders is not None:
        if len(inputs) == 1:
            return getattr(x, dunders[0])()
        a, b = inputs
        return getattr(x, dunders[0])(b) if a is x else getattr(x, dunders[1])(a)
    raise _ieee_refusal(name, kind, _no_twin(name))


def squeezed_shape(shape: tuple, axis: Any) -> tuple:
    """``shape`` without its axes of length one (all, or ``axis``: an int or a tuple of ints),
    as ``np.squeeze`` gives it; ``TypeError``/``ValueError`` naming the axis otherwise.

    >>> squeezed_shape((1, 3, 1), None), squeezed_shape((1, 3, 1), -1)
    ((3,), (1, 3))
    """
    if axis is None:
        return tuple(d for d in shape if d != 1)
    n = len(shape)
    # (NumPy lets a 0-d array squeeze axis 0 or -1, as if it had one axis of length one)
    axes = axis_indices("squeeze(axis): axis", axis, n or 1, "None, an int or a tuple of ints")
    if not n:
        return ()
    for a in axes:
        if shape[a] != 1:
            raise ValueError(f"squeeze: axis {axis!r} does not have length 1 in shape {shape}")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def expanded_shape(shape: tuple, axis: Any) -> tuple:
    """``shape`` with axes of length one inserted at ``axis`` (an int or a tuple of ints, each
    an index into the result), as ``np.expand_dims`` gives it (``-1``: at the end).

    >>> expanded_shape((2, 3), 1), expanded_shape((2, 3), -1), expanded_shape((3,), (0, -1))
    ((2, 1, 3), (2, 3, 1), (1, 3, 1))
    """
    n = len(shape) + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    axes = axis_indices("unsqueeze(axis): axis", axis, n, sequences=(tuple, list))
    rest = iter(shape)
    return tuple(1 if i in axes else next(rest) for i in range(n))


def reshape_dims(args: tuple) -> tuple:
    """The target of ``reshape(*args)`` (``2, 3``, ``(2, 3)`` or ``[2, 3]``; one ``-1`` allowed)
    as a tuple of ints, with a ``TypeError``/``ValueError`` naming ``shape`` otherwise.

    >>> reshape_dims((2, -1)), reshape_dims(((2, 3),)), reshape_dims((6,))
    ((2, -1), (2, 3), (6,))
    """
    return _check_shape(args[0] if len(args) == 1 else args, "reshape(shape): shape",
                        unknown=True)


def transpose_axes(axes: tuple, ndim: int) -> tuple:
    """The permutation ``transpose(*axes)`` applies to ``ndim`` axes (none or ``None``: reversed;
    ints, or one tuple/list of them, negative allowed).

    >>> transpose_axes((), 3), transpose_axes(((1, 0, -1),), 3)
    ((2, 1, 0), (1, 0, 2))
    >>> transpose_axes((np.array([1, 0]),), 2)
    (1, 0)
    """
    if not axes or (len(axes) == 1 and axes[0] is None):
        return tuple(range(ndim - 1, -1, -1))
    if len(axes) == 1 and isinstance(axes[0], (tuple, list, np.ndarray)):
        axes = tuple(axes[0])  # one sequence of axes (an empty one only fits a 0-d array)
    perm = tuple(axis_index("transpose(axes): axes", a, ndim, "ints") for a in axes)
    if sorted(perm) != list(range(ndim)):
        raise ValueError(f"transpose(axes): axes must be a permutation of range({ndim}) "
                         f"(negative axes allowed), got {short_repr(axes, 60)}")
    return perm


def asarray(obj: Any, dtype: Any = None) -> TRArray:
    """Like :func:`array`, but returns a ``TRArray`` of the right dtype unchanged (no copy).

    >>> x = array([1.0]); asarray(x) is x
    True
    """
    if isinstance(obj, TRArray) and (dtype is None or np.dtype(dtype) == obj.dtype):
        return obj
    return array(obj, dtype=dtype)


def full(shape: Any, fill_value: Any, dtype: Any = np.float64) -> TRArray:
    """An array of ``shape`` filled with a number or a TRScalar.

    >>> import zeroproof as zp
    >>> full(2, zp.phi())
    TRArray([Φ, Φ], dtype=float64)
    """
    dt = _check_dtype(dtype, "full(shape, fill_value, dtype): dtype")
    if isinstance(fill_value, TRScalar):
        c, isbot = _code_of_item(fill_value, "fill_value")
    else:
        c, isbot = _check_real(fill_value, "full(shape, fill_value): fill_value"), False
    shape = _check_shape(shape, "shape")
    with np.errstate(all="ignore"):  # beyond float32's range → ±∞, below → ±0, as za.array does
        codes = np.full(shape, c, dtype=dt)
    return TRArray.from_codes(codes, np.ones(codes.shape, bool) if isbot else None)


def _check_shape(shape: Any, name: str, unknown: bool = False) -> tuple:
    """A shape as NumPy takes it (an int or a sequence of ints, each >= 0, and at most one -1
    when ``unknown``: reshape's "the rest")."""
    dims = (shape,) if is_integer(shape) else shape
    try:
        dims = None if isinstance(dims, (str, bytes, bytearray)) else tuple(dims)
    except TypeError:
        dims = None
    if dims is None or not all(is_integer(d) for d in dims):
        raise TypeError(f"{name} must be an int or a tuple of ints, got {type(shape).__name__} "
                        f"{short_repr(shape, 40)}")
    if any(d < 0 for d in dims) and (not unknown or any(d < -1 for d in dims)
                                     or dims.count(-1) > 1):
        raise ValueError(f"{name} must not have negative dimensions"
                         f"{' (one -1 stands for the rest)' if unknown else ''}, got "
                         f"{short_repr(shape, 60)}")
    if any(d > _MAX_DIM for d in dims):
        raise ValueError(f"{name}: each dimension must be at most {_MAX_DIM}, got "
                         f"{short_repr(shape, 60)}")
    return tuple(int(d) for d in dims)


_MAX_DIM = int(np.iinfo(np.intp).max)


def zeros(shape: Any, dtype: Any = np.float64) -> TRArray:
    """REAL zeros. ``zeros(2)`` → ``TRArray([0.0, 0.0], dtype=float64)``.

    >>> zeros((1, 2), dtype=np.float32)
    TRArray([[0.0, 0.0]], dtype=float32)
    """
    return full(shape, 0.0, dtype)


def ones(shape: Any, dtype: Any = np.float64) -> TRArray:
    """REAL ones.

    >>> ones(2)
    TRArray([1.0, 1.0], dtype=float64)
    """
    return full(shape, 1.0, dtype)


def from_numpy(arr: Any) -> TRArray:
    """``TRArray.from_numpy``: ``nan → Φ``, ``±inf → ±∞``.

    >>> import numpy as np
    >>> import zeroproof.array as za
    >>> za.from_numpy(np.array([np.inf]))
    TRArray([+∞], dtype=float64)
    """
    return TRArray.from_numpy(arr)


def to_numpy(x: TRArray) -> np.ndarray:
    """IEEE array of a TRArray (Φ and ⊥ → NaN).

    >>> import zeroproof.array as za
    >>> za.to_numpy(za.array([1.0, np.nan])).tolist()
    [1.0, nan]
    """
    if not isinstance(x, TRArray):
        raise TypeError(f"to_numpy(x): x must be a TRArray, got {type(x).__name__}")
    return x.to_numpy()


def array_equal(a: Any, b: Any) -> bool:
    """True if shapes and tags are equal and REAL values compare equal (``0.0 == -0.0``).

    >>> array_equal(array([0.0, np.nan]), array([-0.0, np.nan]))
    True
    """
    a = _as_trarray(a, "array_equal(a, b): a")
    b = _as_trarray(b, "array_equal(a, b): b")
    if a.shape != b.shape:
        return False
    return bool(np.all(a == b))


def array_identical(a: Any, b: Any) -> bool:
    """True if dtype, shape and tags are equal and REAL values are equal **bit for bit** (so
    ``+0.0`` and ``-0.0`` differ). This is what the property tests use.

    >>> array_identical(array([0.0]), array([-0.0]))
    False
    """
    a = _as_trarray(a, "array_identical(a, b): a")
    b = _as_trarray(b, "array_identical(a, b): b")
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    ta, tb = a.tags, b.tags
    if not np.array_equal(ta, tb):
        return False
    real = ta == 0
    ui = np.uint64 if a.dtype == np.float64 else np.uint32
    return bool(np.array_equal(np.ascontiguousarray(a._codes).view(ui)[real],
                               np.ascontiguousarray(b._codes).view(ui)[real]))


# --- joining and selecting -----------------------------------------------------------------------
def _parts(arrays: Any, fname: str, convert: Any = None) -> list[Any]:
    """The operands of a join, each read by ``convert`` (default: as a TRArray; the batched
    tape reads them as tensors)."""
    if (isinstance(arrays, (TRArray, np.ndarray)) or not is_iterable(arrays)
            or hasattr(type(arrays), "__tr_dispatch__")):  # (one TRTensor is not a sequence)
        raise TypeError(f"{fname}(arrays): arrays must be a sequence of arrays (a list or tuple), "
                        f"got {type(arrays).__name__}")
    convert = _as_trarray if convert is None else convert
    parts = [convert(a, f"{fname}(arrays): arrays[{i}]") for i, a in enumerate(arrays)]
    if not parts:
        raise ValueError(f"{fname}(arrays): need at least one array")
    return parts


def _join_operands(arrays: Any) -> tuple[Any, Any]:
    """``(operands, hook)``: a join's operands (an iterator read into a list, so that it can be
    looked at twice; anything else as given, for :func:`_parts` to judge) and the graph
    dispatch hook of a TRTensor (or TRNode) among them, if any."""
    if isinstance(arrays, collections.abc.Iterator):
        arrays = list(arrays)
    return arrays, (_graph_handler(*arrays) if isinstance(arrays, (list, tuple)) else None)


def _joined(join: Any, parts: list[TRArray], axis: Any, fname: str) -> TRArray:
    if axis is not None:  # (0-d operands: axis 0 passes, and NumPy says they cannot be joined)
        ndim = parts[0].ndim + 1 if fname == "stack" else parts[0].ndim or 1
        axis = axis_index(f"{fname}(arrays, axis): axis", axis, ndim,
                          "an int or None" if fname == "concatenate" else "an int")
    try:
        codes = join([p._codes for p in parts], axis=axis)
    except (ValueError, np.exceptions.AxisError) as exc:
        shapes = ", ".join(str(p.shape) for p in parts)
        raise ValueError(f"{fname}(arrays, axis={axis!r}): {exc} (shapes {shapes})") from None
    if all(p._bottom is None for p in parts):
        return TRArray.from_codes(codes)
    bots = [np.zeros(p.shape, bool) if p._bottom is None else np.broadcast_to(p._bottom, p.shape)
            for p in parts]
    return TRArray.from_codes(codes, join(bots, axis=axis))


def concatenate(arrays: Sequence[Any], axis: Optional[int] = 0) -> TRArray:
    """Join arrays along an existing axis, as ``np.concatenate`` (⊥ kept; dtypes promote as in
    NumPy). ``np.concatenate`` of TRArrays runs this.

    >>> import zeroproof as zp
    >>> concatenate([array([1.0, np.nan]), array([zp.bottom()])])
    TRArray([1.0, Φ, ⊥], dtype=float64)

    With a ``TRTensor`` among the operands the join is recorded on its tape (differentiable;
    the result is a ``TRTensor``).
    """
    arrays, handler = _join_operands(arrays)
    if handler is not None:
        return handler("concatenate", (arrays, axis))
    return _joined(np.concatenate, _parts(arrays, "concatenate"), axis, "concatenate")


def stack(arrays: Sequence[Any], axis: int = 0) -> TRArray:
    """Join arrays of one shape along a new axis, as ``np.stack`` (⊥ kept). ``np.stack`` of
    TRArrays runs this.

    >>> stack([array([1.0, 2.0]), array([3.0, np.inf])]).shape
    (2, 2)

    With a ``TRTensor`` among the operands the join is recorded on its tape (differentiable).
    """
    arrays, handler = _join_operands(arrays)
    if handler is not None:
        return handler("stack", (arrays, axis))
    return _joined(np.stack, _parts(arrays, "stack"), axis, "stack")


def where(condition: Any, x: Any, y: Any) -> TRArray:
    """Elements of ``x`` where ``condition`` is True, of ``y`` elsewhere, as ``np.where`` (tags,
    ⊥ included, come with the element). ``condition`` is a bool array (e.g. ``a.tags == 0``);
    ``x`` and ``y`` are TRArrays, TRScalars, real numbers or real NumPy arrays, read as
    ``TRArray`` reads arrays (a float ``inf`` is ``+∞``, ``nan`` is Φ: ``np.where(m, x,
    np.inf)`` works); all three broadcast. ``np.where(c, x, y)`` with a TRArray among them runs
    this. With a ``TRTensor`` as ``x`` or ``y`` the selection is recorded on its tape
    (differentiable: each element's gradient goes to the operand it was taken from).

    >>> import zeroproof as zp
    >>> a = array([1.0, np.inf, np.nan])
    >>> where(a.tags == 0, a, zp.real(0.0))
    TRArray([1.0, 0.0, 0.0], dtype=float64)
    """
    handler = _graph_handler(x, y)
    if handler is not None:
        return handler("where", (condition, x, y))
    try:
        c = np.asarray(condition)
    except ValueError:  # a ragged nested list
        raise ValueError(f"where(condition, x, y): condition must be a bool array (e.g. "
                         f"a.tags == 0 or a == 0), got a ragged {type(condition).__name__}") \
            from None
    if c.dtype != np.bool_:
        raise TypeError(f"where(condition, x, y): condition must be a bool array (e.g. "
                        f"a.tags == 0 or a == 0), got dtype {c.dtype}")
    ops = []
    for name, v in (("x", x), ("y", y)):
        if isinstance(v, (float, np.floating)) and not math.isfinite(v):
            # as an element of an array: ±inf → ±∞, NaN → Φ; a Python float, so that it takes
            # the other operand's dtype (NumPy's rule for a scalar) and keeps float32 float32
            ops.append((float(v), None))
            continue
        if isinstance(v, (list, tuple)):
            o = _operand(array(v), "where")
        else:
            try:
                o = _operand(v, "where")
            except TypeError:  # (its message would not say which argument)
                o = NotImplemented
        if o is NotImplemented:
            raise TypeError(f"where(condition, x, y): {name} must be a TRArray, a TRScalar, a "
                            f"real number or a real NumPy array, got {type(v).__name__} "
                            f"{short_repr(v, 40)}")
        ops.append(o)
    (xc, xb), (yc, yb) = ops
    try:
        shape = np.broadcast_shapes(c.shape, np.shape(xc), np.shape(yc))
    except ValueError:
        raise ValueError(f"where(condition, x, y): shapes {c.shape}, {np.shape(xc)} and "
                         f"{np.shape(yc)} do not broadcast") from None
    codes = np.where(c, xc, yc)
    if xb is None and yb is None:
        return TRArray.from_codes(np.array(codes, copy=True))
    bot = np.where(c, False if xb is None else xb, False if yb is None else yb)
    return TRArray.from_codes(np.array(codes, copy=True), np.broadcast_to(bot, shape).copy())


_NP_JOINS.update({np.concatenate: concatenate, np.stack: stack, np.where: where})


# --- elementwise functions ------------------------------------------------------------------------
def _graph_handler(*args: Any) -> Any:
    """The dispatch hook of the first graph value (batched ``TRTensor``, scalar ``TRNode``)
    among ``args``, or None: ``za.sqrt(w)`` on a parameter records on its tape, as ``zp.tr_sqrt``
    does, instead of refusing it. Core's dispatcher, with TRArrays (handled here) left out."""
    return _dispatcher(tuple(a for a in args if a.__class__ is not TRArray))


def _unary(kernel: Any, name: str, doc: str) -> Any:
    def fn(x: Any) -> TRArray:
        handler = _graph_handler(x)
        if handler is not None:
            return handler("tr_" + name, (x,))
        a = _as_trarray(x, f"{name}(x): x")
        return TRArray.from_codes(*kernel(a._codes, a._bottom))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def _function_arg(v: Any, name: str, arg: str) -> Any:
    """One argument of the function form ``name(a, b)``: a list as a TRArray, anything else
    checked as an operator's operand (and returned as it is)."""
    if isinstance(v, (list, tuple)):
        return _as_trarray(v, f"{name}(a, b): {arg}")
    if _operand(v, name) is NotImplemented:
        raise TypeError(f"{name}(a, b): {arg} must be a TRArray, TRScalar, real number, real NumPy "
                        f"array or list of numbers, got {type(v).__name__}")
    return v


def _binary(kernel: Any, name: str, doc: str) -> Any:
    def fn(a: Any, b: Any) -> TRArray:
        handler = _graph_handler(a, b)
        if handler is not None:
            return handler("tr_" + name, (a, b))
        # Both arguments are read alike: a list as za.array reads it (as np.add reads one), a
        # number or TRScalar as an operator's operand (a NaN float is refused either side).
        a, b = _function_arg(a, name, "a"), _function_arg(b, name, "b")
        if not isinstance(a, TRArray) and not isinstance(b, TRArray):
            a = _as_trarray(a, f"{name}(a, b): a")
        return _binop(kernel, a, b, name)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


add = _binary(K.add, "add", """Elementwise transreal ``a + b`` with broadcasting.

    >>> import zeroproof as zp
    >>> add(array([np.inf, 1.0]), zp.ninf())
    TRArray([Φ, −∞], dtype=float64)
    """)
sub = _binary(K.sub, "sub", """Elementwise transreal ``a − b``.

    >>> sub(array([np.inf]), array([np.inf]))
    TRArray([Φ], dtype=float64)
    """)
mul = _binary(K.mul, "mul", """Elementwise transreal ``a × b`` (``0 × ∞ = Φ``).

    >>> mul(array([0.0, 2.0]), array([np.inf, np.inf]))
    TRArray([Φ, +∞], dtype=float64)
    """)
div = _binary(K.div, "div", """Elementwise transreal ``a ÷ b`` (``1/−0 = −∞``, ``0/0 = Φ``).

    >>> div(array([1.0, 0.0]), array([-0.0, 0.0]))
    TRArray([−∞, Φ], dtype=float64)
    """)
neg = _unary(K.neg, "neg", """Elementwise negation.

    >>> neg(array([np.inf]))
    TRArray([−∞], dtype=float64)
    """)
abs = _unary(K.abs, "abs", """Elementwise absolute value (``|−∞| = +∞``).

    >>> abs(array([-np.inf, -2.0]))
    TRArray([+∞, 2.0], dtype=float64)
    """)
sign = _unary(K.sign, "sign", """Elementwise sign: REAL −1/0/1, ``±∞ → ±1``, Φ → Φ.

    >>> sign(array([-np.inf, 0.0, np.nan]))
    TRArray([-1.0, 0.0, Φ], dtype=float64)
    """)
log = _unary(K.log, "log", """Elementwise natural log (``log 0 = −∞``, ``log(x<0) = Φ``).

    >>> log(array([0.0, -1.0, 1.0]))
    TRArray([−∞, Φ, 0.0], dtype=float64)
    """)
exp = _unary(K.exp, "exp", """Elementwise exponential (``exp(−∞) = 0``, overflow → ``+∞``).

    >>> exp(array([-np.inf, 0.0, 1e4]))
    TRArray([0.0, 1.0, +∞], dtype=float64)
    """)
sqrt = _unary(K.sqrt, "sqrt", """Elementwise square root (``√(x<0) = Φ``, ``√−0 = −0``).

    >>> sqrt(array([4.0, -1.0, np.inf]))
    TRArray([2.0, Φ, +∞], dtype=float64)
    """)
relu = _unary(K.relu, "relu", """Elementwise ``max(x, 0)`` (``+∞ → +∞``, ``−∞ → 0``, Φ stays Φ).

    >>> relu(array([-1.0, 2.0, -np.inf]))
    TRArray([0.0, 2.0, 0.0], dtype=float64)
    """)
sin = _unary(K.sin, "sin", """Elementwise sine (``sin(±∞) = Φ``).

    >>> sin(array([0.0, np.inf]))
    TRArray([0.0, Φ], dtype=float64)
    """)
cos = _unary(K.cos, "cos", """Elementwise cosine (``cos(±∞) = Φ``).

    >>> cos(array([0.0]))
    TRArray([1.0], dtype=float64)
    """)
tanh = _unary(K.tanh, "tanh", """Elementwise hyperbolic tangent (``tanh(±∞) = ±1``).

    >>> tanh(array([0.0, -np.inf]))
    TRArray([0.0, -1.0], dtype=float64)
    """)


def pow_int(x: Any, k: int) -> TRArray:
    """Elementwise ``x**k`` for an int ``k`` (bool and float raise ``TypeError``): ``0^0 = Φ``,
    ``x^-k = 1/x^k``, the same multiplications as the scalar ``tr_pow_int``.

    >>> pow_int(array([0.0, 2.0, -2.0]), -1)
    TRArray([+∞, 0.5, -0.5], dtype=float64)
    """
    handler = _graph_handler(x)
    if handler is not None:
        return handler("tr_pow_int", (x, k))
    k = check_int_exponent(k)
    a = _as_trarray(x, "pow_int(x, k): x")
    return TRArray.from_codes(*K.pow_int(a._codes, k, a._bottom))


def matmul(a: Any, b: Any) -> "TRArray | TRScalar":
    """Transreal matrix product with ``np.matmul`` shapes. Tags are exact (each entry is a STRICT
    sum of products); REAL values are BLAS-rounded, not exactly rounded (see
    :func:`zeroproof.array.kernels.matmul`).

    >>> matmul(array([[1.0, 2.0]]), array([[np.inf], [-np.inf]]))
    TRArray([[Φ]], dtype=float64)
    """
    handler = _graph_handler(a, b)
    if handler is not None:
        return handler("matmul", (a, b))
    a = _as_trarray(a, "matmul(a, b): a")
    b = _as_trarray(b, "matmul(a, b): b")
    return _binop(K.matmul, a, b, "matmul")


# --- reductions -----------------------------------------------------------------------------------
def _reduction(kind: str, doc: str) -> Any:
    def fn(x: Any, axis: Any = None, mode: Any = ReductionMode.STRICT,
           keepdims: bool = False) -> "TRArray | TRScalar":
        if _graph_handler(x) is not None:
            return _graph_reduction(kind, x, axis, mode, keepdims)
        a = _as_trarray(x, f"{kind}(x): x")
        c, b = reduce_codes(kind, a._codes, a._bottom, axis=axis, keepdims=keepdims, mode=mode)
        if c.ndim == 0 and not keepdims:
            if b is not None and bool(b):
                return _bottom()
            return scalar_from_code(float(c))
        return TRArray.from_codes(c, b)

    fn.__name__ = fn.__qualname__ = kind
    fn.__doc__ = doc
    return fn


def _graph_reduction(kind: str, x: Any, axis: Any, mode: Any, keepdims: bool) -> Any:
    """``za.sum(t)`` / ``za.mean(t)`` of a graph value: its own differentiable STRICT reduction."""
    method = getattr(x, kind, None) if kind in ("sum", "mean") else None
    if method is None:
        raise TypeError(
            f"{kind}(x): x is a {type(x).__name__}; the tape differentiates sum and mean only. "
            f"Use x.value for the {kind} of the values (no gradient)")
    if parse_enum(ReductionMode, mode) is not ReductionMode.STRICT:
        raise ValueError(f"{kind}(x): the tape differentiates STRICT reductions only, got mode "
                         f"{short_repr(mode, 40)} (drop Φ entries explicitly before reducing)")
    if axis is None and not keepdims:
        return method()
    return method(axis=axis, keepdims=keepdims)


sum = _reduction("sum", """Exactly rounded transreal sum over ``axis`` (None: all elements).

    STRICT: any Φ → Φ, ``+∞`` and ``−∞`` → Φ; DROP_NULL ignores Φ entries. Each lane equals
    ``zeroproof.tr_sum`` of that lane. A full reduction returns a ``TRScalar``.

    >>> sum(array([[1.0, np.inf], [2.0, 3.0]]), axis=1)
    TRArray([+∞, 5.0], dtype=float64)
    >>> sum(array([1.0, np.nan]), mode="drop_null")
    TRScalar(1.0, REAL)
    """)
mean = _reduction("mean", """Transreal mean over ``axis``; empty (or all dropped) → Φ.

    >>> mean(array([1.0, 2.0, np.nan]), mode="drop_null")
    TRScalar(1.5, REAL)
    """)
prod = _reduction("prod", """Exactly rounded transreal product over ``axis`` (``0 × ∞ = Φ``).

    >>> prod(array([[2.0, 3.0], [0.0, np.inf]]), axis=1)
    TRArray([6.0, Φ], dtype=float64)
    """)
min = _reduction("min", """Transreal minimum over ``axis`` (``−∞ < REAL < +∞``; Φ per mode).

    >>> min(array([3.0, -np.inf]))
    TRScalar(NINF)
    """)
max = _reduction("max", """Transreal maximum over ``axis``.

    >>> max(array([[1.0, 5.0], [np.nan, 2.0]]), axis=1, mode="drop_null")
    TRArray([5.0, 2.0], dtype=float64)
    """)

_DISPATCH = {
    "tr_add": add, "tr_sub": sub, "tr_mul": mul, "tr_div": div, "tr_neg": neg, "tr_abs": abs,
    "tr_sign": sign, "tr_log": log, "tr_exp": exp, "tr_sqrt": sqrt, "tr_pow_int": pow_int,
    "tr_relu": relu, "tr_sin": sin, "tr_cos": cos, "tr_tanh": tanh,
    "tr_sum": sum, "tr_mean": mean, "tr_prod": prod, "tr_min": min, "tr_max": max,
    "tr_matmul": matmul,
}
_REDUCTION_NAMES = {"tr_sum", "tr_mean", "tr_prod", "tr_min", "tr_max"}


def numpy_reduction_args(name: str, dtype: Any, out: Any) -> None:
    """Accept the ``dtype=None, out=None`` that ``np.sum(x)``, ``np.mean(x)``, … pass on to a
    reduction method; anything else is a ``TypeError`` that says what to do instead."""
    if out is not None:
        raise TypeError(f"{name}(out=...) is not supported: transreal reductions return a new "
                        f"value; assign the result instead")
    if dtype is not None:
        raise TypeError(f"{name}(dtype=...) is not supported: a transreal reduction keeps the "
                        f"dtype of its input; convert the input first")
