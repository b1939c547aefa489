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
