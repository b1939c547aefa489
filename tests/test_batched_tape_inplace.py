"""The batched backward writes into gradient buffers it owns (``np.multiply(g, b, out=g)``,
in-place accumulation): that must change no value, no tag and no array the user can see.

Every check compares against the same pass with the in-place path switched off (the in-place
table emptied), bit for bit, on random expression graphs with shared subexpressions, pass-through
gradients (``+``, ``−``, identity), broadcasting, mixed float32/float64 operands, non-REAL
elements (Mask-REAL) and every gradient mode.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import zeroproof.array as za
from zeroproof.array import tape as tape_module
from zeroproof.autodiff import GradientMode, gradient_mode


@contextlib.contextmanager
def no_inplace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as m:
        m.setattr(tape_module, "_inplace_table", lambda name: [None] * tape_module.N_OPS)
        yield


_BINARY = ("add", "sub", "mul", "div")
_UNARY = ("neg", "exp", "log", "abs", "square", "reshape")


def _apply(op: str, a: Any, b: Any = None) -> Any:
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b
    if op == "neg":
        return -a
    if op == "exp":
        return tape_module.exp(a * 0.1)
    if op == "log":
        return tape_module.log(a)
    if op == "abs":
        return abs(a)
    if op == "square":
        return a ** 2
    return a.reshape(a.shape)


programs = st.lists(
    st.tuples(st.sampled_from(_BINARY + _UNARY), st.integers(0, 50), st.integers(0, 50)),
    min_size=1, max_size=14)


def _run(program: list, seed: int, mode: Any) -> tuple[list, list]:
    """Build the program's graph on fresh leaves and return (leaf gradients, input values)."""
    rng = np.random.default_rng(seed)
    n = 7
    x = rng.uniform(-2.0, 2.0, n)
    x[2] = 0.0  # a zero: divisions and logs there are non-REAL (Mask-REAL paths)
    leaves = [za.parameter(rng.uniform(-2.0, 2.0, n)),               # per element
              za.parameter(np.array(rng.uniform(0.5, 2.0))),         # broadcast scalar
              za.parameter(rng.uniform(-1.0, 1.0, (1, n))),          # broadcast to (1, n)
              za.parameter(rng.uniform(-1.0, 1.0, n).astype(np.float32))]  # float32
    const = za.constant(x)
    nodes: list = leaves + [const]
    for op, i, j in program:
        a = nodes[i % len(nodes)]
        if op in _BINARY:
            nodes.append(_apply(op, a, nodes[j % len(nodes)]))
        else:
            nodes.append(_apply(op, a))
    out = nodes[-1]
    for extra in nodes[len(leaves) + 1:-1:3]:  # reuse intermediate results: shared subgraphs
        out = out + extra
    with gradient_mode(mode):
        out.backward(np.ones(np.shape(out.codes)))
    grads = [None if t.gradient is None else (t.gradient.codes.copy(), t.gradient.tags.copy())
             for t in leaves]
    return grads, [t.codes.copy() for t in nodes]


@settings(max_examples=60, deadline=None)
@given(programs, st.integers(0, 2**32 - 1),
       st.sampled_from([GradientMode.MASK_REAL, GradientMode.SATURATING]))
def test_inplace_backward_changes_no_bit(program: list, seed: int, mode: Any) -> None:
    with pytest.MonkeyPatch.context() as mp:
        with no_inplace(mp):
            ref_grads, ref_values = _run(program, seed, mode)
    grads, values = _run(program, seed, mode)
    assert len(grads) == len(ref_grads)
    for got, want in zip(grads, ref_grads):
        if want is None:
            assert got is None
            continue
        assert got[0].dtype == want[0].dtype and got[0].shape == want[0].shape
        assert got[0].tobytes() == want[0].tobytes()
        assert np.array_equal(got[1], want[1])
    for got, want in zip(values, ref_values):  # forward values (saved for backward) intact
        assert got.tobytes() == want.tobytes()


def test_horner_chain_gradients_and_inputs_intact() -> None:
    # The benchmark's shape: p = p*X + c; the backward chain runs in one buffer.
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.0, 1.0, 1000)
    coeffs = [za.parameter(np.array(v)) for v in rng.uniform(-1.0, 1.0, 9)]
    X = za.constant(x)
    p = coeffs[-1]
    for c in coeffs[-2::-1]:
        p = p * X + c
    p.backward(np.ones(1000))
    for i, c in enumerate(coeffs):  # d/dc_i sum(P(x)) = sum(x**i)
        assert float(c.gradient.codes) == pytest.approx(np.sum(x ** i), rel=1e-12)
    assert np.array_equal(X.codes, x)


def test_leaf_gradients_are_independent_arrays() -> None:
    w = za.parameter(np.ones(5))
    v = za.parameter(np.ones(5))
    y = (w * 2.0) * (v * 3.0)
    y.backward(np.ones(5))
    gw, gv = w.gradient.codes, v.gradient.codes
    assert not np.may_share_memory(gw, gv)
    assert np.array_equal(gw, np.full(5, 6.0)) and np.array_equal(gv, np.full(5, 6.0))
    y.backward(np.ones(5))  # accumulates into a new array; the first result is not modified
    assert np.array_equal(w.gradient.codes, np.full(5, 12.0))
    assert np.array_equal(gw, np.full(5, 6.0))


def test_pass_through_gradient_is_not_shared_between_leaves() -> None:
    # x + y hands the same upstream gradient to both leaves: each must get its own array.
    w = za.parameter(np.ones(4))
    v = za.parameter(np.ones(4))
    (w + v).backward(np.arange(4.0))
    assert not np.may_share_memory(w.gradient.codes, v.gradient.codes)
    assert np.array_equal(w.gradient.codes, np.arange(4.0))
    assert np.array_equal(v.gradient.codes, np.arange(4.0))


def test_grad_output_array_is_not_modified() -> None:
    w = za.parameter(np.arange(1.0, 6.0))
    seed = np.full(5, 2.0)
    (w * w * 3.0).backward(seed)
    assert np.array_equal(seed, np.full(5, 2.0))
    assert np.array_equal(w.gradient.codes, 2.0 * 6.0 * np.arange(1.0, 6.0))
