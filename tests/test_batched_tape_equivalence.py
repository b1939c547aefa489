"""The batched tape equals a loop of the scalar tape, point by point, in every gradient mode.

For an expression ``f(params, x)`` and data points ``x_1 … x_N``, the scalar tape
(:class:`zeroproof.autodiff.TRNode`) is run once per point; the batched tape
(:mod:`zeroproof.array`) runs once over the whole batch, seeded with ones so that each point's path
is masked on its own (``y.backward(np.ones(N))``, the batched twin of N scalar ``backward()``s).

Two settings:

* **per element** — parameters of shape ``(N,)`` holding the same value: no broadcast reduction, so
  every element of the batched gradient must equal that point's scalar gradient (≤ 1e-12 relative;
  identical tags; exact zeros where the scalar tape gives exact zeros). Parameters may be reused
  anywhere in the expression.
* **broadcast** — parameters of shape ``()``: the batched gradient is the scalar gradients summed
  over the points. Summation order differs (NumPy's pairwise sums vs a loop), so values agree to
  ``1e-12 · Σ|terms|``; tags agree exactly. Each parameter is used once in the expression here, so
  the only reordered sum is the one over points (a parameter reached by two paths would be summed
  per path first on the batched tape, per point first in the loop).

Modes: MASK_REAL, SATURATING with several bounds, and HYBRID with a schedule whose
``adaptive_delta=False``: adaptive δ reads the *previous batch's* smallest |Q|, and the scalar loop
makes one batch per point while the batched tape makes one batch in all, so with adaptation on the
two would (correctly) use different δ. With a fixed δ the decisions are the same per element, and
the hybrid statistics (``total_gradient_calls``, ``saturating_activations``) must count the same.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import (
    GradientMode, HybridGradientContext, HybridGradientSchedule, TRNode, gradient_mode,
)

# ---- modes -------------------------------------------------------------------------------------
HYBRID_SCHEDULE = HybridGradientSchedule(
    adaptive_delta=False, delta_init=0.5, delta_final=0.05, transition_epochs=4,
    saturating_bound=0.7, force_pole_exploration=False,
)
MODES = ["mask-real", "sat-1.0", "sat-0.1", "sat-10", "hybrid-0", "hybrid-4"]


@contextlib.contextmanager
def mode(name: str) -> Iterator[None]:
    if name == "mask-real":
        with gradient_mode(GradientMode.MASK_REAL):
            yield
    elif name.startswith("sat-"):
        with gradient_mode(GradientMode.SATURATING, saturation_bound=float(name[4:])):
            yield
    else:
        with HYBRID_SCHEDULE.apply(int(name.split("-")[1])):
            yield


def hybrid_counts() -> tuple[int, int]:
    s = HybridGradientContext.get_statistics()
    return s["total_gradient_calls"], s["saturating_activations"]


# ---- expression trees --------------------------------------------------------------------------
UNARY = ["neg", "abs", "sign", "log", "exp", "sqrt", "relu", "sin", "cos", "tanh"]
BINARY = ["add", "sub", "mul", "div"]
CONSTS = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -3.0, 1e-3]

leaf = st.one_of(
    st.just(("x",)), st.just(("p",)), st.sampled_from(CONSTS).map(lambda c: ("c", c)),
)
trees = st.recursive(
    leaf,
    lambda kids: st.one_of(
        st.tuples(st.sampled_from(UNARY), kids),
        st.tuples(st.sampled_from(BINARY), kids, kids),
        st.tuples(st.just("pow"), kids, st.integers(-3, 3)),
    ),
    max_leaves=7,
)
point = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.0, 1e-3]),
    st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False),
)
param_value = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 1e-3]),
    st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False),
)


def number_params(tree: tuple, n_params: int, distinct: bool) -> tuple[tuple, int]:
    """Give each ``("p",)`` leaf an index. ``distinct``: each parameter at most once (extra
    parameter leaves become ``x``); otherwise indices cycle over ``n_params``."""
    counter = [0]

    def walk(t: tuple) -> tuple:
        if t[0] == "p":
            i = counter[0]
            counter[0] += 1
            if distinct and i >= n_params:
                return ("x",)
            return ("p", i % n_params)
        if t[0] in ("x", "c"):
            return t
        if t[0] == "pow":
            return ("pow", walk(t[1]), t[2])
        return (t[0],) + tuple(walk(k) for k in t[1:])

    out = walk(tree)
    return out, min(counter[0], n_params)


OPS = {
    "neg": zp.tr_neg, "abs": zp.tr_abs, "sign": zp.tr_sign, "log": zp.tr_log, "exp": zp.tr_exp,
    "sqrt": zp.tr_sqrt, "relu": zp.tr_relu, "sin": zp.tr_sin, "cos": zp.tr_cos, "tanh": zp.tr_tanh,
    "add": zp.tr_add, "sub": zp.tr_sub, "mul": zp.tr_mul, "div": zp.tr_div,
}


def evaluate(t: tuple, params: list, x: Any) -> Any:
    """The same expression on either tape: ``zeroproof.tr_*`` dispatch to the operands' tape."""
    kind = t[0]
    if kind == "x":
        return x
    if kind == "p":
        return params[t[1]]
    if kind == "c":
        return t[1]
    if kind == "pow":
        return zp.tr_pow_int(evaluate(t[1], params, x), t[2])
    return OPS[kind](*(evaluate(k, params, x) for k in t[1:]))


def scalar_run(tree: tuple, pvals: list[float], xs: list[float]) -> tuple[list, list[list[float]]]:
    """Per point: the output code and each parameter's gradient code (scalar tape)."""
    outs, grads = [], []
    for x in xs:
        ps = [TRNode.parameter(v) for v in pvals]
        y = zp.tr_add(evaluate(tree, ps, TRNode.constant(x)), TRNode.constant(0.0))
        y.backward()
        outs.append(float(y.value))
        grads.append([float(p.gradient) if p.gradient is not None else 0.0 for p in ps])
    return outs, grads


def batched_run(tree: tuple, pvals: list[float], xs: list[float], per_element: bool
                ) -> tuple[np.ndarray, list[np.ndarray]]:
    n = len(xs)
    ps = [za.parameter(np.full(n, v) if per_element else np.array(v)) for v in pvals]
    y = zp.tr_add(evaluate(tree, ps, za.constant(np.array(xs))), za.constant(np.zeros(n)))
    y.backward(np.ones(n))
    return y.numpy(), [p.gradient.to_numpy() if p.gradient is not None else np.zeros(p.shape)
                       for p in ps]


def same_code(got: float, want: float, scale: float) -> bool:
    """Same tag; exact zero where ``want`` is an exact zero; else within 1e-12 of ``scale``."""
    if math.isnan(want) or math.isinf(want):
        return (math.isnan(got) and math.isnan(want)) or got == want
    if not math.isfinite(got):
        return False
    if want == 0.0:
        return got == 0.0
    return abs(got - want) <= 1e-12 * scale


# ---- per element: every point's gradient, parameters reused freely -----------------------------
@pytest.mark.parametrize("mode_name", MODES)
@given(tree=trees, pvals=st.lists(param_value, min_size=3, max_size=3),
       xs=st.lists(point, min_size=1, max_size=6))
def test_random_trees_per_element_equal_scalar_tape(mode_name, tree, pvals, xs):
    tree, _ = number_params(tree, 3, distinct=False)
    with mode(mode_name):
        HybridGradientContext.reset_statistics()
        s_out, s_grads = scalar_run(tree, pvals, xs)
        s_counts = hybrid_counts()
        HybridGradientContext.reset_statistics()
        b_out, b_grads = batched_run(tree, pvals, xs, per_element=True)
        b_counts = hybrid_counts()
    # forward values: the kernels are the scalar ops elementwise (bit for bit, tags exact)
    np.testing.assert_array_equal(b_out, np.array(s_out))
    for j in range(3):
        for i, x in enumerate(xs):
            want, got = s_grads[i][j], float(b_grads[j][i])
            assert same_code(got, want, abs(want)), (tree, pvals, x, j, got, want)
    if mode_name.startswith("hybrid"):
        assert b_counts == s_counts, (tree, pvals, xs)


# ---- broadcast: gradients summed over the points ----------------------------------------------
@pytest.mark.parametrize("mode_name", MODES)
@given(tree=trees, pvals=st.lists(param_value, min_size=3, max_size=3),
       xs=st.lists(point, min_size=1, max_size=6))
def test_random_trees_broadcast_equal_sum_of_scalar_gradients(mode_name, tree, pvals, xs):
    tree, n_used = number_params(tree, 3, distinct=True)
    with mode(mode_name):
        HybridGradientContext.reset_statistics()
        s_out, s_grads = scalar_run(tree, pvals, xs)
        s_counts = hybrid_counts()
        HybridGradientContext.reset_statistics()
        b_out, b_grads = batched_run(tree, pvals, xs, per_element=False)
        b_counts = hybrid_counts()
    np.testing.assert_array_equal(b_out, np.array(s_out))
    for j in range(3):
        terms = [g[j] for g in s_grads]
        finite = [t for t in terms if math.isfinite(t)]
        # an overflow of the sum itself would depend on the order of summation
        assume(sum(abs(t) for t in finite) < 1e300)
        with np.errstate(all="ignore"):
            want = float(np.float64(math.fsum(finite)) if len(finite) == len(terms)
                         else np.sum(np.array(terms)))
        got = float(b_grads[j])
        if all(t == 0.0 for t in terms):
            assert got == 0.0, (tree, pvals, xs, j, got)
        elif math.isfinite(want) and want == 0.0:  # exact cancellation: order decides the ulps
            assert abs(got) <= 1e-12 * sum(abs(t) for t in finite)
        else:
            assert same_code(got, want, sum(abs(t) for t in finite)), (tree, pvals, xs, j, got, want)
    if mode_name.startswith("hybrid") and deciding_nodes_see_x(tree):
        assert b_counts == s_counts, (tree, pvals, xs)


def has_x(t: tuple) -> bool:
    return t[0] == "x" or (t[0] not in ("p", "c") and any(
        has_x(k) for k in t[1:] if isinstance(k, tuple)))


def deciding_nodes_see_x(t: tuple) -> bool:
    """Whether every node with a hybrid decision (div, log, sqrt, negative power) depends on x.

    A node of parameters and constants only has shape ``()`` on the batched tape: it is one
    element, decided (and counted) once, where the scalar loop recomputes it, and decides again,
    at every point. Statistics count the elements of the graph that actually ran."""
    if t[0] in ("x", "p", "c"):
        return True
    kids = [k for k in t[1:] if isinstance(k, tuple)]
    deciding = t[0] in ("div", "log", "sqrt") or (t[0] == "pow" and t[2] < 0)
    return (not deciding or has_x(t)) and all(deciding_nodes_see_x(k) for k in kids)


# ---- a rational P/Q with exact poles in the batch ---------------------------------------------
def rational(a: list, b: list, x: Any) -> Any:
    """P(x)/Q(x) by Horner's rule (the same code on both tapes)."""
    p = a[-1]
    for c in a[-2::-1]:
        p = p * x + c
    q = b[-1]
    for c in b[-2::-1]:
        q = q * x + c
    return p / q


# Q = x² − 1 (exact zeros at ±1), P = x² + x·a1 + a0 with a1 = 1, a0 = 0: 0/0 = Φ at x = −1 and
# x = 0 is a root of P only; plus points near the poles (hybrid/saturating forms activate there).
POLE_A = [0.0, 1.0, 1.0]
POLE_B = [-1.0, 0.0, 1.0]
POLE_X = [-1.0, 1.0, 0.0, -0.0, 1.0 + 2**-40, -1.0 + 1e-9, 0.999, 0.5, 2.0, -3.0, 1e-3, 1.0]


@pytest.mark.parametrize("mode_name", MODES)
def test_rational_with_exact_poles_equals_scalar_loop(mode_name):
    xs = POLE_X
    n = len(xs)
    with mode(mode_name):
        HybridGradientContext.reset_statistics()
        s_grads, s_out = [], []
        for x in xs:
            A = [TRNode.parameter(v) for v in POLE_A]
            B = [TRNode.parameter(v) for v in POLE_B]
            y = rational(A, B, TRNode.constant(x))
            y.backward()
            s_out.append(float(y.value))
            s_grads.append([float(t.gradient) for t in A + B])
        s_counts = hybrid_counts()
        HybridGradientContext.reset_statistics()
        A = [za.parameter(np.array(v)) for v in POLE_A]
        B = [za.parameter(np.array(v)) for v in POLE_B]
        y = rational(A, B, za.constant(np.array(xs)))
        y.backward(np.ones(n))
        b_counts = hybrid_counts()
    np.testing.assert_array_equal(y.numpy(), s_out)
    assert np.isinf(y.numpy()[1]) and np.isnan(y.numpy()[0])  # the batch really has poles
    for j, t in enumerate(A + B):
        terms = [g[j] for g in s_grads]
        assert all(math.isfinite(v) for v in terms)  # masked points send nothing, never Φ
        got = float(t.gradient.to_numpy())
        assert not math.isnan(got)
        assert abs(got - math.fsum(terms)) <= 1e-12 * sum(abs(v) for v in terms), (j, got, terms)
    if mode_name.startswith("hybrid"):
        assert b_counts == s_counts
        assert b_counts[0] > 0
        if mode_name == "hybrid-0":  # δ = 0.5: the points near ±1 saturate
            assert b_counts[1] > 0


def test_degree8_rational_with_poles_per_element_and_summed():
    """Degree-8 P/Q, 18 coefficient gradients, 4 exact poles among 200 points: per-point batched
    gradients (parameters of shape (N,)) equal the scalar tape's; shape-() gradients equal their
    sum; nothing is NaN."""
    rng = np.random.default_rng(5)
    n = 200
    xs = rng.uniform(-1.0, 1.0, n)
    xs[:4] = 0.0
    a = list(rng.uniform(-1.0, 1.0, 9))
    b = list(rng.uniform(-0.3, 0.3, 9))
    b[0] = 0.0  # Q(0) = 0 exactly: four poles in the batch
    s_grads = []
    for x in xs:
        A = [TRNode.parameter(v) for v in a]
        B = [TRNode.parameter(v) for v in b]
        rational(A, B, TRNode.constant(float(x))).backward()
        s_grads.append([float(t.gradient) for t in A + B])
    s = np.array(s_grads)  # (n, 18)
    assert np.all(s[:4] == 0.0) and np.all(np.isfinite(s))
    # per element
    A = [za.parameter(np.full(n, v)) for v in a]
    B = [za.parameter(np.full(n, v)) for v in b]
    rational(A, B, za.constant(xs)).backward(np.ones(n))
    per = np.stack([t.gradient.to_numpy() for t in A + B], axis=1)
    np.testing.assert_allclose(per, s, rtol=1e-12, atol=0)
    assert np.all(per[:4] == 0.0)
    # summed
    A = [za.parameter(np.array(v)) for v in a]
    B = [za.parameter(np.array(v)) for v in b]
    rational(A, B, za.constant(xs)).backward(np.ones(n))
    summed = np.array([float(t.gradient.to_numpy()) for t in A + B])
    assert not np.isnan(summed).any()
    np.testing.assert_allclose(summed, s.sum(axis=0), rtol=0,
                               atol=1e-12 * np.abs(s).sum(axis=0).max())


def test_hybrid_counts_a_broadcast_denominator_once_per_live_element():
    """A shape-() denominator dividing N elements is N decisions, as N scalar backward passes
    make; elements masked at the root (a pole of another factor) decide nothing."""
    xs = [0.0, 1.0, 1e-3, 2.0, -1.0]
    sched = HybridGradientSchedule(adaptive_delta=False, delta_init=0.5, delta_final=0.1,
                                   transition_epochs=10, force_pole_exploration=False)

    def f(p: Any, x: Any) -> Any:
        return zp.tr_div(p, x) + zp.tr_div(x, p)  # x = 0: +∞ at the root, masked

    with sched.apply(0):
        HybridGradientContext.reset_statistics()
        for x in xs:
            f(TRNode.parameter(0.3), TRNode.constant(x)).backward()
        scalar = hybrid_counts()
        HybridGradientContext.reset_statistics()
        f(za.parameter(np.array(0.3)), za.constant(np.array(xs))).backward(np.ones(len(xs)))
        batched = hybrid_counts()
    assert scalar == (8, 5)  # 4 REAL points × 2 divisions; |x| ≤ 0.5 at 1e-3, |p| = 0.3 ≤ 0.5 always
    assert batched == scalar


# ---- parameter-only subexpressions feeding a broadcast ----------------------------------------
# A node computed from parameters alone (shape ()) and then broadcast against the data gets one
# contribution per point. On the scalar tape each point applies that node's rule to its own
# contribution; the batched tape must do the same (not apply the rule to the points' sum), which
# matters exactly where the node's local derivative is not a finite number: √ at 0 gives
# 0/0 = Φ for a point whose contribution is 0, +∞ for the others; an overflowing derivative
# gives +∞ and −∞ for contributions of opposite signs, which sum to Φ.
PARAM_ONLY_CASES = {
    "sqrt(p)·x": (lambda p, x: zp.tr_sqrt(p) * x, 0.0, [0.0, 1.0, -2.0, 3.0]),
    "sqrt(p)·x, no zero": (lambda p, x: zp.tr_sqrt(p) * x, 0.0, [1.0, 2.0]),
    "sqrt(p)·x, signs": (lambda p, x: zp.tr_sqrt(p) * x, 0.0, [1.0, -1.0]),
    "(p·1e300)·x": (lambda p, x: (p * 1e300) * x, 1e-10, [1e10, -1e10, 1.0]),
    "sqrt(p·p)·x + p": (lambda p, x: zp.tr_sqrt(p * p) * x + p, 0.0, [0.0, 2.0]),
    "log(p)·x": (lambda p, x: zp.tr_log(p) * x, 1e-320, [1.0, -1.0, 0.5]),
    "log(p)·x, one sign": (lambda p, x: zp.tr_log(p) * x, 1e-320, [1.0, 0.5]),
}


@pytest.mark.parametrize("name", sorted(PARAM_ONLY_CASES))
@pytest.mark.parametrize("mode_name", ["mask-real", "sat-1.0"])
def test_parameter_only_nodes_apply_their_rule_per_point(name, mode_name):
    build, p0, xs = PARAM_ONLY_CASES[name]
    with mode(mode_name):
        p = za.parameter(np.array(p0))
        build(p, za.constant(np.array(xs))).backward(np.ones(len(xs)))
        batched = p.gradient.to_numpy()[()]
        total = zp.real(0.0)
        for xv in xs:
            q = TRNode.parameter(p0)
            y = build(q, xv)
            y.backward()
            total = zp.tr_add(total, q.gradient)
    want = zp.to_ieee(total)
    assert (math.isnan(batched) and math.isnan(want)) or batched == want, (batched, total)


def test_a_reduction_receiving_per_point_gradients_sums_them_first():
    p = za.parameter(np.array([1.0, 2.0, 3.0]))
    (p.sum() * za.constant(np.array([1.0, 2.0]))).backward(np.ones(2))
    assert p.gradient.to_numpy().tolist() == [3.0, 3.0, 3.0]
    p = za.parameter(np.array([1.0, 2.0, 3.0]))  # √ at 0 per point: 0/0 = Φ and +∞ → Φ
    (zp.tr_sqrt(p.sum() - 6.0) * za.constant(np.array([0.0, 1.0]))).backward(np.ones(2))
    assert [str(t) for t in p.gradient] == ["Φ", "Φ", "Φ"]


def test_contributions_for_different_points_are_summed_per_node():
    """A parameter-only node used against data of two different shapes: each contribution is
    summed over its own points, then they add (per point is not defined across the two)."""
    p = za.parameter(np.array(2.0))
    s = p * p
    x, z = np.array([1.0, 2.0, 3.0]), np.array([[1.0], [-4.0]])
    ((s * za.constant(x)).sum() + (s * za.constant(z)).sum()).backward()
    assert p.gradient.to_numpy()[()] == 2 * 2.0 * (x.sum() + z.sum())
