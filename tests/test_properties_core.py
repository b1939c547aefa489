"""Hypothesis properties of the scalar core: totality, embedding of the reals, commutativity,
Φ and ⊥ absorption, and the bridge round trip."""
from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroproof.bridge import from_ieee, to_ieee
from zeroproof.core import (
    TRScalar, TRTag, arithmetic_mode, bottom, ninf, phi, pinf, real, tr_abs, tr_add, tr_div,
    tr_exp, tr_log, tr_mul, tr_neg, tr_pow_int, tr_sign, tr_sqrt, tr_sub, tr_tanh,
)

from _tr import bits, same, show

MAX = sys.float_info.max
EDGE_FLOATS = [0.0, -0.0, 5e-324, -5e-324, sys.float_info.min, -sys.float_info.min, MAX, -MAX,
               1.0, -1.0, 2.0**970, 709.782712893384, 710.0, -745.2]

finite = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(EDGE_FLOATS))
specials = st.sampled_from([pinf(), ninf(), phi(), bottom()])
tr_value = st.one_of(finite.map(real), specials)
modes = st.sampled_from(["transreal", "wheel"])
exponents = st.one_of(st.integers(-40, 40), st.integers(-(2**70), 2**70))

BINARY = [tr_add, tr_sub, tr_mul, tr_div]
UNARY = [tr_neg, tr_abs, tr_sign, tr_log, tr_exp, tr_sqrt, tr_tanh]
binary_op = st.sampled_from(BINARY)
unary_op = st.sampled_from(UNARY)


def well_formed(x: object) -> bool:
    """A TRScalar whose REAL value is a finite plain float and whose other values carry NaN."""
    if type(x) is not TRScalar or not isinstance(x.tag, TRTag):
        return False
    if x.tag is TRTag.REAL:
        return type(x.value) is float and math.isfinite(x.value)
    return math.isnan(x.value)


# --- totality ------------------------------------------------------------------------------
@given(tr_value, tr_value, binary_op, modes)
def test_binary_ops_are_total(a: TRScalar, b: TRScalar, op, mode: str) -> None:
    with arithmetic_mode(mode):
        assert well_formed(op(a, b))


@given(tr_value, unary_op, modes)
def test_unary_ops_are_total(x: TRScalar, op, mode: str) -> None:
    with arithmetic_mode(mode):
        assert well_formed(op(x))


@given(tr_value, exponents, modes)
def test_pow_int_is_total(x: TRScalar, k: int, mode: str) -> None:
    with arithmetic_mode(mode):
        assert well_formed(tr_pow_int(x, k))


@given(tr_value, tr_value)
def test_operators_match_functions(a: TRScalar, b: TRScalar) -> None:
    assert same(a + b, tr_add(a, b)) and same(a - b, tr_sub(a, b))
    assert same(a * b, tr_mul(a, b)) and same(a / b, tr_div(a, b))
    assert same(-a, tr_neg(a)) and same(abs(a), tr_abs(a))


# --- embedding of the reals: REAL inputs give the IEEE result (tags and bits) -----------------
def ieee(x: np.float64) -> TRScalar:
    return from_ieee(float(x))


NP_BINARY = {tr_add: np.add, tr_sub: np.subtract, tr_mul: np.multiply, tr_div: np.divide}
NP_UNARY = {tr_neg: np.negative, tr_abs: np.abs, tr_sign: np.sign, tr_log: np.log,
            tr_exp: np.exp, tr_sqrt: np.sqrt, tr_tanh: np.tanh}


@given(finite, finite, binary_op)
def test_binary_ops_embed_ieee(a: float, b: float, op) -> None:
    with np.errstate(all="ignore"):
        want = ieee(NP_BINARY[op](np.float64(a), np.float64(b)))
    got = op(real(a), real(b))
    assert same(got, want), (show(got), show(want))


@given(finite, finite, binary_op)
def test_binary_ops_embed_python_floats(a: float, b: float, op) -> None:
    py = {tr_add: float.__add__, tr_sub: float.__sub__, tr_mul: float.__mul__,
          tr_div: float.__truediv__}[op]
    if op is tr_div and b == 0.0:
        return  # Python raises; the NumPy comparison above covers IEEE division by zero
    want = from_ieee(py(a, b))
    assert same(op(real(a), real(b)), want)


@given(finite, unary_op)
def test_unary_ops_embed_ieee(x: float, op) -> None:
    with np.errstate(all="ignore"):
        want = ieee(NP_UNARY[op](np.float64(x)))
    if op is tr_sign and x == 0.0:
        want = real(0.0)  # NumPy's sign(-0.0) is +0.0 too; pin it regardless of NumPy version
    got = op(real(x))
    assert same(got, want), (show(got), show(want))


@given(finite)
def test_sqrt_matches_math(x: float) -> None:
    if x >= 0.0:
        assert bits(tr_sqrt(real(x)).value) == bits(math.sqrt(x))


@given(finite, st.sampled_from([1, 2, -1]))
def test_small_powers_embed_ieee(x: float, k: int) -> None:
    with np.errstate(all="ignore"):
        f = np.float64(x)
        want = {1: f, 2: f * f, -1: np.float64(1.0) / f}[k]
    assert same(tr_pow_int(real(x), k), ieee(want))


def _rounded(exact: Fraction) -> float:
    """``exact`` rounded to the nearest float64 (ties to even, subnormals included; ±inf beyond
    the range), by Python's correctly rounded ``Fraction → float``."""
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v != 0.0),
       st.integers(-60, 60).filter(lambda k: k != 0))
def test_pow_int_is_the_exactly_rounded_power(x: float, k: int) -> None:
    exact = Fraction(x) ** k
    want = _rounded(exact)
    got = tr_pow_int(real(x), k)
    assert float(got) == want and math.copysign(1.0, float(got)) == math.copysign(1.0, want)
    assert got.tag is (TRTag.REAL if math.isfinite(want) else
                       TRTag.PINF if want > 0 else TRTag.NINF)


@given(st.integers(-1074, 1023), st.floats(-1.0, 1.0),
       st.sampled_from([3, 5, 7, -2, -3, -5, -9, -17]), st.booleans())
def test_pow_int_is_exactly_rounded_next_to_the_ends_of_the_range(e: int, jitter: float, k: int,
                                                                   negative: bool) -> None:
    # x chosen so that x^k lands near 2^e: the overflow threshold, the subnormal grid, 0
    x = 2.0 ** ((e + jitter) / k) * (-1.0 if negative else 1.0)
    want = _rounded(Fraction(x) ** k)
    got = float(tr_pow_int(real(x), k))
    assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want)


# The examples ZeroProofML's binary exponentiation got wrong (tags and last bits)
@pytest.mark.parametrize("x,k,want", [
    (8.427326818107097, 333, 1.797693134862306e308),  # finite, though repeated products overflow
    (8.94135716181804, 324, math.inf), (-8.53656454895101, 331, -math.inf),
    (0.3, 3, 0.026999999999999996), (-1.3, 3, -2.197), (1.2, 5, 2.4883199999999994),
    (2.0, -1074, 5e-324), (2.0, -1075, 0.0), (-10.0, -401, -0.0),
    # reciprocals landing in [2^-1022, 2^-1021] or just above half the smallest subnormal
    (-2.8760207168798723e+102, -3, -4.2036250341224986e-308),
    (3.3099521922547137e+61, -5, 2.517047404475465e-308),
    (4.900401056998739e+153, -2, 4.164249576680939e-308), (1.085726189987556e19, -17, 5e-324),
])
def test_pow_int_known_cases(x: float, k: int, want: float) -> None:
    got = float(tr_pow_int(real(x), k))
    assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want)


# --- algebraic laws --------------------------------------------------------------------------
@given(tr_value, tr_value, st.sampled_from([tr_add, tr_mul]), modes)
def test_add_and_mul_commute(a: TRScalar, b: TRScalar, op, mode: str) -> None:
    with arithmetic_mode(mode):
        assert same(op(a, b), op(b, a))


@given(tr_value, tr_value, modes)
def test_sub_is_add_of_negation(a: TRScalar, b: TRScalar, mode: str) -> None:
    with arithmetic_mode(mode):
        assert same(tr_sub(a, b), tr_add(a, tr_neg(b)))


not_bottom = st.one_of(finite.map(real), st.sampled_from([pinf(), ninf(), phi()]))


@given(not_bottom, binary_op, modes)
def test_phi_absorbs(x: TRScalar, op, mode: str) -> None:
    with arithmetic_mode(mode):
        assert same(op(phi(), x), phi())
        assert same(op(x, phi()), phi())


@given(unary_op, exponents, modes)
def test_phi_absorbs_unary(op, k: int, mode: str) -> None:
    with arithmetic_mode(mode):
        assert same(op(phi()), phi())
        assert same(tr_pow_int(phi(), k), phi())


@given(tr_value, binary_op, unary_op, exponents, modes)
def test_bottom_absorbs_everything(x: TRScalar, op, uop, k: int, mode: str) -> None:
    with arithmetic_mode(mode):
        assert same(op(bottom(), x), bottom())
        assert same(op(x, bottom()), bottom())
        assert same(uop(bottom()), bottom())
        assert same(tr_pow_int(bottom(), k), bottom())


@given(finite, finite, binary_op)
def test_wheel_mode_only_changes_indeterminate_forms(a: float, b: float, op) -> None:
    plain = op(real(a), real(b))
    with arithmetic_mode("wheel"):
        wheel = op(real(a), real(b))
    if plain.tag is TRTag.PHI:
        assert wheel.tag is TRTag.BOTTOM  # only 0/0 can give Φ from two REALs
    else:
        assert same(wheel, plain)


# --- bridge ----------------------------------------------------------------------------------
@given(st.floats())
def test_bridge_round_trip(x: float) -> None:
    v = from_ieee(x)
    y = to_ieee(v)
    if math.isnan(x):
        assert v.tag is TRTag.PHI and math.isnan(y)
    else:
        assert bits(y) == bits(x)
        assert same(from_ieee(y), v)


@given(tr_value)
def test_bridge_from_values(v: TRScalar) -> None:
    back = from_ieee(to_ieee(v))
    assert same(back, phi() if v.tag is TRTag.BOTTOM else v)
