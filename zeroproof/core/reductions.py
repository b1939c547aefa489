"""Transreal reductions: ``tr_sum, tr_mean, tr_prod, tr_min, tr_max``.

STRICT: any ⊥ → ⊥, any Φ → Φ; both +∞ and −∞ in a sum → Φ; otherwise the infinity or the
exactly rounded REAL result (``math.fsum``; on intermediate overflow an exact rational sum, so
overflow maps to ±∞ only when the exact result does). DROP_NULL: Φ entries are ignored (⊥ still
absorbs); nothing left → Φ. Empty inputs: sum 0, prod 1, mean/min/max Φ.

The same functions over code sequences (``sum_codes`` …) are what the vectorized reductions call
per lane, so both give identical results.
"""
from __future__ import annotations

import math
from enum import Enum
from fractions import Fraction
from typing import Any, Iterable, Optional, Sequence

from .ops import to_code
from ._parse import is_iterable, parse_enum
from .scalar import BOTTOM_CODE as BOT
from .scalar import TRScalar, scalar_from_code
from .wheel import WHEEL

__all__ = [
    "ReductionMode", "tr_sum", "tr_mean", "tr_prod", "tr_min", "tr_max",
    "sum_codes", "mean_codes", "prod_codes", "min_codes", "max_codes", "exact_ratio",
]

INF = math.inf
NAN = math.nan


class ReductionMode(str, Enum):
    """How a reduction treats Φ: ``STRICT`` (Φ absorbs) or ``DROP_NULL`` (Φ entries are skipped).

    >>> from zeroproof.core.reductions import ReductionMode
    >>> ReductionMode("drop_null"), str(ReductionMode.STRICT)
    (<ReductionMode.DROP_NULL: 'drop_null'>, 'strict')
    """

    STRICT = "strict"
    DROP_NULL = "drop_null"

    def __str__(self) -> str:
        return self.value


def _mode(mode: Any) -> ReductionMode:
    return parse_enum(ReductionMode, mode)


def _prepare(codes: Sequence[float], mode: ReductionMode) -> "list[float] | float":
    """The codes to reduce, or the absorbing result (⊥ or Φ) when one decides it."""
    has_nan = False
    for c in codes:
        if c != c:
            if c is BOT:
                return BOT
            has_nan = True
    if not has_nan:
        return list(codes)
    if mode is ReductionMode.STRICT:
        return NAN
    return [c for c in codes if c == c]


def _exact_sum(reals: list[float]) -> float:
    try:
        s = math.fsum(reals)
        if s == 0.0 and reals and all(math.copysign(1.0, x) < 0 for x in reals):
            return -0.0  # IEEE −0 + −0 = −0 (fsum gives +0.0 before Python 3.12)
        return s
    except OverflowError:  # an intermediate partial overflowed; the exact sum may not
        s = sum((Fraction(x) for x in reals), Fraction(0))
        try:
            return float(s)
        except OverflowError:
            return INF if s > 0 else -INF


def _sum_inf(cs: list[float]) -> "float | None":
    """The result forced by infinities (±∞, or Φ/⊥ for both signs), None if there are none."""
    pos = neg = False
    for c in cs:
        if c - c != 0.0:
            if c > 0:
                pos = True
            else:
                neg = True
    if pos and neg:
        return BOT if WHEEL.get() else NAN
    if pos:
        return BOT if WHEEL.get() and _count_inf(cs) > 1 else INF
    if neg:
        return BOT if WHEEL.get() and _count_inf(cs) > 1 else -INF
    return None


def _count_inf(cs: list[float]) -> int:
    return sum(1 for c in cs if c - c != 0.0)


def sum_codes(codes: Sequence[float], mode: ReductionMode = ReductionMode.STRICT) -> float:
    """Transreal sum of IEEE codes (see :func:`tr_sum`).

    >>> from zeroproof.core.reductions import sum_codes
    >>> sum_codes([1e16, 1.0, -1e16]), sum_codes([float("inf"), float("-inf")])
    (1.0, nan)
    """
    cs = _prepare(codes, _mode(mode))
    if not isinstance(cs, list):
        return cs
    if not cs and len(codes):
        return NAN  # DROP_NULL and every entry was Φ
    forced = _sum_inf(cs)
    if forced is not None:
        return forced
    return _exact_sum(cs)


def mean_codes(codes: Sequence[float], mode: ReductionMode = ReductionMode.STRICT) -> float:
    """Transreal mean of IEEE codes (see :func:`tr_mean`).

    >>> from zeroproof.core.reductions import mean_codes
    >>> mean_codes([1.0, 2.0]), mean_codes([1.0, float("nan")], "drop_null")
    (1.5, 1.0)
    """
    cs = _prepare(codes, _mode(mode))
    if not isinstance(cs, list):
        return cs
    if not cs:
        return NAN
    forced = _sum_inf(cs)
    if forced is not None:
        return forced
    return _exact_mean(cs)


def _sum_units(reals: Iterable[float]) -> int:
    """The exact sum of finite floats as an integer in units of 2**-1074."""
    total = 0
    for x in reals:
        p, q = x.as_integer_ratio()  # q is a power of two, at most 2**1074
        total += p << (1075 - q.bit_length())
    return total


def _exact_mean(reals: list[float]) -> float:
    """``sum / n`` rounded once: the sum is an exact integer in units of 2**-1074 and Python's
    ``int / int`` is correctly rounded (``fsum(x) / n`` would round twice)."""
    total = _sum_units(reals)
    if total == 0:  # IEEE: an exact zero sum is −0 only when every term is −0
        return -0.0 if all(math.copysign(1.0, x) < 0 for x in reals) else 0.0
    return total / (len(reals) << 1074)


def prod_codes(codes: Sequence[float], mode: ReductionMode = ReductionMode.STRICT) -> float:
    """Transreal product of IEEE codes (see :func:`tr_prod`).

    >>> from zeroproof.core.reductions import prod_codes
    >>> prod_codes([2.0, float("-inf")]), prod_codes([])
    (-inf, 1.0)
    """
    cs = _prepare(codes, _mode(mode))
    if not isinstance(cs, list):
        return cs
    if not cs:
        return NAN if len(codes) else 1.0
    negative = sum(1 for c in cs if math.copysign(1.0, c) < 0) & 1
    has_zero = any(c == 0.0 for c in cs)
    has_inf = any(c - c != 0.0 for c in cs)
    if has_inf:
        if has_zero:
            return BOT if WHEEL.get() else NAN  # 0 × ∞
        return -INF if negative else INF
    if has_zero:
        return -0.0 if negative else 0.0
    mag = _bracketed_prod(cs)
    if mag is None:  # the bracket straddles a rounding boundary (about 2**-40 of products)
        mag = _exact_prod(cs)
    return -mag if negative else mag


def _scaled(m: int, e: int) -> float:
    """``m · 2**e`` (m > 0) correctly rounded to a float: ±inf past the range, 0 below half the
    smallest subnormal (never building an integer wider than the float range needs)."""
    bits = m.bit_length() + e  # m · 2**e lies in [2**(bits-1), 2**bits)
    if bits > 1024:
        return INF
    if bits < -1075:
        return 0.0
    try:
        return float(m << e) if e >= 0 else m / (1 << -e)  # both correctly rounded
    except OverflowError:
        return INF


def _bracketed_prod(cs: list[float]) -> Optional[float]:
    """The correctly rounded product of nonzero finite floats from two running bounds kept to
    ``K`` bits (one truncated down, one up), or None when they round differently. Each factor
    costs two small integer products, so a million factors take about a second, where the exact
    product (53 bits per factor) would take minutes. Bounds that were never truncated are the
    exact product."""
    k = 128 + len(cs).bit_length()
    lo = hi = 1
    e = 0
    frexp = math.frexp
    for c in cs:
        m, x = frexp(abs(c))  # positive factors keep lo ≤ |product| ≤ hi at every step
        n = int(m * 9007199254740992.0)  # |c| = n · 2**(x − 53) exactly
        lo *= n
        hi *= n
        e += x - 53
        drop = hi.bit_length() - k
        if drop > 0:
            lo >>= drop        # floor
            hi = -(-hi >> drop)  # ceiling
            e += drop
    a = _scaled(lo, e)
    return a if a == _scaled(hi, e) else None


def _prod_parts(cs: Sequence[float]) -> tuple[int, int]:
    """``(n, s)`` with ``|Π cs| = n / 2**s`` exactly (nonzero finite floats; slow for long
    inputs). Each ``|c| = n_c / 2**s_c``; the ``n_c`` are multiplied pairwise (a balanced tree
    keeps the operands' sizes even)."""
    nums, shift = [], 0
    for c in cs:
        n, d = abs(c).as_integer_ratio()
        nums.append(n)
        shift += d.bit_length() - 1
    while len(nums) > 1:
        nums = [nums[i] * nums[i + 1] for i in range(0, len(nums) - 1, 2)] + (
            [nums[-1]] if len(nums) & 1 else [])
    return nums[0], shift


def _exact_prod(cs: list[float]) -> float:
    """The exact product of nonzero finite floats, rounded once (slow for long inputs)."""
    n, shift = _prod_parts(cs)
    return _scaled(n, -shift)  # one correctly rounded division by 2**shift


def exact_ratio(kind: str, reals: Sequence[float]) -> tuple[int, int]:
    """The exact REAL result of ``sum``, ``mean`` or ``prod`` of finite floats (at least one for
    ``mean``) as a fraction ``(numerator, denominator)`` of Python ints (denominator > 0, not
    reduced): what the reductions round once to a float. The vectorized float32 reductions use
    it to decide the rare lanes whose float64 result is exactly halfway between two float32
    values.

    >>> from zeroproof.core.reductions import exact_ratio
    >>> n, d = exact_ratio("mean", [1.0, 2.0 ** -60]); n / d == 0.5 and n * 2 != d
    True
    >>> exact_ratio("prod", [-0.5, 3.0])
    (-3, 2)
    """
    if kind in ("sum", "mean"):
        den = 1 << 1074
        if kind == "mean":
            if not reals:
                raise ValueError("exact_ratio('mean', reals): the mean of no values has no value")
            den *= len(reals)
        return _sum_units(reals), den
    if kind == "prod":
        if not reals:
            return 1, 1
        if any(c == 0.0 for c in reals):
            return 0, 1
        n, shift = _prod_parts(reals)
        negative = sum(1 for c in reals if c < 0) & 1
        return (-n if negative else n), 1 << shift
    raise ValueError(f"kind must be 'sum', 'mean' or 'prod', got {kind!r}")


def _extreme(codes: Sequence[float], mode: Any, want_max: bool) -> float:
    cs = _prepare(codes, _mode(mode))
    if not isinstance(cs, list):
        return cs
    if not cs:
        return NAN
    best = cs[0]
    for c in cs[1:]:  # first occurrence wins ties (−0.0 vs 0.0), as NumPy's argmin/argmax
        if (c > best) if want_max else (c < best):
            best = c
    return best


def min_codes(codes: Sequence[float], mode: ReductionMode = ReductionMode.STRICT) -> float:
    """Transreal minimum of IEEE codes (see :func:`tr_min`).

    >>> from zeroproof.core.reductions import min_codes
    >>> min_codes([3.0, float("-inf")]), min_codes([1.0, float("nan")])
    (-inf, nan)
    """
    return _extreme(codes, mode, False)


def max_codes(codes: Sequence[float], mode: ReductionMode = ReductionMode.STRICT) -> float:
    """Transreal maximum of IEEE codes (see :func:`tr_max`).

    >>> from zeroproof.core.reductions import max_codes
    >>> max_codes([3.0, float("inf")]), max_codes([1.0, float("nan")], "drop_null")
    (inf, 1.0)
    """
    return _extreme(codes, mode, True)


def _codes(values: Iterable[Any], fname: str) -> list[float]:
    if isinstance(values, TRScalar) or not is_iterable(values):
        raise TypeError(
            f"{fname}(values): values must be an iterable of TRScalar or real numbers, got "
            f"{type(values).__name__}"
        )
    return [to_code(v, f"{fname}(values): values[{i}]") for i, v in enumerate(values)]


def _reduction(codes_fn: Any, fname: str, doc: str) -> Any:
    def reduce(values: Iterable[Any], mode: "ReductionMode | str" = ReductionMode.STRICT) -> TRScalar:
        d = getattr(type(values), "__tr_dispatch__", None)
        if d is not None:  # a TRArray / batched tensor: its own reduction
            return d(fname, (values, mode))
        if not isinstance(values, (list, tuple, TRScalar)) and is_iterable(values):
            values = list(values)  # (read once: a generator may be consumed only once)
        try:
            codes = _codes(values, fname)
        except TypeError:
            # a list holding graph nodes: the lifted reduction of that tape (scalar nodes → a node)
            for v in values if isinstance(values, (list, tuple)) else ():
                d = getattr(type(v), "__tr_dispatch__", None)
                if d is not None:
                    return d(fname, (values, mode))
            raise
        return scalar_from_code(codes_fn(codes, _mode(mode)))

    reduce.__name__ = reduce.__qualname__ = fname
    reduce.__doc__ = doc
    return reduce


tr_sum = _reduction(sum_codes, "tr_sum", """Exactly rounded transreal sum.

    >>> from zeroproof import ReductionMode, ninf, phi, pinf, real, tr_sum
    >>> tr_sum([real(1e16), real(1.0), real(-1e16)])
    TRScalar(1.0, REAL)
    >>> tr_sum([pinf(), ninf()])
    TRScalar(PHI)
    >>> tr_sum([real(1.0), phi()], mode=ReductionMode.DROP_NULL)
    TRScalar(1.0, REAL)
    """)
tr_mean = _reduction(mean_codes, "tr_mean", """Transreal mean (exact sum / count); empty → Φ.

    >>> from zeroproof import real, tr_mean
    >>> tr_mean([real(1.0), real(2.0)])
    TRScalar(1.5, REAL)
    """)
tr_prod = _reduction(prod_codes, "tr_prod", """Exactly rounded transreal product; ``0 × ∞ = Φ``; empty → 1.

    >>> from zeroproof import ninf, real, tr_prod
    >>> tr_prod([real(2.0), ninf()])
    TRScalar(NINF)
    """)
tr_min = _reduction(min_codes, "tr_min", """Minimum in the order ``−∞ < REAL < +∞``; empty → Φ.

    >>> from zeroproof import ninf, real, tr_min
    >>> tr_min([real(3.0), ninf()])
    TRScalar(NINF)
    """)
tr_max = _reduction(max_codes, "tr_max", """Maximum in the order ``−∞ < REAL < +∞``; empty → Φ.

    >>> from zeroproof import pinf, real, tr_max
    >>> tr_max([real(3.0), pinf()])
    TRScalar(PINF)
    """)
