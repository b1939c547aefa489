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
