"""Batched tape vs hand-written NumPy (and PyTorch / JAX when installed) on the degree-8 rational.

R(x) = P(x)/Q(x), P and Q of degree 8 by Horner's rule over N points; the gradients of
sum_x R(x) for the 18 coefficients, computed as the vector-Jacobian product of R with ones (so that
each point's path is masked on its own at a pole). Every implementation runs in the same process; the table reports the
best of several repeats, the rounds interleaved across backends (the machine is shared), the ratio to hand-written NumPy (the floor) and
peak traced memory (tracemalloc sees NumPy's buffers). A second table puts 4 exact poles in the
batch: our gradients of the non-pole points stay exact, IEEE backends turn them into NaN.

Run:  python benchmarks/bench_batched_tape.py [--sizes 1000 100000 1000000] [--repeats 5]
      python benchmarks/bench_batched_tape.py --steady-allocator   # see below

At N = 10⁶ every backend allocates arrays of 8 MB; with glibc's default settings freed memory is
often returned to the OS and the next allocation pays a page fault per 4 KiB, which can cost a
backend as much as its arithmetic, differently from run to run and backend to backend.
``--steady-allocator`` re-runs the script with ``MALLOC_TRIM_THRESHOLD_`` and
``MALLOC_MMAP_THRESHOLD_`` set high (glibc keeps freed memory), which takes page faults out of
every backend's time: the figures then compare the arithmetic and memory traffic only.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zeroproof.array as za  # noqa: E402

DEG = 8


def make_problem(n: int, poles: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    a = rng.uniform(-1.0, 1.0, DEG + 1)
    b = rng.uniform(-0.3, 0.3, DEG + 1)
    b[0] = 3.0  # Q stays away from 0 on [-1, 1] ...
    if poles:  # ... except at `poles` data points: Q(0) = b0 = 0, and Horner gives exactly 0 there
        b[0] = 0.0
        x[:poles] = 0.0
    return x, a, b


def numpy_hand(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Forward and analytic backward written by hand: the floor."""
    p = np.full_like(x, a[DEG])
    for c in a[DEG - 1::-1]:
        p *= x
        p += c
    q = np.full_like(x, b[DEG])
    for c in b[DEG - 1::-1]:
        q *= x
        q += c
    inv_q = 1.0 / q
    r = p * inv_q
    loss = float(r.sum())
    w = r * inv_q  # d loss / d b_i = -sum x^i p / q^2
    ga = np.empty(DEG + 1)
    gb = np.empty(DEG + 1)
    xp = np.ones_like(x)
    for i in range(DEG + 1):
        ga[i] = xp @ inv_q
        gb[i] = -(xp @ w)
        xp *= x
    return loss, ga, gb


def zeroproof_tape(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    A = [za.parameter(np.array(v)) for v in a]
    B = [za.parameter(np.array(v)) for v in b]
    X = za.constant(x)
    p = A[DEG]
    for c in A[DEG - 1::-1]:
        p = p * X + c
    q = B[DEG]
    for c in B[DEG - 1::-1]:
        q = q * X + c
    r = p / q
    r.backward(np.ones(x.shape))
    ga = np.array([float(t.gradient.codes) for t in A])
    gb = np.array([float(t.gradient.codes) for t in B])
    return float(np.sum(r.codes)), ga, gb


def torch_autograd(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    import torch

    A = torch.tensor(a, requires_grad=True)
    B = torch.tensor(b, requires_grad=True)
    X = torch.from_numpy(x)
    p = A[DEG].expand_as(X)
    for i in range(DEG - 1, -1, -1):
        p = p * X + A[i]
    q = B[DEG].expand_as(X)
    for i in range(DEG - 1, -1, -1):
        q = q * X + B[i]
    r = p / q
    r.backward(torch.ones_like(r))
    return float(r.detach().sum()), A.grad.numpy().copy(), B.grad.numpy().copy()


def jax_grad() -> Callable | None:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def loss(a: Any, b: Any, x: Any) -> Any:
        p = a[DEG] * jnp.ones_like(x)
        for i in range(DEG - 1, -1, -1):
            p = p * x + a[i]
        q = b[DEG] * jnp.ones_like(x)
        for i in range(DEG - 1, -1, -1):
            q = q * x + b[i]
        return jnp.sum(p / q)

    vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))

    def run(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        val, (ga, gb) = vg(a, b, x)
        return float(val), np.asarray(ga), np.asarray(gb)

    return run


def race(fns: list[Callable], args: tuple, repeats: int) -> list[tuple[float, int, Any]]:
    """Best time, peak traced memory and result of each function. The timed rounds are
    interleaved (each round runs every function), so that a noisy neighbour on a shared machine
    slows every backend alike instead of one backend's whole series; within a round each
    function runs once untimed right before its timed run, so that thread pools put to sleep by
    the other backends (PyTorch's, OpenBLAS's) are awake again, as in a run of its own."""
    results = [fn(*args) for fn in fns]  # warm-up (imports, JIT)
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            fn(*args)
            t0 = time.perf_counter()
            fn(*args)
            best[i] = min(best[i], time.perf_counter() - t0)
    peaks = []
    for fn in fns:
        tracemalloc.start()
        fn(*args)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return list(zip(best, peaks, results))


def backends() -> list[tuple[str, Callable]]:
    out: list[tuple[str, Callable]] = [("hand-written NumPy", numpy_hand),
                                       ("zeroproof batched tape", zeroproof_tape)]
    try:
        import torch  # noqa: F401

        out.append(("PyTorch CPU autograd", torch_autograd))
    except ImportError:
        pass
    j = jax_grad()
    if j is not None:
        out.append(("JAX jit(value_and_grad)", j))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steady-allocator", action="store_true",
                    help="re-run with glibc keeping freed memory (no page faults in the timings)")
    args = ap.parse_args()
    if args.steady_allocator and os.environ.get("MALLOC_TRIM_THRESHOLD_") is None:
        env = dict(os.environ, MALLOC_TRIM_THRESHOLD_=str(2**31), MALLOC_MMAP_THRESHOLD_=str(2**30))
        argv = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
        os.execve(sys.executable, argv, env)
    allocator = ("steady (MALLOC_TRIM_THRESHOLD_/MALLOC_MMAP_THRESHOLD_ set: no page faults)"
                 if os.environ.get("MALLOC_TRIM_THRESHOLD_") else "default")
    print(f"Python {sys.version.split()[0]}, NumPy {np.__version__}; best of {args.repeats}; "
          f"allocator: {allocator}")
    print("\n| N | backend | time (ms) | vs NumPy | peak memory (MB) | vs NumPy |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in args.sizes:
        x, a, b = make_problem(n)
        contestants = backends()
        timed = race([fn for _, fn in contestants], (x, a, b), args.repeats)
        base_t, base_m, ref = timed[0]
        for (name, _), (t, m, res) in zip(contestants, timed):
            agree = np.max(np.abs(np.concatenate([res[1], res[2]]) - np.concatenate([ref[1], ref[2]]))
                           / np.maximum(np.abs(np.concatenate([ref[1], ref[2]])), 1e-300))
            # tracemalloc sees NumPy's buffers but not PyTorch's (or XLA's) own allocators
            traced = name.startswith(("hand-written", "zeroproof"))
            mem = f"{m / 2**20:.1f} | {m / max(base_m, 1):.2f}×" if traced else "n/a (not traced) | –"
            print(f"| {n:,} | {name} | {t * 1e3:.2f} | {t / base_t:.2f}× | {mem} |"
                  + ("" if agree < 1e-9 else f" (max rel diff {agree:.1e})"))
    n = args.sizes[-1]
    x, a, b = make_problem(n, poles=4)
    keep = slice(4, None)
    with np.errstate(all="ignore"):
        _, ref_a, ref_b = numpy_hand(x[keep], a, b)  # the exact answer: the non-pole points only
    ref = np.concatenate([ref_a, ref_b])
    print(f"\nWith 4 exact poles in the batch (N = {n:,}): NaN gradients among the 18, and the max "
          "relative error against the gradient of the non-pole points alone")
    print("| backend | NaN gradients | max rel. error vs non-pole gradient |")
    print("|---|---:|---:|")
    for name, fn in backends():
        with np.errstate(all="ignore"):
            _, ga, gb = fn(x, a, b)
        g = np.concatenate([ga, gb])
        ok = ~np.isnan(g)
        err = np.max(np.abs(g[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), 1e-300)) if ok.any() else np.nan
        print(f"| {name} | {int((~ok).sum())} | {err:.1e} |")


if __name__ == "__main__":
    main()
