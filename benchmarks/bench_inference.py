#!/usr/bin/env python3
"""strict_inference over 10^6 rows vs plain NumPy ``P / Q`` on the same arrays, same run.

    python benchmarks/bench_inference.py [--n 1000000] [--repeat 15]

Prints the best-of-``repeat`` time of each (after a warm-up) and the ratio. Three
configurations: rare bottoms with a gap region (tau_infer=1e-6, tau_train=1e-4), frequent
bottoms (tau_infer=1e-3, tau_train=1e-2, ~0.1% bottom), and no gap region (tau_infer=1e-6).
"""
from __future__ import annotations

import argparse
import platform
import sys
import timeit
from pathlib import Path

import numpy as np

try:
    import zeroproof  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zeroproof.inference import InferenceConfig, strict_inference  # noqa: E402


def best(fn, repeat: int, number: int) -> float:
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10**6)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--number", type=int, default=10)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    P = rng.standard_normal(args.n)
    Q = rng.standard_normal(args.n)
    print(f"numpy {np.__version__}, python {platform.python_version()}, {platform.machine()}, "
          f"n={args.n}")
    configs = [("rare bottoms + gap (1e-6, 1e-4)", InferenceConfig(1e-6, 1e-4)),
               ("frequent bottoms + gap (1e-3, 1e-2)", InferenceConfig(1e-3, 1e-2)),
               ("no gap region (1e-6, None)", InferenceConfig(1e-6))]
    print(f"{'configuration':38s} {'P/Q ms':>8s} {'strict ms':>10s} {'ratio':>6s}")
    for name, cfg in configs:
        with np.errstate(all="ignore"):
            t_plain = best(lambda: P / Q, args.repeat, args.number)
        t_strict = best(lambda: strict_inference(P, Q, cfg), args.repeat, args.number)
        print(f"{name:38s} {t_plain * 1e3:8.3f} {t_strict * 1e3:10.3f} "
              f"{t_strict / t_plain:6.2f}")


if __name__ == "__main__":
    main()
