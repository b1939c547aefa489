"""Batched tape: what a graph keeps alive (saved values only), the saved-values rule checked
against what each rule really reads, and bad input (shapes, dtypes, mixing tapes, misuse)."""
from __future__ import annotations

import gc
import itertools
import tracemalloc
from typing import Any

import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.array.tape import ARRAY_VOCAB
from zeroproof.autodiff import TRNode
from zeroproof.autodiff.hybrid_gradient import ACTIVE_PASS, HybridDecider, HybridStatistics
from zeroproof.autodiff.ops_table import (
    CONST_OPS,
    CONCAT, DIV, INDEX, LOG, MATMUL, MEAN, OP_NAMES, POW, RESHAPE, SQRT, SUM, WHERE,
)
from zeroproof.autodiff.rules import TABLES, bind_split_table, bind_table, needed_values

N = 100_000
ARRAY_BYTES = N * 8


# ---- memory -------------------------------------------------------------------------------------
def test_long_horner_chain_keeps_about_one_array_alive():
    """p ← p·x + c, 100 times, coefficients of shape (): the mul rule for p needs x only (shared),
    the add rule nothing, so no intermediate is saved. Kept: one array at a time (not 100)."""
    x = za.constant(np.linspace(-1.0, 1.0, N))
    cs = [za.parameter(np.array(0.01 * i)) for i in range(100)]
    gc.collect()
    tracemalloc.start()
    try:
        p = cs[0]
        for c in cs[1:]:
            p = p * x + c
        current, peak = tracemalloc.get_traced_memory()
        assert peak < 6 * ARRAY_BYTES, peak / ARRAY_BYTES
        assert current < 3 * ARRAY_BYTES, current / ARRAY_BYTES
        tracemalloc.reset_peak()
        p.backward(np.ones(N))
        _, peak = tracemalloc.get_traced_memory()
        assert peak < 12 * ARRAY_BYTES, peak / ARRAY_BYTES
    finally:
        tracemalloc.stop()
    assert all(np.isfinite(c.gradient.codes) for c in cs)


def test_an_unneeded_intermediate_is_freed_when_its_tensor_is_dropped():
    w = za.parameter(np.array(0.5))
    x = za.constant(np.linspace(0.0, 1.0, N))
    gc.collect()
    tracemalloc.start()
    try:
        t = w + x  # add saves nothing
        u = t * 2.0  # d(t·2)/dt = 2: t's value is not saved
        before = tracemalloc.get_traced_memory()[0]
        del t
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert before - after >= 0.9 * ARRAY_BYTES  # t's array went away with t
    u.sum().backward()
    assert float(w.gradient.codes) == 2.0 * N


def test_a_needed_value_is_kept_after_the_tensor_is_dropped():
    w = za.parameter(np.linspace(1.0, 2.0, 5))
    t = zp.tr_exp(w)  # exp saves its output
    y = (t * 3.0).sum()
    del t
    gc.collect()
    y.backward()
    np.testing.assert_allclose(w.gradient.to_numpy(), 3.0 * np.exp(np.linspace(1.0, 2.0, 5)))


# ---- saved values: needed_values matches what the rules read -----------------------------------
class Poison:
    """Stands for a value the tape did not save: any use raises."""

    def _boom(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a rule read a value that needed_values said it does not need")

    __array__ = __float__ = __bool__ = __index__ = __len__ = __iter__ = _boom
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _boom
    __truediv__ = __rtruediv__ = __neg__ = __abs__ = __pow__ = __matmul__ = __rmatmul__ = _boom
    __lt__ = __le__ = __gt__ = __ge__ = __getitem__ = _boom

    def __array_ufunc__(self, *args: Any, **kwargs: Any) -> Any:
        self._boom()

    def __array_function__(self, *args: Any, **kwargs: Any) -> Any:
        self._boom()

    def __getattr__(self, name: str) -> Any:
        self._boom()


CONST_OP_CODES = frozenset(code for pair in CONST_OPS.values() for code in pair)


def _inputs(op: int) -> tuple[Any, Any, Any, Any, Any]:
    """(g, a, b, out, k) of a REAL node of ``op`` with realistic shapes."""
    a = np.array([0.5, 1.5, 2.0])
    b = np.array([2.0, -0.5, 0.25])
    if op == MATMUL:
        a, b = np.ones((2, 3)), np.ones((3, 4))
        return np.ones((2, 4)), a, b, a @ b, None
    if op in (SUM, MEAN):
        return np.array(1.0), a, None, np.array(a.sum()), ((0,), False, (3,), 3)
    if op == RESHAPE:
        return np.ones((3, 1)), a, None, a.reshape(3, 1), (3,)
    if op == INDEX:
        return np.ones(2), a, None, a[[0, 2]], ([0, 2], (3,))
    if op == CONCAT:
        return np.ones(5), a, None, np.concatenate([a, a[:2]]), (0, (3, 5))
    if op == WHERE:
        return np.ones(3), a, b, np.where([True, False, True], a, b), np.array([True, False, True])
    if op == POW:
        return np.ones(3), a, None, a ** -2, -2
    if op in CONST_OP_CODES:  # scalar-tape x ⊙ c: one input, the constant in k
        return np.ones(3), a, None, a, 2.5
    return np.ones(3), a, b, a, None  # ``out`` only needs to be REAL here


@pytest.mark.parametrize("table_name", list(TABLES))
@pytest.mark.parametrize("op", sorted({op for t in TABLES.values() for op in t}),
                         ids=lambda op: OP_NAMES[op])
def test_rules_read_only_the_values_needed_values_names(table_name, op):
    table = TABLES[table_name]
    if op not in table:
        pytest.skip("op not in this table")
    vocab = dict(ARRAY_VOCAB, B=1.0)
    full = bind_table(table_name, vocab)
    split = bind_split_table(table_name, vocab)
    g, a, b, out, k = _inputs(op)
    binary = b is not None and op not in (SUM, MEAN, RESHAPE, INDEX, POW, CONCAT)
    outer = ACTIVE_PASS.decider
    ACTIVE_PASS.decider = HybridDecider(0.5, [], HybridStatistics())
    try:
        for need_a, need_b in ([(True, True), (True, False), (False, True)] if binary
                               else [(True, False)]):
            keep = needed_values(op, need_a, need_b if binary else False)
            av = a if "a" in keep else Poison()
            bv = b if ("b" in keep and binary) else (Poison() if binary else None)
            ov = out if "out" in keep else Poison()
            parts = split[op] if binary else None
            with np.errstate(all="ignore"):
                if parts is not None and need_a != need_b:  # the tape's split path
                    parts[0 if need_a else 1](g, av, bv, ov, k)
                else:
                    full[op](g, av, bv, ov, k)
    finally:
        ACTIVE_PASS.decider = outer


def test_needed_values_examples():
    from zeroproof.autodiff.ops_table import ADD, EXP, MUL

    assert needed_values(ADD, True, True) == frozenset()
    assert needed_values(MUL, True, False) == {"b"}
    assert needed_values(MUL, False, True) == {"a"}
    assert needed_values(EXP, True, False) == {"out"}
    assert "a" in needed_values(LOG, True, False)
    assert {"b", "out"} <= needed_values(DIV, True, True)
    # sqrt's rules read only `out`; the hybrid rule passes `a` and `b` on to the exact and
    # saturating rules by name, which the name-based analysis counts as a read (it keeps more
    # than needed, never less)
    assert "out" in needed_values(SQRT, True, False)


# ---- bad input ----------------------------------------------------------------------------------
def test_shapes_that_do_not_broadcast_name_both_shapes():
    a = za.parameter(np.ones((2, 3)))
    for op in (lambda: a + np.ones(4), lambda: a * za.constant(np.ones((3, 2))),
               lambda: zp.tr_div(a, za.constant(np.ones(5)))):
        with pytest.raises(ValueError, match=r"\(2, 3\).*\((4|3, 2|5),?\)"):
            op()
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 3\)"):
        a @ za.constant(np.ones((2, 3)))


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["a"]), np.array([object()]),
                                 "1.0", None, 1 + 1j], ids=["complex", "str-array", "object",
                                                            "str", "None", "complex-scalar"])
def test_non_real_inputs_raise_type_error(bad):
    with pytest.raises(TypeError):
        za.constant(bad)
    with pytest.raises(TypeError):
        za.parameter(np.ones(1)) + bad


def test_int_and_bool_arrays_become_float64():
    t = za.parameter(np.array([1, 2, 3], dtype=np.int32))
    assert t.dtype == np.float64
    (t * t).sum().backward()
    assert t.gradient.codes.dtype == np.float64
    assert (za.constant(np.array([1, 2])) + za.constant(np.array([True, False]))).dtype == np.float64


def test_mixing_a_scalar_node_with_a_tensor_is_a_type_error():
    """Decision: no implicit bridge. A scalar TRNode's graph and a batched graph have separate
    sweeps; silently treating the node as a constant would detach its gradient (SPEC §8: no
    silent graph detachment), and broadcasting it into the batched graph would need a second
    backward through the scalar tape. The error says what to do instead."""
    node = TRNode.parameter(2.0)
    t = za.parameter(np.ones(3))
    for op in (lambda: t + node, lambda: node + t, lambda: t * node, lambda: node / t,
               lambda: zp.tr_add(node, t), lambda: zp.tr_mul(t, node), lambda: za.constant(node)):
        with pytest.raises(TypeError, match="scalar TRNode"):
            op()
    # the remedy: use the node's value as a constant
    y = (t * node.value).sum()
    y.backward()
    np.testing.assert_array_equal(t.gradient.to_numpy(), [2.0, 2.0, 2.0])


def test_backward_on_a_non_scalar_needs_grad_output():
    t = za.parameter(np.ones(3))
    with pytest.raises(ValueError, match=r"grad_output.*\.sum\(\)"):
        (t * 2.0).backward()
    with pytest.raises(ValueError, match="does not broadcast"):
        (t * 2.0).backward(np.ones(4))
    (t * 2.0).backward(np.ones(3))
    np.testing.assert_array_equal(t.gradient.to_numpy(), [2.0, 2.0, 2.0])


def test_grad_on_a_constant_source_is_a_value_error():
    t = za.parameter(np.ones(3))
    c = za.constant(np.ones(3))
    with pytest.raises(ValueError, match=r"sources\[1\] does not require grad"):
        za.grad((t * c).sum(), [t, c])


def test_grad_of_an_intermediate_and_leaves_untouched():
    t = za.parameter(np.array([1.0, 2.0]))
    h = t * t
    y = (h * 3.0).sum()
    gh, gt = za.grad(y, [h, t])
    np.testing.assert_array_equal(gh.to_numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(gt.to_numpy(), [6.0, 12.0])
    assert t.gradient is None  # grad() does not accumulate


def test_requires_grad_on_a_non_leaf_is_a_value_error():
    t = za.parameter(np.ones(2))
    with pytest.raises(ValueError, match="leaves"):
        (t + 1.0).requires_grad = True
    c = za.constant(np.ones(2))
    c.requires_grad = True  # allowed on a leaf
    (c * c).sum().backward()
    np.testing.assert_array_equal(c.gradient.to_numpy(), [2.0, 2.0])


def test_interior_nodes_keep_no_gradient():
    t = za.parameter(np.ones(2))
    h = t * 2.0
    h.sum().backward()
    assert h.gradient is None and t.gradient is not None


def test_all_lifted_ops_dispatch_from_zeroproof_namespace():
    t = za.parameter(np.array([0.25, 0.5]))
    outs = [zp.tr_neg(t), zp.tr_abs(t), zp.tr_sign(t), zp.tr_log(t), zp.tr_exp(t), zp.tr_sqrt(t),
            zp.tr_relu(t), zp.tr_sin(t), zp.tr_cos(t), zp.tr_pow_int(t, 3), zp.tr_add(t, 1.0),
            zp.tr_sub(1.0, t), zp.tr_mul(t, t), zp.tr_div(t, 2.0), zp.tr_sum(t), zp.tr_mean(t)]
    assert all(isinstance(o, za.TRTensor) and o.requires_grad for o in outs)
    for combo in itertools.combinations(outs[:4], 2):
        assert combo[0] is not combo[1]
