"""Differentiable joins on the batched tape: concatenate, stack and where (docs/vectorized.md)."""
import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import HybridGradientContext, HybridGradientSchedule, TRNode, gradient_mode


def _g(t):
    return t.gradient.to_numpy()


def _ident(a, b):
    return za.array_identical(a, b)


# -- concatenate -----------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_concatenate_routes_each_slice_of_the_gradient_back(axis):
    rng = np.random.default_rng(0)
    a = za.parameter(rng.standard_normal((2, 3)))
    b = za.parameter(rng.standard_normal((2, 3)) if axis in (0, None) else rng.standard_normal((2, 1)))
    c = za.constant(np.ones((1, 3)) if axis in (0, None) else np.ones((2, 2)))
    y = za.concatenate([a, c, b], axis=axis)
    ref = np.concatenate([a.to_numpy(), c.to_numpy(), b.to_numpy()], axis=axis)
    assert isinstance(y, za.TRTensor) and y.op == "concatenate" and y.requires_grad
    assert np.array_equal(y.to_numpy(), ref)
    go = rng.standard_normal(ref.shape)
    y.backward(go)
    if axis is None:
        assert np.array_equal(_g(a).ravel(), go[:6]) and np.array_equal(_g(b).ravel(), go[9:])
    else:
        ga, _, gb = np.split(go, np.cumsum([a.shape[axis], c.shape[axis]]), axis=axis)
        assert np.array_equal(_g(a), ga) and np.array_equal(_g(b), gb)


def test_concatenate_the_same_tensor_twice_accumulates():
    w = za.parameter([1.0, 2.0])
    y = za.concatenate([w, w * 10.0, w])
    (y * y).sum().backward()
    assert _g(w).tolist() == [2 * 1 + 200 * 1 + 2 * 1, 2 * 2 + 200 * 2 + 2 * 2]


def test_concatenate_values_are_the_trarray_join():
    f32 = za.parameter(np.array([1.5, 2.5], np.float32))
    bot = za.constant(za.array([zp.bottom(), zp.phi()]))
    y = za.concatenate([f32, bot, np.array([np.inf])])
    assert _ident(y.value, za.concatenate([f32.value, bot.value, za.array([np.inf])]))
    assert y.dtype == np.float64  # float32 with float64 promotes, as np.concatenate does
    assert za.concatenate([f32, f32]).dtype == np.float32
    y.backward(np.ones(5))
    assert f32.gradient.dtype == np.float32 and _g(f32).tolist() == [1.0, 1.0]


def test_concatenate_mask_real_per_element():
    x = za.parameter([0.0, 2.0])
    w = za.parameter([3.0])
    y = za.concatenate([1.0 / x, w * w])  # [+∞, 0.5, 9]: the +∞ element sends nothing
    y.backward(np.ones(3))
    assert _g(x).tolist() == [0.0, -0.25] and _g(w).tolist() == [6.0]


def test_concatenate_of_constants_records_nothing_and_no_grad_is_respected():
    assert not za.concatenate([za.constant([1.0]), za.constant([2.0])]).requires_grad
    w = za.parameter([1.0])
    with zp.no_grad():
        z = za.concatenate([w, w])
    assert not z.requires_grad


def test_numpy_functions_on_tensors_record_on_the_tape():
    w = za.parameter([1.0, 2.0])
    for y in (np.concatenate([w, w]), np.stack([w, w]), np.where(np.array([True, False]), w, 0.0)):
        assert isinstance(y, za.TRTensor) and y.requires_grad


def test_concatenate_errors():
    w = za.parameter([1.0, 2.0])
    with pytest.raises(ValueError, match=r"concatenate\(arrays, axis=0\): .*shapes \(2,\), \(2, 2\)"):
        za.concatenate([w, za.constant(np.ones((2, 2)))])
    with pytest.raises(TypeError, match=r"arrays must be a sequence of arrays .* got TRTensor"):
        za.tape.concatenate_tensors(w)
    with pytest.raises(ValueError, match="need at least one array"):
        za.tape.concatenate_tensors([])
    with pytest.raises(TypeError, match=r"concatenate does not accept TRNode arguments"):
        za.concatenate([TRNode.parameter(1.0), w])


# -- stack -----------------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack_gradient(axis):
    w = za.parameter([1.0, 2.0, 3.0])
    y = za.stack([w, w * w, za.constant([7.0, 8.0, 9.0])], axis=axis)
    assert np.array_equal(y.to_numpy(), np.stack([[1, 2, 3], [1, 4, 9], [7, 8, 9]], axis=axis))
    y.sum().backward()
    assert _g(w).tolist() == [3.0, 5.0, 7.0]  # 1 + 2w


def test_stack_errors():
    w = za.parameter([1.0, 2.0])
    with pytest.raises(ValueError, match=r"stack\(arrays, axis=0\): all input arrays must have "
                                         r"the same shape \(shapes \(2,\), \(3,\)\)"):
        za.stack([w, za.constant([1.0, 2.0, 3.0])])
    with pytest.raises(ValueError, match=r"stack\(arrays, axis\): axis=3 is out of bounds"):
        za.stack([w, w], axis=3)
    with pytest.raises(TypeError, match=r"stack\(arrays, axis\): axis must be an int, got float"):
        za.stack([w, w], axis=1.0)


# -- where -----------------------------------------------------------------------------------

def test_where_routes_the_gradient_to_the_chosen_operand():
    x = za.parameter([1.0, 0.0, -2.0])
    c = np.array([True, False, True])
    y = za.where(c, 1.0 / x, x)  # 1/0 = +∞ is not chosen: the result is REAL everywhere
    assert y.to_numpy().tolist() == [1.0, 0.0, -0.5]
    y.backward(np.ones(3))
    assert _g(x).tolist() == [-1.0, 1.0, -0.25]


def test_where_with_a_non_real_choice_masks_that_element():
    x = za.parameter([1.0, 0.0, -2.0])
    y = za.where(np.array([True, True, False]), 1.0 / x, x)  # [1, +∞, -2]
    y.backward(np.ones(3))
    assert _g(x).tolist() == [-1.0, 0.0, 1.0]


def test_where_broadcasts_and_sums_back():
    b = za.parameter([2.0])
    x = za.parameter(np.arange(6.0).reshape(2, 3))
    c = np.array([[True], [False]])
    y = za.where(c, b, x)
    assert y.to_numpy().tolist() == [[2.0, 2.0, 2.0], [3.0, 4.0, 5.0]]
    y.backward(np.full((2, 3), 2.0))
    assert _g(b).tolist() == [6.0] and _g(x).tolist() == [[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]


def test_where_keeps_dtype_rules_and_reads_its_condition_once():
    x = za.parameter(np.array([1.0, 2.0], np.float32))
    c = np.array([True, False])
    y = za.where(c, x, 0.5)
    assert y.dtype == np.float32 and _ident(y.value, za.where(c, x.value, 0.5))
    c[:] = [False, True]  # changing the caller's array afterwards changes nothing
    y.backward(np.ones(2, np.float32))
    assert _g(x).tolist() == [1.0, 0.0]


def test_where_unchosen_elements_make_no_hybrid_decisions():
    # as `1/q if c else 0` per element on the scalar tape: only chosen divisions decide
    q = np.array([0.5, 0.001, 2.0, 0.002])
    c = np.array([True, False, True, True])
    s = HybridGradientSchedule(delta_init=1e-2, delta_final=1e-2, adaptive_delta=False,
                               transition_epochs=0, force_pole_exploration=False)
    with s.apply(0):
        HybridGradientContext.reset_statistics()
        t = za.parameter(q)
        za.where(c, 1.0 / t, 0.0).sum().backward()
        batched = HybridGradientContext.get_statistics()
        grad = _g(t)
    with s.apply(0):
        HybridGradientContext.reset_statistics()
        scal = [TRNode.parameter(v) for v in q]
        total = None
        for node, chosen in zip(scal, c):
            term = 1.0 / node if chosen else TRNode.constant(0.0)
            total = term if total is None else total + term
        total.backward()
        scalar = HybridGradientContext.get_statistics()
    assert batched["total_gradient_calls"] == scalar["total_gradient_calls"] == 3
    assert batched["saturating_activations"] == scalar["saturating_activations"] == 1
    assert grad.tolist() == [0.0 if n.gradient is None else float(n.gradient) for n in scal]


def test_where_in_saturating_mode_and_float_nan_operands():
    with gradient_mode("saturating", saturation_bound=1.0):
        x = za.parameter([1e-9, 3.0])
        za.where(np.array([True, False]), 1.0 / x, x).sum().backward()
        assert abs(_g(x)[0]) <= 1.0 and _g(x)[1] == 1.0
    y = za.where(np.array([True, False]), za.parameter([1.0, 2.0]), np.nan)  # NaN reads as Φ
    assert y.value.tags.tolist() == [0, 3]


def test_where_errors():
    w = za.parameter([1.0, 2.0])
    with pytest.raises(TypeError, match=r"condition must be a bool array"):
        za.where(np.array([1, 0]), w, w)
    with pytest.raises(ValueError, match=r"do not broadcast"):
        za.where(np.array([True, False, True]), w, 0.0)


def test_where_broadcast_interior_operand_decides_once_per_place_taken():
    # N scalar passes of `1/p if c_i else const_i` decide twice (the two places 1/p is taken)
    s = HybridGradientSchedule(delta_init=0.1, delta_final=0.1, adaptive_delta=False,
                               transition_epochs=0, force_pole_exploration=False)
    with s.apply(0):
        HybridGradientContext.reset_statistics()
        p = za.parameter(np.array(0.05))
        za.where(np.array([True, True, False]), 1.0 / p, za.constant([5.0, 6.0, 7.0])).backward(
            np.ones(3))
        st = HybridGradientContext.get_statistics()
    assert (st["total_gradient_calls"], st["saturating_activations"]) == (2, 2)
    # twice the saturated d(1/p)/dp = −1/(p² + b²), bound b = 1
    assert float(p.gradient.to_numpy()) == pytest.approx(-2.0 / (0.05 ** 2 + 1.0), rel=1e-12)


def test_joins_read_their_constant_operands_as_the_trarray_joins_do():
    w = za.parameter([1.0, 2.0])
    y = za.concatenate([w, [zp.real(3.0), zp.bottom()]])  # a list of TRScalars
    assert _ident(y.value, za.concatenate([w.value, [zp.real(3.0), zp.bottom()]]))
    assert za.concatenate(t for t in [w, w]).requires_grad  # a generator of tensors
    assert za.stack(t for t in [w, w]).shape == (2, 2)
    f32 = za.parameter(np.array([1.0, 2.0], np.float32))
    for fill in (np.nan, np.inf, np.float32(-np.inf)):  # a non-finite float keeps float32
        assert za.where(np.array([True, False]), f32, fill).dtype == np.float32
        assert za.where(np.array([True, False]), f32.value, fill).dtype == np.float32


def test_join_errors_name_the_argument():
    w = za.parameter([1.0, 2.0])
    for other in ("a", None, 1j):
        with pytest.raises(TypeError, match=r"where\(condition, x, y\): y must be a TRArray, a "
                                            r"TRScalar, a real number or a real NumPy array"):
            za.where(np.array([True, False]), w, other)
    for bad in (w, w.value):
        with pytest.raises(TypeError, match=r"concatenate\(arrays, axis\): axis must be an int or "
                                            r"None, got float 1.5"):
            za.concatenate([bad, bad], axis=1.5)
    with pytest.raises(ValueError, match=r"condition must be a bool array .* got a ragged list"):
        za.where([[True], [True, False]], w, w)
