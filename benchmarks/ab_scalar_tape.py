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
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(rounds: int) -> str:
    """One run in this process, on the tree that ``PYTHONPATH`` puts first (``main`` checks
    that ``zeroproof`` came from there: ``bench_scalar_tape`` puts this repository on
    ``sys.path``). The cases are ``bench_scalar_tape``'s own."""
    from bench_scalar_tape import (
        POINTS, coefficients, make_micrograd_case, make_tr_case, op_nodes_per_graph,
    )

    from zeroproof.autodiff import gradient_mode

    nodes = op_nodes_per_graph() * len(POINTS)

    def best(fn: Any) -> float:
        return min(timeit.repeat(fn, number=1, repeat=rounds)) / nodes * 1e6

    tr, _ = make_tr_case("MASK_REAL", lambda: gradient_mode("mask-real"))
    b, f = best(tr.both), best(tr.forward)
    line = f"both {b:.3f} µs/node, forward {f:.3f} µs/node"
    mg = make_micrograd_case(*coefficients())
    if mg is not None:
        m = best(mg.both)
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
        import zeroproof  # before bench_scalar_tape, which puts this repository on sys.path

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
