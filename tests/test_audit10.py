"""Audit 10: defects found by acceptance tests written from SPEC alone (losses keep float32,
renormalize without overflow of the squares, angular_tuple on NumPy arrays, 0-d tuples)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import TRNode
from zeroproof.autodiff.projective import angular_tuple, decode, encode, renormalize
from zeroproof.losses import margin_loss, sign_consistency_loss
from zeroproof.training import lift_targets

F32 = np.float32


# ---- float32 stays float32 in the margin and sign-consistency losses -------------------------------
@pytest.mark.parametrize("tau", [1e-4, (1e-4, 2e-4)])
def test_margin_loss_keeps_float32(tau):
    q = np.array([5e-5, 1.0, 2e-5], F32)
    yd = np.array([1.0, 1.0, 0.0], F32)
    Q = za.parameter(q)
    loss = margin_loss(Q, yd, tau_train=tau, rng=0)
    assert loss.dtype == F32
    loss.backward()
    assert Q.gradient.dtype == F32
    assert margin_loss(q, yd, tau_train=tau, rng=0, reduction="none").dtype == F32
    # the value is the float32 computation with tau rounded to float32
    if not isinstance(tau, tuple):
        want = (F32(tau) - F32(5e-5)) ** 2 / F32(2)
        assert float(loss.value.codes) == pytest.approx(float(want), rel=1e-6)


def test_sign_consistency_loss_keeps_float32():
    P = za.parameter(np.array([1.0, 1.0], F32))
    Q = za.parameter(np.array([-0.1, 0.1], F32))
    loss = sign_consistency_loss(P, Q, np.array([1.0, 1.0], F32))
    assert loss.dtype == F32
    loss.backward()
    assert P.gradient.dtype == F32 and Q.gradient.dtype == F32
    out = sign_consistency_loss(np.array([1.0, 1.0], F32), np.array([-0.1, 0.1], F32),
                                np.array([1, 1]), reduction="none")
    assert out.dtype == F32


def test_losses_on_float64_and_mixed_inputs_stay_float64():
    q64 = np.array([5e-5, 1.0])
    assert margin_loss(za.parameter(q64), np.array([1.0, 1.0], F32)).dtype == np.float64
    mixed = sign_consistency_loss(np.array([1.0], F32), np.array([-0.1]), [1], reduction="none")
    assert mixed.dtype == np.float64


# ---- renormalize: the squares never overflow or underflow for REAL tuples --------------------------
@pytest.mark.parametrize("v, gamma", [(1e200, 1e-9), (1e-170, 0.0), (1.5e154, 0.0), (3e-162, 0.0)])
def test_renormalize_extreme_real_tuples_keep_their_direction(v, gamma):
    r = 1 / math.sqrt(2.0)
    n, d = renormalize(np.array([v, -v]), np.array([v, v]), gamma=gamma)
    assert n == pytest.approx([r, -r], rel=1e-15) and d == pytest.approx([r, r], rel=1e-15)
    assert renormalize(v, v, gamma=gamma) == pytest.approx((r, r), rel=1e-15)
    sn, sd = renormalize(zp.real(v), zp.real(-v), gamma=gamma)
    assert (float(sn), float(sd)) == pytest.approx((r, -r), rel=1e-15)
    N, D = TRNode.parameter(v), TRNode.parameter(v)
    nh, dh = renormalize(N, D, gamma=gamma)
    assert (float(nh.value), float(dh.value)) == pytest.approx((r, r), rel=1e-15)
    (nh + dh).backward()  # 1/S each, S = ‖(v, v)‖ + gamma detached
    assert float(N.gradient) == pytest.approx(1 / (math.hypot(v, v) + gamma), rel=1e-15)
    T = za.parameter(np.array([v, 3.0])), za.parameter(np.array([v, 4.0]))
    tn, td = renormalize(*T, gamma=gamma)
    assert tn.value.to_numpy() == pytest.approx([r, 3 / (5 + gamma)], rel=1e-12)
    (tn + td).sum().backward()
    assert T[0].gradient.to_numpy() == pytest.approx(
        [1 / (math.hypot(v, v) + gamma), 1 / (5 + gamma)], rel=1e-12)
    # the renormalised tuple still decodes to the same value
    assert float(decode(sn, sd)) == pytest.approx(-1.0)


def test_renormalize_float32_extremes_and_literal_values_elsewhere():
    f = np.array([3e30, 3.0, 1e-30], F32)
    n, d = renormalize(f, f, gamma=0.0)
    assert n.dtype == F32 and np.allclose(n, 1 / np.sqrt(2), rtol=1e-6)
    # in the normal range the value is exactly the literal formula N / (√(N² + D²) + γ)
    rng = np.random.default_rng(3)
    N, D = rng.standard_normal(50) * 10, rng.standard_normal(50)
    rn, rd = renormalize(N, D)
    S = np.sqrt(N * N + D * D) + 1e-9
    assert np.array_equal(rn, N / S) and np.array_equal(rd, D / S)


def test_renormalize_non_real_tuples_follow_the_transreal_formula():
    assert renormalize(zp.pinf(), zp.real(1.0)) == (zp.phi(), zp.real(0.0))   # ∞/∞, 1/∞
    assert renormalize(zp.pinf(), zp.phi()) == (zp.phi(), zp.phi())            # Φ absorbs
    assert renormalize(zp.bottom(), zp.real(1.0))[0].tag is zp.TRTag.BOTTOM
    assert renormalize(zp.real(0.0), zp.real(0.0), gamma=0.0) == (zp.phi(), zp.phi())
    with zp.wheel_mode():  # ∞² + ∞² = ⊥ in wheel mode
        assert renormalize(zp.pinf(), zp.pinf())[0].tag is zp.TRTag.BOTTOM


# ---- angular_tuple takes NumPy arrays ---------------------------------------------------------------
def test_angular_tuple_on_numpy_arrays_and_lists():
    c, s = angular_tuple(np.array([0.0, np.pi / 2, np.inf, np.nan]))
    assert isinstance(c, za.TRArray) and isinstance(s, za.TRArray)
    assert c.to_numpy()[:2].tolist() == [1.0, math.cos(math.pi / 2)]
    assert s.to_numpy()[:2].tolist() == [0.0, 1.0]
    assert c.tags[2:].tolist() == [zp.TRTag.PHI] * 2
    c32, _ = angular_tuple(np.array([0.5], F32))
    assert c32.dtype == F32
    assert angular_tuple([0.0, 1.0])[1].to_numpy().tolist() == [0.0, math.sin(1.0)]
    assert angular_tuple(np.float64(0.0)) == (zp.real(1.0), zp.real(0.0))
    with pytest.raises(TypeError, match="theta"):
        angular_tuple(np.array(["a"]))


# ---- 0-d arrays give 0-d arrays in both parts of a tuple -------------------------------------------
def test_encode_and_lift_targets_of_a_0d_array():
    for pair in (encode(np.array(2.0)), lift_targets(np.array(2.0))[:2],
                 encode(np.array(np.inf)), lift_targets(np.array(-np.inf))[:2]):
        assert all(isinstance(p, np.ndarray) and p.shape == () for p in pair)
    assert [float(v) for v in encode(np.array(2.0))] == [2.0, 1.0]
    assert [float(v) for v in lift_targets(np.array(-np.inf))[:2]] == [-1.0, 0.0]


# ---- StrictInferenceMonitor.merge adds in place and returns self; merge_all builds a new one -------
def test_monitor_merge_in_place_and_merge_all_leaves_inputs():
    from zeroproof.inference import StrictInferenceMonitor as M

    a = M("x").update(np.array([True, False]), np.array([False, True]))
    b = M("x").update(np.array([False, False, True]))
    pooled = M.merge_all([a, b])  # a new monitor: a and b unchanged
    assert (pooled.n_total, pooled.n_bottom, pooled.n_gap) == (5, 2, 1)
    assert (a.n_total, b.n_total) == (2, 3) and pooled is not a
    merged = a.merge(b)  # in place, like update: both usage styles read the merged counts
    assert merged is a and a.rates() == pooled.rates() and b.n_total == 3
    with pytest.raises(TypeError, match="StrictInferenceMonitor"):
        M.merge_all([3])
    with pytest.raises(TypeError, match="StrictInferenceMonitor"):
        a.merge(b, 3)  # checked before anything is added
    assert a.rates() == pooled.rates()


# ---- tr_prod on nodes: partial products never overflow/underflow when the product is REAL -----------
def _exact_cofactor(vals, i):
    from fractions import Fraction

    c = Fraction(1)
    for j, v in enumerate(vals):
        if j != i:
            c *= Fraction(v)
    try:
        return float(c)
    except OverflowError:
        return math.inf if c > 0 else -math.inf


@pytest.mark.parametrize("vals", [
    [1e200, 1e200, 1e-200],
    [1e-200, 1e-200, 1e200, 1e200, 3.0],
    [-1e300, 1e-300, -1e300, 1e-300, 2.0, 1e-10],
    [2.0**1000, 2.0**1000, 2.0**-1000, 2.0**-999, -0.5],
])
def test_tr_prod_gradients_are_the_products_of_the_others(vals):
    from zeroproof.autodiff import tr_prod

    xs = [TRNode.parameter(v) for v in vals]
    p = tr_prod(xs)
    assert p.value == zp.tr_prod([zp.real(v) for v in vals])
    p.backward()
    for i, x in enumerate(xs):
        want = _exact_cofactor(vals, i)
        if math.isinf(want):
            assert x.gradient == (zp.pinf() if want > 0 else zp.ninf())
        else:
            assert float(x.gradient) == pytest.approx(want, rel=1e-14)


def test_tr_prod_random_wide_exponents_against_exact_cofactors():
    from zeroproof.autodiff import tr_prod

    rng = np.random.default_rng(10)
    for _ in range(200):
        n = int(rng.integers(2, 9))
        e = rng.integers(-500, 500, n)  # |e_i − E/2| ≤ 1000: the chain can stay in range
        e[-1] -= e.sum() // 2  # (the product itself is mostly in range; when not: masked)
        vals = [math.ldexp(float(m), int(k)) for m, k in zip(rng.uniform(-2, 2, n), np.clip(e, -1000, 1000))]
        xs = [TRNode.parameter(v) for v in vals]
        p = tr_prod(xs)
        p.backward()
        if p.tag is not zp.TRTag.REAL:
            assert all(x.gradient == zp.real(0.0) for x in xs)  # Mask-REAL at the root
            continue
        for i, x in enumerate(xs):
            want = _exact_cofactor(vals, i)
            if math.isinf(want) or abs(want) < 1e-290:
                continue  # the exact derivative is out of range: its TR value is ±∞ or ~0
            assert float(x.gradient) == pytest.approx(want, rel=1e-13), (vals, i)


# ---- order with Fractions is exact, like == (SPEC §2) ------------------------------------------------
def test_fraction_comparisons_are_exact_and_consistent():
    from fractions import Fraction as Fr

    x, f = zp.real(0.1), Fr(1, 10)
    got = (x < f, x == f, x > f, x <= f, x >= f)
    assert got == (0.1 < f, 0.1 == f, 0.1 > f, 0.1 <= f, 0.1 >= f) == (False, False, True,
                                                                        False, True)
    assert zp.real(2.0**60) < Fr(2**60 + 1) and zp.real(2.0**60) < 2**60 + 1
    assert zp.real(1.0) <= Fr(1) and zp.real(1.0) >= Fr(1) and zp.real(1.0) == Fr(1)
    assert zp.pinf() > Fr(10**400) and zp.ninf() < Fr(-(10**400))
    assert not (zp.phi() < Fr(1)) and not (zp.phi() >= Fr(1)) and not (zp.bottom() <= Fr(0))
    assert hash(zp.real(0.5)) == hash(Fr(1, 2))


# ---- a TRArray given to from_numpy / TRArray() keeps its ⊥ ----------------------------------------
def test_from_numpy_and_trarray_of_a_trarray_keep_bottom():
    from zeroproof.bridge import from_numpy

    a = za.array([zp.real(1.0), zp.bottom(), zp.pinf(), zp.phi()])
    values, tags = from_numpy(a)
    assert tags.tolist() == [0, 4, 1, 3] and values[0] == 1.0 and np.isnan(values[1:]).all()
    for b in (za.from_numpy(a), za.TRArray(a)):
        assert b is not a and b.tags.tolist() == [0, 4, 1, 3]
    f32 = za.TRArray(za.array(np.array([1.0, np.nan], F32)))
    assert f32.dtype == F32 and f32.tags.tolist() == [0, 3]


# ---- operators refuse built-in non-numbers with a message that says what is accepted ---------------
@pytest.mark.parametrize("other", ["a", None, True, 1j, [1.0], (1.0,)])
def test_trscalar_operators_name_what_they_accept(other):
    for op in (lambda: zp.real(1.0) + other, lambda: other * zp.real(1.0),
               lambda: zp.real(1.0) / other, lambda: other - zp.real(1.0)):
        with pytest.raises(TypeError, match="real number"):
            op()


@pytest.mark.parametrize("other", ["a", None, 1j])
def test_trarray_operators_name_what_they_accept(other):
    with pytest.raises(TypeError, match="real number"):
        za.array([1.0]) + other
    with pytest.raises(TypeError, match="real number"):
        other * za.array([1.0])
