"""zeroproof.losses: the scale-invariant losses on finite inputs whose squares leave the float
range (implicit_loss, sign_consistency_loss), which gave Φ (NaN) or a wrong 0 with zero
gradients. Regression tests from the audit, bit-identity with the unscaled formula on inputs
in range, values and gradients against an mpmath oracle on extreme inputs, float32, non-REAL
inputs unchanged, and the companion losses on extreme finite inputs."""
import math

import mpmath
import numpy as np
import pytest

import zeroproof.array as za
import zeroproof.losses as lo
from zeroproof.array import TRArray
from zeroproof.autodiff import TRNode
from zeroproof.training.targets import lift_targets

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

MP = mpmath.mpf
DPS = 800  # the losses' terms span ~600 decades here: enough digits that nothing cancels away


# ---- the audit's snippets (each gave NaN / Φ with zero gradients) --------------------------------
def test_implicit_loss_huge_float_is_finite():
    assert lo.implicit_loss(1e160, 1.0, 1.0, 1.0) == pytest.approx(1.0, rel=1e-15)


def test_implicit_loss_huge_batched_value_and_gradients():
    P = za.parameter(np.array([1e160])); Q = za.parameter(np.array([1.0]))
    loss = lo.implicit_loss(P, Q, np.array([1.0]), np.array([1.0]))
    loss.backward()
    assert float(loss.numpy()) == pytest.approx(1.0, rel=1e-15)
    # L = (P − Q)²/(P² + Q² + γ): ∂L/∂Q = −2P(P² − Q² + γ)/(P² + Q² + γ)² ≈ −2/P
    assert float(Q.gradient.to_numpy()[0]) == pytest.approx(-2e-160, rel=1e-13)
    # ∂L/∂P ≈ 2Q/P² = 2e-320: the two terms 2(P − Q)/den and 2P·L/den (≈ 2e-160 each) cancel,
    # so what is left is their rounding, not NaN and not a lost range
    assert abs(float(P.gradient.to_numpy()[0])) <= 4 * 2.0**-52 * 2e-160


def test_implicit_loss_tiny_float_gamma_zero():
    assert lo.implicit_loss(1e-170, 1e-170, 1.0, 2.0, gamma=0.0) == pytest.approx(0.2, rel=1e-15)


def test_sign_consistency_huge_same_signs_is_zero():
    assert lo.sign_consistency_loss(1e200, 1e200, 1.0) == 0.0
    assert lo.sign_consistency_loss(1e200, -1e200, 1.0, gamma=0.0) == pytest.approx(0.5, rel=1e-15)


def test_snippets_on_every_input_path():
    # scalar nodes, lists of nodes, TRArrays, 0-d tensors
    p, q = TRNode.parameter(1e160), TRNode.parameter(1.0)
    node = lo.implicit_loss(p, q, 1.0, 1.0)
    node.backward()
    assert float(node.value) == pytest.approx(1.0, rel=1e-15)
    assert float(q.gradient) == pytest.approx(-2e-160, rel=1e-13)
    ps = [TRNode.parameter(1e-170), TRNode.parameter(1.0)]
    qs = [TRNode.parameter(1e-170), TRNode.parameter(1.0)]
    nodes = lo.implicit_loss(ps, qs, [1.0, 1.0], [2.0, 2.0], gamma=0.0, reduction="sum")
    assert float(nodes.value) == pytest.approx(0.4, rel=1e-15)
    arr = lo.implicit_loss(za.array([1e160, 2.0]), za.array([1.0, 1.0]), np.array([1.0, 4.0]),
                           np.array([1.0, 2.0]), gamma=0.0, reduction="none")
    np.testing.assert_allclose(arr, [1.0 - 2e-160, 0.0], rtol=1e-15)
    t = za.parameter(np.array(1e200))
    s = lo.sign_consistency_loss(t, za.constant(np.array(1e200)), -1.0, gamma=0.0)
    s.backward()
    assert float(s.numpy()) == pytest.approx(0.5, rel=1e-15)
    assert float(t.gradient.to_numpy()) == 0.0                 # ∂/∂P of PQ/(P² + Q²) at P = Q


# ---- in range: exactly the unscaled formula, bit for bit ------------------------------------------
def _reference_implicit(p, q, yn, yd, gamma, detach=False):
    cross = p * yd - q * yn
    scale_sq = q * q * (yd * yd) + p * p * (yn * yn) + gamma
    if detach:
        from zeroproof.autodiff.tr_node import stop_gradient
        scale_sq = stop_gradient(scale_sq)
    return cross * cross / scale_sq


def _reference_sign(p, q, s, gamma, margin):
    return za.tape.relu(margin - s * (p * q) / (p * p + q * q + gamma))


def _bits(x):
    a = np.asarray(x)
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


def _same_bits(a, b):
    assert a.dtype == b.dtype
    ca, cb = np.asarray(a.codes), np.asarray(b.codes)
    assert np.array_equal(_bits(ca), _bits(cb)) or np.array_equal(ca, cb, equal_nan=True)
    ba = np.zeros(ca.shape, bool) if a.bottom is None else np.broadcast_to(a.bottom, ca.shape)
    bb = np.zeros(cb.shape, bool) if b.bottom is None else np.broadcast_to(b.bottom, cb.shape)
    assert np.array_equal(ba, bb)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(4))
def test_normal_range_inputs_are_bit_identical(dtype, seed):
    rng = np.random.default_rng(seed)
    n = 64
    span = 10.0 if dtype == np.float64 else 2.0      # float32: products of four stay in range
    P, Q, Yn, Yd = (rng.normal(size=n) * 10.0 ** rng.uniform(-span, span, n) for _ in range(4))
    Yd[rng.random(n) < 0.2] = 0.0                    # lifted ±∞ targets
    S = rng.choice([-1.0, 1.0], size=n)
    P, Q, Yn, Yd = (a.astype(dtype) for a in (P, Q, Yn, Yd))
    for gamma in (0.0, 1e-9, 0.5):
        for detach in (False, True):
            p, q = za.parameter(P), za.parameter(Q)
            got = lo.implicit_loss(p, q, Yn, Yd, gamma=gamma, detach_scale=detach,
                                   reduction="none")
            got.backward(np.ones(n, dtype))
            rp, rq = za.parameter(P), za.parameter(Q)
            ref = _reference_implicit(rp, rq, za.constant(Yn), za.constant(Yd), gamma, detach)
            ref.backward(np.ones(n, dtype))
            for a, b in ((got.value, ref.value), (p.gradient, rp.gradient),
                         (q.gradient, rq.gradient)):
                _same_bits(a, b)
            # the reductions are the same function of the same terms
            assert lo.implicit_loss(P, Q, Yn, Yd, gamma=gamma) == float(ref.mean().numpy())
        p, q = za.parameter(P), za.parameter(Q)
        got = lo.sign_consistency_loss(p, q, S, gamma=gamma, margin=0.1, reduction="none")
        got.backward(np.ones(n, dtype))
        rp, rq = za.parameter(P), za.parameter(Q)
        ref = _reference_sign(rp, rq, za.constant(S.astype(dtype)), gamma, 0.1)
        ref.backward(np.ones(n, dtype))
        for a, b in ((got.value, ref.value), (p.gradient, rp.gradient), (q.gradient, rq.gradient)):
            _same_bits(a, b)


def test_normal_range_scalar_tape_is_bit_identical():
    rng = np.random.default_rng(11)
    for _ in range(30):
        P, Q, Yn, Yd = (float(v) for v in rng.normal(size=4) * 10.0 ** rng.uniform(-30, 30, 4))
        for gamma in (0.0, 1e-9):
            p, q = TRNode.parameter(P), TRNode.parameter(Q)
            got = lo.implicit_loss(p, q, Yn, Yd, gamma=gamma)
            got.backward()
            rp, rq = TRNode.parameter(P), TRNode.parameter(Q)
            ref = _reference_implicit(rp, rq, Yn, Yd, gamma)
            ref.backward()
            for a, b in ((got.value, ref.value), (p.gradient, rp.gradient),
                         (q.gradient, rq.gradient)):
                assert repr(a) == repr(b)
            assert lo.implicit_loss(P, Q, Yn, Yd, gamma=gamma) == float(ref.value)


# ---- extreme inputs against mpmath -----------------------------------------------------------
def _implicit_mp(P, Q, Yn, Yd, gamma):
    with mpmath.workdps(max(DPS, mpmath.mp.dps)):
        P, Q, Yn, Yd, g = (MP(v) for v in (P, Q, Yn, Yd, gamma))
        return (P * Yd - Q * Yn) ** 2 / (Q ** 2 * Yd ** 2 + P ** 2 * Yn ** 2 + g)


def _grads_mp(f, P, Q):
    """∂f/∂P, ∂f/∂Q by mpmath's numerical differentiation along relative steps
    (d/dt f(P·(1 + t)) / P at t = 0), at DPS digits."""
    with mpmath.workdps(max(DPS, mpmath.mp.dps)):
        P, Q = MP(P), MP(Q)
        gp = mpmath.diff(lambda t: f(P * (1 + t), Q), 0) / P if P != 0 else mpmath.diff(
            lambda x: f(x, Q), 0)
        gq = mpmath.diff(lambda t: f(P, Q * (1 + t)), 0) / Q if Q != 0 else mpmath.diff(
            lambda x: f(P, x), 0)
        return +gp, +gq


def _close(got, exact, rel=1e-13, terms=0.0):
    """``got`` within ``rel`` of ``exact``, or within the rounding (4 ulps) of ``terms``, the
    size of the terms that cancel to give ``exact`` (a gradient that is a difference)."""
    exact = float(exact)
    slack = 4 * 2.0**-52 * float(terms)
    if exact == 0.0 or abs(exact) < 1e-290:            # 0, or not a normal float: tiny is right
        return abs(got) <= max(abs(exact) * 2, 1e-290, slack)
    return math.isfinite(got) and abs(got - exact) <= rel * abs(exact) + slack


def _implicit_terms_mp(P, Q, Yn, Yd, gamma):
    """The largest term of ∂L/∂P and of ∂L/∂Q: 2·cross·Y/den and 2·x·Y²·L/den."""
    with mpmath.workdps(max(DPS, mpmath.mp.dps)):
        P, Q, Yn, Yd, g = (MP(v) for v in (P, Q, Yn, Yd, gamma))
        cross = P * Yd - Q * Yn
        den = Q ** 2 * Yd ** 2 + P ** 2 * Yn ** 2 + g
        L = cross ** 2 / den
        return (max(abs(2 * cross * Yd / den), abs(2 * P * Yn ** 2 * L / den)),
                max(abs(2 * cross * Yn / den), abs(2 * Q * Yd ** 2 * L / den)))


IMPLICIT_CASES = [
    # P, Q, Y_n, Y_d, gamma
    (1e160, 1.0, 1.0, 1.0, 1e-9),           # P² overflows: ∞/∞
    (1e-170, 1e-170, 1.0, 2.0, 0.0),        # everything underflows: 0/0
    (3e200, -2e200, 5.0, 1.0, 1e-9),        # a finite target, a huge tuple
    (1e-200, 3e-200, 2e150, 1e150, 0.0),    # tiny tuple, huge target tuple
    (1e200, 3e199, 1.0, 0.0, 1e-9),         # the +∞ target (1, 0)
    (2.5e155, 1.0, 3.0, 2.0, 1e-9),         # the numerator stays finite, the scale overflows
    (1e-160, 2e-160, 0.7, 1.0, 1e-9),       # gamma dominates: the loss underflows, ∂L does not
    (0.0, 1e-60, 1e110, 1.0, 1e-9),         # in range forward; backward loss/den·Y_n² overflowed
]


@pytest.mark.parametrize("case", IMPLICIT_CASES)
@pytest.mark.parametrize("path", ["batched", "nodes"])
def test_implicit_loss_extreme_inputs_against_mpmath(case, path):
    P, Q, Yn, Yd, gamma = case
    exact = _implicit_mp(P, Q, Yn, Yd, gamma)
    gp, gq = _grads_mp(lambda a, b: _implicit_mp(a, b, Yn, Yd, gamma), P, Q)
    if path == "batched":
        p, q = za.parameter(np.array([P])), za.parameter(np.array([Q]))
        loss = lo.implicit_loss(p, q, np.array([Yn]), np.array([Yd]), gamma=gamma)
        value = float(loss.numpy())
    else:
        p, q = TRNode.parameter(P), TRNode.parameter(Q)
        loss = lo.implicit_loss([p], [q], [Yn], [Yd], gamma=gamma)
        value = float(loss.value)
    loss.backward()
    dp = float(p.gradient.to_numpy()[0]) if path == "batched" else float(p.gradient)
    dq = float(q.gradient.to_numpy()[0]) if path == "batched" else float(q.gradient)
    tp, tq = _implicit_terms_mp(P, Q, Yn, Yd, gamma)
    assert _close(value, exact), (value, exact)
    assert _close(dp, gp, terms=tp), (dp, gp)
    assert _close(dq, gq, terms=tq), (dq, gq)


def test_detached_scale_on_extreme_inputs_against_mpmath():
    P, Q, Yn, Yd = 3e200, -2e200, 5.0, 1.0
    with mpmath.workdps(max(DPS, mpmath.mp.dps)):
        S = _implicit_mp(P, Q, Yn, Yd, 0.0) / (MP(P) * Yd - MP(Q) * Yn) ** 2   # 1/scale_sq
    frozen = lambda a, b: (a * Yd - b * Yn) ** 2 * S                             # noqa: E731
    gp, gq = _grads_mp(frozen, P, Q)
    p, q = za.parameter(np.array([P])), za.parameter(np.array([Q]))
    loss = lo.implicit_loss(p, q, np.array([Yn]), np.array([Yd]), gamma=0.0, detach_scale=True)
    loss.backward()
    assert _close(float(loss.numpy()), _implicit_mp(P, Q, Yn, Yd, 0.0))
    assert _close(float(p.gradient.to_numpy()[0]), gp)
    assert _close(float(q.gradient.to_numpy()[0]), gq)


def _sign_mp(P, Q, s, gamma, margin=0.0):
    with mpmath.workdps(max(DPS, mpmath.mp.dps)):
        P, Q = MP(P), MP(Q)
        return max(MP(margin) - s * P * Q / (P * P + Q * Q + MP(gamma)), MP(0))


SIGN_CASES = [
    (1e200, -3e199, 1.0, 1e-9),             # wrong side, huge: P² overflows
    (-2e-170, 5e-171, 1.0, 0.0),            # wrong side, tiny: 0/0
    (-1e-165, 3e-165, 1.0, 1e-300),         # gamma dominates the underflowing squares
    (1e300, -1e300, 1.0, 0.0),
    (7e-58, -1.9e112, 1.0, 1e-3),           # in range forward; backward align/den underflowed
]


@pytest.mark.parametrize("case", SIGN_CASES)
def test_sign_consistency_extreme_inputs_against_mpmath(case):
    P, Q, s, gamma = case
    exact = _sign_mp(P, Q, s, gamma)
    gp, gq = _grads_mp(lambda a, b: _sign_mp(a, b, s, gamma), P, Q)
    p, q = za.parameter(np.array([P])), za.parameter(np.array([Q]))
    loss = lo.sign_consistency_loss(p, q, np.array([s]), gamma=gamma)
    loss.backward()
    assert _close(float(loss.numpy()), exact)
    assert _close(float(p.gradient.to_numpy()[0]), gp)
    assert _close(float(q.gradient.to_numpy()[0]), gq)
    pn, qn = TRNode.parameter(P), TRNode.parameter(Q)
    node = lo.sign_consistency_loss(pn, qn, s, gamma=gamma)
    node.backward()
    assert _close(float(node.value), exact)
    assert _close(float(pn.gradient), gp) and _close(float(qn.gradient), gq)


def test_mixed_batch_keeps_the_in_range_elements_and_fixes_the_others():
    rng = np.random.default_rng(5)
    P, Q, Yn, Yd = rng.normal(size=(4, 8))
    Q[2], Yn[5] = np.inf, np.nan                      # non-REAL elements
    P[[1, 6]] = [1e160, -1e-170]                      # out of range
    Q[6] = 2e-170
    p, q = za.parameter(P), za.parameter(Q)
    loss = lo.implicit_loss(p, q, Yn, Yd, gamma=0.0, reduction="none")
    loss.backward(np.ones(8))
    rp, rq = za.parameter(P), za.parameter(Q)
    ref = _reference_implicit(rp, rq, za.constant(Yn), za.constant(Yd), 0.0)
    ref.backward(np.ones(8))
    keep = np.array([True, False, True, True, True, True, False, True])
    for a, b in ((loss.value, ref.value), (p.gradient, rp.gradient), (q.gradient, rq.gradient)):
        ca, cb = np.asarray(a.codes), np.asarray(b.codes)
        assert np.array_equal(_bits(ca[keep]), _bits(cb[keep])) or np.array_equal(
            ca[keep], cb[keep], equal_nan=True)
    values = loss.numpy()
    for i in (1, 6):
        assert _close(float(values[i]), _implicit_mp(P[i], Q[i], Yn[i], Yd[i], 0.0))
    assert np.isnan(values[[2, 5]]).all()             # Φ stays Φ


# ---- float32 -------------------------------------------------------------------------------------
def test_float32_stays_float32_and_is_right():
    P = np.array([1e30, 1e-25, 2.0], np.float32)
    Q = np.array([1.0, -3e-25, 1.0], np.float32)
    Yn = np.array([1.0, 1.0, 4.0], np.float32)
    Yd = np.array([1.0, 2.0, 2.0], np.float32)
    p, q = za.parameter(P), za.parameter(Q)
    loss = lo.implicit_loss(p, q, Yn, Yd, gamma=0.0, reduction="none")
    loss.backward(np.ones(3, np.float32))
    assert loss.dtype == np.float32
    assert p.gradient.dtype == np.float32 and q.gradient.dtype == np.float32
    for i in range(3):
        exact = _implicit_mp(float(P[i]), float(Q[i]), float(Yn[i]), float(Yd[i]), 0.0)
        gp, gq = _grads_mp(lambda a, b: _implicit_mp(a, b, float(Yn[i]), float(Yd[i]), 0.0),
                           float(P[i]), float(Q[i]))
        assert _close(float(loss.numpy()[i]), exact, rel=1e-6)
        if abs(float(gp)) > 1e-30:
            assert _close(float(p.gradient.to_numpy()[i]), gp, rel=1e-5)
        if abs(float(gq)) > 1e-30:
            assert _close(float(q.gradient.to_numpy()[i]), gq, rel=1e-5)
    s = lo.sign_consistency_loss(P, Q, np.ones(3), gamma=0.0, reduction="none")
    assert s.dtype == np.float32
    np.testing.assert_allclose(s, [0.0, 0.3, 0.0], rtol=1e-6, atol=1e-7)


# ---- non-REAL inputs: exactly as before --------------------------------------------------------------
def test_non_real_inputs_unchanged():
    inf, nan = np.inf, np.nan
    P = np.array([inf, 1.0, nan, 2.0, 1e160, -inf])
    Q = np.array([1.0, inf, 1.0, 0.0, 1.0, 2.0])
    Yn = np.array([1.0, 1.0, 1.0, nan, inf, 1.0])
    Yd = np.array([1.0, 2.0, 1.0, 1.0, 1.0, 0.0])
    for gamma in (0.0, 1e-9):
        got = lo.implicit_loss(P, Q, Yn, Yd, gamma=gamma, reduction="none")
        ref = _reference_implicit(za.constant(P), za.constant(Q), za.constant(Yn),
                                  za.constant(Yd), gamma).numpy()
        np.testing.assert_array_equal(got, ref)
    # ⊥ (a TRArray/TRTensor tag) next to an out-of-range element: ⊥ stays ⊥
    with_bottom = TRArray.from_codes(np.array([np.nan, 1e160, 2.0]), np.array([True, False, False]))
    ones = za.constant(np.ones(3))
    got = lo.implicit_loss(za.constant(with_bottom), ones, ones, ones, reduction="none").value
    ref = _reference_implicit(za.constant(with_bottom), ones, ones, ones, 1e-9).value
    assert got.bottom is not None and bool(got.bottom[0]) and bool(ref.bottom[0])
    assert float(got.codes[1]) == pytest.approx(1.0, rel=1e-15)      # was Φ
    assert _bits(got.codes[2]) == _bits(ref.codes[2])


# ---- the companion losses have no squares of P to overflow -------------------------------------------
def test_companion_losses_on_extreme_finite_inputs():
    assert lo.margin_loss([1e300, 1e-300, -1e308], [1.0, 1.0, 1.0], tau_train=1e-4) == \
        pytest.approx((1e-4 - 1e-300) ** 2 / 3, rel=1e-15)
    assert lo.rejection_loss([1e300, 1e-300], [1e-300, 1e300], tau=1e-4) == pytest.approx(0.5)
    assert lo.coverage_loss([1e308, 1.0], [1e-320, 1e308], target_coverage=1.0, tau=1e-4) == \
        pytest.approx(0.25)
    q = za.parameter(np.array([1e-300, 1e300]))
    lo.rejection_loss(np.ones(2), q, tau=1e-4).backward()
    np.testing.assert_allclose(q.gradient.to_numpy(), [-0.5 / 1e-4, 0.0])
    yn, yd = lift_targets(np.array([1e300, -np.inf]))
    assert lo.implicit_loss(np.array([1e300, -1e200]), np.array([1.0, 1e-200]), yn, yd) == 0.0
