"""zeroproof.autodiff.projective: encode/decode, renormalisation, gauges, GradientPolicy.PROJECT,
debug logging, bad input — on scalar nodes, the batched tape and plain arrays."""
import logging
import math
import threading

import numpy as np
import pytest
from hypothesis import given, strategies as st

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import TRNode
from zeroproof.autodiff import projective as pj
from zeroproof.autodiff.projective import (
    GaugePolicy, GradientPolicy, ProjectiveNormalize, decode, decode_masked, encode,
    gradient_policy, project, renormalize,
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


# ---- encode / decode -----------------------------------------------------------------------
@given(finite)
def test_roundtrip_finite_scalar(x):
    assert decode(*encode(x)) == zp.real(x)
    n, d = encode(TRNode.parameter(x))
    assert decode(n, d).value == zp.real(x)


@given(st.lists(finite, min_size=1, max_size=20))
def test_roundtrip_finite_arrays(xs):
    x = np.array(xs)
    out = decode(*encode(x))
    assert isinstance(out, za.TRArray)
    assert np.array_equal(out.to_numpy(), x) and out.bottom is None
    t = decode(*encode(za.parameter(x)))
    assert np.array_equal(t.numpy(), x)


def test_encode_non_finite_and_bottom_decode():
    assert encode(zp.bottom()) == (zp.real(1.0), zp.real(0.0))
    assert encode(zp.pinf()) == (zp.real(1.0), zp.real(0.0))
    assert encode(zp.ninf()) == (zp.real(-1.0), zp.real(0.0))
    assert encode(zp.phi()) == (zp.real(1.0), zp.real(0.0))       # Φ joins ⊥ at the boundary
    assert decode(*encode(zp.bottom())) == zp.bottom()
    n, d = encode(np.array([1.0, np.inf, -np.inf, np.nan]))
    assert n.tolist() == [1.0, 1.0, -1.0, 1.0] and d.tolist() == [1.0, 0.0, 0.0, 0.0]
    out = decode(*encode(za.array([2.0, zp.bottom()])))
    assert out.bottom.tolist() == [False, True]
    node = decode(*encode(TRNode.constant(zp.bottom())))
    assert node.value == zp.bottom()


def test_decode_threshold_masked_form_and_sign_of_zero():
    vals, bot = decode_masked([1.0, 1.0, -0.0, 3.0], [0.0, 1e-9, 2.0, -0.0], tau=1e-6)
    assert bot.tolist() == [True, True, False, True]
    assert np.isnan(vals[[0, 1, 3]]).all() and vals[2] == 0.0 and math.copysign(1, vals[2]) < 0
    t = decode(za.constant([1.0, 2.0]), za.constant([0.0, 4.0]))
    assert t.value.bottom.tolist() == [True, False] and t.numpy()[1] == 0.5


def test_decode_sends_no_gradient_from_bottom_elements():
    n = za.parameter([1.0, 2.0, 3.0]); d = za.parameter([2.0, 0.0, 1e-9])
    decode(n, d, tau=1e-6).backward(np.ones(3))
    assert n.gradient.to_numpy().tolist() == [0.5, 0.0, 0.0]
    assert d.gradient.to_numpy().tolist() == [-0.25, 0.0, 0.0]


def test_encode_tensor_keeps_graph_on_real_elements():
    x = za.parameter([2.0, np.inf, -np.inf, -0.0])
    n, d = encode(x)
    assert n.numpy().tolist() == [2.0, 1.0, -1.0, 0.0] and math.copysign(1, n.numpy()[3]) < 0
    assert d.numpy().tolist() == [1.0, 0.0, 0.0, 1.0]
    (n * 3.0).sum().backward()
    assert x.gradient.to_numpy().tolist() == [3.0, 0.0, 0.0, 3.0]


def test_encode_tensor_with_phi_and_bottom_elements_matches_the_scalar_tape():
    # SPEC §7: encode(⊥) = (1, 0) on both tapes; a Φ/⊥ element sends no gradient (Mask-REAL)
    # while the REAL elements keep theirs, -0.0 included.
    vals = [zp.phi(), 2.0, zp.bottom(), -0.0, zp.pinf(), 5.0]
    x = za.parameter(za.array(vals))
    n, d = encode(x)
    assert n.numpy().tolist() == [1.0, 2.0, 1.0, 0.0, 1.0, 5.0]
    assert math.copysign(1, n.numpy()[3]) < 0 and n.tags.tolist() == [0] * 6
    assert d.numpy().tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    w = [1.0, 3.0, 5.0, 7.0, 11.0, 13.0]
    (n * za.constant(np.array(w))).sum().backward()
    assert x.gradient.to_numpy().tolist() == [0.0, 3.0, 0.0, 7.0, 0.0, 13.0]
    for i, (v, wi) in enumerate(zip(vals, w)):  # the scalar tape, element by element
        node = TRNode.parameter(v)
        sn, sd = encode(node)
        assert (sn.value, sd.value) == (zp.real(n.numpy()[i]), zp.real(d.numpy()[i]))
        (sn * wi).backward()  # a non-REAL scalar node is encoded as constants: not reached
        got = 0.0 if node.gradient is None else float(node.gradient)
        assert got == x.gradient.to_numpy()[i]
    only_bad = za.parameter(za.array([zp.phi(), zp.bottom()]))
    n, d = encode(only_bad)
    assert n.numpy().tolist() == [1.0, 1.0] and d.numpy().tolist() == [0.0, 0.0]
    n.sum().backward()  # reached, nothing to pass: R(0), not None
    assert only_bad.gradient.to_numpy().tolist() == [0.0, 0.0]


# ---- renormalisation ----------------------------------------------------------------------
@given(finite.filter(lambda v: abs(v) < 1e150), finite.filter(lambda v: abs(v) < 1e150))
def test_renormalized_norm_at_most_one(n, d):
    rn, rd = renormalize(n, d)
    assert math.hypot(rn, rd) <= 1.0 + 1e-15


def test_renormalize_no_gradient_through_norm_finite_difference():
    """d(N/S)/dN equals the finite difference taken with S held fixed, not the one through S."""
    N0, D0, gamma, h = 0.7, -1.3, 1e-9, 1e-6
    n = TRNode.parameter(N0); d = TRNode.parameter(D0)
    nh, dh = renormalize(n, d, gamma)
    (nh + 2.0 * dh).backward()
    S = math.hypot(N0, D0) + gamma
    fd_fixed_N = ((N0 + h) / S - (N0 - h) / S + 2 * (D0 / S - D0 / S)) / (2 * h)
    fd_fixed_D = (2 * (D0 + h) / S - 2 * (D0 - h) / S) / (2 * h)
    assert float(n.gradient) == pytest.approx(fd_fixed_N, rel=1e-9)
    assert float(d.gradient) == pytest.approx(fd_fixed_D, rel=1e-9)

    def full(a, b):  # the norm moving with the inputs: a different derivative
        s = math.hypot(a, b) + gamma
        return a / s + 2.0 * b / s
    fd_full = (full(N0 + h, D0) - full(N0 - h, D0)) / (2 * h)
    assert abs(float(n.gradient) - fd_full) > 1e-2
    # the batched tape agrees
    nt = za.parameter([N0]); dt = za.parameter([D0])
    a, b = renormalize(nt, dt, gamma)
    (a + 2.0 * b).sum().backward()
    assert nt.gradient.to_numpy()[0] == pytest.approx(float(n.gradient), rel=1e-15)
    assert dt.gradient.to_numpy()[0] == pytest.approx(float(d.gradient), rel=1e-15)


def test_renormalize_kinds_and_zero_tuple():
    rn, rd = renormalize(np.array([3.0, 0.0]), np.array([4.0, 0.0]), gamma=0.0)
    assert rn[0] == pytest.approx(0.6) and np.isnan(rn[1])        # 0/0: no direction
    rn, rd = renormalize(np.array([0.0]), np.array([0.0]))        # gamma keeps it finite
    assert rn.tolist() == [0.0] and rd.tolist() == [0.0]
    a, b = renormalize(za.array([3.0]), za.array([4.0]), gamma=0.0)
    assert isinstance(a, za.TRArray) and a.to_numpy()[0] == pytest.approx(0.6)


# ---- gauge policies ---------------------------------------------------------------------------
def test_gauge_policies():
    P, Q = np.array([3.0, -6.0]), np.array([4.0, 8.0])
    assert ProjectiveNormalize(GaugePolicy.CANONICAL_DENOMINATOR)(P, Q)[1] is Q
    for pol in (GaugePolicy.UNIT_L2_PROJECTIVE, GaugePolicy.ANGULAR_UNIT_CIRCLE, "unit_l2_projective"):
        ph, qh = ProjectiveNormalize(pol)(P, Q)
        assert np.allclose(ph ** 2 + qh ** 2, 1.0) and np.allclose(ph / qh, P / Q)
    with pytest.raises(ValueError, match="policy"):
        ProjectiveNormalize("unit_circle_please")
    with pytest.raises(ValueError, match="gamma"):
        ProjectiveNormalize(GaugePolicy.UNIT_L2_PROJECTIVE, gamma=-1.0)


# ---- GradientPolicy.PROJECT -----------------------------------------------------------------
def _tuple_loss(n, d):
    return n * n * 3.0 + d * n + d * d


def test_project_masks_exactly_the_bottom_paths_batched():
    N0 = np.array([1.0, 2.0, -0.5, 4.0]); D0 = np.array([0.5, 0.0, -0.0, 2.0])
    n = za.parameter(N0); d = za.parameter(D0)
    pn, pd = project(n, d)
    assert np.array_equal(pn.numpy(), N0) and np.array_equal(np.signbit(pd.numpy()), np.signbit(D0))
    _tuple_loss(pn, pd).sum().backward()
    n2 = za.parameter(N0); d2 = za.parameter(D0)
    _tuple_loss(n2, d2).sum().backward()
    live = D0 != 0
    gn, gd = n.gradient.to_numpy(), d.gradient.to_numpy()
    assert np.array_equal(gn[live], n2.gradient.to_numpy()[live])
    assert np.array_equal(gd[live], d2.gradient.to_numpy()[live])
    assert np.all(gn[~live] == 0) and np.all(gd[~live] == 0)
    assert np.all(n2.gradient.to_numpy()[~live] != 0)               # without the gate they flow


def test_project_scalar_matches_batched_and_tau():
    N0, D0 = [1.0, 2.0, 3.0], [0.5, 0.0, 1e-8]
    scal = []
    for a, b in zip(N0, D0):
        n = TRNode.parameter(a); d = TRNode.parameter(b)
        pn, pd = project(n, d, tau=1e-6)
        _tuple_loss(pn, pd).backward()
        scal.append((float(n.gradient), float(d.gradient)))
    n = za.parameter(N0); d = za.parameter(D0)
    pn, pd = project(n, d, tau=1e-6)
    _tuple_loss(pn, pd).sum().backward()
    assert [g for g, _ in scal] == n.gradient.to_numpy().tolist()
    assert [g for _, g in scal] == d.gradient.to_numpy().tolist()
    assert scal[1] == (0.0, 0.0) and scal[2] == (0.0, 0.0) and scal[0] != (0.0, 0.0)


def test_project_keeps_infinite_and_nan_values():
    n = za.parameter([np.inf, 1.0, np.nan]); d = za.parameter([0.0, 0.0, 1.0])
    pn, pd = project(n, d)
    assert pn.numpy()[0] == np.inf and pn.numpy()[1] == 1.0 and np.isnan(pn.numpy()[2])


def test_gradient_policy_context_gates_losses_and_restores():
    from zeroproof.losses import implicit_loss
    P0, Q0 = np.array([1.0, 0.3, 2.0]), np.array([0.0, 0.5, 1.0])
    Yn, Yd = np.array([1.0, 2.0, 1.0]), np.array([1.0, 1.0, 1.0])
    p = za.parameter(P0); q = za.parameter(Q0)
    with gradient_policy(GradientPolicy.PROJECT):
        assert pj.get_gradient_policy() is GradientPolicy.PROJECT
        implicit_loss(p, q, Yn, Yd).backward()
    assert pj.get_gradient_policy() is GradientPolicy.PASSTHROUGH
    p2 = za.parameter(P0); q2 = za.parameter(Q0)
    implicit_loss(p2, q2, Yn, Yd).backward()
    assert p.gradient.to_numpy()[0] == 0 and q.gradient.to_numpy()[0] == 0
    assert p2.gradient.to_numpy()[0] != 0
    assert np.array_equal(p.gradient.to_numpy()[1:], p2.gradient.to_numpy()[1:])
    with pytest.raises(ValueError, match="policy"):
        with gradient_policy("clip"):
            pass


def test_gradient_policy_is_per_thread():
    seen = []
    with gradient_policy(GradientPolicy.PROJECT):
        t = threading.Thread(target=lambda: seen.append(pj.get_gradient_policy()))
        t.start(); t.join()
    assert seen == [GradientPolicy.PASSTHROUGH]


# ---- logging ------------------------------------------------------------------------------------
def test_debug_logging_shows_norm_next_to_decoded(caplog):
    with caplog.at_level(logging.INFO, logger="zeroproof.projective"):
        decode(np.array([3.0]), np.array([4.0]))
    assert not caplog.records                                       # off by default / above DEBUG
    with caplog.at_level(logging.DEBUG, logger="zeroproof.projective"):
        decode(np.array([3.0, 1.0]), np.array([4.0, 0.0]))
        renormalize(TRNode.parameter(3.0), TRNode.parameter(4.0))
    text = caplog.text
    assert "‖(N,D)‖=5 → 0.75" in text and "‖(N,D)‖=1 → ⊥" in text and "bottom=1" in text
    assert "renormalize" in text


# ---- bad input ------------------------------------------------------------------------------
def test_bad_input():
    with pytest.raises(ValueError, match="N and D"):
        decode(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="N and D"):
        renormalize(za.parameter(np.zeros((2, 1))), za.parameter(np.zeros(2)))
    with pytest.raises(ValueError, match="gamma"):
        renormalize(1.0, 2.0, gamma=-1e-9)
    with pytest.raises(ValueError, match="tau"):
        decode(1.0, 2.0, tau=-1.0)
    with pytest.raises(TypeError):
        decode(TRNode.parameter(1.0), za.parameter([1.0]))
    with pytest.raises(TypeError):
        encode("3")


def test_angular_tuple_on_both_tapes_and_the_head_on_scalar_nodes():
    import math

    import zeroproof.array as za
    from zeroproof.autodiff import TRNode
    from zeroproof.autodiff.projective import angular_tuple
    from zeroproof.layers import AngularProjectiveHead

    th = TRNode.parameter(0.3)
    N, D = angular_tuple(th)
    (N * 2.0 + D).backward()
    assert th.gradient.value == pytest.approx(-2.0 * math.sin(0.3) + math.cos(0.3))
    t = za.parameter(np.array([0.3, 1.0]))
    Nt, Dt = angular_tuple(t)
    (Nt * 2.0 + Dt).sum().backward()
    np.testing.assert_allclose(t.gradient.to_numpy(), -2.0 * np.sin([0.3, 1.0]) + np.cos([0.3, 1.0]))
    head = AngularProjectiveHead(2, 1, seed=0)
    with pytest.raises(TypeError, match="angular_tuple"):
        head([TRNode.parameter(0.1), TRNode.parameter(0.2)])
