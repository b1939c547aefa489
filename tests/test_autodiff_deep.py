"""A 10⁶-node chain ``y = y*a + b`` runs forward and backward with the default recursion limit.

This is the slowest autodiff test (a few seconds) and deliberately runs in CI: it is the only
test that proves traversal is iterative at a realistic depth. Memory per node is measured in
``benchmarks/bench_scalar_tape.py``, not here. Deselect locally with ``-k "not deep_chain"``.
"""
from __future__ import annotations

import sys

from zeroproof.autodiff import TRNode, grad
from zeroproof.core import TRTag


def test_deep_chain_million_nodes_forward_and_backward():
    assert sys.getrecursionlimit() <= 10_000  # the default (1000) or close to it: no cheating
    a = TRNode.parameter(0.5)
    b = TRNode.parameter(0.25)
    y0 = TRNode.parameter(1.0)
    y = y0
    for _ in range(500_000):  # two op-nodes per step: 10⁶ nodes
        y = y * a + b
    y.backward()
    # the fixed point of y ← a·y + b is b/(1 − a) = 0.5; its derivatives: b/(1 − a)² and 1/(1 − a)
    assert y.tag is TRTag.REAL and abs(y.value.value - 0.5) < 1e-12
    assert abs(a.gradient.value - 1.0) < 1e-9
    assert abs(b.gradient.value - 2.0) < 1e-9
    assert y0.gradient.tag is TRTag.REAL and y0.gradient.value == 0.0  # 0.5**500000 underflows
    # the functional API walks the same graph without recursion too
    ga, gb = grad(y, [a, b])
    assert ga.value == a.gradient and gb.value == b.gradient
    del y  # freeing a 10⁶-deep chain must not recurse either
