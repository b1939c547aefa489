"""Fifteenth-session fixes: TRNode.requires_grad validated, a tape warns when the target records
no graph, NumPy ufuncs on TRArray / TRTensor run their transreal twins (NEP 13)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import TRNode, gradient_tape


# -- TRNode.requires_grad ------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["no", 1, 0, None, 1.0])
def test_requires_grad_setter_takes_bools_only(bad):
    x = TRNode.constant(1.0)
    with pytest.raises(TypeError, match=r"requires_grad must be a bool .* got"):
        x.requires_grad = bad
    assert x.requires_grad is False


def test_requires_grad_setter_on_leaves_turns_a_constant_into_a_source():
    c = TRNode.constant(3.0)
    c.requires_grad = np.True_
    assert c.requires_grad is True
    y = c * c
    y.backward()
    assert c.gradient == zp.real(6.0)
    w = TRNode.parameter(2.0)
    w.requires_grad = False  # freezing a parameter
    assert not (w * 3.0).requires_grad
    c.zero_grad()
    (w * c).backward()
    assert w.gradient is None and c.gradient == zp.real(2.0)


def test_requires_grad_cannot_be_changed_on_a_computed_node():
    x = TRNode.parameter(2.0)
    y = x * x
    with pytest.raises(ValueError, match="only be changed on leaves.*mul.*detach"):
        y.requires_grad = False
    y.requires_grad = True  # unchanged: allowed, as in PyTorch
    y.backward()
    assert x.gradient == zp.real(4.0)


# -- gradient tape: a target that records no graph ------------------------------------------
def test_tape_warns_when_the_target_was_computed_before_watch():
    c = TRNode.constant(2.0)
    with gradient_tape() as tape:
        y = c * c
        tape.watch(c)
    with pytest.warns(UserWarning, match="records no graph.*before tape.watch"):
        g = tape.gradient(y, c)
    assert g.value == zp.real(0.0)


def test_tape_watched_before_computing_gives_no_warning():
    c = TRNode.constant(2.0)
    with gradient_tape() as tape:
        tape.watch(c)
        y = c * c
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tape.gradient(y, c).value == zp.real(4.0)


def test_tape_target_is_the_source_itself_gives_one_without_warning():
    c = TRNode.constant(2.0)
    with gradient_tape() as tape:
        tape.watch(c)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tape.gradient(c, c).value == zp.real(1.0)


# -- NumPy ufuncs on TRArray / TRTensor -----------------------------------------------------
X = za.array([2.0, 0.0, -1.0, np.inf, np.nan])


@pytest.mark.parametrize("ufunc, twin", [
    (np.exp, za.exp), (np.log, za.log), (np.sqrt, za.sqrt), (np.sin, za.sin),
    (np.cos, za.cos), (np.tanh, za.tanh), (np.negative, za.neg), (np.absolute, za.abs),
    (np.sign, za.sign),
])
def test_unary_ufuncs_run_the_transreal_twin(ufunc, twin):
    got = ufunc(X)
    assert isinstance(got, za.TRArray)
    assert za.array_identical(got, twin(X))


@pytest.mark.parametrize("ufunc, twin", [
    (np.add, za.add), (np.subtract, za.sub), (np.multiply, za.mul), (np.true_divide, za.div),
])
def test_binary_ufuncs_and_ndarray_operators_run_the_twin(ufunc, twin):
    other = np.array([1.0, 0.0, 0.0, -np.inf, 1.0])
    assert za.array_identical(ufunc(X, other), twin(X, other))
    assert za.array_identical(ufunc(other, X), twin(other, X))
    assert za.array_identical(np.add(other, X), other + X)
    assert za.array_identical(np.true_divide(other, X), other / X)
    # 1/0 = +∞ and 0/0 = Φ, not IEEE nan
    assert (np.array([1.0, 0.0]) / za.array([0.0, 0.0])).tags.tolist() == [1, 3]


def test_comparison_and_power_ufuncs_are_the_operators():
    other = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    assert np.array_equal(np.less(other, X), other < X)
    assert np.array_equal(np.less(other, X), X > other)
    assert np.array_equal(np.greater_equal(X, other), X >= other)
    assert np.array_equal(np.equal(X, X), X == X)  # Φ == Φ
    assert za.array_identical(np.power(X, 3), X ** 3)
    assert za.array_identical(np.positive(X), +X)
    with pytest.raises(TypeError, match="exponents must be ints"):
        np.power(2.0, X)


def test_ufunc_float32_stays_float32():
    a = za.array([1.0, 0.0], dtype=np.float32)
    assert np.exp(a).dtype == np.float32
    assert (np.float32(1.0) / a).tags.tolist() == [0, 1]


@pytest.mark.parametrize("call, match", [
    (lambda: np.isnan(X), "numpy.isnan is not supported on a TRArray.*to_numpy"),
    (lambda: np.maximum(X, 1.0), "numpy.maximum is not supported"),
    (lambda: np.add.reduce(X), "numpy.add.reduce .* use za.sum"),
    (lambda: np.multiply.accumulate(X), "numpy.multiply.accumulate is not supported"),
    (lambda: np.exp(X, out=np.empty(5)), r"out=.*x \+= a"),
    (lambda: np.exp(X, where=np.ones(5, bool)), r"numpy.exp\(where=...\)"),
])
def test_ufuncs_without_a_transreal_meaning_raise_naming_the_way(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_inplace_operator_on_a_numpy_array_raises_clearly():
    x = np.ones(5)
    with pytest.raises(TypeError, match=r"x = x \+ a"):
        x += X
    assert np.array_equal(x, np.ones(5))  # untouched


def test_ufuncs_on_tensors_are_differentiable():
    t = za.parameter([1.0, 2.0])
    y = (np.ones(2) * t + np.exp(t)).sum()
    y.backward()
    assert np.allclose(t.gradient.to_numpy(), 1.0 + np.exp([1.0, 2.0]), rtol=0, atol=1e-15)
    with pytest.raises(TypeError, match="TRTensor has no ordering"):
        np.less(np.ones(2), t)
    with pytest.raises(TypeError, match="numpy.isnan is not supported on a TRTensor"):
        np.isnan(t)


def test_nodes_keep_refusing_ufuncs():
    assert TRNode.__array_ufunc__ is None
    with pytest.raises(TypeError):
        np.exp(TRNode.parameter(1.0))


# -- hybrid statistics across tasks, update_epoch, unreached elements, float32 threshold -----
import asyncio  # noqa: E402

from zeroproof.autodiff import (  # noqa: E402
    GradientModeConfig, HybridGradientContext, HybridGradientSchedule, no_grad,
)


def _calls() -> tuple:
    st = HybridGradientContext.get_statistics()
    return st["total_gradient_calls"], st["saturating_activations"], st["q_min_batch"]


def test_a_task_goes_on_from_a_copy_of_its_creators_statistics():
    # a Jupyter cell runs as a new asyncio task with a copy of the previous cell's context
    HybridGradientContext.reset()
    s = HybridGradientSchedule(delta_init=1e-3, delta_final=1e-3, adaptive_delta=False)
    with s.apply(0):
        (1 / TRNode.parameter(1e-4)).backward()
    assert _calls() == (1, 1, 1e-4)

    async def next_cell() -> tuple:
        seen = _calls()
        with s.apply(0):
            (1 / TRNode.parameter(0.5)).backward()
        return seen, _calls()

    seen, after = asyncio.run(next_cell())
    assert seen == (1, 1, 1e-4)           # the creator's statistics, not an empty object
    assert after == (2, 1, 0.5)           # its own decision goes on from there
    assert _calls() == (1, 1, 1e-4)       # and never reaches the creator
    HybridGradientContext.reset()


def test_update_epoch_does_not_make_later_apply_blocks_nested():
    HybridGradientContext.reset()
    s = HybridGradientSchedule(delta_init=0.1, delta_final=0.1, adaptive_delta=False)
    GradientModeConfig.set_mode("hybrid")
    HybridGradientContext.set_schedule(s)
    HybridGradientContext.update_epoch(0)
    (1 / TRNode.parameter(0.05)).backward()
    GradientModeConfig.reset()
    HybridGradientContext.set_schedule(None)
    HybridGradientContext.reset_statistics()
    for epoch in range(3):
        with s.apply(epoch):
            for _ in range(epoch + 1):
                (1 / TRNode.parameter(0.05)).backward()
        st = HybridGradientContext.get_statistics()
        assert (st["current_epoch"], st["total_gradient_calls"]) == (epoch, epoch + 1)
    HybridGradientContext.reset()


def test_nested_apply_still_gives_the_outer_epochs_statistics_back():
    HybridGradientContext.reset()
    s = HybridGradientSchedule(delta_init=0.1, delta_final=0.1, adaptive_delta=False)
    with s.apply(4):
        (1 / TRNode.parameter(0.05)).backward()
        with s.apply(5):
            (1 / TRNode.parameter(0.5)).backward()
            (1 / TRNode.parameter(0.5)).backward()
        st = HybridGradientContext.get_statistics()
        assert (st["current_epoch"], st["total_gradient_calls"]) == (4, 1)
    HybridGradientContext.reset()


@pytest.mark.parametrize("pick", [lambda y: y[0:2], lambda y: y[[0, 1]],
                                  lambda y: y[np.array([True, True, False])],
                                  lambda y: y.reshape(3, 1)[0:2]])
def test_batched_elements_the_loss_never_uses_decide_nothing(pick):
    s = HybridGradientSchedule(delta_init=0.1, delta_final=0.1, adaptive_delta=False)
    HybridGradientContext.reset()
    x = za.parameter(np.array([0.5, 0.8, 1e-3]))  # element 2 is near the pole, unused
    with s.apply(1):
        pick(1 / x).sum().backward()
    assert _calls() == (2, 0, 0.5)
    assert x.gradient.to_numpy()[2] == 0.0
    HybridGradientContext.reset()
    xs = [TRNode.parameter(v) for v in (0.5, 0.8, 1e-3)]
    with s.apply(1):
        y = [1 / a for a in xs]
        (y[0] + y[1]).backward()
    assert _calls() == (2, 0, 0.5)  # the scalar tape, same graph
    HybridGradientContext.reset()


def test_float32_hybrid_threshold_is_compared_exactly():
    HybridGradientContext.reset()
    s = HybridGradientSchedule(delta_init=0.1, delta_final=0.1, adaptive_delta=False)
    u = np.float32(0.1)  # 0.100000001490116… > δ
    x = za.parameter(np.array([u], dtype=np.float32))
    with s.apply(0):
        (1 / x).backward(np.ones(1, dtype=np.float32))
    n = TRNode.parameter(float(u))
    with s.apply(0):
        (1 / n).backward()
    # the exact rule on both tapes (≈ −100; the saturated form would give ≈ −0.99)
    assert x.gradient.to_numpy()[0] < -99 and n.gradient.value < -99
    assert HybridGradientContext.get_statistics()["saturating_activations"] == 0
    HybridGradientContext.reset()


# -- in-place updates of parameters ---------------------------------------------------------
def test_inplace_update_under_no_grad_keeps_the_scalar_parameter():
    w = TRNode.parameter(0.0, name="w")
    w0 = w
    for _ in range(60):
        ((w - 3.0) ** 2).backward()
        with no_grad():
            w -= 0.1 * w.gradient
        w.zero_grad()
    assert w is w0 and w.is_leaf and w.requires_grad and w.name == "w"
    assert abs(w.item() - 3.0) < 1e-4
    with no_grad():
        w *= 2
        w /= 4
        w += zp.real(1.0)
    assert w is w0 and abs(w.item() - 2.5) < 1e-4


def test_inplace_update_under_no_grad_keeps_the_batched_parameter():
    w = za.parameter(np.array([0.0, 1.0], dtype=np.float32))
    w0 = w
    for _ in range(60):
        ((w - 3.0) ** 2).sum().backward()
        with no_grad():
            w -= 0.1 * w.gradient
        w.zero_grad()
    assert w is w0 and w.is_leaf and w.requires_grad and w.dtype == np.float32
    assert np.allclose(w.numpy(), 3.0, atol=1e-3)
    with no_grad(), pytest.raises(ValueError, match=r"shape \(2,\).*\(3, 2\)"):
        w += np.ones((3, 2))


@pytest.mark.parametrize("make", [lambda: TRNode.parameter(1.0),
                                  lambda: za.parameter(np.array([1.0]))])
def test_inplace_on_a_parameter_outside_no_grad_warns_and_rebinds(make):
    w = make()
    w0 = w
    with pytest.warns(UserWarning, match=r"outside no_grad\(\).*with no_grad\(\): p -= "):
        w -= 1.0
    assert w is not w0 and not w.is_leaf
    assert w0.item() == 1.0


def test_inplace_on_results_and_constants_still_rebinds_silently():
    x = TRNode.parameter(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = x * x
        first = total
        total += x              # the usual accumulation: a new node
        c = TRNode.constant(1.0)
        c0 = c
        with no_grad():
            c += 1.0            # a constant is not a parameter: rebinds
    assert total is not first and total.item() == 6.0
    assert c is not c0 and c0.item() == 1.0
    total.backward()
    assert x.gradient == zp.real(5.0)


# -- second order under a huge bound; tr_prod with zeros ------------------------------------
from zeroproof.autodiff import gradient_mode, tr_grad  # noqa: E402


def test_create_graph_under_a_bound_beyond_sqrt_max_gives_the_float_pass_values():
    with gradient_mode("saturating", 1e200):
        x, y = TRNode.parameter(1.0), TRNode.parameter(2.0)
        (x / y).backward()
        want = (x.gradient, y.gradient)
        x, y = TRNode.parameter(1.0), TRNode.parameter(2.0)
        (x / y).backward(create_graph=True)
        assert (x.gradient, y.gradient) == want == (zp.real(1e-200), zp.real(-0.0))
        assert tr_grad(lambda t: tr_grad(lambda s: 1 / s)(t))(2.0).value.tag == zp.TRTag.REAL


@pytest.mark.parametrize("vals, grads", [
    ((0.0, 1e300, 1e300, 1e300), [zp.pinf(), 0.0, 0.0, 0.0]),
    ((1e300, -1e300, 1e300, -0.0), [0.0, 0.0, 0.0, zp.ninf()]),
    ((0.0, 2.0, 3.0), [6.0, 0.0, 0.0]),
    ((2.0, 0.0, 0.0), [0.0, 0.0, 0.0]),
    ((1e300, 0.0, 1e-300), [0.0, 1.0, 0.0]),
])
def test_tr_prod_with_zeros_gives_each_entry_the_product_of_the_others(vals, grads):
    xs = [TRNode.parameter(v) for v in vals]
    p = zp.tr_prod(xs)
    p.backward()
    assert p.value == zp.real(0.0)
    got = [x.gradient for x in xs]
    assert got == [g if isinstance(g, zp.TRScalar) else zp.real(g) for g in grads]
    assert all(g.tag is not zp.TRTag.PHI for g in got)


# -- dtypes, conversions, names -------------------------------------------------------------
import math  # noqa: E402

from zeroproof.autodiff import grad  # noqa: E402


def test_big_endian_float32_stays_float32():
    be32 = np.array([1.0, 2.0], dtype=">f4")
    assert za.array(be32).dtype == np.float32
    assert za.from_numpy(be32).dtype == np.float32
    assert za.parameter(be32).dtype == np.float32
    assert zp.from_numpy(be32)[0].dtype == np.float32
    assert za.array([1.0], dtype=">f4").dtype == np.float32
    assert za.array(np.array([1.0], dtype=">f8")).dtype == np.float64
    assert za.array(np.array([1.0], dtype=np.float16)).dtype == np.float64  # (documented)
    assert za.array_identical(za.array(be32), za.array(be32.astype(np.float32)))


def test_numpy_float32_scalars_make_float32_leaves():
    for make in (za.parameter, za.constant, za.TRTensor):
        assert make(np.float32(1.5)).dtype == np.float32
    assert za.parameter(np.float64(1.5)).dtype == np.float64


def test_masked_arrays_are_refused_naming_the_way():
    m = np.ma.array([1.0, 2.0], mask=[False, True])
    for call in (lambda: za.array(m), lambda: za.parameter(m), lambda: zp.from_numpy(m),
                 lambda: za.array([1.0, 1.0]) + m):
        with pytest.raises(TypeError, match=r"masked array.*m.filled\(np.nan\)"):
            call()
    assert za.array(m.filled(np.nan)).tags.tolist() == [0, 3]


def test_trscalar_item_and_trunc():
    assert zp.real(2.5).item() == 2.5 and zp.pinf().item() == math.inf
    assert math.isnan(zp.phi().item())
    assert math.trunc(zp.real(-2.7)) == -2
    with pytest.raises(OverflowError):
        math.trunc(zp.ninf())
    assert int(za.array(2.7)) == 2 and int(za.array([-2.7])) == -2
    with pytest.raises(TypeError, match="exactly one element"):
        int(za.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="modulus is not supported"):
        pow(zp.real(2.0), 2, 3)


def test_conversion_and_shape_names_on_both_array_types():
    a, t = za.array([[1.0, 2.0]]), za.constant([[1.0, 2.0]])
    assert np.array_equal(a.numpy(), a.to_numpy()) and np.array_equal(t.to_numpy(), t.numpy())
    assert a.flatten().shape == a.ravel().shape == (2,)
    assert t.ravel().shape == t.flatten().shape == (2,)
    assert a.squeeze().shape == t.squeeze().shape == (2,)
    assert a.squeeze(0).shape == (2,)
    with pytest.raises(ValueError, match="axis 1 does not have length 1"):
        a.squeeze(1)
    w = za.parameter([[1.0, 2.0]])
    (w.ravel() * 3.0).sum().backward()
    assert w.gradient.to_numpy().tolist() == [[3.0, 3.0]]


def test_grad_takes_a_dict_of_sources_on_both_tapes():
    x = TRNode.parameter(2.0)
    assert {k: v.value for k, v in grad(x * x, {"x": x}).items()} == {"x": zp.real(4.0)}
    w = za.parameter([1.0, 2.0])
    got = za.grad((w * w).sum(), {"w": w})
    assert list(got) == ["w"] and got["w"].to_numpy().tolist() == [2.0, 4.0]


def test_mixing_messages_name_the_right_remedy():
    x = TRNode.parameter(1.0)
    with pytest.raises(TypeError, match="must be a TRNode, TRScalar or real number.*bool"):
        x * np.bool_(True)
    with pytest.raises(TypeError, match="TRTensor \\(batched tape\\) does not combine with a "
                                        "scalar TRNode.*node.value"):
        x + za.parameter([1.0])
    assert (x * np.float64(2.0)).item() == 2.0
