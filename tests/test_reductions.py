"""Reductions (SPEC §3): STRICT and DROP_NULL, empty inputs, infinities, overflow, and exact
rounding checked against ``fractions.Fraction`` (an oracle that shares no code with the sums)."""
from __future__ import annotations

import math
import sys
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroproof.core import (
    ReductionMode, TRScalar, bottom, ninf, phi, pinf, real, tr_max, tr_mean, tr_min, tr_prod,
    tr_sum, wheel_mode,
)

from _tr import same, show, tv

MAX = sys.float_info.max
STRICT, DROP = ReductionMode.STRICT, ReductionMode.DROP_NULL
FNS = {"sum": tr_sum, "mean": tr_mean, "prod": tr_prod, "min": tr_min, "max": tr_max}


def vals(tokens: str) -> list[TRScalar]:
    return [tv(t) for t in tokens.split()]


# (function, inputs, STRICT result, DROP_NULL result)
GOLDEN = [
    ("sum", "", "+0", "+0"),
    ("prod", "", "1", "1"),
    ("mean", "", "phi", "phi"),
    ("min", "", "phi", "phi"),
    ("max", "", "phi", "phi"),
    ("sum", "1 2 3", "6", "6"),
    ("sum", "1 phi 3", "phi", "4"),
    ("sum", "phi phi", "phi", "phi"),
    ("sum", "1 +inf 3", "+inf", "+inf"),
    ("sum", "+inf +inf", "+inf", "+inf"),
    ("sum", "-inf 5 -inf", "-inf", "-inf"),
    ("sum", "+inf -inf", "phi", "phi"),
    ("sum", "+inf phi -inf", "phi", "phi"),
    ("sum", "1 bot", "bot", "bot"),
    ("sum", "phi bot", "bot", "bot"),
    ("sum", "-0 -0", "-0", "-0"),
    ("sum", "-0 +0", "+0", "+0"),
    ("sum", "1 -1", "+0", "+0"),
    ("mean", "1 2", "1.5", "1.5"),
    ("mean", "1 phi 2", "phi", "1.5"),
    ("mean", "phi", "phi", "phi"),
    ("mean", "1 +inf", "+inf", "+inf"),
    ("mean", "-inf 1", "-inf", "-inf"),
    ("mean", "+inf -inf", "phi", "phi"),
    ("mean", "-0 -0", "-0", "-0"),
    ("mean", "2 bot", "bot", "bot"),
    ("prod", "2 3", "6", "6"),
    ("prod", "2 phi 3", "phi", "6"),
    ("prod", "phi", "phi", "phi"),
    ("prod", "-2 +inf", "-inf", "-inf"),
    ("prod", "-inf -inf", "+inf", "+inf"),
    ("prod", "+0 +inf", "phi", "phi"),
    ("prod", "-0 2", "-0", "-0"),
    ("prod", "-0 -2", "+0", "+0"),
    ("prod", "-0 -0 -0", "-0", "-0"),
    ("prod", "2 bot", "bot", "bot"),
    ("min", "3 -1 2", "-1", "-1"),
    ("min", "3 -inf", "-inf", "-inf"),
    ("min", "3 +inf", "3", "3"),
    ("min", "3 phi -1", "phi", "-1"),
    ("min", "phi phi", "phi", "phi"),
    ("min", "+0 -0", "+0", "+0"),  # ties: the first one wins
    ("min", "-0 +0", "-0", "-0"),
    ("min", "1 bot", "bot", "bot"),
    ("max", "3 -1 2", "3", "3"),
    ("max", "3 +inf", "+inf", "+inf"),
    ("max", "-inf -inf", "-inf", "-inf"),
    ("max", "3 phi -1", "phi", "3"),
    ("max", "phi bot", "bot", "bot"),
]


@pytest.mark.parametrize("fn, inputs, strict, drop", GOLDEN,
                         ids=[f"{g[0]}[{g[1]}]" for g in GOLDEN])
def test_golden(fn: str, inputs: str, strict: str, drop: str) -> None:
    got = FNS[fn](vals(inputs))
    assert same(got, tv(strict)), show(got)
    got = FNS[fn](vals(inputs), mode=DROP)
    assert same(got, tv(drop)), show(got)
    got = FNS[fn](vals(inputs), mode="drop_null")  # the string form is accepted too
    assert same(got, tv(drop)), show(got)


@pytest.mark.parametrize("fn, inputs, want", [
    ("sum", "+inf +inf", "bot"),
    ("sum", "+inf 1", "+inf"),
    ("sum", "+inf -inf", "bot"),
    ("mean", "-inf -inf", "bot"),
    ("prod", "+0 -inf", "bot"),
    ("prod", "+inf -inf", "-inf"),
    ("min", "+inf -inf", "-inf"),
])
def test_wheel_mode(fn: str, inputs: str, want: str) -> None:
    with wheel_mode():
        got = FNS[fn](vals(inputs))
    assert same(got, tv(want)), show(got)


OVERFLOW = [
    ("sum", [MAX, MAX], "+inf"),
    ("sum", [-MAX, -MAX], "-inf"),
    ("sum", [MAX, MAX, -MAX], repr(MAX)),  # an intermediate overflow is not an overflow
    ("sum", [MAX, 2.0**970], "+inf"),  # exact sum rounds up past MAX
    ("sum", [MAX, 2.0**969], repr(MAX)),
    ("sum", [MAX, 2.0**970, -(2.0**970)], repr(MAX)),
    ("sum", [1e16, 1.0, -1e16], "1"),  # naive left-to-right summation gives 0
    ("sum", [1.0, 1e100, 1.0, -1e100], "2"),
    ("sum", [5e-324] * 3, "1.5e-323"),
    ("mean", [MAX, MAX], repr(MAX)),
    ("mean", [MAX, MAX, MAX], repr(MAX)),
    ("mean", [-MAX, -MAX, MAX], repr(-MAX / 3)),
    ("mean", [1.0, 2.0**53, 2.0], "3002399751580331.5"),  # fsum(x)/n would round twice
    ("mean", [5e-324, 0.0], "+0"),  # half the smallest subnormal: ties to even
    ("mean", [-5e-324, 0.0, 0.0], "-0"),
    ("prod", [MAX, 2.0], "+inf"),
    ("prod", [MAX, -2.0], "-inf"),
    ("prod", [MAX, 2.0, 0.25], repr(MAX / 2)),  # no intermediate overflow
    ("prod", [1e-300, 1e-300, 1e300], "1e-300"),  # no intermediate underflow
    ("prod", [1e-200, 1e-200], "+0"),
    ("prod", [-1e-200, 1e-200], "-0"),
    ("prod", [0.1] * 3, repr(float(Fraction(0.1) ** 3))),
]


@pytest.mark.parametrize("fn, xs, want", OVERFLOW, ids=[f"{o[0]}{o[1]!r}" for o in OVERFLOW])
def test_overflow_and_exact_rounding_edges(fn: str, xs: list[float], want: str) -> None:
    got = FNS[fn]([real(x) for x in xs])
    assert same(got, tv(want)), show(got)


def test_reductions_accept_numbers_and_generators() -> None:
    assert same(tr_sum([1, 2.5, real(0.5)]), real(4.0))
    assert same(tr_max(real(float(i)) for i in range(5)), real(4.0))
    assert same(tr_prod((2, 3)), real(6.0))


@pytest.mark.parametrize("fn", list(FNS))
def test_bad_inputs(fn: str) -> None:
    f = FNS[fn]
    with pytest.raises(TypeError):
        f(real(1.0))  # a single value is not a sequence
    with pytest.raises(TypeError):
        f(3.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        f("123")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"values\[1\]"):
        f([real(1.0), "2"])
    with pytest.raises(ValueError, match="from_ieee"):
        f([1.0, math.nan])
    with pytest.raises(ValueError, match="mode"):
        f([real(1.0)], mode="ignore")  # type: ignore[arg-type]


# --- exact rounding against Fraction ----------------------------------------------------------
finite = st.floats(allow_nan=False, allow_infinity=False)
# values spanning the whole exponent range, so that cancellation, overflow and subnormals occur
wide = st.one_of(finite, st.sampled_from([MAX, -MAX, 2.0**970, -(2.0**970), 5e-324, -5e-324,
                                         1e16, -1e16, 1.0, -1.0, 0.0, -0.0]))


def _round(q: Fraction) -> float:
    """Round an exact rational to float64; overflow → ±inf (correctly rounded by int division)."""
    try:
        return q.numerator / q.denominator
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def _check(got: TRScalar, want: float, zero_sign: float) -> None:
    assert got.tag is tv("+inf" if want == math.inf else "-inf" if want == -math.inf else "0").tag
    if want == 0.0:
        want = math.copysign(0.0, zero_sign)
    assert same(got, from_float(want)), (show(got), want)


def from_float(x: float) -> TRScalar:
    return pinf() if x == math.inf else ninf() if x == -math.inf else real(x)


@given(st.lists(wide, max_size=12))
def test_sum_is_exactly_rounded(xs: list[float]) -> None:
    exact = sum((Fraction(x) for x in xs), Fraction(0))
    all_neg_zero = bool(xs) and all(x == 0.0 and math.copysign(1.0, x) < 0 for x in xs)
    _check(tr_sum([real(x) for x in xs]), _round(exact), -1.0 if all_neg_zero else 1.0)


@given(st.lists(wide, min_size=1, max_size=12))
def test_mean_is_exactly_rounded(xs: list[float]) -> None:
    exact = sum((Fraction(x) for x in xs), Fraction(0)) / len(xs)
    all_neg_zero = all(x == 0.0 and math.copysign(1.0, x) < 0 for x in xs)
    _check(tr_mean([real(x) for x in xs]), _round(exact), -1.0 if all_neg_zero or exact < 0 else 1.0)


@given(st.lists(wide, max_size=6))
def test_prod_is_exactly_rounded(xs: list[float]) -> None:
    exact = Fraction(1)
    negative = False
    for x in xs:
        exact *= Fraction(x)
        negative ^= math.copysign(1.0, x) < 0
    _check(tr_prod([real(x) for x in xs]), _round(exact), -1.0 if negative else 1.0)


@given(st.lists(finite, min_size=1, max_size=12))
def test_min_max_match_python(xs: list[float]) -> None:
    rs = [real(x) for x in xs]
    assert tr_min(rs) == min(xs) and tr_max(rs) == max(xs)


tr_values = st.one_of(wide.map(real), st.sampled_from([pinf(), ninf(), phi(), bottom()]))


@given(st.lists(tr_values, max_size=8), st.sampled_from(list(FNS)), st.sampled_from([STRICT, DROP]),
       st.booleans())
def test_reductions_are_total(xs: list[TRScalar], fn: str, mode: ReductionMode, wheel: bool) -> None:
    if wheel:
        with wheel_mode():
            got = FNS[fn](xs, mode=mode)
    else:
        got = FNS[fn](xs, mode=mode)
    assert isinstance(got, TRScalar)
    if got.tag == 0:
        assert math.isfinite(got.value)
    if any(x.tag == 4 for x in xs):
        assert got.tag == 4  # ⊥ absorbs in every mode
    elif mode is STRICT and any(x.tag == 3 for x in xs):
        assert got.tag == 3  # Φ absorbs under STRICT


def test_exact_product_of_many_factors_equals_the_fraction_product():
    """The exact product multiplies integer mantissas pairwise (linearithmic, not quadratic in
    the length) and rounds once: the same float as the product of Fractions."""
    import random
    from fractions import Fraction

    from zeroproof.core.reductions import prod_codes

    rng = random.Random(3)
    for n in (1, 2, 3, 7, 64, 1000):
        xs = [rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0) * 2.0 ** rng.randint(-3, 3)
              for _ in range(n)]
        exact = Fraction(1)
        for v in xs:
            exact *= Fraction(v)
        assert prod_codes(xs) == float(exact)
    assert prod_codes([5e-324, 0.5]) == 0.0 and prod_codes([5e-324, 0.75]) == 5e-324
    assert prod_codes([1e-160, 1e-160]) == 1e-320 and prod_codes([1e200, -1e200]) == float("-inf")
