"""Golden tables for SPEC §3: one test case per table cell, bit exact (signed zeros included).

Rows are the left operand, columns the right one. ``2`` and ``-4`` stand for a positive and a
negative REAL, ``+0``/``-0`` for the signed REAL zeros.
"""
from __future__ import annotations

import math
import sys
import threading
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, strategies as st

from zeroproof.core import (
    ArithmeticMode, TRScalar, arithmetic_mode, get_arithmetic_mode, ninf, phi, pinf, real,
    tr_abs, tr_add, tr_div, tr_exp, tr_log, tr_mul, tr_neg, tr_pow_int, tr_sign, tr_sqrt, tr_sub,
    wheel_mode,
)

from _tr import parse_table, same, show, tv

BINARY = {"add": tr_add, "sub": tr_sub, "mul": tr_mul, "div": tr_div}

# --- transreal mode ------------------------------------------------------------------------
ADD = """
        2     -4    +0    -0    +inf  -inf  phi   bot
2       4     -2    2     2     +inf  -inf  phi   bot
-4      -2    -8    -4    -4    +inf  -inf  phi   bot
+0      2     -4    +0    +0    +inf  -inf  phi   bot
-0      2     -4    +0    -0    +inf  -inf  phi   bot
+inf    +inf  +inf  +inf  +inf  +inf  phi   phi   bot
-inf    -inf  -inf  -inf  -inf  phi   -inf  phi   bot
phi     phi   phi   phi   phi   phi   phi   phi   bot
bot     bot   bot   bot   bot   bot   bot   bot   bot
"""
SUB = """
        2     -4    +0    -0    +inf  -inf  phi   bot
2       +0    6     2     2     -inf  +inf  phi   bot
-4      -6    +0    -4    -4    -inf  +inf  phi   bot
+0      -2    4     +0    +0    -inf  +inf  phi   bot
-0      -2    4     -0    +0    -inf  +inf  phi   bot
+inf    +inf  +inf  +inf  +inf  phi   +inf  phi   bot
-inf    -inf  -inf  -inf  -inf  -inf  phi   phi   bot
phi     phi   phi   phi   phi   phi   phi   phi   bot
bot     bot   bot   bot   bot   bot   bot   bot   bot
"""
MUL = """
        2     -4    +0    -0    +inf  -inf  phi   bot
2       4     -8    +0    -0    +inf  -inf  phi   bot
-4      -8    16    -0    +0    -inf  +inf  phi   bot
+0      +0    -0    +0    -0    phi   phi   phi   bot
-0      -0    +0    -0    +0    phi   phi   phi   bot
+inf    +inf  -inf  phi   phi   +inf  -inf  phi   bot
-inf    -inf  +inf  phi   phi   -inf  +inf  phi   bot
phi     phi   phi   phi   phi   phi   phi   phi   bot
bot     bot   bot   bot   bot   bot   bot   bot   bot
"""
DIV = """
        2     -4    +0    -0    +inf  -inf  phi   bot
2       1     -0.5  +inf  -inf  +0    -0    phi   bot
-4      -2    1     -inf  +inf  -0    +0    phi   bot
+0      +0    -0    phi   phi   +0    -0    phi   bot
-0      -0    +0    phi   phi   -0    +0    phi   bot
+inf    +inf  -inf  +inf  -inf  phi   phi   phi   bot
-inf    -inf  +inf  -inf  +inf  phi   phi   phi   bot
phi     phi   phi   phi   phi   phi   phi   phi   bot
bot     bot   bot   bot   bot   bot   bot   bot   bot
"""

# --- wheel mode: the indeterminate forms give ⊥, everything else is unchanged ---------------
WHEEL_ADD = """
        2     -4    +0    -0    +inf  -inf  phi   bot
2       4     -2    2     2     +inf  -inf  phi   bot
-4      -2    -8    -4    -4    +inf  -inf  phi   bot
+0      2     -4    +0    +0    +inf  -inf  phi   bot
-0      2     -4    +0    -0    +inf  -inf  phi   bot
+inf    +inf  +inf  +inf  +inf  bot   bot   phi   bot
-inf    -inf  -inf  -inf  -inf  bot   bot   phi   bot
phi     phi   phi   phi   phi   phi   phi   phi   bot
bot     bot   bot   bot   bot   bot   bot   bot   bot
"""
WHEEL_SUB = """
        2     -4    +0    -0    +inf  -inf  phi   bot
2       +0    6     2     2     -inf  +inf  phi   bot
-4      -6    +0    -4    -4    -inf  +inf  phi   bot
+0      -2    4     +0    +0    -inf  +inf  phi   bot
-0      -2    4     -0    +0    -inf  +inf  phi   bot
+inf    +inf  +inf  +inf  +inf  bot   bot   phi   bot
-inf    -inf  -inf  -inf  -inf  bot   bot   phi   bot
phi     phi   phi   phi   phi   phi   phi   phi   bot
bot     bot   bot   bot   bot   bot   bot   bot   bot
"""
WHEEL_MUL = """
        2     -4    +0    -0    +inf  -inf  phi   bot
2       4     -8    +0    -0    +inf  -inf  phi   bot
-4      -8    16    -0    +0    -inf  +inf  phi   bot
+0      +0    -0    +0    -0    bot   bot   phi   bot
-0      -0    +0    -0    +0    bot   bot   phi   bot
+inf    +inf  -inf  bot   bot   +inf  -inf  phi   bot
-inf    -inf  +inf  bot   bot   -inf  +inf  phi   bot
phi     phi   phi   phi   phi   phi   phi   phi   bot
bot     bot   bot   bot   bot   bot   bot   bot   bot
"""
WHEEL_DIV = """
        2     -4    +0    -0    +inf  -inf  phi   bot
2       1     -0.5  +inf  -inf  +0    -0    phi   bot
-4      -2    1     -inf  +inf  -0    +0    phi   bot
+0      +0    -0    bot   bot   +0    -0    phi   bot
-0      -0    +0    bot   bot   -0    +0    phi   bot
+inf    +inf  -inf  +inf  -inf  bot   bot   phi   bot
-inf    -inf  +inf  -inf  +inf  bot   bot   phi   bot
phi     phi   phi   phi   phi   phi   phi   phi   bot
bot     bot   bot   bot   bot   bot   bot   bot   bot
"""

TABLES = {"add": ADD, "sub": SUB, "mul": MUL, "div": DIV}
WHEEL_TABLES = {"add": WHEEL_ADD, "sub": WHEEL_SUB, "mul": WHEEL_MUL, "div": WHEEL_DIV}


def _cells(tables: dict[str, str]) -> list:
    return [
        pytest.param(op, a, b, want, id=f"{op}({a},{b})")
        for op, text in tables.items()
        for a, b, want in parse_table(text)
    ]


@pytest.mark.parametrize("op, a, b, want", _cells(TABLES))
def test_binary_table(op: str, a: str, b: str, want: str) -> None:
    got = BINARY[op](tv(a), tv(b))
    assert same(got, tv(want)), show(got)


@pytest.mark.parametrize("op, a, b, want", _cells(TABLES))
def test_binary_operator_matches_function(op: str, a: str, b: str, want: str) -> None:
    x, y = tv(a), tv(b)
    got = {"add": x + y, "sub": x - y, "mul": x * y, "div": x / y}[op]
    assert same(got, tv(want)), show(got)


@pytest.mark.parametrize("op, a, b, want", _cells(WHEEL_TABLES))
def test_binary_table_wheel_mode(op: str, a: str, b: str, want: str) -> None:
    with wheel_mode():
        got = BINARY[op](tv(a), tv(b))
    assert same(got, tv(want)), show(got)


# --- unary tables ----------------------------------------------------------------------------
UNARY = """
        2                    -4                    +0     -0     +inf   -inf   phi   bot
neg     -2                   4                     -0     +0     -inf   +inf   phi   bot
abs     2                    4                     +0     +0     +inf   +inf   phi   bot
sign    1                    -1                    +0     +0     1      -1     phi   bot
log     0.6931471805599453   phi                   -inf   -inf   +inf   phi    phi   bot
exp     7.38905609893065     0.01831563888873418   1      1      +inf   +0     phi   bot
sqrt    1.4142135623730951   phi                   +0     -0     +inf   phi    phi   bot
"""
UNARY_FNS = {"neg": tr_neg, "abs": tr_abs, "sign": tr_sign, "log": tr_log, "exp": tr_exp,
             "sqrt": tr_sqrt}


@pytest.mark.parametrize("op, x, want", [
    pytest.param(op, x, want, id=f"{op}({x})") for op, x, want in parse_table(UNARY)
])
@pytest.mark.parametrize("wheel", [False, True], ids=["transreal", "wheel"])
def test_unary_table(op: str, x: str, want: str, wheel: bool) -> None:
    with arithmetic_mode("wheel" if wheel else "transreal"):
        got = UNARY_FNS[op](tv(x))
    assert same(got, tv(want)), show(got)


def test_unary_operators() -> None:
    assert same(-real(0.0), real(-0.0))
    assert same(abs(ninf()), pinf())
    assert same(+real(-3.0), real(-3.0))


POW = """
        0     1     2     3     -1     -2
2       1     2     4     8     0.5    0.25
-4      1     -4    16    -64   -0.25  0.0625
+0      phi   +0    +0    +0    +inf   +inf
-0      phi   -0    +0    -0    -inf   +inf
+inf    phi   +inf  +inf  +inf  +0     +0
-inf    phi   -inf  +inf  -inf  -0     +0
phi     phi   phi   phi   phi   phi    phi
bot     bot   bot   bot   bot   bot    bot
"""


@pytest.mark.parametrize("x, k, want", [
    pytest.param(x, int(k), want, id=f"pow({x},{k})") for x, k, want in parse_table(POW)
])
def test_pow_int_table(x: str, k: int, want: str) -> None:
    assert same(tr_pow_int(tv(x), k), tv(want))
    assert same(tv(x) ** k, tv(want))


# --- overflow, underflow, subnormals and ±max --------------------------------------------
MAX = sys.float_info.max
TINY = 5e-324  # smallest subnormal
EDGES = [
    # (op, a, b, expected)  — b is an int exponent for pow
    ("add", MAX, MAX, "+inf"),
    ("add", -MAX, -MAX, "-inf"),
    ("add", MAX, 2.0**970, "+inf"),  # exactly half an ulp above MAX: ties-to-even overflows
    ("add", MAX, 2.0**969, repr(MAX)),  # a quarter ulp: rounds back to MAX
    ("add", MAX, -MAX, "+0"),
    ("add", TINY, TINY, "1e-323"),
    ("add", TINY, -TINY, "+0"),
    ("add", -TINY, -0.0, repr(-TINY)),
    ("sub", -MAX, MAX, "-inf"),
    ("sub", MAX, -MAX, "+inf"),
    ("mul", MAX, 2.0, "+inf"),
    ("mul", MAX, -2.0, "-inf"),
    ("mul", -MAX, -MAX, "+inf"),
    ("mul", 1e-308, 1e-308, "+0"),
    ("mul", -1e-308, 1e-308, "-0"),
    ("mul", TINY, 0.5, "+0"),  # ties-to-even underflow to zero
    ("mul", -TINY, 0.5, "-0"),
    ("mul", TINY, 1.5, "1e-323"),
    ("div", MAX, 0.5, "+inf"),
    ("div", MAX, -0.5, "-inf"),
    ("div", 1.0, TINY, "+inf"),
    ("div", -1.0, TINY, "-inf"),
    ("div", 1.0, MAX, "5.562684646268003e-309"),  # subnormal, still REAL
    ("div", TINY, 2.0, "+0"),
    ("div", -TINY, 2.0, "-0"),
    ("div", TINY, -MAX, "-0"),
    ("div", TINY, TINY, "1"),
    ("div", MAX, MAX, "1"),
    ("div", -MAX, -0.0, "+inf"),
    ("pow", 10.0, 400, "+inf"),
    ("pow", -10.0, 401, "-inf"),
    ("pow", -10.0, 400, "+inf"),
    ("pow", 10.0, -400, "+0"),
    ("pow", -10.0, -401, "-0"),
    ("pow", 2.0, 1023, "8.98846567431158e+307"),
    ("pow", 2.0, 1024, "+inf"),
    ("pow", 2.0, -1022, repr(sys.float_info.min)),
    ("pow", MAX, 1, repr(MAX)),
    ("pow", MAX, 2, "+inf"),
    ("pow", TINY, 2, "+0"),
    ("pow", -TINY, 3, "-0"),
    ("pow", TINY, 0, "1"),
    ("pow", TINY, -1, "+inf"),
    ("pow", 1.0, 10**6, "1"),
    ("pow", -1.0, 10**6 + 1, "-1"),
]


@pytest.mark.parametrize("op, a, b, want", EDGES, ids=[f"{e[0]}({e[1]!r},{e[2]!r})" for e in EDGES])
def test_overflow_underflow_edges(op: str, a: float, b: "float | int", want: str) -> None:
    if op == "pow":
        got = tr_pow_int(real(a), b)  # type: ignore[arg-type]
    else:
        got = BINARY[op](real(a), real(b))
    assert same(got, tv(want)), show(got)


UNARY_EDGES = [
    (tr_exp, 709.782712893384, "1.7976931348622732e+308"),  # largest finite exp
    (tr_exp, math.nextafter(709.782712893384, math.inf), "+inf"),
    (tr_exp, 1000.0, "+inf"),
    (tr_exp, MAX, "+inf"),
    (tr_exp, -MAX, "+0"),
    (tr_exp, -745.1, "5e-324"),
    (tr_exp, -746.0, "+0"),
    (tr_log, TINY, "-744.4400719213812"),
    (tr_log, MAX, repr(float(np.log(MAX)))),
    (tr_log, 1.0, "+0"),
    (tr_log, -TINY, "phi"),
    (tr_log, -MAX, "phi"),
    (tr_sqrt, TINY, "2.2227587494850775e-162"),
    (tr_sqrt, MAX, repr(math.sqrt(MAX))),
    (tr_sqrt, -TINY, "phi"),
    (tr_sign, TINY, "1"),
    (tr_sign, -TINY, "-1"),
    (tr_abs, -MAX, repr(MAX)),
    (tr_neg, TINY, repr(-TINY)),
]


@pytest.mark.parametrize("fn, x, want", UNARY_EDGES,
                         ids=[f"{f.__name__}({x!r})" for f, x, _ in UNARY_EDGES])
def test_unary_edges(fn, x: float, want: str) -> None:
    got = fn(real(x))
    assert same(got, tv(want)), show(got)


def test_pow_int_large_exponents_are_exact_enough() -> None:
    # binary exponentiation stays within a few ulps of the exact power
    for x, k in [(1.0000001, 1000), (0.999, 777), (-1.5, 101), (3.0, 40)]:
        got = tr_pow_int(real(x), k).value
        exact = Fraction(x) ** k
        assert abs(Fraction(got) - exact) <= abs(exact) * Fraction(k, 2**52)


def test_pow_int_in_wheel_mode_uses_division_rules() -> None:
    with wheel_mode():
        assert same(tr_pow_int(real(0.0), -1), pinf())
        assert same(tr_pow_int(real(0.0), 0), phi())  # 0^0 is not one of the wheel forms
        assert same(tr_pow_int(pinf(), 2), pinf())


# --- numbers mixed with TR values ------------------------------------------------------------
def test_plain_numbers_are_read_as_real() -> None:
    assert same(tr_add(1, real(2.0)), real(3.0))
    assert same(tr_div(1.0, 0), pinf())
    assert same(tr_mul(np.float64(2.0), pinf()), pinf())
    assert same(1 / real(-0.0), ninf())
    assert same(3 - real(1.0), real(2.0))
    assert same(2.0 * real(4.0), real(8.0))
    assert same(np.float64(1.0) + real(1.0), real(2.0))  # NumPy scalars defer to TRScalar
    assert same(np.int64(6) / real(3.0), real(2.0))
    assert same(tr_sqrt(4), real(2.0))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_non_finite_numbers_in_arithmetic_raise_value_error(bad: float) -> None:
    with pytest.raises(ValueError, match="from_ieee"):
        tr_add(real(1.0), bad)
    with pytest.raises(ValueError, match="from_ieee"):
        real(1.0) * bad
    with pytest.raises(ValueError, match="from_ieee"):
        bad / real(1.0)
    with pytest.raises(ValueError, match="from_ieee"):
        tr_log(bad)


@pytest.mark.parametrize("bad", ["3", None, 1j, [1.0], np.array([1.0]), object()])
def test_unknown_operands_raise_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        tr_add(real(1.0), bad)
    with pytest.raises(TypeError):
        tr_mul(bad, real(1.0))
    with pytest.raises(TypeError):
        tr_exp(bad)
    with pytest.raises(TypeError):
        real(1.0) + bad
    with pytest.raises(TypeError):
        bad * real(1.0)


def test_bool_operand_is_rejected() -> None:
    with pytest.raises(TypeError):
        tr_add(real(1.0), True)


def test_operators_return_not_implemented_for_unknown_types() -> None:
    x = real(1.0)
    for name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
                 "__truediv__", "__rtruediv__"):
        assert getattr(x, name)(object()) is NotImplemented
        # a built-in non-number has no reflected operator to defer to: a clear TypeError now
        with pytest.raises(TypeError, match="real number"):
            getattr(x, name)("1")
    assert x.__pow__(object()) is NotImplemented


def test_other_types_can_take_over_the_operators() -> None:
    class Node:
        def __radd__(self, other: object) -> str:
            return "node.radd"

        def __rtruediv__(self, other: object) -> str:
            return "node.rtruediv"

        def __rpow__(self, other: object) -> str:
            return "node.rpow"

    assert real(1.0) + Node() == "node.radd"
    assert real(1.0) / Node() == "node.rtruediv"
    assert real(2.0) ** Node() == "node.rpow"


@pytest.mark.parametrize("k", [2.5, 2.0, True, False, np.float64(2.0), np.bool_(True), "2", None])
def test_pow_int_rejects_non_int_exponents(k: object) -> None:
    with pytest.raises(TypeError, match="int"):
        tr_pow_int(real(2.0), k)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [2.5, True, np.float64(2.0)])
def test_pow_operator_rejects_non_int_exponents(k: object) -> None:
    with pytest.raises(TypeError, match="int"):
        real(2.0) ** k


def test_pow_int_accepts_numpy_integers() -> None:
    assert same(tr_pow_int(real(2.0), np.int64(3)), real(8.0))
    assert same(real(2.0) ** np.int32(-1), real(0.5))


def test_results_are_fresh_immutable_values_with_plain_float() -> None:
    r = tr_add(real(1.0), real(2.0))
    assert type(r) is TRScalar and type(r.value) is float
    assert type(tr_exp(real(1.0)).value) is float  # not a NumPy scalar
    assert type(tr_log(real(2.0)).value) is float


# --- wheel mode as a context ---------------------------------------------------------------
def test_wheel_mode_is_restored_after_with() -> None:
    assert get_arithmetic_mode() is ArithmeticMode.TRANSREAL
    with wheel_mode() as m:
        assert m is ArithmeticMode.WHEEL
        assert get_arithmetic_mode() is ArithmeticMode.WHEEL
        assert same(tr_mul(real(0.0), pinf()), tv("bot"))
    assert get_arithmetic_mode() is ArithmeticMode.TRANSREAL
    assert same(tr_mul(real(0.0), pinf()), phi())


def test_wheel_mode_is_restored_after_an_exception() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with wheel_mode():
            raise RuntimeError("boom")
    assert get_arithmetic_mode() is ArithmeticMode.TRANSREAL
    assert same(tr_div(real(0.0), real(0.0)), phi())


def test_arithmetic_mode_nests() -> None:
    with wheel_mode():
        with arithmetic_mode("transreal"):
            assert same(tr_add(pinf(), ninf()), phi())
        assert same(tr_add(pinf(), ninf()), tv("bot"))
        with arithmetic_mode(ArithmeticMode.WHEEL):
            assert same(tr_add(pinf(), pinf()), tv("bot"))
        assert get_arithmetic_mode() is ArithmeticMode.WHEEL
    assert get_arithmetic_mode() is ArithmeticMode.TRANSREAL


def test_arithmetic_mode_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError, match="mode"):
        with arithmetic_mode("projective"):
            pass  # pragma: no cover
    assert get_arithmetic_mode() is ArithmeticMode.TRANSREAL


def test_bottom_propagates_outside_wheel_mode() -> None:
    bot = tv("bot")
    assert same(tr_add(bot, phi()), bot)
    assert same(tr_mul(phi(), bot), bot)
    assert same(tr_div(real(0.0), bot), bot)
    assert same(tr_pow_int(bot, 0), bot)


def test_wheel_mode_is_per_thread() -> None:
    """A thread inside wheel mode and a thread outside it compute at the same time; each sees
    only its own mode. Barriers make the two blocks overlap; nothing depends on timing."""
    inside = threading.Barrier(2)
    done = threading.Barrier(2)
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def wheel_thread() -> None:
        try:
            with wheel_mode():
                inside.wait(timeout=10)  # the other thread is running now
                results["wheel"] = tr_mul(real(0.0), pinf())
                done.wait(timeout=10)  # stay in wheel mode until the other thread computed
            results["wheel_after"] = tr_mul(real(0.0), pinf())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def plain_thread() -> None:
        try:
            inside.wait(timeout=10)  # the wheel thread is inside its `with` block now
            results["plain"] = tr_mul(real(0.0), pinf())
            results["plain_mode"] = get_arithmetic_mode()
            done.wait(timeout=10)
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=wheel_thread), threading.Thread(target=plain_thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not errors, errors
    assert same(results["wheel"], tv("bot"))  # type: ignore[arg-type]
    assert same(results["plain"], phi())  # type: ignore[arg-type]
    assert results["plain_mode"] is ArithmeticMode.TRANSREAL
    assert same(results["wheel_after"], phi())  # type: ignore[arg-type]
    assert get_arithmetic_mode() is ArithmeticMode.TRANSREAL


def test_wheel_mode_in_main_thread_does_not_leak_into_workers() -> None:
    out: list[object] = []
    with wheel_mode():
        t = threading.Thread(target=lambda: out.append(tr_div(real(0.0), real(0.0))))
        t.start()
        t.join(timeout=20)
        assert same(tr_div(real(0.0), real(0.0)), tv("bot"))
    assert same(out[0], phi())  # type: ignore[arg-type]


@pytest.mark.parametrize("x, k, want", [
    (2.0, -1074, 5e-324), (2.0, -1024, 2.0 ** -1024), (1e160, -2, 1e-320), (-2.0, -1073, -1e-323),
    (2.0, -1075, 0.0), (10.0, -400, 0.0), (-10.0, -401, -0.0), (1.5, -2000, 0.0),
])
def test_negative_powers_are_representable_when_the_result_is(x, k, want):
    """x^k = 1/x^|k| (SPEC §3), computed so that x^|k| overflowing on the way does not flush a
    representable result (a subnormal) to zero; a result below the subnormals is a signed 0."""
    from zeroproof import real, tr_pow_int

    got = tr_pow_int(real(x), k)
    assert got.value == want and math.copysign(1.0, got.value) == math.copysign(1.0, want)


@given(st.floats(1.0001, 1e300), st.integers(-3000, -1))
def test_negative_powers_agree_with_libm_pow(x, k):
    from zeroproof import real, tr_pow_int

    got = tr_pow_int(real(x), k).value
    want = math.pow(x, k)
    if want == 0.0 or want < 2.2250738585072014e-308:  # subnormal: both round near the same grid
        assert abs(got - want) <= 2 * 5e-324 + 1e-12 * want
    else:
        assert math.isclose(got, want, rel_tol=1e-12), (x, k, got, want)
