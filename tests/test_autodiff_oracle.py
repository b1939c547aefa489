"""Gradients of the scalar tape against an independent oracle: ``mpmath.diff`` at 50 digits.

The oracle never sees our rule table: every expression is written a second time with mpmath
functions and differentiated numerically by mpmath at 50 significant digits, at the point built
from the float itself (``mpmath.mpf(x)`` is exact). We compare where the expression is REAL and
smooth and the point is well conditioned.

How points are filtered (``_conditioned``): the double-precision forward value of every node must
be REAL; the mpmath twin must stay in the real domain (log/sqrt arguments > 0, non-zero
denominators and abs/sign arguments); and the derivative must be insensitive to the rounding of
the intermediate values: we multiply every intermediate value by ``1 + δᵢ`` with random
``|δᵢ| ≤ 1e-12`` and ask mpmath for the derivative again; if it moves by more than ``1e-8``
relative (a condition number above 1e4 with respect to intermediate rounding, e.g. near a pole or
where a sum cancels), the point is skipped. So is a point where the backward pass's own sum
cancels: a partial below 1e-4 of the sum of its absolute path contributions (``_abs_adjoints``)
is only as accurate as their rounding. Elsewhere the double-precision gradient of the tape must
agree to a relative error of 1e-9.
"""
from __future__ import annotations

import math
import random

import mpmath
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from zeroproof.autodiff import TRNode, tr_grad, tr_value_and_grad
from zeroproof.autodiff import tr_ops_grad as T
from zeroproof.core import TRTag

mpmath.mp.dps = 50
RTOL = 1e-9


class Outside(Exception):
    """The mpmath twin left the real, smooth domain of the expression."""


# mpmath.diff at 50 digits steps by h = 2**-(prec + 10) ≈ 6e-55; an argument this close to a
# kink (abs, sign) or to the edge of a domain (log, sqrt, 1/u) would put the stencil across it.
KINK = mpmath.mpf("1e-30")
# Below this, mpmath.diff's answer is its own truncation noise (~h²): the partial vanishes, and
# the tape must return (almost) exactly zero for it: |got| ≤ 1e-12.
TINY = mpmath.mpf("1e-40")


# ---- expressions: nested tuples, evaluated twice ----------------------------------------------
# ("x",) ("y",) ("c", float) ("add", e, e) ("sub", e, e) ("mul", e, e) ("div", e, e) ("neg", e)
# ("abs", e) ("sign", e) ("log", e) ("exp", e) ("sqrt", e) ("pow", e, k)
UNARY = ("neg", "abs", "sign", "log", "exp", "sqrt")
BINARY = ("add", "sub", "mul", "div")


def tr_eval(e, env, nodes):
    """Evaluate on the tape; every node built is appended to ``nodes``."""
    op = e[0]
    if op in ("x", "y"):
        return env[op]
    if op == "c":
        return e[1]
    if op == "pow":
        out = T.tr_pow_int(tr_eval(e[1], env, nodes), e[2])
    elif op in BINARY:
        a, b = tr_eval(e[1], env, nodes), tr_eval(e[2], env, nodes)
        out = getattr(T, f"tr_{op}")(a, b)
    else:
        out = getattr(T, f"tr_{op}")(tr_eval(e[1], env, nodes))
    nodes.append(out)
    return out


def mp_eval(e, env, pert=None, counter=None):
    """The same expression with mpmath functions; ``pert`` multiplies each intermediate value."""
    op = e[0]
    if op in ("x", "y"):
        return env[op]
    if op == "c":
        return mpmath.mpf(e[1])
    if op == "pow":
        a = mp_eval(e[1], env, pert, counter)
        if e[2] < 0 and abs(a) < KINK:
            raise Outside
        out = a ** e[2]
    elif op in BINARY:
        a = mp_eval(e[1], env, pert, counter)
        b = mp_eval(e[2], env, pert, counter)
        if op == "add":
            out = a + b
        elif op == "sub":
            out = a - b
        elif op == "mul":
            out = a * b
        else:
            if abs(b) < KINK:
                raise Outside
            out = a / b
    else:
        a = mp_eval(e[1], env, pert, counter)
        if op == "neg":
            out = -a
        elif op == "abs":
            if abs(a) < KINK:
                raise Outside
            out = abs(a)
        elif op == "sign":
            if abs(a) < KINK:
                raise Outside
            out = mpmath.sign(a)
        elif op == "log":
            if a < KINK:
                raise Outside
            out = mpmath.log(a)
        elif op == "exp":
            out = mpmath.exp(a)
        else:
            if a < KINK:
                raise Outside
            out = mpmath.sqrt(a)
    if pert is not None:
        i = counter[0]
        counter[0] += 1
        out = out * (1 + pert[i])
    return out


def n_ops(e) -> int:
    return 0 if e[0] in ("x", "y", "c") else 1 + sum(n_ops(s) for s in e[1:] if isinstance(s, tuple))


def mp_partials(e, x: float, y: float, pert=None):
    def f(xx, yy):
        return mp_eval(e, {"x": xx, "y": yy}, pert, [0])

    px = mpmath.diff(f, (mpmath.mpf(x), mpmath.mpf(y)), (1, 0))
    py = mpmath.diff(f, (mpmath.mpf(x), mpmath.mpf(y)), (0, 1))
    return px, py


def _abs_adjoints(e, env) -> dict:
    """Reverse mode with every local partial replaced by its absolute value: for each variable
    the sum over paths of |product of local derivatives|, i.e. the size of the contributions the
    backward pass adds up. Each contribution carries a rounding error of a few ulps of itself, so
    a partial much smaller than this sum comes from cancelling contributions (``∂(y/(x+y))/∂y =
    1/(x+y) − y/(x+y)²`` at ``x ≪ y``) and cannot be accurate in double precision."""
    acc = {"x": mpmath.mpf(0), "y": mpmath.mpf(0)}

    def visit(t, adj):
        op = t[0]
        if op in ("x", "y"):
            acc[op] += adj
            return
        if op == "c" or adj == 0:
            return
        a = mp_eval(t[1], env)
        if op in BINARY:
            b = mp_eval(t[2], env)
            if op in ("add", "sub"):
                da, db = 1, 1
            elif op == "mul":
                da, db = abs(b), abs(a)
            else:
                da, db = 1 / abs(b), abs(a) / b**2
            visit(t[1], adj * da)
            visit(t[2], adj * db)
            return
        if op == "pow":
            d = abs(t[2] * a ** (t[2] - 1))
        else:
            d = {"neg": lambda: 1, "abs": lambda: 1, "sign": lambda: 0,
                 "log": lambda: 1 / abs(a), "exp": lambda: mpmath.exp(a),
                 "sqrt": lambda: 1 / (2 * mpmath.sqrt(a))}[op]()
        visit(t[1], adj * d)

    visit(e, mpmath.mpf(1))
    return acc


def _conditioned(e, x: float, y: float, rng: random.Random):
    """``(dx, dy)`` from mpmath when the point is well conditioned, else None (see module doc)."""
    try:
        env = {"x": mpmath.mpf(x), "y": mpmath.mpf(y)}
        mp_eval(e, env)
        exact = mp_partials(e, x, y)
        sizes = _abs_adjoints(e, env)
        for d0, v in zip(exact, ("x", "y")):
            if abs(d0) >= TINY and sizes[v] > 1e4 * abs(d0):
                return None  # the backward pass's contributions cancel (condition above 1e4)
        size = n_ops(e)
        for _ in range(2):
            pert = [mpmath.mpf(rng.uniform(-1e-12, 1e-12)) for _ in range(size)]
            moved = mp_partials(e, x, y, pert)
            for d0, d1 in zip(exact, moved):
                if not isinstance(d0, mpmath.mpf) or not isinstance(d1, mpmath.mpf):
                    return None  # left the real domain inside mpmath's stencil
                if abs(d0) < TINY and abs(d1) < TINY:
                    continue  # a vanishing partial (e.g. of a variable the expression ignores)
                if d0 == 0 or abs(d1 - d0) > 1e-8 * abs(d0):
                    return None
    except (Outside, ZeroDivisionError, OverflowError, ValueError):
        return None
    return exact


def rel_err(got: float, want, floor: float = 1e-12) -> float:
    """Relative error; a vanishing ``want`` needs ``|got| <= floor`` (absolute)."""
    if abs(want) < TINY:
        return 0.0 if abs(got) <= floor else math.inf
    return float(abs(mpmath.mpf(got) - want) / abs(want))


def _vanishing_floor(nodes: list[TRNode]) -> float:
    """How far from 0 a partial that vanishes exactly may come out: contributions that cancel
    (``y/y`` gives ``1/y − y/y²``) are each as large as the products of the node values and
    their reciprocals along a path, and each carries a rounding error of a few ulps of itself;
    ``1e-12 · s²`` with ``s`` the largest of ``|v|`` and ``1/|v|`` over the nodes bounds that."""
    s = 1.0
    for n in nodes:
        v = abs(n.value.value)
        if v > 0.0:
            s = max(s, v, 1.0 / v)
    return 1e-12 * s * s


def check_tree(e, x: float, y: float) -> str:
    """Compare tape and oracle; returns "compared" or why the point was skipped."""
    px, py = TRNode.parameter(x), TRNode.parameter(y)
    nodes: list[TRNode] = []
    out = tr_eval(e, {"x": px, "y": py}, nodes)
    if not isinstance(out, TRNode) or not out.requires_grad:
        return "constant expression"
    if any(n.tag is not TRTag.REAL for n in nodes):
        return "a node is not REAL in double precision"
    exact = _conditioned(e, x, y, random.Random(hash((repr(e), x, y))))
    if exact is None:
        return "ill-conditioned or outside the smooth real domain"
    out.backward()
    for p, want in ((px, exact[0]), (py, exact[1])):
        g = p.gradient if p.gradient is not None else None
        got = 0.0 if g is None else g.value
        assert g is None or g.tag is TRTag.REAL, (e, x, y, g)
        floor = _vanishing_floor(nodes + [px, py])
        assert rel_err(got, want, floor) <= RTOL, (e, x, y, got, mpmath.nstr(want, 20))
    return "compared"


# ---- every op on its own ----------------------------------------------------------------------
finite = st.floats(min_value=-50.0, max_value=50.0, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)

UNARY_CASES = [
    ("neg", finite), ("abs", finite), ("sign", finite), ("log", positive),
    ("exp", finite), ("sqrt", positive),
]


@pytest.mark.parametrize("op,points", UNARY_CASES, ids=[c[0] for c in UNARY_CASES])
@given(data=st.data())
def test_unary_op_gradient_matches_mpmath(op, points, data):
    x = data.draw(points)
    assume(x != 0.0 or op not in ("abs", "sign"))
    e = (op, ("x",))
    status = check_tree(e, x, 1.0)
    event(status)
    assert status == "compared" or op in ("abs", "sign"), status  # sign' = 0: nothing to compare


@pytest.mark.parametrize("k", [-4, -3, -2, -1, 1, 2, 3, 5])
@given(m=st.floats(min_value=1e-3, max_value=20.0), s=st.sampled_from([-1.0, 1.0]))
def test_pow_int_gradient_matches_mpmath(k, m, s):
    x = s * m
    status = check_tree(("pow", ("x",), k), x, 1.0)
    assert status == "compared", status


@pytest.mark.parametrize("op", BINARY)
@given(x=finite, y=finite)
def test_binary_op_gradients_match_mpmath(op, x, y):
    status = check_tree((op, ("x",), ("y",)), x, y)
    event(status)
    if op != "div" or abs(y) > 1e-3:
        assert status == "compared" or (op == "mul" and (x == 0 or y == 0)), status


def test_sign_gradient_is_exact_zero():
    for x in (-3.0, -1e-300, 2.5):
        px = TRNode.parameter(x)
        T.tr_sign(px).backward()
        assert px.gradient.tag is TRTag.REAL and px.gradient.value == 0.0
    assert float(mpmath.diff(mpmath.sign, mpmath.mpf(2.5))) == 0.0


# ---- random composite expressions -------------------------------------------------------------
leaf = st.one_of(
    st.just(("x",)), st.just(("y",)),
    st.builds(lambda c: ("c", c), st.floats(min_value=-4.0, max_value=4.0).map(lambda v: round(v, 3))),
)


def _extend(children):
    return st.one_of(
        st.builds(lambda op, a, b: (op, a, b), st.sampled_from(BINARY), children, children),
        st.builds(lambda op, a: (op, a), st.sampled_from(UNARY), children),
        st.builds(lambda a, k: ("pow", a, k), children, st.sampled_from([-3, -2, -1, 2, 3])),
    )


trees = st.recursive(leaf, _extend, max_leaves=8)
points = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)


@given(e=trees, x=points, y=points)
def test_random_expression_gradients_match_mpmath(e, x, y):
    status = check_tree(e, x, y)
    event(status)


def test_random_expressions_are_mostly_compared():
    """The filter must not hide the test: most random trees at random points get compared."""
    rng = random.Random(20240611)
    statuses = []
    for _ in range(120):
        e = _random_tree(rng, 3)
        statuses.append(check_tree(e, rng.uniform(0.2, 2.5), rng.uniform(0.2, 2.5)))
    compared = statuses.count("compared")
    assert compared >= 0.5 * len(statuses), {s: statuses.count(s) for s in set(statuses)}


def _random_tree(rng: random.Random, depth: int):
    if depth == 0 or rng.random() < 0.2:
        return rng.choice([("x",), ("y",), ("c", round(rng.uniform(0.5, 3.0), 2))])
    r = rng.random()
    if r < 0.5:
        return (rng.choice(BINARY), _random_tree(rng, depth - 1), _random_tree(rng, depth - 1))
    if r < 0.85:
        return (rng.choice(["neg", "abs", "log", "exp", "sqrt"]), _random_tree(rng, depth - 1))
    return ("pow", _random_tree(rng, depth - 1), rng.choice([-2, -1, 2, 3]))


# ---- division: the sign of ∂(a/b)/∂b for every sign of b ---------------------------------------
magnitudes = st.floats(min_value=1e-100, max_value=1e100)


@given(a=magnitudes, b=magnitudes, sa=st.sampled_from([-1.0, 1.0]), sb=st.sampled_from([-1.0, 1.0]))
def test_division_gradient_sign_and_value(a, b, sa, sb):
    a, b = sa * a, sb * b
    pa, pb = TRNode.parameter(a), TRNode.parameter(b)
    q = pa / pb
    assume(q.tag is TRTag.REAL and q.value.value != 0.0 and math.isfinite(q.value.value / b))
    q.backward()
    ga, gb = pa.gradient.value, pb.gradient.value
    assert math.copysign(1.0, ga) == sb  # ∂/∂a = 1/b has the sign of b
    assert math.copysign(1.0, gb) == -sa  # ∂/∂b = −a/b² has the sign of −a, whatever b's sign
    ma, mb = mpmath.mpf(a), mpmath.mpf(b)
    assert rel_err(ga, 1 / mb) <= 1e-15
    assert rel_err(gb, -ma / mb**2) <= 1e-15


def test_reciprocal_shifted_pole_gradient_is_minus_four():
    x = TRNode.parameter(0.5)
    y = 1 / (x - 1)
    y.backward()
    assert x.gradient.tag is TRTag.REAL and x.gradient.value == -4.0


# ---- second derivatives: tr_grad(tr_grad(f)) --------------------------------------------------
SECOND = [
    ("cube", lambda x: x * x * x, lambda x: x**3, [-2.0, 0.3, 1.7]),
    ("recip", lambda x: 1 / (x - 1), lambda x: 1 / (x - 1), [0.5, -3.0, 2.25]),
    ("log", lambda x: T.tr_log(x), mpmath.log, [0.1, 1.0, 7.5]),
    ("exp_mul", lambda x: T.tr_exp(x) * x, lambda x: mpmath.exp(x) * x, [-1.0, 0.0, 2.0]),
    ("sqrt", lambda x: T.tr_sqrt(x), mpmath.sqrt, [0.25, 2.0, 9.0]),
    ("pow_neg", lambda x: T.tr_pow_int(x, -3), lambda x: x**-3, [-1.5, 0.7, 4.0]),
    ("rational", lambda x: (x * x + 1) / (x * x - 4 * x + 5), lambda x: (x**2 + 1) / (x**2 - 4 * x + 5),
     [-2.0, 0.5, 2.5]),
    ("abs_log", lambda x: T.tr_log(abs(x)) * x, lambda x: mpmath.log(abs(x)) * x, [-2.0, 0.5]),
    ("div_by_neg", lambda x: 3 / (x - 10), lambda x: 3 / (x - 10), [1.0, 9.5]),
    ("tanh", lambda x: T.tr_tanh(x) * x, lambda x: mpmath.tanh(x) * x, [-1.5, 1e-3, 0.8]),
]


@pytest.mark.parametrize("name,f,mf,xs", SECOND, ids=[s[0] for s in SECOND])
def test_second_derivative_matches_mpmath(name, f, mf, xs):
    d2 = tr_grad(tr_grad(f))
    for x in xs:
        got = d2(x)
        assert isinstance(got, TRNode) and got.tag is TRTag.REAL
        want = mpmath.diff(mf, mpmath.mpf(x), 2)
        assert rel_err(got.value.value, want) <= RTOL, (name, x, got, want)


def test_third_derivative_and_first_agree_with_mpmath():
    f = lambda x: x * x * x * x / (x + 3)  # noqa: E731
    mf = lambda x: x**4 / (x + 3)  # noqa: E731
    for x in (-1.0, 0.5, 2.0):
        d1 = tr_grad(f)(x).value.value
        d3 = tr_grad(tr_grad(tr_grad(f)))(x).value.value
        assert rel_err(d1, mpmath.diff(mf, mpmath.mpf(x), 1)) <= RTOL
        assert rel_err(d3, mpmath.diff(mf, mpmath.mpf(x), 3)) <= RTOL


def test_value_and_grad_of_two_arguments_against_mpmath():
    vg = tr_value_and_grad(lambda a, b: T.tr_log(a * a + b) / (b - a), argnums=(0, 1))
    a, b = 1.25, 3.5
    val, (ga, gb) = vg(a, b)
    f = lambda u, v: mpmath.log(u * u + v) / (v - u)  # noqa: E731
    pa, pb = mpmath.mpf(a), mpmath.mpf(b)
    assert rel_err(val.value.value, f(pa, pb)) <= 1e-15
    assert rel_err(ga.value.value, mpmath.diff(f, (pa, pb), (1, 0))) <= RTOL
    assert rel_err(gb.value.value, mpmath.diff(f, (pa, pb), (0, 1))) <= RTOL
