"""The one definition of transreal scalar semantics, on IEEE codes.

Every function here takes and returns *codes*: plain floats where ``+∞, −∞, Φ`` are
``inf, -inf, nan`` and ⊥ is :data:`BOTTOM_CODE`. Transreal arithmetic is IEEE-754 arithmetic with
a handful of fix-ups, so each kernel computes the IEEE result on the fast path and only looks
closer when that result is not finite (⊥ operands, wheel mode, Python's exceptions for ``x/0``,
``log``, ``sqrt``, ``exp`` and ``**``). :class:`TRScalar` operators, the scalar tape and the
vectorized kernels' property tests all use these functions. They never raise on a code.

Bit-for-bit agreement with the vectorized kernels is by construction: ``+ − × ÷`` and ``√`` are
correctly rounded on both sides; ``log`` and ``exp`` call NumPy's own ufuncs (whose SIMD
implementations differ from libm in the last bit on some inputs); integer powers use the same
sequence of multiplications (binary exponentiation) on both sides.
"""
from __future__ import annotations

import math

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


def ipow(a: float, k: int) -> float:
    """``a**k`` for ``k ≥ 1`` by binary exponentiation (IEEE multiplies; overflow → ±∞ and
    underflow → signed zero come out of the multiplications themselves)."""
    result = None
    base = a
    while True:
        if k & 1:
            result = base if result is None else result * base
        k >>= 1
        if not k:
            return result  # type: ignore[return-value]
        base = base * base


def f_pow_int(a: float, k: int) -> float:
    """``a**k`` for an int ``k``: ``x^0 = 1`` for finite x ≠ 0, ``0^0 = (±∞)^0 = Φ``,
    ``x^-k = 1 / x^k`` with the division rules, overflow → ±∞ by the sign of the exact result.

    >>> from zeroproof.core.kernels import f_pow_int
    >>> f_pow_int(2.0, 3), f_pow_int(2.0, -2), f_pow_int(0.0, 0)
    (8.0, 0.25, nan)
    """
    if k > 0:
        if a is BOT:
            return BOT
        return ipow(a, k)
    if k == 0:
        if a is BOT:
            return BOT
        if a - a == 0.0 and a != 0.0:
            return 1.0
        return NAN  # 0^0, (±∞)^0, Φ^0
    p = f_pow_int(a, -k)
    if isinstance(a, float) and a - a == 0.0 and (p == math.inf or p == -math.inf or (
            p != 0.0 and -SMALLEST_NORMAL < p < SMALLEST_NORMAL)):
        # x^|k| overflowed (1/x^|k| may still be representable) or is subnormal (rounded on a
        # coarse grid: its reciprocal would be rounded twice): keep the exponent apart
        return recip_ipow_scaled(a, -k)
    return f_div(1.0, p)


SMALLEST_NORMAL = 2.2250738585072014e-308  # float64: below it, values lose precision


def recip_ipow_scaled(a: float, n: int) -> float:
    """``1 / a**n`` (finite ``a``, ``n ≥ 1``) by the binary exponentiation of :func:`ipow` on
    mantissas in [0.5, 1) with the binary exponent kept apart, so that ``a**n`` never overflows
    on the way: ``1 / 2.0**1074`` is ``5e-324``, not ``1/∞ = 0``. The mantissa products round
    exactly as the products of :func:`ipow` do where those do not overflow (scaling by powers
    of two is exact); the result is rounded once more by ``ldexp`` when it is subnormal.

    >>> recip_ipow_scaled(2.0, 1074), recip_ipow_scaled(-1e160, 2)
    (5e-324, 1e-320)
    """
    bm, bx = math.frexp(a)
    rm, rx = 0.0, 0
    first = True
    while True:
        if n & 1:
            if first:
                rm, rx, first = bm, bx, False
            else:
                rm, e = math.frexp(rm * bm)
                rx += bx + e
        n >>= 1
        if not n:
            break
        bm, e = math.frexp(bm * bm)
        bx = 2 * bx + e
    try:
        return math.ldexp(1.0 / rm, -rx)
    except OverflowError:  # beyond the float range: ±∞ by the sign of the exact result
        return math.copysign(math.inf, rm)
