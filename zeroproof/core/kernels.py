"""The one definition of transreal scalar semantics, on IEEE codes.

Every function here takes and returns *codes*: plain floats where ``+∞, −∞, Φ`` are
``inf, -inf, nan`` and ⊥ is :data:`BOTTOM_CODE`. Transreal arithmetic is IEEE-754 arithmetic with
a handful of fix-ups, so each kernel computes the IEEE result on the fast path and only looks
closer when that result is not finite (⊥ operands, wheel mode, Python's exceptions for ``x/0``,
``log``, ``sqrt``, ``exp`` and ``**``). :class:`TRScalar` operators, the scalar tape and the
vectorized kernels' property tests all use these functions. They never raise on a code.

Bit-for-bit agreement with the vectorized kernels is by construction: ``+ − × ÷`` and ``√`` are
correctly rounded on both sides; ``log`` and ``exp`` call NumPy's own ufuncs (whose SIMD
implementations differ from libm in the last bit on some inputs); integer powers are correctly
rounded on both sides (the same double-double operations, :func:`pow_dd`).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .scalar import BOTTOM_CODE as BOT
from .wheel import WHEEL

__all__ = [
    "f_add", "f_sub", "f_mul", "f_div", "f_neg", "f_abs", "f_sign",
    "f_log", "f_exp", "f_sqrt", "f_pow_int", "f_relu", "f_sin", "f_cos", "f_tanh",
]

INF = math.inf
NAN = math.nan
_np_log = np.log
_np_exp = np.exp
_np_sin = np.sin
_np_cos = np.cos
_np_tanh = np.tanh
_TINY = 2.2250738585072014e-308  # the smallest normal float64
_EXP_SUBNORMAL = -708.3964185322641  # log(_TINY): exp below this is subnormal (or 0)
_sqrt = math.sqrt
EXP_OVERFLOW = 709.782712893384  # largest x with finite exp(x) in float64
_copysign = math.copysign


def _indeterminate() -> float:
    """Φ, or ⊥ under wheel mode: the result of 0·∞, ∞−∞, ∞/∞, 0/0."""
    return BOT if WHEEL.get() else NAN


def f_add(a: float, b: float) -> float:
    """``a + b`` on codes (``+∞ + −∞ = Φ``; ⊥ absorbs).

    >>> from zeroproof.core.kernels import f_add
    >>> f_add(1.0, 2.0), f_add(float("inf"), float("-inf"))
    (3.0, nan)
    """
    r = a + b
    if r - r == 0.0:
        return r
    if a is BOT or b is BOT:
        return BOT
    if r != r:
        if a != a or b != b:
            return NAN  # Φ absorbs
        return _indeterminate()  # +∞ + −∞
    if a - a != 0.0 and b - b != 0.0 and WHEEL.get():
        return BOT  # ∞ + ∞ in wheel mode
    return r  # overflow, or ∞ + r


def f_sub(a: float, b: float) -> float:
    """``a − b`` on codes: ``a + (−b)``.

    >>> from zeroproof.core.kernels import f_sub
    >>> f_sub(5.0, 2.0), f_sub(float("inf"), float("inf"))
    (3.0, nan)
    """
    return f_add(a, f_neg(b))


def f_mul(a: float, b: float) -> float:
    """``a × b`` on codes (``0 × ±∞ = Φ``; ⊥ absorbs).

    >>> from zeroproof.core.kernels import f_mul
    >>> f_mul(2.0, 3.0), f_mul(0.0, float("inf"))
    (6.0, nan)
    """
    r = a * b
    if r - r == 0.0:
        return r
    if a is BOT or b is BOT:
        return BOT
    if r != r:
        if a != a or b != b:
            return NAN
        return _indeterminate()  # 0 × ±∞
    return r


def f_div(a: float, b: float) -> float:
    """``a ÷ b`` on codes (``r/±0 = ±∞`` by the signs, ``0/0 = Φ``).

    >>> from zeroproof.core.kernels import f_div
    >>> f_div(1.0, 0.0), f_div(1.0, -0.0), f_div(0.0, 0.0)
    (inf, -inf, nan)
    """
    try:
        r = a / b
    except ZeroDivisionError:  # b is ±0.0
        if a is BOT:
            return BOT
        if a != a:
            return NAN
        if a == 0.0:
            return _indeterminate()  # 0 / 0
        # r / ±0 and ±∞ / ±0: infinity with the product of the signs (IEEE signed zero)
        return _copysign(INF, _copysign(1.0, a) * _copysign(1.0, b))
    if r - r == 0.0:
        return r
    if a is BOT or b is BOT:
        return BOT
    if r != r:
        if a != a or b != b:
            return NAN
        return _indeterminate()  # ±∞ / ±∞
    return r


def f_neg(a: float) -> float:
    """``−a`` on codes (⊥ stays ⊥).

    >>> from zeroproof.core.kernels import f_neg
    >>> f_neg(2.0), f_neg(float("-inf"))
    (-2.0, inf)
    """
    if a is BOT:
        return BOT
    return -a


def f_abs(a: float) -> float:
    """``|a|`` on codes (``|−∞| = +∞``; ⊥ stays ⊥).

    >>> from zeroproof.core.kernels import f_abs
    >>> f_abs(-2.0), f_abs(float("-inf"))
    (2.0, inf)
    """
    if a is BOT:
        return BOT
    return abs(a)


def f_sign(a: float) -> float:
    """−1, 0, 1 (REAL; both zeros give +0.0 as NumPy does), ±∞ → ±1, Φ → Φ.

    >>> from zeroproof.core.kernels import f_sign
    >>> f_sign(float("-inf")), f_sign(-0.0), f_sign(3.0)
    (-1.0, 0.0, 1.0)
    """
    if a > 0.0:
        return 1.0
    if a < 0.0:
        return -1.0
    if a == 0.0:
        return 0.0
    return a  # Φ or ⊥


def f_relu(a: float) -> float:
    """``max(a, 0)``: x for x > 0 (and +∞), +0.0 for x ≤ 0 (and −∞), Φ → Φ, ⊥ → ⊥.

    >>> from zeroproof.core.kernels import f_relu
    >>> f_relu(-1.0), f_relu(2.0), f_relu(float("nan"))
    (0.0, 2.0, nan)
    """
    if a > 0.0:
        return a
    if a != a:
        return a  # Φ or ⊥
    return 0.0


def f_sin(a: float) -> float:
    """``sin a`` (NumPy's ufunc, as the vectorized twin); ``sin(±∞) = Φ``.

    >>> from zeroproof.core.kernels import f_sin
    >>> f_sin(0.0), f_sin(float("inf"))
    (0.0, nan)
    """
    if a - a == 0.0:
        if -_TINY < a < _TINY:  # sin x = x for subnormal x (NumPy gives x too, raising the
            return a            # underflow flag: this keeps np.seterr(all="raise") users safe)
        return float(_np_sin(a))
    return BOT if a is BOT else NAN


def f_tanh(a: float) -> float:
    """``tanh a`` (NumPy's ufunc, as the vectorized twin); ``tanh(±∞) = ±1``, Φ and ⊥ stay.

    >>> from zeroproof.core.kernels import f_tanh
    >>> f_tanh(0.0), f_tanh(float("-inf"))
    (0.0, -1.0)
    """
    if a - a == 0.0:
        if -_TINY < a < _TINY:  # tanh x = x for subnormal x (as NumPy, without its underflow flag)
            return a
        return float(_np_tanh(a))
    if a == a:  # ±∞
        return 1.0 if a > 0 else -1.0
    return BOT if a is BOT else NAN


def f_cos(a: float) -> float:
    """``cos a`` (NumPy's ufunc, as the vectorized twin); ``cos(±∞) = Φ``.

    >>> from zeroproof.core.kernels import f_cos
    >>> f_cos(0.0), f_cos(float("inf"))
    (1.0, nan)
    """
    if a - a == 0.0:
        return float(_np_cos(a))
    return BOT if a is BOT else NAN


def f_log(a: float) -> float:
    """Natural log on codes (``log ±0 = −∞``, ``log(+∞) = +∞``; ``x < 0``, ``−∞`` → Φ).

    >>> from zeroproof.core.kernels import f_log
    >>> f_log(1.0), f_log(0.0), f_log(-1.0)
    (0.0, -inf, nan)
    """
    if a > 0.0:
        return float(_np_log(a))  # log(+∞) = +∞
    if a == 0.0:
        return -INF
    if a is BOT:
        return BOT
    return NAN  # x < 0, −∞, Φ


def f_exp(a: float) -> float:
    """Exponential on codes (``exp(−∞) = 0``, overflow → ``+∞``).

    >>> from zeroproof.core.kernels import f_exp
    >>> f_exp(0.0), f_exp(float("-inf")), f_exp(1000.0)
    (1.0, 0.0, inf)
    """
    if a <= EXP_OVERFLOW:
        if a < _EXP_SUBNORMAL and a != -INF:  # a subnormal or zero result: NumPy raises the
            with np.errstate(under="ignore"):  # underflow flag, which np.seterr may turn into
                return float(_np_exp(a))      # an exception or a warning; the value is kept
        return float(_np_exp(a))  # exp(−∞) = 0
    if a > EXP_OVERFLOW:
        return INF
    if a is BOT:
        return BOT
    return NAN


def f_sqrt(a: float) -> float:
    """Square root on codes (``√−0 = −0``, ``√+∞ = +∞``; ``x < 0``, ``−∞`` → Φ).

    >>> from zeroproof.core.kernels import f_sqrt
    >>> f_sqrt(4.0), f_sqrt(-0.0), f_sqrt(-1.0)
    (2.0, -0.0, nan)
    """
    if a >= 0.0:
        return _sqrt(a)  # √−0 = −0, √+∞ = +∞
    if a is BOT:
        return BOT
    return NAN  # x < 0, −∞, Φ


def f_pow_int(a: float, k: int) -> float:
    """``a**k`` for an int ``k``, correctly rounded: ``x^0 = 1`` for finite x ≠ 0,
    ``0^0 = (±∞)^0 = Φ``, ``x^-k = 1 / x^k`` with the division rules for ``x = ±0, ±∞``,
    overflow → ±∞ and underflow → a signed zero by the exact result.

    ``k = ±1`` and ``k = 2`` are one IEEE operation; every other power of a finite non-zero
    ``x`` is computed in double-double arithmetic (:func:`pow_dd`) and rounded once, so it equals
    the exactly rounded ``x^k`` (as ``mpmath`` or, almost always, C's ``pow`` gives it) — also
    next to the overflow threshold and in the subnormal range.

    >>> from zeroproof.core.kernels import f_pow_int
    >>> f_pow_int(2.0, 3), f_pow_int(2.0, -2), f_pow_int(0.0, 0), f_pow_int(0.3, 3)
    (8.0, 0.25, nan, 0.026999999999999996)
    """
    if a is BOT:
        return BOT
    if k == 0:
        if a - a == 0.0 and a != 0.0:
            return 1.0
        return NAN  # 0^0, (±∞)^0, Φ^0
    if k == 1:
        return a
    if k == 2:
        return a * a
    if k == -1:
        return f_div(1.0, a)
    if a != a:
        return NAN  # Φ^k = Φ
    if a - a != 0.0 or a == 0.0:  # ±0, ±∞: |a|^|k| = |a|, the sign by parity; k < 0 divides
        p = a if k & 1 else abs(a)
        return p if k > 0 else f_div(1.0, p)
    return pow_dd(a, k)


SMALLEST_NORMAL = 2.2250738585072014e-308  # float64: below it, values lose precision


_SPLIT = 134217729.0  # 2^27 + 1: Veltkamp's splitting constant for float64
_E_CLAMP = 1 << 30    # |binary exponent| kept below this (beyond ±1100 the result is decided)


# Double-double arithmetic written with operators only, so that the same functions serve floats
# (here) and NumPy arrays (``zeroproof.array.kernels``): the same operations in the same order.
def _split(a: Any) -> tuple:
    """Veltkamp's split ``a = hi + lo``, each half with at most 26 significant bits."""
    t = _SPLIT * a
    hi = t - (t - a)
    return hi, a - hi


def dd_prod(ah: Any, al: Any, bh: Any, bl: Any) -> tuple:
    """``(h, l)``, ``h + l ≈ (ah + al)·(bh + bl)`` to ~2^-104 relative: Dekker's exact product of
    the heads plus the cross terms (``al``/``bl`` None: 0; a missing term changes at most the sign
    of a zero low part, never a value). No intermediate may over- or underflow."""
    p = ah * bh
    a1, a2 = _split(ah)
    b1, b2 = (a1, a2) if bh is ah else _split(bh)
    q = (((a1 * b1 - p) + a1 * b2 + a2 * b1) + a2 * b2)
    if bl is not None:
        q = q + (ah * bl + al * bh) if al is not None else q + ah * bl
    elif al is not None:
        q = q + al * bh
    h = p + q
    return h, q - (h - p)


def dd_recip(h: Any, l: Any) -> tuple:
    """``(q, c)``, ``q + c ≈ 1/(h + l)``: ``q = 1/h`` corrected by the exact residual."""
    q = 1.0 / h
    q1, q2 = _split(q)
    h1, h2 = _split(h)
    p = q * h
    r = ((1.0 - p) - (((q1 * h1 - p) + q1 * h2 + q2 * h1) + q2 * h2))
    if l is not None:
        r = r - q * l
    return q, q * r


def _dd_mul(ah: float, al: Any, ae: int, bh: float, bl: Any, be: int) -> tuple:
    """``dd_prod`` of mantissas in ``[0.5, 1)`` with binary exponents, normalised back to
    ``h`` in ``[0.5, 1)`` (one exact doubling) and the exponent clamped."""
    h, l = dd_prod(ah, al, bh, bl)
    e = ae + be
    if h < 0.5:  # (p ≥ 0.25: one doubling normalises, exactly)
        h, l, e = h * 2.0, l * 2.0, e - 1
    return h, l, max(-_E_CLAMP, min(_E_CLAMP, e))


def pow_dd(a: float, k: int) -> float:
    """``a**k`` correctly rounded for a finite ``a ≠ 0`` and ``|k| ≥ 2``.

    ``|a|^|k|`` is formed by binary exponentiation in double-double arithmetic on the mantissa
    of ``a`` (in ``[0.5, 1)``, so nothing over- or underflows on the way; the binary exponent is
    kept apart), with a relative error below ``2^-100``; ``k < 0`` takes its reciprocal in
    double-double; the result is rounded once: to 53 bits in the normal range (overflow → ±∞),
    to the subnormal grid below it. The vectorized kernel performs the same operations.

    >>> pow_dd(1.2, 5), pow_dd(-2.0, -1075), pow_dd(2.0, 1024)
    (2.4883199999999994, -0.0, inf)
    """
    n = -k if k < 0 else k
    m, e = math.frexp(a if a > 0.0 else -a)
    bh, bl, be = m, None, e
    rh, rl, re = 0.0, 0.0, 0
    first = True
    while True:
        if n & 1:
            if first:
                rh, rl, re, first = bh, bl, be, False
            else:
                rh, rl, re = _dd_mul(rh, rl, re, bh, bl, be)
        n >>= 1
        if not n:
            break
        bh, bl, be = _dd_mul(bh, bl, be, bh, bl, be)
    if k < 0:  # 1/(h + l) in (1, 2]·2^-re: halved back into (0.5, 1]
        q, c = dd_recip(rh, rl)
        rh, rl, re = q * 0.5, c * 0.5, max(-_E_CLAMP, min(_E_CLAMP, 1 - re))
    return _round_dd(rh, rl, re, a < 0.0 and k & 1)  # (|k| ≥ 2: rl is set by a product)


def _round_dd(h: float, l: float, e: int, neg: bool) -> float:
    """``±(h + l)·2^e`` (``h`` in ``[0.5, 1]``) rounded once to a float64."""
    if e >= -1020:  # the value is above 2^-1022 (h + l ≥ 0.5 − 2^-54): normal, or overflow
        v = h + l
        try:
            r = math.ldexp(v, e)
        except OverflowError:
            r = math.inf
        return -r if neg else r
    # Below: the value is at most 2^-1021, where the floats are the multiples of 2^-1074: round
    # (h + l)·2^(e+1074) to an integer, ties to even
    s = e + 1074
    if s < -1:  # the value is below 2^-1075, half the smallest subnormal: a (signed) zero
        return -0.0 if neg else 0.0
    v = h + l  # renormalise: |l| ≤ half an ulp of h, so the tail moves the rounding by < ½
    l = l - (v - h)
    h = v
    t = math.ldexp(h, s)  # exact (−1 ≤ s ≤ 53, h in [0.25, 1]: t ≤ 2^53 and no underflow)
    u = math.ldexp(l, s)
    f = math.floor(t)
    d = ((t - f) - 0.5) + u  # the exact sign of (t + u) − (f + ½)
    if d > 0.0 or (d == 0.0 and f % 2.0 == 1.0):
        f += 1.0
    r = math.ldexp(f, -1074)
    return -r if neg else r
