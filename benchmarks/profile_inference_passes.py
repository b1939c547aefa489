#!/usr/bin/env python3
"""Where strict_inference's time goes: the decoder's per-block passes, timed as growing prefixes.

    python benchmarks/profile_inference_passes.py [--n 1000000] [--rounds 200]

One thread, blocks of 2^17 elements (as ``zeroproof.inference.mode``), the same passes in the
same order: the quotient, its finiteness test and reduction, ``|Q|``, the bottom comparison and
its reduction, the gap comparison. Each row is the best time of the loop body cut after that
pass, next to plain ``P / Q`` (a fresh result array, as a user writes it) in the same run.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

PASSES = ("divide", "isfinite", "all-finite reduce", "abs", "less tau_infer", "any-bottom reduce",
          "less tau_train")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10**6)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    n, block = args.n, 1 << 17
    rng = np.random.default_rng(0)
    P, Q = rng.standard_normal(n), rng.standard_normal(n)
    d, b, g = np.empty(n), np.empty(n, bool), np.empty(n, bool)
    a, f = np.empty(block), np.empty(block, bool)
    t_inf, t_tr = np.array(1e-6), np.array(1e-4)

    def body(upto: int) -> None:
        with np.errstate(all="ignore"):
            for s in range(0, n, block):
                e = min(s + block, n)
                k = e - s
                qs, dd, aa, ff = Q[s:e], d[s:e], a[:k], f[:k]
                steps = (lambda: np.divide(P[s:e], qs, out=dd), lambda: np.isfinite(dd, out=ff),
                         lambda: np.logical_and.reduce(ff), lambda: np.abs(qs, out=aa),
                         lambda: np.less(aa, t_inf, out=b[s:e]),
                         lambda: np.logical_or.reduce(b[s:e]),
                         lambda: np.less(aa, t_tr, out=g[s:e]))
                for step in steps[:upto]:
                    step()

    def best(fn) -> float:
        m = float("inf")
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            fn()
            m = min(m, time.perf_counter() - t0)
        return m * 1e3

    def plain() -> None:
        with np.errstate(all="ignore"):
            P / Q

    base = best(plain)
    print(f"n={n}, blocks of {block}, best of {args.rounds}; plain P/Q: {base:.3f} ms")
    print(f"{'cut after':<20} {'ms':>7} {'+ms':>7} {'x P/Q':>6}")
    prev = 0.0
    for i, name in enumerate(PASSES, 1):
        t = best(lambda: body(i))
        print(f"{name:<20} {t:7.3f} {t - prev:+7.3f} {t / base:6.2f}")
        prev = t


if __name__ == "__main__":
    main()
