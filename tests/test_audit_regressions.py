"""Regressions found by a SPEC audit (session 8): each test fails on the code before the fix."""
from fractions import Fraction

import numpy as np
import pytest

import zeroproof as zp
from zeroproof.autodiff import (
    HybridGradientContext, HybridGradientSchedule, TRNode, gradient_mode, gradient_tape,
)
from zeroproof.autodiff.backward import compute_input_gradients, grad, topological_sort
from zeroproof.autodiff.projective import angular_tuple, decode, encode, renormalize
from zeroproof.bridge import from_numpy, to_numpy


pytestmark = pytest.mark.usefixtures("fresh_gradient_state")


# -- a ⊥ gradient absorbs later contributions (TR addition, SPEC §4.2 and §3) -------------------

@pytest.mark.parametrize("mode", ["mask-real", "saturating", "hybrid"])
@pytest.mark.parametrize("second", [None, zp.phi(), zp.real(2.0)])
def test_bottom_gradient_survives_accumulation(mode, second):
    with gradient_mode(mode):
        x = TRNode.parameter(2.0)
        y = x * x
        y.backward(zp.bottom())
        assert x.gradient.tag is zp.TRTag.BOTTOM
        y.backward(second)
        assert x.gradient.tag is zp.TRTag.BOTTOM


# -- compute_input_gradients: the seed's named local step of backward.py ------------------------

def test_compute_input_gradients_is_the_local_rule():
    x, y = TRNode.parameter(2.0), TRNode.parameter(-4.0)
    assert compute_input_gradients(x / y) == (zp.real(-0.25), zp.real(-0.125))
    assert compute_input_gradients(x * 3.0) == (zp.real(3.0), None)        # constant: None
    assert compute_input_gradients(x / (y - y)) == (zp.real(0.0), zp.real(0.0))  # Mask-REAL
    assert compute_input_gradients(x) == ()
    sq = x * x
    assert compute_input_gradients(sq * x) == (zp.real(2.0), zp.real(4.0))  # direct only
    assert x.gradient is None
    q = TRNode.parameter(1e-3)
    with gradient_mode("saturating", saturation_bound=1.0):
        (g,) = compute_input_gradients(1.0 / q)[1:]
    assert abs(float(g)) <= 1.0
    with pytest.raises(TypeError, match="node must be a TRNode"):
        compute_input_gradients(2.0)


def test_grad_and_sort_name_bad_arguments():
    x = TRNode.parameter(2.0)
    (g,) = grad(x * x, x)  # one node, as PyTorch's autograd.grad accepts
    assert g.value == zp.real(4.0)
    with pytest.raises(TypeError, match=r"grad\(sources\): sources must be a TRNode"):
        grad(x * x, 3.0)
    with pytest.raises(TypeError, match=r"sources\[1\] must be a TRNode"):
        grad(x * x, [x, 2])
    with pytest.raises(TypeError, match=r"root must be a TRNode, got float"):
        topological_sort(3.0)
    with gradient_tape() as tape:
        z = x * x
    with pytest.raises(TypeError, match="sources must be a TRNode"):
        tape.gradient(z, 3.0)


# -- hybrid statistics: a batch is one backward pass ---------------------------------------------

def test_pass_without_decisions_leaves_no_batch_values_for_adaptive_delta():
    s = HybridGradientSchedule(delta_init=1e-2, delta_final=1e-2)  # adaptive by default
    with s.apply(0):
        x = TRNode.parameter(1e-5)
        (1 / x).backward()
        assert HybridGradientContext.get_statistics()["q_min_batch"] == 1e-5
        z = TRNode.parameter(0.0)
        (1 / z).backward()  # 1/0 = +∞: masked, no decision
        st = HybridGradientContext.get_statistics()
        assert st["q_min_batch"] is None and st["q_mean_batch"] is None and st["q_p50"] is None
        w = TRNode.parameter(0.015)
        (1 / w).backward()  # δ = 0.01 again: 0.015 is not near, the exact gradient
        assert float(w.gradient) == pytest.approx(-1 / 0.015 ** 2)


def test_exploration_regions_readable_after_the_block():
    s = HybridGradientSchedule(adaptive_delta=False)
    s.update_detected_poles([0.5], 0)
    with s.apply(1):
        x = TRNode.parameter(0.55)
        y = 1 / (x - 0.5)
        y.x_value = 0.55
        y.backward()
        inside = HybridGradientContext.get_statistics()["exploration_regions"]
    after = HybridGradientContext.get_statistics()
    assert inside == after["exploration_regions"] == [(0.45, 0.55)]
    assert after["saturating_activations"] == 1


@pytest.mark.parametrize("args", [("a",), (0.5, "a"), (True,)])
def test_should_use_saturating_refuses_non_numbers(args):
    with pytest.raises(TypeError, match="should_use_saturating"):
        HybridGradientContext.should_use_saturating(*args)


# -- projective helpers on IEEE floats and their error messages ----------------------------------

def test_decode_reads_plain_floats_through_the_ieee_bridge():
    assert decode(3.0, float("inf")) == zp.real(0.0)
    assert decode(float("nan"), 1.0).tag is zp.TRTag.PHI
    arr = decode(np.array([3.0, np.nan]), np.array([np.inf, 1.0]))
    assert arr[0] == decode(3.0, float("inf")) and arr[1].tag is decode(float("nan"), 1.0).tag
    assert angular_tuple(float("inf"))[0].tag is zp.TRTag.PHI


@pytest.mark.parametrize("call, words", [
    (lambda: encode(np.array(["a"])), "encode: x must hold real numbers"),
    (lambda: decode(np.array(["a"]), np.array(["b"])), "decode: N must hold real numbers"),
    (lambda: renormalize([TRNode.parameter(1.0)], [TRNode.parameter(2.0)]),
     "renormalize: N is a list of TRNodes"),
    (lambda: encode([[1.0, 2.0], [3.0]]), "encode: x must be a rectangular array"),
])
def test_projective_errors_name_function_and_argument(call, words):
    with pytest.raises(TypeError, match=words):
        call()


def test_semantic_labels_of_the_wrong_type_are_type_errors():
    from zeroproof.training import lift_semantic_targets
    for label in (None, True, 1.5):
        with pytest.raises(TypeError, match="target label must be"):
            lift_semantic_targets([1.0], [label])
    with pytest.raises(ValueError, match="unknown target label"):
        lift_semantic_targets([1.0], ["nope"])


# -- bridge and values ----------------------------------------------------------------------------

@pytest.mark.parametrize("values, tags, exc, words", [
    (np.array([1.0, 2.0]), np.array([0, 7]), ValueError, "not a TRTag code"),
    (np.array([1.0, 2.0]), np.array([0, 1.5]), TypeError, "tags must be an integer array"),
    (np.array([np.nan]), np.array([0]), ValueError, "REAL-tagged entry"),
    (np.array(["a"]), np.array([0]), TypeError, "values must be a real"),
])
def test_to_numpy_validates_values_and_tags(values, tags, exc, words):
    with pytest.raises(exc, match=words):
        to_numpy(values, tags)


def test_to_numpy_refuses_non_containers_and_still_round_trips():
    with pytest.raises(TypeError, match=r"to_numpy\(values\): values must be"):
        to_numpy(None)
    a = np.array([1.0, np.nan, np.inf, -np.inf, -0.0])
    back = to_numpy(*from_numpy(a))
    assert np.array_equal(back, a, equal_nan=True) and np.signbit(back[-1])


def test_equality_with_a_fraction_is_exact_and_agrees_with_hash():
    assert zp.real(0.1) != Fraction(1, 10)  # as 0.1 != Fraction(1, 10) in Python
    assert zp.real(0.5) == Fraction(1, 2) and hash(zp.real(0.5)) == hash(Fraction(1, 2))
    assert zp.pinf() != Fraction(1, 2)
    assert (zp.real(0.1) == Fraction(1, 10)) == (hash(zp.real(0.1)) == hash(Fraction(1, 10)))
