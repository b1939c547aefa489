"""zeroproof.losses: the implicit loss (formula, radial derivative, detach-scale ablation,
scalar == batched), margin, sign consistency, coverage and rejection, bad input."""
import math

import mpmath
import numpy as np
import pytest

import zeroproof.array as za
from zeroproof.autodiff import TRNode
from zeroproof.losses import (
    coverage, coverage_loss, implicit_loss, margin_loss, rejection_loss, sign_consistency_loss,
)
from zeroproof.losses.coverage import coverage as coverage_fn
from zeroproof.training.targets import lift_targets

rng = np.random.default_rng(7)
P0 = rng.normal(size=16); Q0 = rng.normal(size=16)
Y = np.concatenate([rng.normal(size=13), [np.inf, -np.inf, np.nan]])
YN, YD = lift_targets(Y)


def reference(P, Q, Yn, Yd, gamma):
    cross = P * Yd - Q * Yn
    return np.mean(cross ** 2 / (Q ** 2 * Yd ** 2 + P ** 2 * Yn ** 2 + gamma))


def test_matches_the_guide_formula():
    for gamma in (0.0, 1e-9, 0.5):
        got = implicit_loss(P0, Q0, YN, YD, gamma=gamma)
        assert got == pytest.approx(reference(P0, Q0, YN, YD, gamma), rel=1e-13)


def test_gradient_against_mpmath():
    mpmath.mp.dps = 40
    p, q = TRNode.parameter(0.7), TRNode.parameter(-0.4)
    implicit_loss(p, q, 2.5, 1.0, gamma=1e-3).backward()
    f = lambda a, b: (a * 1 - b * 2.5) ** 2 / (b ** 2 + a ** 2 * 6.25 + mpmath.mpf("1e-3"))
    assert float(p.gradient) == pytest.approx(float(mpmath.diff(lambda a: f(a, mpmath.mpf(-0.4)), 0.7)), rel=1e-12)
    assert float(q.gradient) == pytest.approx(float(mpmath.diff(lambda b: f(mpmath.mpf(0.7), b), -0.4)), rel=1e-12)


def _radial(detach, gamma):
    p = za.parameter(P0); q = za.parameter(Q0)
    loss = implicit_loss(p, q, YN, YD, gamma=gamma, detach_scale=detach)
    loss.backward()
    gp, gq = p.gradient.to_numpy(), q.gradient.to_numpy()
    radial = float(np.sum(P0 * gp + Q0 * gq))          # d/dα L(αP, αQ) at α = 1
    scale = float(np.sqrt(np.sum(gp ** 2 + gq ** 2)) * np.sqrt(np.sum(P0 ** 2 + Q0 ** 2)))
    return radial, scale, float(loss.numpy())


def test_radial_derivative_vanishes_without_detach():
    radial, scale, _ = _radial(False, 1e-30)
    assert abs(radial) <= 1e-8 * scale
    radial9, scale9, _ = _radial(False, 1e-9)          # the default gamma: still negligible
    assert abs(radial9) <= 1e-8 * scale9


def test_radial_derivative_positive_with_detached_scale():
    radial, scale, loss = _radial(True, 1e-30)
    assert loss > 0 and radial > 0
    assert radial == pytest.approx(2 * loss, rel=1e-10)     # L ∝ α² along the ray ⇒ dL/dα = 2L


def test_detached_scale_grows_like_alpha_squared_on_tapes():
    p = TRNode.parameter(0.3); q = TRNode.parameter(0.9)
    loss = implicit_loss(p, q, 2.0, 1.0, gamma=0.0, detach_scale=True)
    loss.backward()
    radial = 0.3 * float(p.gradient) + 0.9 * float(q.gradient)
    assert radial == pytest.approx(2 * float(loss.value), rel=1e-12) and radial > 0


@pytest.mark.parametrize("detach", [False, True])
def test_scalar_and_batched_agree(detach):
    nodes_p = [TRNode.parameter(v) for v in P0]
    nodes_q = [TRNode.parameter(v) for v in Q0]
    ls = implicit_loss(nodes_p, nodes_q, list(YN), list(YD), detach_scale=detach)
    ls.backward()
    p = za.parameter(P0); q = za.parameter(Q0)
    lb = implicit_loss(p, q, YN, YD, detach_scale=detach)
    lb.backward()
    assert float(ls.value) == pytest.approx(float(lb.numpy()), rel=1e-14)
    assert np.allclose([float(n.gradient) for n in nodes_p], p.gradient.to_numpy(), rtol=1e-13, atol=0)
    assert np.allclose([float(n.gradient) for n in nodes_q], q.gradient.to_numpy(), rtol=1e-13, atol=0)
    # a single scalar node is a batch of one
    n0, d0 = TRNode.parameter(P0[0]), TRNode.parameter(Q0[0])
    single = implicit_loss(n0, d0, YN[0], YD[0], detach_scale=detach)
    assert float(single.value) == pytest.approx(reference(P0[:1], Q0[:1], YN[:1], YD[:1], 1e-9), rel=1e-13)


def test_pole_target_is_fit_by_a_pole_tuple():
    assert implicit_loss(np.array([0.8]), np.array([0.0]), *lift_targets(np.array([np.inf]))) == 0.0
    assert implicit_loss(np.array([0.8]), np.array([0.1]), *lift_targets(np.array([np.inf]))) > 0


def test_reductions():
    none = implicit_loss(P0, Q0, YN, YD, reduction="none")
    assert none.shape == (16,)
    assert implicit_loss(P0, Q0, YN, YD, reduction="sum") == pytest.approx(none.sum())


def test_margin_loss():
    q = za.parameter([0.5, 1e-5, -2e-5, 0.0])
    loss = margin_loss(q, [1.0, 1.0, 1.0, 0.0], tau_train=1e-4)
    loss.backward()
    g = q.gradient.to_numpy()
    assert g[1] < 0 and g[2] > 0 and g[0] == 0 and g[3] == 0     # |Q| pushed out of the band
    assert float(loss.numpy()) == pytest.approx(((9e-5) ** 2 + (8e-5) ** 2) / 3)
    # stochastic thresholds lie in the band and are reproducible with a seed
    a = margin_loss(np.full(50, 5e-4), np.ones(50), tau_train=(1e-4, 1e-3), rng=1)
    b = margin_loss(np.full(50, 5e-4), np.ones(50), tau_train=(1e-4, 1e-3), rng=1)
    assert a == b and 0 < a < (1e-3 - 5e-4) ** 2
    assert margin_loss([1e-5], [0.0]) == 0.0                      # no finite target


def test_sign_consistency_loss():
    t = lift_targets(np.array([np.inf, np.inf, -np.inf, 2.0]))
    P = za.parameter([1.0, 1.0, 1.0, 1.0]); Q = za.parameter([0.1, -0.1, 0.1, -0.1])
    loss = sign_consistency_loss(P, Q, t)
    loss.backward()
    # element 0 agrees (+∞ from 1/0.1); 1 and 2 are on the wrong side; 3 is finite: ignored
    per = sign_consistency_loss(P.value.to_numpy(), Q.value.to_numpy(), t.signs, reduction="none")
    assert per[0] == 0 and per[1] > 0 and per[2] > 0 and per[3] == 0
    assert Q.gradient.to_numpy()[1] < 0 and Q.gradient.to_numpy()[2] > 0   # descent moves Q across 0
    assert Q.gradient.to_numpy()[0] == 0 and Q.gradient.to_numpy()[3] == 0
    with pytest.raises(ValueError, match="target_sign"):
        sign_consistency_loss([1.0], [1.0], [2])


def test_coverage_and_rejection():
    assert coverage_fn is coverage
    assert coverage([1.0, np.nan, 2.0, 3.0]) == 0.75
    assert coverage(za.array([1.0, 2.0])) == 1.0
    assert coverage([1.0, 1.0], [0.0, 1.0]) == 0.5
    assert coverage(bottom_mask=np.array([True, False])) == 0.5
    nodes = [TRNode.parameter(1.0), TRNode.parameter(0.0)]
    assert coverage([TRNode.parameter(1.0)] * 2, nodes) == 0.5
    from zeroproof.inference import InferenceConfig, strict_inference
    d, bot, _ = strict_inference([1.0, 1.0, 1.0], [1.0, 0.0, 1e-9], InferenceConfig(tau_infer=1e-6))
    assert coverage(d) == coverage(bottom_mask=bot) == pytest.approx(1 / 3)
    with pytest.raises(TypeError, match="bottom_mask"):
        coverage(np.array([True, False]))
    with pytest.raises(ValueError):
        coverage([])
    Q = za.parameter([0.0, 5e-5, 0.5, 0.0])
    rej = rejection_loss(za.constant(np.ones(4)), Q, Y_d=[1.0, 1.0, 1.0, 0.0], tau=1e-4)
    assert float(rej.numpy()) == pytest.approx((1.0 + 0.5) / 3)
    rej.backward()
    g = Q.gradient.to_numpy()
    assert g[1] < 0 and g[2] == 0 and g[3] == 0                    # only rejected finite targets
    hard = 1 - coverage(np.ones(3), [0.0, 5e-5, 0.5], tau=1e-4)
    assert float(rej.numpy()) <= hard
    assert coverage_loss(np.ones(3), [0.0, 5e-5, 0.5], target_coverage=0.2, tau=1e-4) == 0.0
    assert coverage_loss(np.ones(3), [0.0, 5e-5, 0.5], target_coverage=0.9, tau=1e-4) > 0


def test_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        implicit_loss(P0, Q0, YN, YD, gamma=-1.0)
    with pytest.raises(ValueError, match="Y_n"):
        implicit_loss(P0, Q0, YN[:3], YD)
    with pytest.raises(ValueError, match="squeeze"):
        implicit_loss(za.parameter(P0[:, None]), za.parameter(Q0[:, None]), YN, YD)
    with pytest.raises(ValueError, match="reduction"):
        implicit_loss(P0, Q0, YN, YD, reduction="max")
    with pytest.raises(ValueError, match="tau"):
        rejection_loss(P0, Q0, tau=0.0)
    with pytest.raises(ValueError, match="tau_train"):
        margin_loss(Q0, YD, tau_train=(1e-3, 1e-4))
    with pytest.raises(ValueError):
        implicit_loss([TRNode.parameter(1.0)] * 2, [TRNode.parameter(1.0)] * 3, [1.0] * 2, [1.0] * 2)


# -- ignored elements stay ignored, whatever their value (a skip, not a product with 0) ---------

def _tensor(values):
    import zeroproof.array as za
    return za.parameter(za.from_numpy(np.array(values, dtype=float)))


def test_ignored_nonfinite_elements_do_not_poison_the_batched_losses():
    from zeroproof.losses import margin_loss, rejection_loss, sign_consistency_loss
    P, Q = _tensor([np.inf, 1.0]), _tensor([1.0, -0.1])
    loss = sign_consistency_loss(P, Q, np.array([0.0, 1.0]))   # element 0 ignored (s = 0)
    assert float(loss.value.to_numpy()) == pytest.approx(0.1 / 1.01, rel=1e-6)
    loss.backward()
    g = Q.gradient.to_numpy()
    assert g[0] == 0.0 and g[1] != 0.0 and np.isfinite(g).all()
    per = sign_consistency_loss(P, Q, np.array([0.0, 1.0]), reduction="none").value.to_numpy()
    assert per[0] == 0.0 and per[1] > 0
    Qm = _tensor([np.nan, 5e-5])
    assert float(margin_loss(Qm, [0.0, 1.0]).value.to_numpy()) == pytest.approx(2.5e-9)
    assert margin_loss(Qm, [0.0, 1.0], reduction="none").value.to_numpy().tolist() == \
        pytest.approx([0.0, 2.5e-9])
    Qr = _tensor([np.nan, 5e-5])
    assert float(rejection_loss(_tensor([1.0, 1.0]), Qr, Y_d=[0.0, 1.0]).value.to_numpy()) == 0.5
    # every term non-REAL and dropped: zeros, still a graph
    Qa = _tensor([np.nan, np.inf])
    out = margin_loss(Qa, [0.0, 0.0], reduction="none")
    assert out.value.to_numpy().tolist() == [0.0, 0.0]


def test_ignored_nonfinite_elements_do_not_poison_the_scalar_losses():
    from zeroproof import pinf, phi
    from zeroproof.losses import margin_loss, sign_consistency_loss
    ps = [TRNode.parameter(pinf()), TRNode.parameter(1.0)]
    qs = [TRNode.parameter(1.0), TRNode.parameter(-0.1)]
    loss = sign_consistency_loss(ps, qs, [0.0, 1.0])
    assert float(loss.value) == pytest.approx(0.1 / 1.01, rel=1e-6)
    loss.backward()
    assert qs[1].gradient.tag.name == "REAL" and float(qs[1].gradient) != 0.0
    single = sign_consistency_loss(TRNode.parameter(pinf()), TRNode.parameter(1.0), 0.0)
    assert float(single.value) == 0.0
    q = [TRNode.parameter(phi()), TRNode.parameter(5e-5)]
    assert float(margin_loss(q, [0.0, 1.0]).value) == pytest.approx(2.5e-9)
    # a dropped REAL term stays in the graph (its inputs are reached and get R(0))
    q2 = [TRNode.parameter(1e-5), TRNode.parameter(5e-5)]
    margin_loss(q2, [0.0, 1.0]).backward()
    assert float(q2[0].gradient) == 0.0


def test_lifted_targets_work_next_to_lists_of_nodes():
    from zeroproof import pinf
    from zeroproof.losses import implicit_loss, margin_loss
    from zeroproof.training import lift_targets
    ps = [TRNode.parameter(1.0), TRNode.parameter(2.0)]
    qs = [TRNode.parameter(0.5), TRNode.parameter(0.1)]
    lt = lift_targets([1.0, np.inf])
    a = implicit_loss(ps, qs, *lt)
    b = implicit_loss(ps, qs, list(lt[0]), list(lt[1]))
    assert float(a.value) == float(b.value)
    assert float(margin_loss(qs, lt[1]).value) == float(margin_loss(qs, list(lt[1])).value)
    nodes = lift_targets([TRNode.constant(1.0), TRNode.constant(pinf())])
    assert nodes[0].tolist() == [1.0, 1.0] and nodes[1].tolist() == [1.0, 0.0]
    with pytest.raises(TypeError, match="Y_n is a ndarray of shape"):
        implicit_loss(ps, qs, np.ones((2, 1)), lt[1])


def test_coverage_function_answers_for_its_module_path():
    import zeroproof as zp
    import zeroproof.losses
    assert zp.losses.coverage.coverage([1.0, float("nan")]) == 0.5  # the checklist's spelling
    assert zp.losses.coverage([1.0, float("nan")]) == 0.5
    assert zp.losses.coverage.rejection_loss is zp.losses.rejection_loss


def test_empty_batches_follow_the_documented_rules():
    # docs/projective.md "Empty batches": the implicit mean of nothing is the STRICT mean (Φ →
    # NaN for plain inputs), its sum 0; the selecting losses give 0; coverage refuses.
    empty = np.zeros(0)
    assert math.isnan(implicit_loss(empty, empty, empty, empty))
    assert implicit_loss(empty, empty, empty, empty, reduction="sum") == 0.0
    assert margin_loss(empty, empty) == 0.0
    assert sign_consistency_loss(empty, empty, empty) == 0.0
    assert rejection_loss(empty, empty) == 0.0
    assert coverage_loss(empty, empty) == 0.0
    with pytest.raises(ValueError, match="empty input"):
        coverage_fn(empty)
