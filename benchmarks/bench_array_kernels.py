"""Vectorized transreal kernels vs the raw NumPy ufunc, measured in the same run.

Run: ``python benchmarks/bench_array_kernels.py [--n 1000000] [--repeat 7]``

Each line: best-of-``repeat`` time of the kernel on ``n`` float64 elements, the time of the bare
NumPy operation on the same data, and the ratio. Inputs are REAL values with about 1% non-REAL
entries (Φ, ±∞) and zeros mixed in, so the fix-up masks are not empty. The exact sum is compared
with ``np.sum`` (pairwise, not exactly rounded) and ``math.fsum`` (exact, per lane in Python).
"""
from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from zeroproof.array import kernels as K  # noqa: E402
from zeroproof.array.reductions import reduce_codes  # noqa: E402
from zeroproof.core import wheel_mode  # noqa: E402


def best(fn: Callable[[], object], repeat: int) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    n, rep = args.n, args.repeat
    rng = np.random.default_rng(0)
    a = rng.standard_normal(n)
    b = rng.standard_normal(n)
    special = rng.integers(0, n, n // 100)
    a[special[: len(special) // 3]] = np.inf
    a[special[len(special) // 3: 2 * len(special) // 3]] = np.nan
    b[special[2 * len(special) // 3:]] = 0.0
    pos = np.abs(a)
    err = dict(all="ignore")

    def raw(f: Callable[[], object]) -> Callable[[], object]:
        def g() -> object:
            with np.errstate(**err):
                return f()
        return g

    rows = [
        ("add", lambda: K.add(a, b), raw(lambda: a + b)),
        ("sub", lambda: K.sub(a, b), raw(lambda: a - b)),
        ("mul", lambda: K.mul(a, b), raw(lambda: a * b)),
        ("div", lambda: K.div(a, b), raw(lambda: a / b)),
        ("neg", lambda: K.neg(a), raw(lambda: -a)),
        ("abs", lambda: K.abs(a), raw(lambda: np.abs(a))),
        ("sign", lambda: K.sign(a), raw(lambda: np.sign(a))),
        ("log", lambda: K.log(pos), raw(lambda: np.log(pos))),
        ("exp", lambda: K.exp(a), raw(lambda: np.exp(a))),
        ("sqrt", lambda: K.sqrt(pos), raw(lambda: np.sqrt(pos))),
        ("pow_int k=3", lambda: K.pow_int(a, 3), raw(lambda: a * a * a)),
        ("pow_int k=-2", lambda: K.pow_int(a, -2), raw(lambda: 1.0 / (a * a))),
        ("pow_int k=0", lambda: K.pow_int(a, 0), raw(lambda: np.ones_like(a))),
    ]

    def wheel(f: Callable[[], object]) -> Callable[[], object]:
        def g() -> object:
            with wheel_mode():
                return f()
        return g

    rows += [
        ("add (wheel mode)", wheel(lambda: K.add(a, b)), raw(lambda: a + b)),
        ("mul (wheel mode)", wheel(lambda: K.mul(a, b)), raw(lambda: a * b)),
        ("div (wheel mode)", wheel(lambda: K.div(a, b)), raw(lambda: a / b)),
    ]
    # float32 transcendentals run in float64 and round once (the scalar op's result, SPEC §5);
    # the baseline is NumPy's own float32 ufunc, which is faster and off in the last bit
    a32, pos32 = a.astype(np.float32), pos.astype(np.float32)
    rows += [
        (f"{name} float32", (lambda k=kern, x=x: k(x)), raw(lambda u=uf, x=x: u(x)))
        for name, kern, uf, x in (("exp", K.exp, np.exp, a32), ("log", K.log, np.log, pos32),
                                  ("tanh", K.tanh, np.tanh, a32), ("sin", K.sin, np.sin, a32))
    ]
    print(f"# n = {n}, best of {rep}; Python {platform.python_version()}, NumPy {np.__version__}")
    print(f"{'kernel':<20} {'zeroproof ms':>13} {'NumPy ms':>10} {'ratio':>7}")
    for name, ours, ref in rows:
        t1, t0 = best(ours, rep), best(ref, rep)
        print(f"{name:<20} {t1 * 1e3:13.3f} {t0 * 1e3:10.3f} {t1 / t0:7.2f}")

    x = rng.standard_normal(n)
    wide = rng.standard_normal(n) * np.exp(rng.uniform(-30, 30, n))
    lanes = rng.standard_normal((1000, n // 1000))
    print()
    print(f"{'reduction':<34} {'ms':>10} {'vs np.sum':>10}")
    for label, data, axis in (("normal data", x, None), ("magnitudes e^±30", wide, None),
                              (f"{lanes.shape} rows, axis=1", lanes, 1)):
        t_np = best(lambda: np.sum(data, axis=axis), rep)
        t_ex = best(lambda: reduce_codes("sum", data, None, axis=axis), rep)
        if axis is None:
            t_fs = best(lambda: math.fsum(data.tolist()), max(1, rep // 2))
        else:
            t_fs = best(lambda: [math.fsum(r) for r in data.tolist()], max(1, rep // 2))
        print(f"np.sum, {label:<26} {t_np * 1e3:10.3f} {1.0:10.1f}")
        print(f"exact sum (zeroproof), {label:<11} {t_ex * 1e3:10.3f} {t_ex / t_np:10.1f}")
        print(f"math.fsum per lane, {label:<14} {t_fs * 1e3:10.3f} {t_fs / t_np:10.1f}")
    for kind in ("mean", "prod", "min", "max"):
        t = best(lambda: reduce_codes(kind, x, None), rep)
        ref = {"mean": np.mean, "prod": np.prod, "min": np.min, "max": np.max}[kind]
        t0 = best(lambda: ref(x), rep)
        print(f"{kind + ' (zeroproof) vs np.' + kind:<34} {t * 1e3:10.3f} {t / t0:10.1f}")

    m = rng.standard_normal((512, 512))
    m2 = m.copy()
    m2[3, 7] = np.inf
    print()
    t0 = best(lambda: m @ m, rep)
    for label, lhs in (("all REAL", m), ("one +∞ entry", m2)):
        t = best(lambda: K.matmul(lhs, m), rep)
        print(f"matmul 512x512 {label:<14} {t * 1e3:10.3f} ms  vs np.matmul {t0 * 1e3:8.3f} ms"
              f"  ratio {t / t0:6.2f}")


if __name__ == "__main__":
    main()
