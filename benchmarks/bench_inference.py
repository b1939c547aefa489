#!/usr/bin/env python3
"""strict_inference over 10^6 rows vs plain NumPy ``P / Q`` on the same arrays, same run.

    python benchmarks/bench_inference.py [--n 1000000] [--rounds 40]

The two are timed alternately (round after round, so machine noise hits both alike) and the
best round of each is reported, as wall-clock time and as CPU time of the process, with the
median over rounds of each round's ratio to the P/Q round just before it ("paired"). Three
configurations: rare bottoms with a gap region (tau_infer=1e-6, tau_train=1e-4), frequent
bottoms (tau_infer=1e-3, tau_train=1e-2, ~0.1% bottom), and no gap region (tau_infer=1e-6).
``strict_inference`` splits inputs of 2^18 elements or more over up to four threads (as many as
the process may use); the single-thread rows (``threads=1``) show the cost without that.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

try:
    import zeroproof  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zeroproof.inference import InferenceConfig, strict_inference  # noqa: E402
from zeroproof.inference.mode import _resolve_threads  # noqa: E402


def race(fns: dict, rounds: int, number: int, walls: dict | None = None) -> dict:
    """Best (wall, cpu) seconds per call of each function, timed round-robin; ``walls``, when
    given, collects every round's wall time per function."""
    best = {name: [float("inf"), float("inf")] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(number):
                fn()
            w, c = (time.perf_counter() - w0) / number, (time.process_time() - c0) / number
            best[name][0] = min(best[name][0], w)
            best[name][1] = min(best[name][1], c)
            if walls is not None:
                walls.setdefault(name, []).append(w)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10**6)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--number", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    P = rng.standard_normal(args.n)
    Q = rng.standard_normal(args.n)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"numpy {np.__version__}, python {platform.python_version()}, {platform.machine()}, "
          f"{cpus} CPUs, n={args.n}, strict_inference uses {_resolve_threads(None, args.n)} "
          f"thread(s)")
    configs = [("rare bottoms + gap (1e-6, 1e-4)", InferenceConfig(1e-6, 1e-4)),
               ("frequent bottoms + gap (1e-3, 1e-2)", InferenceConfig(1e-3, 1e-2)),
               ("no gap region (1e-6, None)", InferenceConfig(1e-6))]

    def plain() -> np.ndarray:
        with np.errstate(all="ignore"):
            return P / Q

    fns = {"P/Q": plain}
    for name, cfg in configs:
        fns[name] = lambda cfg=cfg: strict_inference(P, Q, cfg)
        fns[name + " [threads=1]"] = lambda cfg=cfg: strict_inference(P, Q, cfg, threads=1)
    walls: dict = {}
    best = race(fns, args.rounds, args.number, walls)
    w0, c0 = best.pop("P/Q")
    base = np.array(walls.pop("P/Q"))
    print(f"plain P/Q: {w0 * 1e3:.3f} ms wall, {c0 * 1e3:.3f} ms CPU")
    print("ratio: best round over best round; paired: median over rounds of the round's time "
          "over the same round's P/Q")
    print(f"{'strict_inference':50s} {'wall ms':>8s} {'ratio':>6s} {'paired':>6s} {'CPU ms':>8s} "
          f"{'ratio':>6s}")
    for name, (w, c) in best.items():
        paired = float(np.median(np.array(walls[name]) / base))
        print(f"{name:50s} {w * 1e3:8.3f} {w / w0:6.2f} {paired:6.2f} {c * 1e3:8.3f} {c / c0:6.2f}")


if __name__ == "__main__":
    main()
