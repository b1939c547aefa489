"""SPEC §2: tags, the immutable TRScalar, factories, predicates, printing, equality, hash, order,
float()/bool(), and the bad inputs of §8 for construction."""
from __future__ import annotations

import copy
import math
import operator
import pickle
import sys
from fractions import Fraction

import numpy as np
import pytest

import zeroproof.core as core
from zeroproof.core import (
    TRScalar, TRTag, bottom, is_bottom, is_finite, is_infinite, is_ninf, is_phi, is_pinf,
    is_real, ninf, phi, pinf, real,
)

from _tr import bits, same

MAX = sys.float_info.max
ALL = {
    "R(1.5)": real(1.5), "R(+0)": real(0.0), "R(-0)": real(-0.0), "+inf": pinf(),
    "-inf": ninf(), "phi": phi(), "bot": bottom(),
}


def test_tag_codes() -> None:
    assert [(t.name, int(t)) for t in TRTag] == [
        ("REAL", 0), ("PINF", 1), ("NINF", 2), ("PHI", 3), ("BOTTOM", 4)]
    assert TRTag(3) is TRTag.PHI
    assert np.uint8(TRTag.BOTTOM) == 4


@pytest.mark.parametrize("make, tag", [
    (pinf, TRTag.PINF), (ninf, TRTag.NINF), (phi, TRTag.PHI), (bottom, TRTag.BOTTOM),
])
def test_factories_of_special_values(make, tag: TRTag) -> None:
    x = make()
    assert x.tag is tag
    assert type(x.value) is float and math.isnan(x.value)


@pytest.mark.parametrize("arg, want", [
    (1.5, 1.5), (-0.0, -0.0), (0, 0.0), (-7, -7.0), (2**53 + 1, 2.0**53), (MAX, MAX),
    (5e-324, 5e-324), (np.float64(0.1), 0.1), (np.float32(0.1), float(np.float32(0.1))),
    (np.int64(-3), -3.0), (np.uint8(200), 200.0), (Fraction(1, 4), 0.25),
])
def test_real_accepts_numbers(arg: object, want: float) -> None:
    x = real(arg)  # type: ignore[arg-type]
    assert x.tag is TRTag.REAL
    assert type(x.value) is float  # always a plain float, never a NumPy scalar
    assert bits(x.value) == bits(want)


@pytest.mark.parametrize("arg", [math.nan, math.inf, -math.inf, np.float64("nan"),
                                 np.float32("-inf"), 10**400])
def test_real_rejects_non_finite_with_value_error_naming_from_ieee(arg: object) -> None:
    with pytest.raises(ValueError, match="from_ieee"):
        real(arg)  # type: ignore[arg-type]


@pytest.mark.parametrize("arg", ["3", None, 1j, True, False, np.bool_(True), np.array([1.0]),
                                 np.array(1.0), [1.0], (1.0,), object(), real(1.0)])
def test_real_rejects_other_types_with_type_error(arg: object) -> None:
    with pytest.raises(TypeError):
        real(arg)  # type: ignore[arg-type]


def test_type_error_message_names_argument_and_type() -> None:
    with pytest.raises(TypeError, match=r"x.*str"):
        real("3")


def test_constructor_validates_real_values() -> None:
    assert same(TRScalar(2.0), real(2.0))
    assert TRScalar(tag=TRTag.PHI).tag is TRTag.PHI
    with pytest.raises(ValueError):
        TRScalar(math.nan, TRTag.REAL)
    with pytest.raises(ValueError):
        TRScalar(1.0, 9)  # type: ignore[arg-type]


# --- printing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("x, r, s", [
    (real(1.5), "TRScalar(1.5, REAL)", "1.5"),
    (real(-0.0), "TRScalar(-0.0, REAL)", "-0.0"),
    (real(1e300), "TRScalar(1e+300, REAL)", "1e+300"),
    (real(2), "TRScalar(2.0, REAL)", "2.0"),
    (pinf(), "TRScalar(PINF)", "+∞"),
    (ninf(), "TRScalar(NINF)", "−∞"),  # U+2212 minus sign
    (phi(), "TRScalar(PHI)", "Φ"),
    (bottom(), "TRScalar(BOTTOM)", "⊥"),
])
def test_repr_and_str(x: TRScalar, r: str, s: str) -> None:
    assert repr(x) == r
    assert str(x) == s


def test_format() -> None:
    assert f"{real(1.5):.3f}" == "1.500"
    assert f"{pinf():>4}" == "  +∞"
    assert f"{phi():.2f}" == "Φ"


# --- immutability ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["R(1.5)", "phi", "bot"])
def test_immutable(name: str) -> None:
    x = ALL[name]
    with pytest.raises(AttributeError):
        x.value = 2.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        x.tag = TRTag.REAL  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del x.value  # type: ignore[misc]
    with pytest.raises(AttributeError):
        x.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(x, "__dict__")


@pytest.mark.parametrize("name", list(ALL))
def test_copy_and_pickle_keep_the_value(name: str) -> None:
    x = ALL[name]
    for y in (copy.copy(x), copy.deepcopy(x), pickle.loads(pickle.dumps(x))):
        assert same(y, x)


# --- predicates -------------------------------------------------------------------------------
PREDICATES = [is_real, is_pinf, is_ninf, is_phi, is_bottom, is_finite, is_infinite]
TRUTH = {  # name -> which predicates hold, in the order above
    "R(1.5)": (1, 0, 0, 0, 0, 1, 0),
    "R(-0)": (1, 0, 0, 0, 0, 1, 0),
    "+inf": (0, 1, 0, 0, 0, 0, 1),
    "-inf": (0, 0, 1, 0, 0, 0, 1),
    "phi": (0, 0, 0, 1, 0, 0, 0),
    "bot": (0, 0, 0, 0, 1, 0, 0),
}


@pytest.mark.parametrize("name", list(TRUTH))
@pytest.mark.parametrize("pred", PREDICATES, ids=[p.__name__ for p in PREDICATES])
def test_predicates(name: str, pred) -> None:
    assert pred(ALL[name]) is bool(TRUTH[name][PREDICATES.index(pred)])


@pytest.mark.parametrize("pred", PREDICATES, ids=[p.__name__ for p in PREDICATES])
def test_predicates_reject_non_tr_values(pred) -> None:
    with pytest.raises(TypeError):
        pred(1.0)


# --- equality and hash ------------------------------------------------------------------------
def test_equality_matrix() -> None:
    names = list(ALL)
    for a in names:
        for b in names:
            same_kind = a == b or {a, b} == {"R(+0)", "R(-0)"}
            assert (ALL[a] == ALL[b]) is same_kind, (a, b)
            assert (ALL[a] != ALL[b]) is (not same_kind), (a, b)


def test_phi_equals_phi_unlike_nan() -> None:
    assert phi() == phi()
    assert real(0.0) / real(0.0) == phi()
    assert math.nan != math.nan  # the IEEE behaviour we deliberately differ from


def test_signed_zeros_are_equal() -> None:
    assert real(0.0) == real(-0.0)
    assert hash(real(0.0)) == hash(real(-0.0))


@pytest.mark.parametrize("x, number, equal", [
    (real(1.0), 1, True), (real(1.0), 1.0, True), (real(1.0), np.float64(1.0), True),
    (real(1.0), np.int32(1), True), (real(1.0), 1.0000000000000002, False),
    (real(0.0), -0.0, True), (pinf(), math.inf, True), (ninf(), -math.inf, True),
    (pinf(), -math.inf, False), (phi(), math.nan, False), (bottom(), math.nan, False),
    (real(1.0), math.nan, False), (phi(), 0.0, False),
])
def test_equality_with_plain_numbers(x: TRScalar, number: object, equal: bool) -> None:
    assert (x == number) is equal
    assert (number == x) is equal
    assert (x != number) is (not equal)
    assert (number != x) is (not equal)


@pytest.mark.parametrize("other", ["1", None, [1.0], object(), True])
def test_equality_with_other_types_is_false(other: object) -> None:
    assert (real(1.0) == other) is False
    assert (real(1.0) != other) is True


def test_hash_consistent_with_equality() -> None:
    assert hash(real(2.0)) == hash(2) == hash(2.0)
    assert hash(pinf()) == hash(math.inf)
    assert hash(phi()) == hash(real(0.0) / real(0.0))
    assert len({phi(), phi(), real(0.0) / real(0.0)}) == 1
    assert len({real(0.0), real(-0.0), real(0.0) * real(-1.0)}) == 1
    d = {real(1.0): "one", pinf(): "inf", phi(): "phi", bottom(): "bot"}
    assert d[real(1)] == "one" and d[real(1e308) * real(10.0)] == "inf" and d[phi()] == "phi"
    assert d[bottom()] == "bot"


# --- order --------------------------------------------------------------------------------
ORDERED = [ninf(), real(-MAX), real(-1.0), real(-5e-324), real(0.0), real(5e-324), real(1.0),
           real(MAX), pinf()]


def test_total_order_of_infinities_and_reals() -> None:
    for i, a in enumerate(ORDERED):
        for j, b in enumerate(ORDERED):
            assert (a < b) is (i < j)
            assert (a <= b) is (i <= j)
            assert (a > b) is (i > j)
            assert (a >= b) is (i >= j)


def test_signed_zeros_are_not_ordered_apart() -> None:
    assert not real(-0.0) < real(0.0)
    assert real(-0.0) <= real(0.0) and real(0.0) <= real(-0.0)


CMP = [operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("op", CMP, ids=lambda o: o.__name__)
@pytest.mark.parametrize("u", ["phi", "bot"])
@pytest.mark.parametrize("other", list(ALL))
def test_phi_and_bottom_are_unordered(op, u: str, other: str) -> None:
    assert op(ALL[u], ALL[other]) is False
    assert op(ALL[other], ALL[u]) is False


@pytest.mark.parametrize("op", CMP, ids=lambda o: o.__name__)
def test_phi_and_bottom_are_unordered_with_numbers(op) -> None:
    for u in (phi(), bottom()):
        for n in (0, 1.0, -math.inf, math.inf):
            assert op(u, n) is False and op(n, u) is False


def test_order_with_plain_numbers() -> None:
    assert real(1.0) < 2 and 2 > real(1.0)
    assert real(1.0) <= 1.0 and 1.0 >= real(1.0)
    assert pinf() > MAX and ninf() < -MAX
    assert pinf() >= math.inf and math.inf <= pinf()
    assert np.float64(3.0) > real(2.0)
    for op in CMP:  # a NaN float is not a transreal value: every comparison is False
        assert op(real(1.0), math.nan) is False
        assert op(math.nan, real(1.0)) is False


@pytest.mark.parametrize("op", CMP, ids=lambda o: o.__name__)
def test_order_with_unknown_types_raises_type_error(op) -> None:
    with pytest.raises(TypeError):
        op(real(1.0), "1")


def test_sorting_reals_and_infinities() -> None:
    xs = [pinf(), real(2.0), ninf(), real(-1.0)]
    assert [str(x) for x in sorted(xs)] == ["−∞", "-1.0", "2.0", "+∞"]


# --- float() and bool() -------------------------------------------------------------------
@pytest.mark.parametrize("name, f, b", [
    ("R(1.5)", 1.5, True), ("R(+0)", 0.0, False), ("R(-0)", -0.0, False),
    ("+inf", math.inf, True), ("-inf", -math.inf, True), ("phi", math.nan, False),
    ("bot", math.nan, False),
])
def test_float_and_bool(name: str, f: float, b: bool) -> None:
    x = ALL[name]
    got = float(x)
    assert type(got) is float
    if math.isnan(f):
        assert math.isnan(got)
    else:
        assert bits(got) == bits(f)
    assert bool(x) is b


def test_float_of_bottom_is_a_plain_nan() -> None:
    # ⊥'s internal code must not escape: float(⊥) is an ordinary NaN
    assert type(float(bottom())) is float


def test_core_exports() -> None:
    for name in ["TRTag", "TRScalar", "real", "pinf", "ninf", "phi", "bottom", "tr_add",
                 "tr_pow_int", "tr_sum", "ReductionMode", "ArithmeticMode", "wheel_mode",
                 "arithmetic_mode"]:
        assert name in core.__all__ and hasattr(core, name)


def test_integers_compare_exactly_so_hashes_agree_with_equality():
    import numpy as np

    import zeroproof as zp

    r = zp.real(2.0 ** 53)
    assert r == 2 ** 53 and hash(r) == hash(2 ** 53)
    assert r != 2 ** 53 + 1 and r < 2 ** 53 + 1 and not r >= 2 ** 53 + 1
    assert zp.pinf() != 10 ** 400 and zp.pinf() > 10 ** 400 and zp.ninf() < -(10 ** 400)
    assert zp.real(1e308) < 10 ** 400
    assert zp.real(5.0) == np.int64(5) and zp.real(5.0) < np.int32(6)
    assert not (zp.phi() == 0) and not (zp.phi() < 1) and not (zp.bottom() >= 0)
    for v in (0, 1, -7, 2 ** 60, 2 ** 53 + 1):
        for x in (zp.real(float(v)), zp.real(-0.0)):
            assert (x == v) == (float(x) == v)
            if x == v:
                assert hash(x) == hash(v)


def test_trscalar_constructor_reads_tags_and_refuses_contradictions():
    import pytest

    from zeroproof import TRScalar, TRTag, phi, pinf

    assert TRScalar(TRTag.PINF) == pinf() and repr(TRScalar(TRTag.PINF)) == "TRScalar(PINF)"
    assert TRScalar(tag="phi") == phi() and TRScalar(float("nan"), 3) == phi()
    assert TRScalar(2, "REAL").value == 2.0
    with pytest.raises(TypeError, match="needs value"):
        TRScalar()
    with pytest.raises(ValueError, match="PINF value has no value"):
        TRScalar(1.0, TRTag.PINF)
    with pytest.raises(ValueError, match="tag must be"):
        TRScalar(1.0, 7)
    with pytest.raises(ValueError, match="tag must be"):
        TRScalar(1.0, "infinite")
    with pytest.raises(TypeError, match="tag must be"):
        TRScalar(1.0, 2.5)
