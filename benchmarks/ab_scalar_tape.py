"""A/B of the scalar-tape benchmark across two source trees, in alternating processes.

The scalar-tape figures move by a few per cent from run to run on a shared VM, more than most
single changes to the hot path are worth. This runs the Horner benchmark of
``bench_scalar_tape.py`` (MASK_REAL, forward+backward and forward alone, micrograd alongside when
installed) in a fresh process per tree, alternating the trees, and prints every run; compare the
best of each tree.

    git worktree add /tmp/before HEAD~1
    python benchmarks/ab_scalar_tape.py /tmp/before . --runs 4 --rounds 40
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(rounds: int) -> str:
    """One run in this process, on the tree that ``PYTHONPATH`` puts first. ``zeroproof`` is
    imported before ``bench_scalar_tape``, which puts this repository on ``sys.path``."""
    from zeroproof.autodiff import TRNode

    from bench_scalar_tape import MGValue, POINTS, coefficients, horner_rational, op_nodes_per_graph

    pc, qc = coefficients()
    P = [TRNode.parameter(c) for c in pc]
    Q = [TRNode.parameter(c) for c in qc]
    graphs: list = []

    def both() -> None:
        for x in POINTS:
            horner_rational(x, P, Q).backward()

    def forward() -> None:
        graphs.clear()
        for x in POINTS:
            graphs.append(horner_rational(x, P, Q))

    nodes = op_nodes_per_graph() * len(POINTS)
    b = min(timeit.repeat(both, number=1, repeat=rounds)) / nodes * 1e6
    f = min(timeit.repeat(forward, number=1, repeat=rounds)) / nodes * 1e6
    line = f"both {b:.3f} µs/node, forward {f:.3f} µs/node"
    if MGValue is not None:
        MP = [MGValue(c) for c in pc]
        MQ = [MGValue(c) for c in qc]

        def mg() -> None:
            for x in POINTS:
                horner_rational(x, MP, MQ).backward()

        m = min(timeit.repeat(mg, number=1, repeat=rounds)) / nodes * 1e6
        line += f", micrograd {m:.3f} µs/node, both/micrograd {b / m:.3f}"
    return line


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs=2, help="two source trees (each holds a zeroproof/ package)")
    ap.add_argument("--runs", type=int, default=3, help="processes per tree (default 3)")
    ap.add_argument("--rounds", type=int, default=40, help="timing rounds per process (default 40)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        import zeroproof

        tree = os.path.dirname(os.path.dirname(os.path.abspath(zeroproof.__file__)))
        expected = os.path.abspath(os.environ["PYTHONPATH"].split(os.pathsep)[0])
        if tree != expected:
            raise SystemExit(f"imported zeroproof from {tree}, not from {expected}")
        print(measure(args.rounds))
        return
    for tree in args.trees:
        if not os.path.isdir(os.path.join(tree, "zeroproof")):
            raise SystemExit(f"{tree!r} holds no zeroproof/ package")
    for r in range(args.runs):
        for tree in args.trees:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.abspath(tree), HERE]))
            out = subprocess.run([sys.executable, os.path.abspath(__file__), *args.trees,
                                  "--rounds", str(args.rounds), "--child"],
                                 env=env, capture_output=True, text=True, check=True)
            print(f"run {r + 1} {tree}: {out.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
