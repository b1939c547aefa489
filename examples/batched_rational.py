"""A degree-8 rational P/Q on 100,000 points with exact poles in the batch, on the batched tape.

Q(0) = 0 exactly and four data points sit at x = 0, so four elements of P/Q are ±∞ (or Φ). Plain
NumPy with a hand-written gradient turns the coefficient gradients into NaN; the batched tape masks
those four elements (Mask-REAL per element) and returns the exact gradient of the other points.
Then a squared-error loss over the REAL elements, with exact (Mask-REAL) and saturating
gradients.

Run:  python examples/batched_rational.py
"""
from __future__ import annotations

import time

import numpy as np

import zeroproof.array as za
from zeroproof.autodiff import GradientMode, gradient_mode

DEG = 8
N = 100_000


def horner(coeffs: list, x: object) -> object:
    """c0 + c1·x + … + c8·x⁸ by Horner's rule (works on TRTensors and on NumPy arrays)."""
    acc = coeffs[DEG]
    for c in coeffs[DEG - 1::-1]:
        acc = acc * x + c
    return acc


def numpy_gradients(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
    """sum(P/Q) and its 18 coefficient gradients in plain NumPy (IEEE: NaN at the poles)."""
    with np.errstate(all="ignore"):
        p, q = horner(list(a), x), horner(list(b), x)
        r = p / q
        powers = x[None, :] ** np.arange(DEG + 1)[:, None]
        ga = powers @ (1.0 / q)
        gb = -(powers @ (r / q))
    return float(r.sum()), np.concatenate([ga, gb])


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, N)
    x[:4] = 0.0  # exact poles in the batch
    a0 = rng.uniform(-1.0, 1.0, DEG + 1)
    b0 = rng.uniform(-0.3, 0.3, DEG + 1)
    b0[0] = 0.0  # Q(0) = 0
    target = np.sin(3.0 * x) / (x + 2.0)

    # --- one gradient, next to plain NumPy -------------------------------------------------------
    t0 = time.perf_counter()
    A = [za.parameter(np.array(v), name=f"a{i}") for i, v in enumerate(a0)]
    B = [za.parameter(np.array(v), name=f"b{i}") for i, v in enumerate(b0)]
    X = za.constant(x)
    r = horner(A, X) / horner(B, X)
    r.backward(np.ones(N))  # each point's path is masked on its own
    ours = np.array([float(t.gradient.codes) for t in A + B])
    elapsed = time.perf_counter() - t0
    tags = r.value.tag_counts()
    print(f"P/Q on {N:,} points: {tags['REAL']:,} REAL, {tags['PINF'] + tags['NINF']} infinite, "
          f"{tags['PHI']} Φ  ({elapsed * 1e3:.0f} ms forward + backward)")
    _, theirs = numpy_gradients(x, a0, b0)
    _, exact = numpy_gradients(x[4:], a0, b0)  # the gradient of the non-pole points alone
    print(f"plain NumPy:  {int(np.isnan(theirs).sum())} of 18 gradients are NaN, "
          f"{int(np.isinf(theirs).sum())} are ±inf")
    print(f"batched tape: {int(np.isnan(ours).sum())} of 18 gradients are NaN; max relative "
          f"difference to the non-pole gradient {np.max(np.abs(ours - exact) / np.abs(exact)):.1e}")
    assert not np.isnan(ours).any()

    # --- a squared-error loss over the REAL elements, in two gradient modes ---------------------
    Y = za.constant(target)
    for mode in (GradientMode.MASK_REAL, GradientMode.SATURATING):
        for t in A + B:
            t.zero_grad()
        with gradient_mode(mode, saturation_bound=1.0):
            r = horner(A, X) / horner(B, X)
            per_point = (r - Y) * (r - Y)
            real = np.isfinite(per_point.codes)  # the pole points are ±∞ or Φ: left out
            per_point.backward(real / real.sum())  # d(mean over the REAL points) per element
        grads = np.array([float(t.gradient.codes) for t in A + B])
        assert not np.isnan(grads).any()
        print(f"{mode.value:>10}: loss {float(np.mean(per_point.codes[real])):.4e} over "
              f"{int(real.sum()):,} REAL points, |grad a| {np.linalg.norm(grads[:DEG + 1]):.4e}, "
              f"|grad b| {np.linalg.norm(grads[DEG + 1:]):.4e}, NaN gradients: "
              f"{int(np.isnan(grads).sum())}")
    with np.errstate(all="ignore"):
        plain = (horner(list(a0), x) / horner(list(b0), x) - target) ** 2
    print(f"plain NumPy loss: {plain.mean()} (mean over all points)")
    print("no gradient was NaN; plain NumPy gives NaN as soon as one pole is in the batch")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
