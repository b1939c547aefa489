"""Vectorized transreal kernels on IEEE *code arrays*.

A transreal array is held as a pair ``(codes, bottom)``:

* ``codes`` — a float64 or float32 ndarray in the IEEE code encoding of
  :mod:`zeroproof.core.scalar`: REAL values as themselves, ``+∞, −∞, Φ`` as ``inf, -inf, nan``;
* ``bottom`` — ``None`` when no element is ⊥, else a bool array (broadcastable to ``codes``)
  marking the ⊥ elements, whose codes are NaN.

Every kernel here is the elementwise twin of the scalar kernel of the same name in
:mod:`zeroproof.core.kernels` and returns a new ``(codes, bottom)`` pair; inputs are never
modified. ``add``, ``sub``, ``mul`` and ``div`` also take ``out=``, an array of the result's shape
and dtype to write the codes into (it may be one of the operands: elementwise, that is safe).
The IEEE result is computed once inside a single ``np.errstate`` block, then the few places where
IEEE and transreal disagree are fixed with masks (⊥ operands, wheel mode, ``x^0``).
The wheel-mode flag is read once per call.

Equality with the scalar kernels (tested property-wise):

* float64: values bit for bit (signed zeros, subnormals, overflow to ±∞) and tags exact.
  ``log`` and ``exp`` use NumPy's ufuncs on both sides; ``pow_int`` performs the same
  double-double operations as :func:`zeroproof.core.kernels.pow_dd` (both correctly rounded).
* float32 (the result stays float32): ``+ − × ÷``, ``√`` and ``pow_int`` equal the float64
  scalar kernel followed by one rounding to float32 (overflow of that rounding → ±∞). ``+ − × ÷``
  and ``√`` of float32 operands run in float32, which is the same thing because float64 has more
  than twice float32's precision (double rounding is innocuous); a Python float operand that
  float32 cannot hold exactly (``1e300``, ``0.1``, ``16777217``) is not converted to float32 first
  (NumPy's NEP 50 rule) but the op runs in float64 and rounds once (:func:`widens`); ``pow_int``
  always runs in float64 and rounds once. ``log``/``exp`` use NumPy's float32 algorithms (equal to
  the scalar kernel run in float32 arithmetic; they may differ from the rounded float64 result in
  the last bit, and overflow happens at the float32 range).

>>> import numpy as np
>>> from zeroproof.array import kernels as K
>>> codes, bot = K.div(np.array([1.0, 0.0, -2.0]), np.array([0.0, 0.0, np.inf]))
>>> codes.tolist(), bot
([inf, nan, -0.0], None)
"""
from __future__ import annotations

import threading
from typing import Any, Optional, Tuple

import numpy as np

from ..core import kernels as _SK
from ..core.wheel import WHEEL

__all__ = [
    "add", "sub", "mul", "div", "neg", "abs", "sign", "log", "exp", "sqrt", "pow_int",
    "relu", "sin", "cos", "tanh", "matmul", "merge_bottom", "Pair", "fp_events",
    "widens",
]

Codes = Any  # np.ndarray, or a float / NumPy float scalar (treated as a 0-d array)
Bottom = Optional[np.ndarray]
Pair = Tuple[np.ndarray, Bottom]

_isinf = np.isinf
_isnan = np.isnan
_isfinite = np.isfinite
_errstate = np.errstate

# IEEE exception events (overflow, divide-by-zero, invalid) raised inside the kernels, counted
# instead of warned about. NumPy checks the FP status after every ufunc anyway, so counting is
# free; the batched tape compares the count before and after a kernel to learn whether a result
# *may* hold a non-finite code that its inputs did not have (IEEE raises one of these flags
# whenever an operation on finite numbers produces ±inf or NaN).
_EVENTS = [0]


def _count_event(kind: str, flag: int) -> None:
    _EVENTS[0] += 1


_FP = {"divide": "call", "over": "call", "invalid": "call", "under": "ignore", "call": _count_event}


def fp_events() -> int:
    """Number of IEEE overflow/divide/invalid events raised in kernels so far (monotonic).

    >>> from zeroproof.array.kernels import div, fp_events
    >>> n = fp_events(); _ = div(np.array([1.0]), np.array([0.0]))
    >>> fp_events() - n
    1
    """
    return _EVENTS[0]


def _arr(r: Any) -> np.ndarray:
    return r if isinstance(r, np.ndarray) else np.asarray(r)


def merge_bottom(shape: tuple, *bots: Bottom) -> Bottom:
    """The union of ⊥ masks broadcast to ``shape`` (``None`` when every mask is ``None``).

    >>> merge_bottom((2,), None, np.array([False, True])).tolist()
    [False, True]
    """
    present = [b for b in bots if b is not None]
    if not present:
        return None
    if len(present) == 1 and np.shape(present[0]) == shape:
        return np.array(present[0], dtype=bool, copy=True)
    out = np.zeros(shape, dtype=bool)
    for b in present:
        out |= b
    return out


def _wheel_fix(r: np.ndarray, bot: Bottom, m: Any) -> Bottom:
    """Mark the elements ``m`` (a bool array broadcastable to ``r``) as ⊥ (code NaN)."""
    m = np.broadcast_to(m, r.shape)
    if not m.any():
        return bot
    if r.ndim == 0:
        r[()] = np.nan
    else:
        r[m] = np.nan
    if bot is None:
        return m.copy()
    bot |= m
    return bot


# --- binary ops ---------------------------------------------------------------------------------
def _both_inf(r: np.ndarray, a: Codes, b: Codes) -> Any:
    """Elements where an IEEE sum/difference met two infinities (``∞ ± ∞`` is ⊥ in wheel mode)."""
    if _isfinite(r).all():
        return False
    return _isinf(a) & _isinf(b)


def _new_nan(r: np.ndarray, a: Codes, b: Codes) -> Any:
    """Elements where the IEEE result is NaN although neither operand is (0·∞, ∞/∞, 0/0)."""
    m = _isnan(r)
    if not m.any():
        return False
    return m & ~_isnan(a) & ~_isnan(b)


_F32 = np.dtype(np.float32)
_F32_MAX = float(np.finfo(np.float32).max)
_f32 = np.float32


def _f32_inexact(v: float) -> bool:
    """Whether the Python float ``v`` is finite and not exactly a float32 (out of its range,
    or with bits float32 drops). ``inf`` and ``nan`` (codes of ±∞, Φ) are exact."""
    return v - v == 0.0 and (not -_F32_MAX <= v <= _F32_MAX or float(_f32(v)) != v)


def widens(a: Codes, b: Codes) -> bool:
    """Whether ``a ⊙ b`` must be computed in float64 and rounded once to float32: one operand is
    a float32 array (or scalar) and the other a Python float that float32 cannot hold exactly.

    NumPy (NEP 50) would convert that float to float32 first, so ``x * 1e300`` would be
    ``x * inf`` (Φ at ``x = 0``, where the scalar op gives a REAL 0) and ``x + 16777217`` would
    add 16777216. Rounding the float64 result instead gives the scalar op's result rounded once
    (float64 holds every product, quotient and sum of such operands correctly rounded, and twice
    float32's precision makes the double rounding harmless).

    >>> widens(np.ones(2, np.float32), 0.1), widens(np.ones(2, np.float32), 0.5)
    (True, False)
    """
    if b.__class__ is float:
        return getattr(a, "dtype", None) == _F32 and _f32_inexact(b)
    if a.__class__ is float:
        return getattr(b, "dtype", None) == _F32 and _f32_inexact(a)
    return False


def _binary(ufunc: Any, wheel_bottom: Any, a: Codes, b: Codes, abot: Bottom,
            bbot: Bottom, out: Optional[np.ndarray]) -> Pair:
    """IEEE ``ufunc(a, b)`` on codes with merged ⊥ masks; in wheel mode the elements
    ``wheel_bottom(r, a, b)`` selects become ⊥. Transreal = IEEE on codes for + − × ÷.
    ``out``: write the codes there (it may be ``a`` or ``b`` itself). A float32 array with a
    Python float that float32 cannot hold (:func:`widens`) is computed in float64 and rounded
    once to float32 (an overflow of that rounding is an IEEE overflow: ±∞)."""
    if (b.__class__ is float or a.__class__ is float) and widens(a, b):
        return _binary_wide(ufunc, wheel_bottom, a, b, abot, bbot, out)
    with _errstate(**_FP):
        if WHEEL.get():  # the ⊥ selector reads a and b after the ufunc: never overwrite them
            r = _arr(ufunc(a, b))
            bot = _wheel_fix(r, merge_bottom(r.shape, abot, bbot), wheel_bottom(r, a, b))
            if out is not None:
                np.copyto(out, r)
                r = out
            return r, bot
        r = _arr(ufunc(a, b)) if out is None else ufunc(a, b, out=out)
        return r, merge_bottom(r.shape, abot, bbot)


def _binary_wide(ufunc: Any, wheel_bottom: Any, a: Codes, b: Codes, abot: Bottom,
                 bbot: Bottom, out: Optional[np.ndarray]) -> Pair:
    """:func:`_binary` for a float32 operand and a Python float: each element computed in
    float64 and rounded once into a float32 result."""
    if out is None:
        out = np.empty(np.broadcast_shapes(np.shape(a), np.shape(b)), _F32)
    with _errstate(**_FP):
        if WHEEL.get():
            r = _arr(ufunc(a, b, dtype=np.float64))
            bot = _wheel_fix(r, merge_bottom(r.shape, abot, bbot), wheel_bottom(r, a, b))
            np.copyto(out, r, casting="same_kind")
            return out, bot
        ufunc(a, b, out=out, dtype=np.float64)  # float64 loop, one rounding into out
        return out, merge_bottom(out.shape, abot, bbot)


def add(a: Codes, b: Codes, abot: Bottom = None, bbot: Bottom = None,
        out: Optional[np.ndarray] = None) -> Pair:
    """Transreal ``a + b`` on codes (twin of :func:`zeroproof.core.kernels.f_add`).

    >>> add(np.array([np.inf, 1.0]), np.array([-np.inf, 2.0]))[0].tolist()
    [nan, 3.0]
    """
    return _binary(np.add, _both_inf, a, b, abot, bbot, out)


def sub(a: Codes, b: Codes, abot: Bottom = None, bbot: Bottom = None,
        out: Optional[np.ndarray] = None) -> Pair:
    """Transreal ``a − b = a + (−b)`` on codes (IEEE ``a − b`` is exactly ``a + (−b)``).

    >>> sub(np.array([np.inf]), np.array([np.inf]))[0].tolist()
    [nan]
    """
    return _binary(np.subtract, _both_inf, a, b, abot, bbot, out)


def mul(a: Codes, b: Codes, abot: Bottom = None, bbot: Bottom = None,
        out: Optional[np.ndarray] = None) -> Pair:
    """Transreal ``a × b`` on codes: ``0 × ±∞ = Φ`` (⊥ in wheel mode).

    >>> mul(np.array([0.0, -2.0]), np.array([np.inf, np.inf]))[0].tolist()
    [nan, -inf]
    """
    return _binary(np.multiply, _new_nan, a, b, abot, bbot, out)


def div(a: Codes, b: Codes, abot: Bottom = None, bbot: Bottom = None,
        out: Optional[np.ndarray] = None) -> Pair:
    """Transreal ``a ÷ b`` on codes: ``r/±0 = ±∞`` by signs, ``0/0 = ∞/∞ = Φ`` (⊥ in wheel mode).

    >>> div(np.array([1.0, 1.0]), np.array([-0.0, np.inf]))[0].tolist()
    [-inf, 0.0]
    """
    return _binary(np.divide, _new_nan, a, b, abot, bbot, out)


# --- unary ops ------------------------------------------------------------------------------------
def _copy_bot(bot: Bottom) -> Bottom:
    return None if bot is None else np.array(bot, dtype=bool, copy=True)


def neg(a: Codes, abot: Bottom = None) -> Pair:
    """Negation on codes.

    >>> neg(np.array([np.inf, 0.0]))[0].tolist()
    [-inf, -0.0]
    """
    return _arr(np.negative(a)), _copy_bot(abot)


def abs(a: Codes, abot: Bottom = None) -> Pair:  # noqa: A001  (kernel name mirrors the op)
    """Absolute value on codes (``|−∞| = +∞``).

    >>> abs(np.array([-np.inf, -0.0]))[0].tolist()
    [inf, 0.0]
    """
    return _arr(np.absolute(a)), _copy_bot(abot)


def sign(a: Codes, abot: Bottom = None) -> Pair:
    """Sign on codes: −1, 0 (``+0.0`` for both zeros), 1 as REAL; ``±∞ → ±1``; Φ stays Φ.

    >>> sign(np.array([-np.inf, -0.0, 3.0, np.nan]))[0].tolist()
    [-1.0, 0.0, 1.0, nan]
    """
    with _errstate(**_FP):
        r = _arr(np.sign(a))
    return r, _copy_bot(abot)


_WIDE_BLOCK = 1 << 14  # float64 elements per block of a float32 op run wide (128 KiB: in L2)
_wide_local = threading.local()


def _rounded_once(fn: Any, a: Codes) -> np.ndarray:
    """``fn(a)``; for float32 codes computed in float64 and rounded once to float32, so a
    float32 result is the scalar op's float64 result rounded (NumPy's float32 ``exp``, ``log``,
    ``sin``, ``cos``, ``tanh`` differ from it in the last bit for a third of the inputs).

    The float64 values live only in one cache-sized scratch block per thread: whole-array
    float64 temporaries cost a page fault per 4 KiB on first touch (exp of 10⁶ float32: 6.3 ms
    that way, 1.9 ms in blocks, 0.45 ms for NumPy's float32 exp)."""
    if getattr(a, "dtype", None) != np.float32:
        return _arr(fn(a))
    src = np.ravel(a)
    out = np.empty(src.shape, np.float32)
    buf = getattr(_wide_local, "buf", None)
    if buf is None:
        buf = _wide_local.buf = np.empty(_WIDE_BLOCK)
    n = src.size
    for s in range(0, n, _WIDE_BLOCK):
        e = min(s + _WIDE_BLOCK, n)
        b = buf[: e - s]
        b[...] = src[s:e]
        fn(b, out=b)
        out[s:e] = b  # rounded once (±∞ past float32's range), under the caller's errstate
    return out.reshape(np.shape(a))


def log(a: Codes, abot: Bottom = None) -> Pair:
    """Natural log on codes: ``log(±0) = −∞``, ``log(x<0) = log(−∞) = Φ``, ``log(+∞) = +∞``.

    IEEE ``log`` already gives exactly these codes, so there is no fix-up.

    >>> log(np.array([0.0, -1.0, np.inf]))[0].tolist()
    [-inf, nan, inf]
    """
    with _errstate(**_FP):
        r = _rounded_once(np.log, a)
    return r, _copy_bot(abot)


def exp(a: Codes, abot: Bottom = None) -> Pair:
    """Exponential on codes: ``exp(−∞) = 0``, overflow → ``+∞``.

    >>> exp(np.array([-np.inf, 1000.0]))[0].tolist()
    [0.0, inf]
    """
    with _errstate(**_FP):
        r = _rounded_once(np.exp, a)
    return r, _copy_bot(abot)


def sqrt(a: Codes, abot: Bottom = None) -> Pair:
    """Square root on codes: ``√−0 = −0``, ``√(x<0) = √−∞ = Φ``, ``√+∞ = +∞``.

    >>> sqrt(np.array([-0.0, -4.0, 4.0]))[0].tolist()
    [-0.0, nan, 2.0]
    """
    with _errstate(**_FP):
        r = _arr(np.sqrt(a))
    return r, _copy_bot(abot)


def relu(a: Codes, abot: Bottom = None) -> Pair:
    """Twin of :func:`zeroproof.core.kernels.f_relu`: x > 0 (and +∞) → x, Φ/⊥ → themselves,
    everything else (x ≤ 0, −∞) → +0.0.

    >>> relu(np.array([-1.0, 2.0, -np.inf, np.nan]))[0].tolist()
    [0.0, 2.0, 0.0, nan]
    """
    a = _arr(a)
    r = np.where((a > 0) | _isnan(a), a, np.zeros((), a.dtype if a.dtype.kind == "f" else np.float64))
    return r, _copy_bot(abot)


def _trig(fn: Any) -> Any:
    def kernel(a: Codes, abot: Bottom = None) -> Pair:
        with _errstate(**_FP):
            r = _rounded_once(fn, a)
        return r, _copy_bot(abot)
    return kernel


sin = _trig(np.sin)
sin.__name__ = "sin"
sin.__doc__ = ("Twin of :func:`zeroproof.core.kernels.f_sin` (NumPy's ufunc; "
               "``sin(±∞) = Φ``).\n\n"
               ">>> from zeroproof.array.kernels import sin\n"
               ">>> sin(np.array([0.0, np.inf]))[0].tolist()\n"
               "[0.0, nan]\n")
tanh = _trig(np.tanh)
tanh.__name__ = "tanh"
tanh.__doc__ = ("Twin of :func:`zeroproof.core.kernels.f_tanh` (NumPy's ufunc; "
                "``tanh(±∞) = ±1``).\n\n"
                ">>> from zeroproof.array.kernels import tanh\n"
                ">>> tanh(np.array([0.0, -np.inf]))[0].tolist()\n"
                "[0.0, -1.0]\n")
cos = _trig(np.cos)
cos.__name__ = "cos"
cos.__doc__ = ("Twin of :func:`zeroproof.core.kernels.f_cos` (NumPy's ufunc; "
               "``cos(±∞) = Φ``).\n\n"
               ">>> from zeroproof.array.kernels import cos\n"
               ">>> cos(np.array([0.0, -np.inf]))[0].tolist()\n"
               "[1.0, nan]\n")


def pow_int(a: Codes, k: int, abot: Bottom = None) -> Pair:
    """``a**k`` for an int ``k`` on codes, element for element the scalar kernel's
    :func:`zeroproof.core.kernels.f_pow_int` (correctly rounded): ``x^0 = 1`` for finite
    ``x ≠ 0``, ``0^0 = (±∞)^0 = Φ``, ``x^-k = 1 / x^k`` with the division rules for ``±0, ±∞``.
    ``k`` must already be a validated int.

    >>> pow_int(np.array([0.0, 2.0, np.inf]), 0)[0].tolist()
    [nan, 1.0, nan]
    >>> pow_int(np.array([-0.0, 2.0, 0.3]), -3)[0].tolist()
    [-inf, 0.125, 37.03703703703704]
    """
    a = _arr(a)
    if k and a.dtype == _F32:
        return _pow_int_f32(a, k), _copy_bot(abot)
    with _errstate(**_FP):
        if k == 0:
            one = np.ones((), dtype=a.dtype if a.dtype.kind == "f" else np.float64)
            r = np.where(_isfinite(a) & (a != 0), one, np.nan).astype(one.dtype, copy=False)
        else:
            r = _pow_nonzero(a, k)
    return r, _copy_bot(abot)


def _pow_nonzero(a: np.ndarray, k: int) -> np.ndarray:
    """``a**k`` for ``k ≠ 0`` as a new array: ``k = 1, 2, −1`` one IEEE operation in ``a``'s
    dtype, every other ``k`` :func:`_pow_f64` (call inside ``np.errstate``)."""
    if k == 1:
        return a.copy()
    if k == 2:
        return _arr(a * a)
    if k == -1:
        return _arr(np.divide(1.0, a))
    return _pow_f64(a.astype(np.float64, copy=False), k)


def _pow_f64(a: np.ndarray, k: int) -> np.ndarray:
    """Float64 ``a**k`` (``|k| ≥ 2``, ``k ≠ 2``) in blocks of ``_POW_BLOCK`` elements (the
    double-double temporaries stay cache-sized): :func:`_pow_dd` where ``a`` is finite and
    non-zero, the IEEE rules of ``±0, ±∞, NaN`` elsewhere (call inside ``np.errstate``)."""
    out = np.empty(a.shape, np.float64)
    src, dst = a.reshape(-1), out.reshape(-1)
    for i in range(0, src.size, _POW_BLOCK):
        x = src[i:i + _POW_BLOCK]
        p = x if k & 1 else np.abs(x)  # ±0, ±∞: |x|^|k| = |x|, the sign by parity
        r = p if k > 0 else np.divide(1.0, p)
        fin = _isfinite(x) & (x != 0)
        if fin.any():
            r = np.where(fin, _pow_dd(np.where(fin, x, 1.0), k), r)
        dst[i:i + _POW_BLOCK] = r
    return out


_E_CLAMP = _SK._E_CLAMP


def _dd_mul(ah: Any, al: Any, ae: Any, bh: Any, bl: Any, be: Any) -> tuple:
    """:func:`zeroproof.core.kernels._dd_mul` on arrays (the doubling that normalises ``h`` to
    ``[0.5, 1)`` as a product by 2 or 1: exact)."""
    h, l = _SK.dd_prod(ah, al, bh, bl)
    low = h < 0.5
    f = low + 1.0
    return h * f, l * f, np.clip(ae + be - low, -_E_CLAMP, _E_CLAMP)


def _pow_dd(a: np.ndarray, k: int) -> np.ndarray:
    """:func:`zeroproof.core.kernels.pow_dd` on an array of finite non-zero floats.

    Where every ``|a|^j`` (``j ≤ |k|``) stays far inside the float range the double-double
    operations run on ``|a|`` itself, without the mantissa/exponent split: they are then exactly
    the split ones scaled by a power of two (no intermediate under- or overflows, so each
    rounding scales too), and so is the rounded result — the same bits, at a third of the cost."""
    n = -k if k < 0 else k
    x = np.abs(a)
    lim = 700.0 / n if n < 1 << 1000 else 0.0  # |log2 |a|| · n ≤ 700: all stays normal
    direct = bool(x.size) and float(x.min()) >= 2.0 ** -lim and float(x.max()) <= 2.0 ** lim
    if direct:
        bh, be = x, None
    else:
        m, e = np.frexp(x)
        bh, be = m, e.astype(np.int64)
    bl = rh = rl = re = None
    while True:
        if n & 1:
            if rh is None:
                rh, rl, re = bh, bl, be
            elif direct:
                rh, rl = _SK.dd_prod(rh, rl, bh, bl)
            else:
                rh, rl, re = _dd_mul(rh, rl, re, bh, bl, be)
        n >>= 1
        if not n:
            break
        if direct:
            bh, bl = _SK.dd_prod(bh, bl, bh, bl)
        else:
            bh, bl, be = _dd_mul(bh, bl, be, bh, bl, be)
    if k < 0:
        rh, rl = _SK.dd_recip(rh, rl)
        if not direct:
            rh, rl, re = rh * 0.5, rl * 0.5, np.clip(1 - re, -_E_CLAMP, _E_CLAMP)
    if direct:  # (|k| ≥ 2: at least one product, so rl is set)
        r = rh + rl
        if k & 1:
            np.negative(r, out=r, where=a < 0.0)
        return r
    return _round_dd(rh, rl, re, (a < 0.0) & bool(k & 1))


def _round_dd(h: Any, l: Any, e: Any, neg: Any) -> np.ndarray:
    """:func:`zeroproof.core.kernels._round_dd` on arrays (the subnormal branch computed only
    for the elements that need it: subnormal arithmetic is slow on most CPUs)."""
    r = np.ldexp(h + l, np.clip(e, -1100, 1100).astype(np.int32))  # (overflow → ±∞)
    sub = np.flatnonzero(e <= -1021)
    if sub.size:
        es = e[sub]
        sc = np.clip(es + 1074, -1, 53).astype(np.int32)
        hs, ls = h[sub], l[sub]
        v = hs + ls  # renormalised, as in the scalar kernel
        ls = ls - (v - hs)
        hs = v
        t = np.ldexp(hs, sc)
        u = np.ldexp(ls, sc)
        f = np.floor(t)
        d = ((t - f) - 0.5) + u
        f = f + ((d > 0.0) | ((d == 0.0) & (np.fmod(f, 2.0) == 1.0)))
        r[sub] = np.where(es + 1074 < -1, 0.0, np.ldexp(f, -1074))
    np.negative(r, out=r, where=neg)
    return r


def _pow_int_f32(a: np.ndarray, k: int) -> np.ndarray:
    """Float32 ``a**k`` (``k ≠ 0``): the float64 scalar kernel's result rounded once to float32
    (a float32 result too large is ``±∞``)."""
    out = np.empty(a.shape, _F32)
    src, dst = a.reshape(-1), out.reshape(-1)
    with _errstate(**_FP):
        for i in range(0, src.size, _POW_BLOCK):
            p = _pow_nonzero(src[i:i + _POW_BLOCK].astype(np.float64), k)
            np.copyto(dst[i:i + _POW_BLOCK], p, casting="same_kind")  # one rounding
    return out


_POW_BLOCK = 1 << 16  # 512 KiB of float64: measured best for float32, within 10 % for float64


# --- matrix product -------------------------------------------------------------------------------
_FINFO = {np.float64: np.finfo(np.float64), np.float32: np.finfo(np.float32)}
_maxr, _minr, _all_nonzero = np.maximum.reduce, np.minimum.reduce, np.logical_and.reduce

def matmul(a: np.ndarray, b: np.ndarray, abot: Bottom = None, bbot: Bottom = None) -> Pair:
    """Transreal matrix product with ``np.matmul`` shapes (2-D, batched, 1-D vectors).

    Each entry is the STRICT transreal sum of its products: ⊥ if a product involves ⊥; Φ if a
    product is Φ (a Φ operand or ``0 × ±∞``) or both ``+∞`` and ``−∞`` products occur; ``±∞`` if
    infinite products of one sign occur; otherwise REAL. In wheel mode ``0 × ±∞`` products, mixed
    infinite products and two or more infinite products give ⊥. Tags are computed exactly from the
    operands' tags (with indicator matrix products, only when a non-finite entry exists).

    The REAL parts come from ``np.matmul`` (BLAS) on the operands with non-REAL entries replaced
    by 0: they are BLAS-rounded, **not** exactly rounded — the one kernel that trades exact
    rounding for speed: a REAL entry is within BLAS's rounding error of the exact sum, about
    ``k·ε·Σ|products|``, which is its last bits when the products do not cancel and can be a
    small residual where the exact sum is 0 (a fused multiply-add keeps a product's rounding
    error).
    Everything else is exact: the entries where BLAS's float arithmetic could decide a tag or a
    sign differently from the STRICT sum — a product of two finite numbers that may overflow
    (``1e200·1e200 − 1e200·1e200`` is Φ), a sum at the edge of the range (``1e308 + 1e308 −
    1e308`` is REAL), a zero (``(−0)·1 + (−0)·1`` is −0) — are recomputed from their products
    with the STRICT reduction (:func:`zeroproof.array.reductions.reduce_codes`).

    >>> c, bot = matmul(np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[3.0], [np.inf]]))
    >>> c.tolist()
    [[inf], [inf]]
    """
    a = _arr(a)
    b = _arr(b)
    wheel = WHEEL.get()
    with _errstate(**_FP):
        fa = _isfinite(a)
        fb = _isfinite(b)
        all_a, all_b = bool(fa.all()), bool(fb.all())
        a0 = a if all_a else np.where(fa, a, 0).astype(a.dtype, copy=False)  # finite parts
        b0 = b if all_b else np.where(fb, b, 0).astype(b.dtype, copy=False)
        r = _arr(np.matmul(a0, b0))
        bot = None
        if abot is not None or bbot is not None:
            ia = np.zeros(a.shape, np.float64) if abot is None else \
                np.broadcast_to(abot, a.shape).astype(np.float64)
            ib = np.zeros(b.shape, np.float64) if bbot is None else \
                np.broadcast_to(bbot, b.shape).astype(np.float64)
            if ia.any() or ib.any():
                bot = (np.matmul(ia, np.ones(b.shape)) + np.matmul(np.ones(a.shape), ib)) > 0
        if not (all_a and all_b):
            counts = _product_counts(a, b, fa, fb)
            n_phi_operand, n_zero_inf, n_pinf, n_ninf = (c.reshape(r.shape) for c in counts)
            has_p, has_n = n_pinf > 0, n_ninf > 0
            r[has_p] = np.inf
            r[has_n] = -np.inf
            phi = (n_phi_operand > 0) | (n_zero_inf > 0) | (has_p & has_n)
            r[phi] = np.nan
            if wheel:
                # 0·∞ products are ⊥ (⊥ beats Φ in a sum); without a Φ product, mixed or
                # repeated infinite products make the sum ⊥
                wb = (n_zero_inf > 0) | ((n_phi_operand == 0)
                                         & ((has_p & has_n) | ((n_pinf + n_ninf) > 1)))
                if wb.any():
                    bot = wb if bot is None else (bot | wb)
        if bot is not None:
            if not bot.any():
                bot = None
            else:
                r[bot] = np.nan
        decided = None if all_a and all_b else (has_p | has_n | phi)
        bot = _exact_edges(a, b, abot, bbot, a0, b0, r, bot, decided)
    return r, bot


def _exact_edges(a: np.ndarray, b: np.ndarray, abot: Bottom, bbot: Bottom, a0: np.ndarray,
                 b0: np.ndarray, r: np.ndarray, bot: Bottom, decided: Any) -> Bottom:
    """Recompute, as STRICT sums of their products, the entries of ``r = a @ b`` (in place) where
    BLAS's arithmetic could disagree with transreal semantics beyond the last bit: a product of
    finite entries that may overflow, a sum at the edge of the range, a zero (its sign).
    ``a0``, ``b0``: the finite parts of ``a``, ``b`` (non-finite entries 0); ``decided``: entries
    whose tag the operands' infinities and Φs already fix (None: none). The common case costs
    a few reductions: no product can overflow, no entry is near the range's edge or zero."""
    if r.size == 0 or a.shape[-1] == 0:
        return bot
    info = _FINFO[r.dtype.type]
    maxexp = info.maxexp
    near = 2.0 ** (maxexp - 2)
    with _errstate(all="ignore"):
        # every product is at most max|a|·max|b| (computed exactly enough in float64)
        amax = max(float(_maxr(a0, axis=None)), -float(_minr(a0, axis=None)))
        bmax = max(float(_maxr(b0, axis=None)), -float(_minr(b0, axis=None)))
        overflow = not amax * bmax <= float(info.max)
        if (not overflow and -near < _minr(r, axis=None) and _maxr(r, axis=None) < near
                and _all_nonzero(r, axis=None)):
            return bot  # no entry near the edge of the range, NaN or zero
    a2, b2 = _as_matrices(a, b)
    r2 = r.reshape(np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
    with _errstate(all="ignore"):
        cand = (r2 == 0) | ~(np.abs(r2) < near)
        if decided is not None:
            cand &= ~decided.reshape(r2.shape)
        if overflow:  # |a_ik·b_kj| < 2^(ea_i + eb_j)
            ea = np.frexp(np.max(np.abs(a0.reshape(a2.shape)), axis=-1))[1]
            eb = np.frexp(np.max(np.abs(b0.reshape(b2.shape)), axis=-2))[1]
            cand |= (ea[..., :, None] + eb[..., None, :]) > maxexp
    if not cand.any():
        return bot
    idx = np.nonzero(cand)
    batch = r2.shape[:-2]
    A = np.broadcast_to(a2, batch + a2.shape[-2:])
    Bt = np.swapaxes(np.broadcast_to(b2, batch + b2.shape[-2:]), -1, -2)
    rows, cols = A[idx[:-1]], Bt[idx[:-2] + idx[-1:]]
    rb = cb = None
    if abot is not None:
        rb = np.broadcast_to(np.broadcast_to(abot, a.shape).reshape(a2.shape),
                             batch + a2.shape[-2:])[idx[:-1]]
    if bbot is not None:
        cb = np.swapaxes(np.broadcast_to(np.broadcast_to(bbot, b.shape).reshape(b2.shape),
                                         batch + b2.shape[-2:]), -1, -2)[idx[:-2] + idx[-1:]]
    from .reductions import reduce_codes  # (reductions does not import the kernels)

    prods, pbot = mul(rows, cols, rb, cb)
    vals, vbot = reduce_codes("sum", prods, pbot, axis=-1)
    r2[idx] = vals
    if vbot is not None or bot is not None:
        bot2 = np.zeros(r2.shape, bool) if bot is None else np.broadcast_to(bot, r.shape).reshape(
            r2.shape).copy()
        bot2[idx] = False if vbot is None else vbot
        bot = bot2.reshape(r.shape) if bot2.any() else None
    return bot


def _indicator_counts(a: np.ndarray, b: np.ndarray) -> tuple:
    """Per entry of ``a @ b``: the number of products with a Φ operand, of ``0 × ±∞`` products,
    of ``+∞`` products and of ``−∞`` products (exact counts via float64 ``np.matmul``)."""
    f64 = np.float64
    fa, fb = _isfinite(a), _isfinite(b)
    nan_a, nan_b = _isnan(a).astype(f64), _isnan(b).astype(f64)
    zero_a, zero_b = (a == 0).astype(f64), (b == 0).astype(f64)
    pinf_a, pinf_b = (a == np.inf).astype(f64), (b == np.inf).astype(f64)
    ninf_a, ninf_b = (a == -np.inf).astype(f64), (b == -np.inf).astype(f64)
    pos_a, pos_b = (fa & (a > 0)).astype(f64), (fb & (b > 0)).astype(f64)
    neg_a, neg_b = (fa & (a < 0)).astype(f64), (fb & (b < 0)).astype(f64)
    mm = np.matmul
    n_phi = mm(nan_a, np.ones(b.shape)) + mm(np.ones(a.shape), nan_b)
    n_zero_inf = mm(zero_a, pinf_b + ninf_b) + mm(pinf_a + ninf_a, zero_b)
    # infinite products by sign: (±∞)(±∞), (±∞)(finite ≠ 0), (finite ≠ 0)(±∞)
    n_pinf = (mm(pinf_a, pinf_b + pos_b) + mm(ninf_a, ninf_b + neg_b)
              + mm(pos_a, pinf_b) + mm(neg_a, ninf_b))
    n_ninf = (mm(pinf_a, ninf_b + neg_b) + mm(ninf_a, pinf_b + pos_b)
              + mm(pos_a, ninf_b) + mm(neg_a, pinf_b))
    return n_phi, n_zero_inf, n_pinf, n_ninf


def _as_matrices(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.matmul``'s promotion of 1-D operands: a row vector on the left, a column on the right."""
    return (a.reshape(1, -1) if a.ndim == 1 else a), (b.reshape(-1, 1) if b.ndim == 1 else b)


def _product_counts(a: np.ndarray, b: np.ndarray, fa: np.ndarray, fb: np.ndarray) -> tuple:
    """:func:`_indicator_counts` for ``a @ b``, computed only for the rows of ``a`` and the
    columns of ``b`` that hold a non-finite entry (every other entry has finite products only)."""
    if a.ndim > 2 or b.ndim > 2:  # batched: the whole product
        return _indicator_counts(a, b)
    a2, b2 = _as_matrices(a, b)
    fa2, fb2 = fa.reshape(a2.shape), fb.reshape(b2.shape)
    out = [np.zeros((a2.shape[0], b2.shape[1])) for _ in range(4)]
    rows = np.flatnonzero(~fa2.all(axis=1))
    cols = np.flatnonzero(~fb2.all(axis=0))
    if rows.size:
        for o, c in zip(out, _indicator_counts(a2[rows], b2)):
            o[rows, :] = c
    if cols.size:
        for o, c in zip(out, _indicator_counts(a2, b2[:, cols])):
            o[:, cols] = c
    return tuple(out)
