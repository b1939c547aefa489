"""Edges found by a robustness probe: copies, pickles, nested transforms, interrupts, weak
scalar operands, restored state."""
from __future__ import annotations

import copy
import pickle
import sys

import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import GradientModeConfig, TRNode, gradient_mode, no_grad, tr_grad


def test_deepcopy_and_pickle_of_a_leaf_tensor_are_independent_leaves():
    w = za.parameter(np.ones(3), name="w")
    w2 = copy.deepcopy(w)
    (w2 * 2.0).sum().backward()
    assert w.gradient is None and np.array_equal(w2.gradient.to_numpy(), [2.0, 2.0, 2.0])
    w3 = pickle.loads(pickle.dumps(w2))
    assert w3.name == "w" and w3.requires_grad
    assert np.array_equal(w3.gradient.to_numpy(), [2.0, 2.0, 2.0])
    (w3 * 1.0).sum().backward()
    assert np.array_equal(w2.gradient.to_numpy(), [2.0, 2.0, 2.0])  # untouched by w3's pass
    with pytest.raises(TypeError, match="computed by an op"):
        copy.deepcopy(w * 2.0)
    with pytest.raises(TypeError, match="computed by an op"):
        pickle.dumps(w * 2.0)


def test_deepcopied_layer_trains_on_its_own():
    from zeroproof.layers import RationalLayer
    from zeroproof.training import Adam

    l1 = RationalLayer(2, 2, seed=0)
    l2 = copy.deepcopy(l1)
    before = [p.codes.copy() for p in l2.parameters()]
    opt = Adam(l2.parameters(), lr=0.1)
    l2(np.linspace(-1, 1, 7)).sum().backward()
    opt.step()
    assert all(p.gradient is None for p in l1.parameters())
    assert any(not np.array_equal(p.codes, b) for p, b in zip(l2.parameters(), before))
    l3 = pickle.loads(pickle.dumps(l1))
    x = np.linspace(-1, 1, 5)
    assert np.array_equal(l3(x).codes, l1(x).codes)


def test_mixed_partials_through_nested_transforms():
    f = lambda x, y: x * x * y  # noqa: E731
    assert tr_grad(tr_grad(f, argnums=1), argnums=0)(3.0, 5.0).value == zp.real(6.0)
    assert tr_grad(tr_grad(f, argnums=0), argnums=1)(3.0, 5.0).value == zp.real(6.0)
    assert tr_grad(tr_grad(f, argnums=0), argnums=0)(3.0, 5.0).value == zp.real(10.0)


def test_transforms_compute_gradients_inside_no_grad():
    with no_grad():
        assert tr_grad(lambda x: x * x * x)(2.0).value == zp.real(12.0)
        value, g = zp.tr_value_and_grad(lambda x: x * x * x)(2.0)
        assert value.value == zp.real(8.0) and not value.requires_grad
        assert g.value == zp.real(12.0)
        assert zp.check_gradient(lambda x: x * x * x, 2.0).passed


def test_gradient_mode_restores_a_bound_set_inside_the_block():
    before = GradientModeConfig.get_saturation_bound()
    with gradient_mode("saturating"):
        GradientModeConfig.set_saturation_bound(0.7)
    assert GradientModeConfig.get_saturation_bound() == before


@pytest.mark.parametrize("stop_after", [3, 10, 25, 60, 140, 300])
def test_an_interrupt_anywhere_in_the_sweep_leaves_the_graph_reusable(stop_after):
    # Raise KeyboardInterrupt at the n-th line executed inside the generated sweep.
    x = TRNode.parameter(1.0)
    y = x
    for _ in range(50):
        y = y * 1.0 + 0.0
    _run_interrupted(y.backward, lambda code: code.co_filename.startswith("<sweep"), stop_after)
    x.zero_grad()
    y.backward()
    assert x.gradient == zp.real(1.0)


def test_scalar_operands_do_not_widen_float32_tensors_and_bools_are_refused():
    w32 = za.parameter(np.ones(3, np.float32))
    for other in (zp.real(3.0), np.float32(3), np.float16(3), 3.0, 3, np.int64(3)):
        assert (w32 * other).dtype == np.float32, type(other)
    assert (w32 * np.float64(3)).dtype == np.float64  # a NumPy float64 scalar promotes, as NumPy
    assert zp.tr_add(w32, zp.pinf()).dtype == np.float32
    with pytest.raises(TypeError, match="bool"):
        w32 * True
    with pytest.raises(TypeError, match="bool"):
        zp.tr_mul(True, w32)


def test_failed_tape_call_does_not_use_up_the_tape():
    from zeroproof.autodiff import gradient_tape

    x = TRNode.parameter(2.0)
    with gradient_tape() as tape:
        y = x * x
    with pytest.raises(TypeError):
        tape.gradient([y], x)
    assert tape.gradient(y, x).value == zp.real(4.0)


def test_monitor_copy_and_x_value_checked():
    from zeroproof.inference import StrictInferenceMonitor

    m = StrictInferenceMonitor("b").update(np.array([True, False]))
    m2 = copy.deepcopy(m)
    m2.update(np.array([True]))
    assert m.rates()["n_total"] == 2 and m2.rates()["n_total"] == 3
    assert pickle.loads(pickle.dumps(m)).rates() == m.rates()
    d = za.parameter(np.ones(3)) / za.parameter(np.ones(3))
    with pytest.raises(ValueError, match="does not broadcast"):
        d.x_value = np.zeros(7)
    assert repr(za.array(np.zeros((0, 3)))) == "TRArray([], shape=(0, 3), dtype=float64)"


@pytest.mark.parametrize("stop_after", [5, 20, 60, 150])
def test_an_interrupt_in_the_batched_sweep_leaves_the_graph_reusable(stop_after):
    w = za.parameter(np.ones(4))
    y = w
    for _ in range(10):
        y = y * 2.0 + 1.0
    y = y.sum()
    _run_interrupted(y.backward, lambda code: code.co_name in (
        "_sweep", "_give", "_contributions_into_g"), stop_after)
    w.zero_grad()
    y.backward()
    assert np.array_equal(w.gradient.to_numpy(), np.full(4, 2.0 ** 10))


def _run_interrupted(run, in_sweep, stop_after: int) -> None:
    """Run ``run()`` raising KeyboardInterrupt at the ``stop_after``-th line executed in a frame
    for which ``in_sweep(code)`` holds (deterministic stand-in for a Ctrl-C)."""
    count = [0]

    def tracer(frame, event, arg):
        if not in_sweep(frame.f_code):
            return None

        def local(frame, event, arg):
            if event == "line":
                count[0] += 1
                if count[0] == stop_after:
                    raise KeyboardInterrupt
            return local
        return local

    sys.settrace(tracer)
    try:
        run()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)


def test_scalar_node_leaves_copy_and_pickle_op_nodes_refuse():
    w = TRNode.parameter(2.0, name="w")
    w2 = copy.deepcopy(w)
    (w2 * 3.0).backward()
    assert w.gradient is None and w2.gradient == zp.real(3.0) and w2.name == "w"
    w3 = pickle.loads(pickle.dumps(w2))
    assert w3.requires_grad and w3.gradient == zp.real(3.0)
    assert pickle.loads(pickle.dumps(TRNode.constant(zp.bottom()))).value.tag is zp.TRTag.BOTTOM
    # an op node carries a creation number: copies could collide with live nodes in one pass
    for make in (copy.deepcopy, copy.copy, pickle.dumps):
        with pytest.raises(TypeError, match="computed by an op"):
            make(w * 2.0)
