"""Scalar-tape benchmark: a degree-8 rational P(x)/Q(x) by Horner's rule, 18 coefficient params.

For each of 200 points: build one graph (forward) and run one backward. Reports µs per op-node
for forward, backward and both, next to plain Python floats (forward only, the same Horner code)
and micrograd (when installed), all measured in the same run; the three gradient modes
(MASK_REAL, SATURATING, HYBRID with an active schedule) with their overhead ratios; bytes per
node of the graph (tracemalloc); and a 10⁶-node chain ``y = y*a + b``.

Timing is min-of-repeats (``timeit``, garbage collector off while timing), with the rounds of all
cases interleaved so that a noisy neighbour slows every case alike.

Run from the repository root::

    python benchmarks/bench_scalar_tape.py            # full run (~1–2 minutes)
    python benchmarks/bench_scalar_tape.py --quick    # fewer repeats, 10⁵-node chain
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
import timeit
import tracemalloc
from typing import Any, Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from zeroproof.autodiff import (  # noqa: E402
    TRNode, create_default_schedule, gradient_mode, topological_sort,
)

try:  # optional baseline
    from micrograd.engine import Value as MGValue
except ImportError:  # pragma: no cover - depends on the environment
    MGValue = None

N_POINTS = 200
DEGREE = 8


def horner_rational(x: Any, pc: list, qc: list) -> Any:
    """P(x)/Q(x) by Horner's rule; works for floats, TRNodes and micrograd Values alike."""
    p = pc[-1]
    for c in reversed(pc[:-1]):
        p = p * x + c
    q = qc[-1]
    for c in reversed(qc[:-1]):
        q = q * x + c
    return p / q


def coefficients(seed: int = 0) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    pc = [rng.uniform(-1.0, 1.0) for _ in range(DEGREE + 1)]
    qc = [1.0] + [rng.uniform(-0.1, 0.1) for _ in range(DEGREE)]  # Q ≈ 1 on [-1, 1]: no pole
    return pc, qc


POINTS = [-1.0 + 2.0 * i / (N_POINTS - 1) for i in range(N_POINTS)]


# ---- cases -----------------------------------------------------------------------------------------
class Case:
    """Forward / backward / both callables for one contestant, plus its op-node count."""

    def __init__(self, name: str, forward: Callable, backward: Callable | None, both: Callable | None,
                 context: Callable[[], Any] | None = None) -> None:
        self.name, self.forward, self.backward, self.both = name, forward, backward, both
        self.context = context
        self.best: dict[str, float] = {}


def make_float_case(pc: list, qc: list) -> Case:
    def forward() -> None:
        for x in POINTS:
            horner_rational(x, pc, qc)

    return Case("Python floats", forward, None, None)


def make_tr_case(name: str, context: Callable[[], Any], wrap_x: bool = False
                 ) -> tuple[Case, list[TRNode]]:
    pc, qc = coefficients()
    P = [TRNode.parameter(c) for c in pc]
    Q = [TRNode.parameter(c) for c in qc]
    graphs: list[TRNode] = []
    # wrap_x: x passed as a constant node made once, so no float → leaf coercion per multiply
    points = [TRNode.constant(x) for x in POINTS] if wrap_x else POINTS

    def forward() -> None:
        graphs.clear()
        for x in points:
            graphs.append(horner_rational(x, P, Q))

    def backward() -> None:
        for y in graphs:
            y.backward()

    def both() -> None:
        for x in points:
            horner_rational(x, P, Q).backward()

    forward()  # so that backward has graphs before its first timed round
    return Case(name, forward, backward, both, context), P + Q


def make_micrograd_case(pc: list, qc: list) -> Case | None:
    if MGValue is None:
        return None
    P = [MGValue(c) for c in pc]
    Q = [MGValue(c) for c in qc]
    graphs: list = []

    def forward() -> None:
        graphs.clear()
        for x in POINTS:
            graphs.append(horner_rational(x, P, Q))

    def backward() -> None:
        for y in graphs:
            y.backward()

    def both() -> None:
        for x in POINTS:
            horner_rational(x, P, Q).backward()

    forward()
    return Case("micrograd", forward, backward, both)


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def time_cases(cases: list[Case], repeats: int) -> None:
    """Min-of-repeats per (case, phase); rounds interleaved across cases."""
    for r in range(repeats):
        for case in cases:
            for phase in ("forward", "backward", "both"):
                fn = getattr(case, phase)
                if fn is None:
                    continue
                ctx = case.context() if case.context else _Null()
                with ctx:
                    if phase == "backward":
                        case.forward()  # fresh graphs (untimed) so backward does the same work
                    t = min(timeit.repeat(fn, repeat=1, number=1))
                case.best[phase] = min(case.best.get(phase, float("inf")), t)


def op_nodes_per_graph() -> int:
    pc, qc = coefficients()
    P = [TRNode.parameter(c) for c in pc]
    Q = [TRNode.parameter(c) for c in qc]
    y = horner_rational(0.3, P, Q)
    return sum(1 for n in topological_sort(y) if not n.is_leaf)


def bytes_per_node_graphs(n_nodes_per_graph: int) -> float:
    pc, qc = coefficients()
    P = [TRNode.parameter(c) for c in pc]
    Q = [TRNode.parameter(c) for c in qc]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    graphs = [horner_rational(x, P, Q) for x in POINTS]
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in snap.compare_to(base, "filename"))
    del graphs
    return grown / (N_POINTS * n_nodes_per_graph)


# ---- chain -------------------------------------------------------------------------------------------
def build_chain(n_steps: int) -> tuple[TRNode, TRNode, TRNode]:
    a = TRNode.parameter(0.5)
    b = TRNode.parameter(0.25)
    y = TRNode.parameter(1.0)
    for _ in range(n_steps):
        y = y * a + b
    return y, a, b


def chain_benchmark(n_nodes: int, repeats: int) -> dict[str, float]:
    steps = n_nodes // 2
    fwd, bwd = [], []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            y, a, b = build_chain(steps)
            t1 = time.perf_counter()
            y.backward()
            t2 = time.perf_counter()
        finally:
            gc.enable()
        fwd.append(t1 - t0)
        bwd.append(t2 - t1)
        assert abs(a.gradient.value - 1.0) < 1e-9, a.gradient
        del y, a, b
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    y, a, b = build_chain(steps)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del y, a, b
    return {"nodes": 2 * steps, "forward_s": min(fwd), "backward_s": min(bwd),
            "bytes_per_node": (after - before) / (2 * steps), "recursion_limit": sys.getrecursionlimit()}


# ---- main --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a 10^5-node chain")
    ap.add_argument("--repeats", type=int, default=None, help="timing rounds per case (default 15)")
    ap.add_argument("--chain-nodes", type=int, default=None, help="nodes in the chain (default 10^6)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 15)
    chain_nodes = args.chain_nodes or (100_000 if args.quick else 1_000_000)

    if MGValue is None:
        print("note: micrograd is not installed, so there is no micrograd column; "
              "pip install -e '.[bench]' (or pip install micrograd) to compare")
    pc, qc = coefficients()
    schedule = create_default_schedule()  # δ = 1e-2 at epoch 0: HYBRID decides at every div node
    mask, params = make_tr_case("zeroproof MASK_REAL", lambda: gradient_mode("mask-real"))
    sat, _ = make_tr_case("zeroproof SATURATING", lambda: gradient_mode("saturating"))
    hyb, _ = make_tr_case("zeroproof HYBRID", lambda: schedule.apply(0))
    wrapped, _ = make_tr_case("zeroproof MASK_REAL, x as a constant node",
                              lambda: gradient_mode("mask-real"), wrap_x=True)
    cases = [make_float_case(pc, qc), mask, sat, hyb, wrapped]
    mg = make_micrograd_case(pc, qc)
    if mg is not None:
        cases.append(mg)
    time_cases(cases, repeats)

    nodes = op_nodes_per_graph()
    total = nodes * N_POINTS
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; {N_POINTS} points × {nodes} op-nodes per graph, "
          f"min of {repeats} rounds")
    print()
    print("| case | forward µs/node | backward µs/node | forward+backward µs/node | both vs micrograd |")
    print("|---|---:|---:|---:|---:|")
    mg_both = mg.best["both"] if mg is not None else None
    for c in cases:
        f = c.best["forward"] / total * 1e6
        bw = c.best["backward"] / total * 1e6 if "backward" in c.best else None
        both = c.best["both"] / total * 1e6 if "both" in c.best else None
        ratio = f"{c.best['both'] / mg_both:.2f}×" if (mg_both and both is not None) else "–"
        print(f"| {c.name} | {f:.3f} | {'–' if bw is None else f'{bw:.3f}'} | "
              f"{'–' if both is None else f'{both:.3f}'} | {ratio} |")
    flt = cases[0].best["forward"]
    print()
    print(f"forward vs Python floats: MASK_REAL {mask.best['forward'] / flt:.1f}×"
          + (f", micrograd {mg.best['forward'] / flt:.1f}×" if mg else ""))
    print()
    print("Gradient-mode overhead vs MASK_REAL (same run; target ≤ 1.15×):")
    print()
    print("| mode | forward | backward | forward+backward |")
    print("|---|---:|---:|---:|")
    for c in (mask, sat, hyb):
        print(f"| {c.name.split()[-1]} | {c.best['forward'] / mask.best['forward']:.3f}× | "
              f"{c.best['backward'] / mask.best['backward']:.3f}× | "
              f"{c.best['both'] / mask.best['both']:.3f}× |")
    print()
    print(f"graph memory: {bytes_per_node_graphs(nodes):.0f} bytes per op-node "
          "(tracemalloc, 200 live graphs, the float x is folded into its multiply nodes, no leaf)")
    ch = chain_benchmark(chain_nodes, repeats=2 if not args.quick else 1)
    print()
    print(f"chain y = y*a + b, {ch['nodes']:,} nodes, recursion limit {ch['recursion_limit']}: "
          f"forward {ch['forward_s']:.2f} s ({ch['forward_s'] / ch['nodes'] * 1e6:.2f} µs/node), "
          f"backward {ch['backward_s']:.2f} s ({ch['backward_s'] / ch['nodes'] * 1e6:.2f} µs/node), "
          f"{ch['bytes_per_node']:.0f} bytes/node")


if __name__ == "__main__":
    main()
