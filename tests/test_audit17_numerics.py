"""Seventeenth-session numerics: create_graph gradients at extreme magnitudes (SPEC §4.2, higher
order) and renormalisation of subnormal tuples (SPEC §7)."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from zeroproof.autodiff import (
    HybridGradientSchedule, TRNode, gradient_mode, tr_exp, tr_grad, tr_log, tr_sqrt,
)
from zeroproof.core import TRTag

pytestmark = pytest.mark.usefixtures("fresh_gradient_state")

def _deterministic(max_examples: int) -> settings:
    """Hypothesis settings that draw the same examples on every run."""
    return settings(derandomize=True, deadline=None, database=None, max_examples=max_examples)


def _same(a, b) -> bool:
    """Same tag, and for REAL the same bits (the sign of a zero included); None (not reached)
    only as the other."""
    if a is None or b is None:
        return a is b
    if a.tag is not b.tag:
        return False
    if a.tag is not TRTag.REAL:
        return True
    return a.value == b.value and math.copysign(1.0, a.value) == math.copysign(1.0, b.value)


def _mode(name: str, bound: float):
    if name == "hybrid":
        return HybridGradientSchedule(delta_init=1e-2, delta_final=1e-2, adaptive_delta=False,
                                      saturating_bound=bound).apply(0)
    return gradient_mode(name, saturation_bound=bound)


def _both_passes(build, values, mode="mask-real", bound=1.0, seed=None):
    """The parameters' gradients after ``backward(seed)``, plain and with create_graph."""
    out = []
    for create_graph in (False, True):
        ps = [TRNode.parameter(v) for v in values]
        y = build(*ps)
        with _mode(mode, bound):
            y.backward(seed, create_graph=create_graph)
        out.append([p.gradient for p in ps])
    return out


def _close(have: float, want: Fraction, ulps: float = 64.0) -> bool:
    w = float(want)
    return abs(have - w) <= ulps * math.ulp(w)


# ---- Bug 1: create_graph's division fallback --------------------------------------------------
def test_second_derivative_whose_first_derivative_graph_would_overflow_on_the_way() -> None:
    def f(y):
        q = 1e300 / y
        return q * q

    assert float(tr_grad(f)(1e146).value) == -2.000000000000001e+162
    # f = 1e600/y², f'' = 6e600/y⁴ = 6e16 (the graph of f' used to pass through g·(x/h) = ∞)
    second = tr_grad(tr_grad(f))(1e146)
    assert second.tag is TRTag.REAL and abs(float(second.value) - 6e16) <= 1e-13 * 6e16


@pytest.mark.parametrize("mode", ["mask-real", "saturating"])
def test_create_graph_gradient_has_the_plain_backward_bits_near_the_largest_float(mode) -> None:
    plain, graph = _both_passes(lambda x, y: x / y, [1e308, 10.0], mode, seed=100.0)
    assert float(plain[1]) == (-1e308 if mode == "mask-real" else -9.900990099009902e+307)
    assert all(_same(a, b) for a, b in zip(plain, graph))


def test_infinite_upstream_gradient_keeps_its_tag_under_create_graph() -> None:
    # √ of a REAL +0 has derivative +∞; create_graph used to give Φ (x/h underflowed to 0,
    # then ∞·0), where the plain pass gives ±∞
    def build(p0, p1):
        d = 34701.04638976424 / p1 + (p0 - p1)
        return tr_sqrt(-1.8281622458474e-310 / d)

    plain, graph = _both_passes(build, [-1.202723804044267e-05, -4.811040371425477e-101],
                                seed=1.6850948042243406e+16)
    assert [g.tag for g in plain] == [TRTag.PINF, TRTag.NINF]
    assert all(_same(a, b) for a, b in zip(plain, graph))


def test_saturated_root_within_rounding_of_the_largest_float() -> None:
    # √(u² + b²) just below the largest float: the node's scaled product used to round to +∞
    u, b = 1.1992593793068862e+308, 1.3392078062330588e+308
    plain, graph = _both_passes(tr_log, [u], "saturating", b)
    assert plain[0].tag is TRTag.REAL and _same(plain[0], graph[0])


# Disagreements an auditor's fuzzer found between the two passes (mode, bound, seed, values).
_FUZZ_CASES = [
    ("hybrid", 0.004431933605798675, -1.0337752584238496e+229,
     [-9.510878162409654e+90, -3.9163612959970843e-236],
     lambda p0, p1: ((abs(p0) + p0 * p1) - ((-5.238099922867933e-16 / p1) / p0))
     / -511.01555341250986),
    ("mask-real", 114.07192975821724, None, [-0.009546707966518, 0.38607637359970715],
     lambda p0, p1: tr_sqrt(((1.5961072656709293e-219 / p0) / (p0 * -2.7659426604498557e+195))
                            * (p1 * (p1 * p1)))),
    ("saturating", 0.006670845760633709, -7.214453294014843e+239,
     [5.688363093988492e-248, 3.99706314628352e+22],
     lambda p0, p1: 2.13996707289559e+119 / abs((p1 + p0) * p1)),
    ("mask-real", 0.006217830867727933, -2.7447973243738744e+286,
     [-3.870429038578475, 1.4686862529436373e+209],
     lambda p0, p1: -6.975230314917838e+252 / (p0 * (p1 / p0))),
    ("mask-real", 1.5960818682943168, None, [-2.012374373316264e-157, 2.9954975466029937e+289],
     lambda p0, p1: tr_sqrt(p0 / p1)),
    ("saturating", 35.072126938765564, -1.2138431448424954e+249,
     [1.7073275669356467e+215, 1.5285309250633326e-87], lambda p0, p1: (p0 / p1) / p0),
    ("mask-real", 91.26048481599447, -9.7921758736933e-10,
     [7.076867005410807e+257, 4.819553282110389e-199],
     lambda p0, p1: 1.6045493461237945 / ((p1 / p0) + p1)
     + tr_exp(-p1) / ((p0 * p0) - (p1 * 0.05236084115223944))),
]


@pytest.mark.parametrize("mode, bound, seed, values, build", _FUZZ_CASES)
def test_create_graph_matches_plain_backward_on_fuzzer_cases(mode, bound, seed, values,
                                                             build) -> None:
    plain, graph = _both_passes(build, values, mode, bound, seed)
    assert all(_same(a, b) for a, b in zip(plain, graph)), (plain, graph)


def _extreme(draw_sign, mantissa, exponent) -> float:
    return draw_sign * float(f"{mantissa!r}e{exponent}")


EXTREME = st.builds(_extreme, st.sampled_from([1.0, -1.0]), st.floats(1.0, 9.99),
                    st.integers(-323, 307))
MODERATE = st.builds(_extreme, st.sampled_from([1.0, -1.0]), st.floats(1.0, 9.99),
                     st.integers(-5, 5))
VALUES = st.one_of(EXTREME, MODERATE)

_UNARY = {
    "neg": lambda a: -a, "abs": abs, "log": tr_log, "sqrt": tr_sqrt, "exp": tr_exp,
    "inv": lambda a: a ** -1, "pow-2": lambda a: a ** -2, "sq": lambda a: a * a,
}
_BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}
LEAVES = st.one_of(st.sampled_from(["p0", "p1"]), VALUES)
EXPRS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(sorted(_UNARY)), inner),
        st.tuples(st.sampled_from(sorted(_BINARY)), inner, inner),
    ),
    max_leaves=6,
)


def _evaluate(expr, p0, p1):
    if isinstance(expr, str):
        return p0 if expr == "p0" else p1
    if isinstance(expr, float):
        return expr
    if len(expr) == 2:
        a = _evaluate(expr[1], p0, p1)
        return _UNARY[expr[0]](a if isinstance(a, TRNode) else TRNode.constant(a))
    a, b = _evaluate(expr[1], p0, p1), _evaluate(expr[2], p0, p1)
    if not isinstance(a, TRNode) and not isinstance(b, TRNode):
        a = TRNode.constant(a)
    return _BINARY[expr[0]](a, b)


@_deterministic(400)
@given(expr=EXPRS, p0=VALUES, p1=VALUES, mode=st.sampled_from(["mask-real", "saturating",
                                                               "hybrid"]),
       bound=st.sampled_from([1.0, 1e-3, 1e3, 1e-160, 1e160]),
       seed=st.one_of(st.none(), VALUES))
def test_create_graph_gradients_have_the_plain_backward_bits(expr, p0, p1, mode, bound,
                                                             seed) -> None:
    # random graphs with extreme magnitudes: create_graph=True gives the plain pass's gradient
    # bits wherever that gradient is REAL, and its tag elsewhere
    assume(not isinstance(expr, float))
    plain, graph = _both_passes(lambda a, b: _evaluate(expr, a, b), [p0, p1], mode, bound, seed)
    assert all(_same(a, b) for a, b in zip(plain, graph)), (plain, graph)


@_deterministic(300)
@given(k=VALUES, x=VALUES, y=VALUES)
def test_second_derivatives_of_a_scaled_quotient_are_exact_where_representable(k, x, y) -> None:
    # f = k·(x/y): the first derivative in y is built by the division's fallback (an extreme
    # upstream gradient k), and its derivatives must not pass through ±∞ or a flushed 0
    assume(y != 0.0)
    f = lambda a, b: k * (a / b)  # noqa: E731
    first = Fraction(k) * Fraction(x) / Fraction(y) ** 2
    assume(abs(Fraction(x) / Fraction(y)) < Fraction(1e308) / max(1, abs(Fraction(k))))
    assume(float(Fraction(x) / Fraction(y)) != 0.0 and abs(first) < Fraction(1e307))
    for (i, j), want in {(1, 1): 2 * Fraction(k) * Fraction(x) / Fraction(y) ** 3,
                         (1, 0): -Fraction(k) / Fraction(y) ** 2,
                         (0, 1): -Fraction(k) / Fraction(y) ** 2}.items():
        try:
            w = float(want)
        except OverflowError:
            continue
        if not 2.2250738585072014e-308 <= abs(w) < math.inf:
            continue
        have = tr_grad(tr_grad(f, argnums=i), argnums=j)(x, y)
        assert have.tag is TRTag.REAL and _close(float(have.value), want), (i, j, have, w)


def test_second_derivative_of_a_quotient_whose_square_is_tiny() -> None:
    # ∂²(x/y)/∂y² = 2x/y³ = 2e230 at (1e-10, 1e-80): the literal graph −x/(y·y) would pass
    # through ∂/∂(y²) = x/y⁴ = 1e310 = ∞ in the second pass
    assert float(tr_grad(tr_grad(lambda x, y: x / y, argnums=1), argnums=1)(1e-10, 1e-80)
                 .value) == 2e230
    assert float(tr_grad(tr_grad(lambda y: 1e-10 / y))(1e-80).value) == 2e230


# ---- Bug 2: renormalize of tuples whose squares underflow -------------------------------------
def _renormalize_every_way(n: float, d: float, gamma: float):
    """renormalize on floats, TRScalars, TRNodes, NumPy arrays, TRArrays and TRTensors, each
    result as a pair of floats (bits compared by the caller)."""
    import numpy as np

    import zeroproof.array as za
    from zeroproof import real
    from zeroproof.autodiff.projective import renormalize

    out = {"float": renormalize(n, d, gamma)}
    rn, rd = renormalize(real(n), real(d), gamma)
    out["TRScalar"] = (rn.value, rd.value)
    rn, rd = renormalize(TRNode.parameter(n), TRNode.parameter(d), gamma)
    out["TRNode"] = (rn.value.value, rd.value.value)
    rn, rd = renormalize(np.array([n]), np.array([d]), gamma)
    out["ndarray"] = (float(rn[0]), float(rd[0]))
    rn, rd = renormalize(za.array([n]), za.array([d]), gamma)
    out["TRArray"] = (float(rn.codes[0]), float(rd.codes[0]))
    rn, rd = renormalize(za.parameter(np.array([n])), za.parameter(np.array([d])), gamma)
    out["TRTensor"] = (float(rn.value.codes[0]), float(rd.value.codes[0]))
    return out


def _bits(pair):
    return tuple((v, math.copysign(1.0, v)) for v in pair)


@pytest.mark.parametrize("n, d", [(5e-324, 5e-324), (1e-320, 1e-320), (-5e-324, 1e-323),
                                  (3e-310, -4e-310), (1e-170, 1e-170)])
def test_renormalize_subnormal_tuples_to_unit_norm(n, d) -> None:
    # hypot of subnormals is rounded on the subnormal grid (hypot(5e-324, 5e-324) = 5e-324):
    # the tuple is scaled by a power of two first, so the norm is the literal one
    every = _renormalize_every_way(n, d, 0.0)
    first = every["float"]
    assert all(_bits(v) == _bits(first) for v in every.values()), every
    want = math.hypot(n * 2.0 ** 1000, d * 2.0 ** 1000)
    assert abs(first[0] - n * 2.0 ** 1000 / want) <= 2 * math.ulp(1.0)
    assert abs(math.hypot(*first) - 1.0) <= 4 * math.ulp(1.0)


def test_renormalize_subnormal_tuple_repros() -> None:
    from zeroproof.autodiff.projective import renormalize

    assert renormalize(5e-324, 5e-324, gamma=0.0) == (0.7071067811865475, 0.7071067811865475)
    n, d = renormalize(1e-320, 1e-320, gamma=0.0)
    assert n == d and abs(n - 0.5 ** 0.5) <= math.ulp(1.0)


def test_renormalize_subnormal_tuples_with_gamma() -> None:
    from zeroproof.autodiff.projective import renormalize

    # gamma far above the norm: S is gamma however the norm is rounded (no 2^k·gamma overflow)
    assert renormalize(5e-324, 5e-324, gamma=1.0) == (5e-324, 5e-324)
    # gamma comparable to the norm: ‖(N, D)‖/(‖(N, D)‖ + gamma), computed on the scaled tuple
    assert renormalize(1e-320, 0.0, gamma=1e-320) == (0.5, 0.0)
    n, _ = renormalize(3e-320, 4e-320, gamma=5e-320)
    assert abs(n - 0.3) <= 2 * math.ulp(0.3)


@pytest.mark.parametrize("n, d", [(1e-300, 1e-300), (3e-160, -4e-160), (-2e-200, 5e-310)])
def test_renormalize_gradient_of_a_tiny_tuple_is_one_over_the_norm(n, d) -> None:
    import mpmath

    from zeroproof.autodiff.projective import renormalize

    N, D = TRNode.parameter(n), TRNode.parameter(d)
    nh, dh = renormalize(N, D, gamma=0.0)
    (nh + 2.0 * dh).backward()
    with mpmath.workdps(40):
        inv = 1 / mpmath.sqrt(mpmath.mpf(n) ** 2 + mpmath.mpf(d) ** 2)
        want_n, want_d = float(inv), float(2 * inv)  # stop_gradient: nothing through S
    assert abs(float(N.gradient) - want_n) <= 4 * math.ulp(want_n)
    assert abs(float(D.gradient) - want_d) <= 4 * math.ulp(want_d)


REALS = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                  st.floats(-1e-300, 1e-300))  # (tiny and subnormal values more often)


@_deterministic(300)
@given(n=REALS, d=REALS, gamma=st.one_of(st.just(0.0), st.floats(0.0, 1e300)))
def test_renormalized_real_tuples_have_norm_at_most_one(n, d, gamma) -> None:
    # every REAL tuple: the result's norm is ‖(N, D)‖/(‖(N, D)‖ + gamma) ≤ 1 (4 ulps for the
    # roundings), with gamma = 0 within 4 ulps of 1, and every input kind gives the same bits
    assume(n != 0.0 or d != 0.0 or gamma > 0.0)
    every = _renormalize_every_way(n, d, gamma)
    first = every["float"]
    assert all(_bits(v) == _bits(first) for v in every.values()), every
    norm = math.hypot(*first)
    assert norm <= 1.0 + 4 * math.ulp(1.0)
    if gamma == 0.0:
        assert norm >= 1.0 - 4 * math.ulp(1.0)
