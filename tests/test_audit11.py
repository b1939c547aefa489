"""Regression tests for the defects found in the eleventh session's audit."""
from __future__ import annotations

import numpy as np

import zeroproof.array as za


def test_grad_zeros_for_unreached_source_keep_the_source_dtype() -> None:
    w = za.parameter(np.array([1.0, 2.0], dtype=np.float32))
    v = za.parameter(np.array([3.0, 4.0], dtype=np.float32))
    gw, gv = za.grad((w * w).sum(), [w, v])
    assert gw.dtype == np.float32
    assert gv.dtype == np.float32
    np.testing.assert_array_equal(gv.to_numpy(), [0.0, 0.0])


# --- huge ints: a ValueError that names the operand, never a bare OverflowError -------------------
import pytest  # noqa: E402

import zeroproof as zp  # noqa: E402
from zeroproof.autodiff import (  # noqa: E402
    HybridGradientContext, HybridGradientSchedule, TRNode, stop_gradient,
)
from zeroproof.core._parse import short_repr  # noqa: E402


@pytest.mark.parametrize("make", [
    lambda: za.parameter(np.ones(2)) + 10**400,
    lambda: 10**400 * za.parameter(np.ones(2)),
    lambda: za.parameter(np.ones(2)) / -(10**400),
    lambda: za.array([10**400]),
    lambda: za.array([[1.0], [10**400]]),
    lambda: zp.tr_add(za.parameter(np.ones(2)), 10**400),
])
def test_huge_int_operands_on_the_batched_tape_are_value_errors(make):
    with pytest.raises(ValueError, match="does not fit in a float64"):
        make()


def test_error_messages_never_show_a_cut_number_as_if_it_were_the_value():
    with pytest.raises(ValueError) as info:
        zp.real(10**400)
    assert "<int of 401 digits>" in str(info.value)
    assert "1000000000000000000000000000000000000000 " not in str(info.value)
    assert short_repr(-(10**5000)).startswith("<negative int of about 500")
    assert short_repr("x" * 100, 20).endswith("…") and len(short_repr("x" * 100, 20)) == 20
    assert short_repr(12345) == "12345"

    class Broken:
        def __repr__(self):
            raise RuntimeError("no repr")

    assert "Broken object" in short_repr(Broken(), 200)


def test_optimizer_messages_for_unbounded_hyper_parameters():
    from zeroproof.training import SGD, Adam

    w = za.parameter([1.0])
    with pytest.raises(ValueError, match=r"weight_decay must be a finite number >= 0.0, got inf"):
        Adam([w], weight_decay=float("inf"))
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0, got <int of 401"):
        SGD([w], lr=10**400)


# --- reset_statistics inside an apply block keeps the block's epoch ------------------------------
def test_reset_statistics_inside_apply_keeps_current_epoch():
    HybridGradientContext.reset()
    s = HybridGradientSchedule()
    with s.apply(3):
        HybridGradientContext.reset_statistics()
        x = TRNode.parameter(1e-3)
        (1 / x).backward()
        st = HybridGradientContext.get_statistics()
    assert st["current_epoch"] == 3
    assert st["total_gradient_calls"] == 1
    assert HybridGradientContext.get_statistics()["current_epoch"] == 3
    HybridGradientContext.reset()
    HybridGradientContext.reset_statistics()
    assert HybridGradientContext.get_statistics()["current_epoch"] is None


def test_reset_statistics_in_a_nested_block_gives_the_outer_epoch_back():
    HybridGradientContext.reset()
    s = HybridGradientSchedule(delta_init=1e-2, delta_final=1e-2, adaptive_delta=False)
    with s.apply(1):
        x = TRNode.parameter(1e-3)
        (1 / x).backward()
        with s.apply(2):
            HybridGradientContext.reset_statistics()
            assert HybridGradientContext.get_statistics()["current_epoch"] == 2
        st = HybridGradientContext.get_statistics()
    assert st["current_epoch"] == 1
    assert st["total_gradient_calls"] == 1
    HybridGradientContext.reset()


# --- .T reverses the axes (NumPy), .mT swaps the last two; both differentiable ------------------
def test_tensor_transposes_follow_numpy_and_send_gradients_back():
    base = np.arange(24.0).reshape(2, 3, 4)
    for view, perm in (("T", (2, 1, 0)), ("mT", (0, 2, 1))):
        w = za.parameter(base)
        t = getattr(w, view)
        assert t.shape == base.transpose(perm).shape
        np.testing.assert_array_equal(t.numpy(), base.transpose(perm))
        weights = np.arange(24.0).reshape(t.shape) + 1.0
        (t * za.constant(weights)).sum().backward()
        np.testing.assert_array_equal(w.gradient.to_numpy(), weights.transpose(np.argsort(perm)))
        np.testing.assert_array_equal(getattr(za.array(base), view).to_numpy(),
                                      base.transpose(perm))
    w = za.parameter(base)
    t = w.transpose(1, -1, 0)
    (t * za.constant(np.ones(t.shape))).sum().backward()
    np.testing.assert_array_equal(w.gradient.to_numpy(), np.ones(base.shape))
    assert za.parameter(np.eye(2)).T.shape == (2, 2)
    v = za.parameter([1.0, 2.0])
    assert v.T is v
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        v.mT
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        za.array([1.0]).mT
    with pytest.raises(ValueError, match="permutation of range"):
        w.transpose(0, 0, 1)
    with pytest.raises(TypeError, match="axes must be ints"):
        w.transpose("a", 0, 1)


def test_transpose_keeps_bottom_entries():
    arr = za.array([[zp.bottom(), zp.real(1.0)], [zp.real(2.0), zp.real(3.0)]])
    t = za.constant(arr)
    assert t.T.value.tags.tolist() == arr.T.tags.tolist()
    assert str(t.T.value[0, 0]) == "⊥"


# --- za functions take tensors (like jnp.sqrt / torch.sqrt) --------------------------------------
def test_array_functions_record_on_the_tape_for_tensors():
    w = za.parameter(np.array([1.0, 4.0]))
    y = za.sum(za.mul(za.sqrt(w), za.pow_int(w, 2)))   # Σ w^2.5
    y.backward()
    np.testing.assert_allclose(w.gradient.to_numpy(), 2.5 * np.array([1.0, 4.0]) ** 1.5)
    m = za.parameter(np.eye(2))
    za.mean(za.matmul(m, np.ones((2, 1)))).backward()
    np.testing.assert_array_equal(m.gradient.to_numpy(), np.full((2, 2), 0.5))
    for name in ("log", "exp", "sin", "cos", "tanh", "relu", "abs", "neg", "sign"):
        out = getattr(za, name)(za.parameter([0.5]))
        assert isinstance(out, za.TRTensor) and out.requires_grad
        assert za.array_identical(out.value, getattr(za, name)(za.array([0.5])))
    with pytest.raises(TypeError, match="sum and mean only"):
        za.prod(w)
    with pytest.raises(ValueError, match="STRICT"):
        za.sum(w, mode="drop_null")


def test_stop_gradient_of_an_array_is_a_batched_constant():
    t = stop_gradient(za.array([1.0, np.inf]))
    assert isinstance(t, za.TRTensor) and not t.requires_grad
    assert stop_gradient(np.array([2.0])).value.to_numpy().tolist() == [2.0]
    with pytest.raises(TypeError, match="stop_gradient"):
        stop_gradient("a")


# --- error-behaviour audit: validators, seeds, warnings ------------------------------------------
import warnings  # noqa: E402

import zeroproof.autodiff as ad  # noqa: E402
import zeroproof.autodiff.projective as pj  # noqa: E402
import zeroproof.inference as zinf  # noqa: E402
import zeroproof.layers as L  # noqa: E402
import zeroproof.losses as lo  # noqa: E402
import zeroproof.metrics as met  # noqa: E402
import zeroproof.training as tr  # noqa: E402

BIG = 10**400


@pytest.mark.parametrize("call", [
    lambda: ad.GradientModeConfig.set_saturation_bound(BIG),
    lambda: ad.HybridGradientSchedule(delta_init=BIG),
    lambda: ad.check_gradient(lambda x: x * x, 1.0, eps=BIG),
    lambda: ad.check_gradient(lambda x: x * x, 1.0, atol=BIG),
    lambda: pj.decode(1.0, 1.0, tau=BIG),
    lambda: pj.renormalize(1.0, 1.0, gamma=BIG),
    lambda: pj.angular_tuple(BIG),
    lambda: lo.implicit_loss(1.0, 1.0, 1.0, 1.0, gamma=BIG),
    lambda: L.RationalLayer(init_scale=BIG),
    lambda: L.basis_matrix(BIG, 2),
    lambda: zinf.StrictInferenceMonitor("b").check(BIG),
    lambda: setattr(ad.tr_div(1.0, ad.TRNode.parameter(1.0)), "x_value", BIG),
])
def test_huge_ints_are_value_errors_naming_the_argument(call):
    with pytest.raises(ValueError, match="int of 401 digits"):
        call()


def test_get_delta_takes_any_int_epoch_and_checks_stats():
    s = ad.HybridGradientSchedule(delta_init=1e-2, delta_final=1e-6, adaptive_delta=False)
    assert s.get_delta(BIG) == s.get_delta(10**6) == pytest.approx(1e-6)
    assert s.get_delta(10) == 1e-2 * (1e-6 / 1e-2) ** 0.5
    with pytest.raises(TypeError, match="stats must be a HybridStatistics"):
        s.get_delta(3, 1)


def test_check_gradient_says_when_eps_cannot_probe_x():
    r = ad.check_gradient(lambda x: x * x, 1.0, eps=1e-320)
    assert not r.passed and "vanishes against x" in r.reason
    r = ad.check_gradient(lambda x: x * 0.5, 1e308, eps=1e308)
    assert not r.passed and "leaves the float range" in r.reason
    assert ad.check_gradient(lambda x: x * x, 1.0).passed


@pytest.mark.parametrize("seed", [float("nan"), np.inf, np.array([1.0, np.nan])])
def test_batched_backward_refuses_non_finite_seeds_like_the_scalar_tape(seed):
    w = za.parameter(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="grad_output must be finite"):
        (w * w).backward(seed)
    with pytest.raises(ValueError, match="grad_output must be finite"):
        za.grad(w * w, [w], seed)


def test_batched_backward_refuses_bool_seeds_and_keeps_explicit_trarray_seeds():
    w = za.parameter(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="grad_output"):
        (w * w).sum().backward(True)
    (w * w).backward(za.array([np.inf, 1.0]))   # tags given on purpose: kept
    assert w.gradient.tags.tolist() == [1, 0]


def test_requires_grad_and_keepdims_and_exact_are_bools_not_truthiness():
    with pytest.raises(TypeError, match="requires_grad must be a bool"):
        za.TRTensor(np.ones(2), requires_grad="no")
    c = za.constant(np.ones(2))
    with pytest.raises(TypeError, match="requires_grad must be a bool"):
        c.requires_grad = "False"
    assert not c.requires_grad
    a = za.array([[1.0, 2.0]])
    with pytest.raises(TypeError, match="keepdims must be a bool"):
        za.sum(a, axis=0, keepdims="no")
    with pytest.raises(TypeError, match="keepdims must be a bool"):
        za.parameter(np.ones((1, 2))).sum(0, keepdims="no")
    with pytest.raises(TypeError, match="exact must be a bool"):
        za.parameter(np.ones((1, 2))).sum(0, False, "no")
    assert za.sum(a, axis=0, keepdims=np.True_).shape == (1, 2)


def test_messages_name_the_callers_argument_not_an_internal_one():
    with pytest.raises(TypeError, match=r"^TRTensor\(value\): value must be array-like") as e:
        za.parameter(None)
    with pytest.raises(TypeError, match=r"^neg\(x\): x must hold real numbers"):
        za.neg(np.array(["a"]))
    with pytest.raises(TypeError, match=r"basis_matrix\(x\): x"):
        L.basis_matrix(None, 2)
    with pytest.raises(TypeError, match=r"basis_matrix\(x\): x"):
        L.basis_matrix("0.5", 2)
    assert "from_numpy" not in str(e.value)


def test_a_parameter_made_from_a_trarray_does_not_share_its_memory():
    src = za.array([1.0, 2.0])
    w = za.parameter(src)
    w.set_value(np.array([5.0, 6.0]))
    assert src.to_numpy().tolist() == [1.0, 2.0]


def test_small_setters_validate_like_their_constructors():
    n = ad.TRNode.parameter(1.0)
    with pytest.raises(TypeError, match="name must be a str or None"):
        n.name = {"a": 1}
    c = met.tau_infer_sweep_from_q_abs(np.array([0.1]), np.array([True]), [1e-3])
    with pytest.raises(TypeError, match="title must be a str or None"):
        met.write_tau_infer_sweep(c, "/tmp", title={"not": "a title"})
    with pytest.raises(TypeError, match="shape must be an int or a tuple of ints"):
        za.zeros(b"x")
    w = za.parameter(np.array([1.0]))
    o = tr.Adam([w])
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        o.eps = -1.0
    with pytest.raises(ValueError, match=r"betas\[0\]"):
        o.betas = (2.0, 0.5)
    o2 = tr.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        o2.momentum = 5.0
    with pytest.raises(ValueError, match="weight_decay"):
        o2.weight_decay = float("nan")
    assert (o.eps, o.betas, o2.momentum, o2.weight_decay) == (1e-8, (0.9, 0.999), 0.0, 0.0)


def test_ordinary_calls_on_extreme_values_do_not_leak_runtime_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        head = zinf.PolynomialRationalHead(1)
        head(np.array([[1e200], [np.inf]]))
        zinf.SCMInferenceWrapper(head, zinf.InferenceConfig()).eval()(np.array([[np.inf]]))
        zinf.export_bundle(head, tmp_path / "b", reference_inputs=np.array([[1e200], [0.5]]))
        assert za.full(2, 1e300, dtype=np.float32).tags.tolist() == [1, 1]
        p32 = za.parameter(np.ones(2, np.float32))
        p32.set_value(np.array([1e300, 1.0]))
        assert p32.value.tags.tolist() == [1, 0]
        lin = L.Linear(1, 1, dtype=np.float32)
        lin.load_state_dict({k: np.full(v.shape, 1e300) for k, v in lin.state_dict().items()})


def test_chordal_loss_is_finite_for_predictions_near_the_float_range():
    from zeroproof.training import chordal_loss

    p = za.parameter([1e308, -1e308, 1e200])
    loss = chordal_loss(p, np.array([1.0, 1.0, 1.0]))
    # the point v ↦ ((1 − v²)/(1 + v²), 2v/(1 + v²)) is (−1, ~0) there; the target 1 is (0, 1)
    np.testing.assert_allclose(loss.numpy(), [2.0, 2.0, 2.0], rtol=1e-15)
    loss.sum().backward()
    assert p.gradient.tags.tolist() == [0, 0, 0]


def test_raw_python_messages_replaced_by_ones_naming_the_argument():
    w = za.parameter(np.ones((2, 3)))
    with pytest.raises(TypeError, match="axis must be None, an int or a tuple of ints"):
        w.sum(axis="a")
    with pytest.raises(ValueError, match="repeats an axis"):
        w.sum(axis=(0, 0))
    with pytest.raises(TypeError, match="state must be a dict"):
        L.Linear(2, 3).load_state_dict(None)
    with pytest.raises(TypeError, match="monitors must be an iterable"):
        zinf.StrictInferenceMonitor.merge_all(None)
    with pytest.raises(TypeError, match="reduction must be one of"):
        lo.implicit_loss(1.0, 1.0, 1.0, 1.0, reduction=3)
    with pytest.raises(TypeError, match=r"grad\(sources\)"):
        za.grad(w.sum(), None)
    (g,) = za.grad((w * w).sum(), w)   # a single tensor: a one-element list
    np.testing.assert_array_equal(g.to_numpy(), np.full((2, 3), 2.0))


def test_complex_and_string_inputs_are_refused_not_silently_cast():
    with pytest.raises(TypeError, match="domain must be a pair"):
        L.RationalLayer(domain=np.array([-1 + 3j, 1 + 0j]))
    with pytest.raises(TypeError, match="pole_domain must be a pair"):
        tr.TrainingConfig(pole_domain=np.array([-1 + 1j, 1 + 0j]))
    with pytest.raises(TypeError, match="target_sign must"):
        lo.sign_consistency_loss([1.0, 1.0], [1.0, 1.0], np.array([1 + 1j, -1 + 0j]))
    with pytest.raises(TypeError, match="target_sign must"):
        lo.sign_consistency_loss([1.0], [1.0], "abc")
    with pytest.raises(TypeError, match="x must be an array of real numbers"):
        L.ProjectiveRationalHead(1, seed=0).features(np.array([[0.5 + 1j]]))
    with pytest.raises(TypeError, match="x must be an array of real numbers"):
        L.ProjectiveRationalHead(1, seed=0).predict_pq([["0.5"]])
    with pytest.raises(TypeError, match="Y_d must hold real numbers"):
        lo.rejection_loss([1.0], [1.0], Y_d="abc")
    assert L.RationalLayer(domain=np.array([-2.0, 2.0])).domain == (-2.0, 2.0)
    assert tr.TrainingConfig(pole_domain=(-1, 1)).pole_domain == (-1.0, 1.0)


def test_log_tuples_checks_its_arguments_with_logging_off_and_reads_numpy_decoded(caplog):
    import logging

    with pytest.raises(TypeError, match="log_tuples: N"):
        pj.log_tuples("abc", None)
    with pytest.raises(ValueError, match="same number of elements"):
        pj.log_tuples(np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match="limit must be an int"):
        pj.log_tuples(np.ones(2), np.ones(2), limit="8")
    with caplog.at_level(logging.DEBUG, logger="zeroproof.projective"):
        pj.log_tuples(np.ones(2), np.array([1.0, 0.0]), decoded=np.array([1.0, np.nan]))
    # a NumPy decoded array is what decode_masked / strict_inference return: NaN there is ⊥
    assert "→ ⊥" in caplog.text and "bottom=1" in caplog.text


def test_absurd_sizes_are_value_errors_not_hangs_or_memory_errors():
    with pytest.raises(ValueError, match="monomials, more than"):
        zinf.PolynomialRationalHead(1, degree_p=BIG)
    with pytest.raises(ValueError, match="monomials, more than"):
        L.ProjectiveRationalHead(100, degree_p=6)
    with pytest.raises(ValueError, match=r"degree must be an int >= 0 and <= 10000"):
        L.basis_matrix(np.ones(3), BIG)
    with pytest.raises(ValueError, match="in_features must be an int >= 1 and <="):
        L.Linear(BIG, 1)
    with pytest.raises(ValueError, match="degree_p must be"):
        L.RationalLayer(BIG)
    assert zinf.PolynomialRationalHead(3, degree_p=3).features(np.ones((1, 3)), 3).shape == (1, 20)


def test_example_inputs_check_n_and_seed():
    with pytest.raises(TypeError, match="n must be an int"):
        L.RationalLayer(1, 1).example_inputs(True)
    with pytest.raises(TypeError, match="seed must be"):
        zinf.PolynomialRationalHead(1).example_inputs(2, seed=True)
    with pytest.raises(ValueError, match="seed must be"):
        L.ProjectiveRationalHead(2).example_inputs(2, seed=-1)
    assert zinf.PolynomialRationalHead(1).example_inputs().shape == (8, 1)


def test_plain_float_nan_in_a_loss_is_phi_like_in_an_array_and_angular_tuple_names_theta():
    assert np.isnan(lo.implicit_loss(1.0, float("nan"), 1.0, 1.0))
    assert np.isnan(lo.implicit_loss([1.0], [float("nan")], [1.0], [1.0]))
    assert np.isnan(lo.margin_loss(float("nan"), 1.0))
    with pytest.raises(TypeError, match="angular_tuple: theta"):
        pj.angular_tuple("abc")


def test_scalar_exp_sin_tanh_do_not_raise_under_a_strict_numpy_error_state():
    old = np.seterr(all="raise")
    try:
        assert float(zp.tr_exp(zp.real(-746.0))) == 0.0
        with np.errstate(under="ignore"):
            expected = float(np.exp(np.float64(-708.5)))
        assert float(zp.tr_exp(zp.real(-708.5))) == expected
        assert float(zp.tr_sin(zp.real(5e-324))) == 5e-324
        assert str(zp.tr_tanh(zp.real(-5e-324))) == str(zp.real(-5e-324))
        assert float(ad.tr_exp(ad.TRNode.parameter(-746.0)).value) == 0.0
    finally:
        np.seterr(**old)
