"""Training benchmark: a degree-4/4 rational layer on 10⁴ points for 100 epochs.

``zeroproof``: ``RationalLayer(4, 4, basis="chebyshev")``, ``chordal_loss``, ``Adam`` and
``SCMTrainer`` with the default hybrid schedule (one ``schedule.apply(epoch)`` per epoch, pole
detection after every epoch), mini-batches of 1000 shuffled points.

Baseline, in the same run: the same model, loss, Adam and batches written in plain NumPy with a
hand-derived gradient (IEEE floats, no tags, no schedule, no statistics). Both start from the
same coefficients and see the same batches; the final losses are printed as a sanity check.

Run from the repository root::

    python benchmarks/bench_training.py            # 3 repeats, best time of each
    python benchmarks/bench_training.py --quick    # 1 repeat
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from zeroproof.autodiff import create_default_schedule  # noqa: E402
from zeroproof.layers import RationalLayer  # noqa: E402
from zeroproof.training import Adam, DataLoader, SCMTrainer, TrainingConfig, chordal_loss  # noqa: E402

N, EPOCHS, BATCH, DEG = 10_000, 100, 1000, 4
LR = 0.02


def data() -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-1.0, 1.0, N)  # 0.5 is not a grid point, so the IEEE baseline stays finite
    return x, 1.0 / (x - 0.5)


def run_zeroproof(x: np.ndarray, y: np.ndarray) -> tuple[float, float, RationalLayer]:
    model = RationalLayer(DEG, DEG, basis="chebyshev", seed=0)
    config = TrainingConfig(epochs=EPOCHS, batch_size=BATCH, seed=0,
                            schedule=create_default_schedule(warmup_epochs=5), progress=False)
    trainer = SCMTrainer(model, Adam(model.parameters(), lr=LR), chordal_loss, (x, y), config)
    t0 = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - t0, trainer.history[-1]["loss"], model


def _cheb(x: np.ndarray, deg: int) -> np.ndarray:
    cols = [np.ones_like(x), x]
    for _ in range(2, deg + 1):
        cols.append(2.0 * x * cols[-1] - cols[-2])
    return np.stack(cols, axis=1)


def run_numpy(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Plain NumPy: forward, hand-written backward and Adam, the same batches."""
    a = RationalLayer(DEG, DEG, basis="chebyshev", seed=0).p_coefficients().ravel().copy()
    b = np.zeros(DEG)
    params = [a, b]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    loader = DataLoader((x, y), batch_size=BATCH, shuffle=True, seed=0)
    t = 0
    t0 = time.perf_counter()
    last = 0.0
    for epoch in range(EPOCHS):
        loader.set_epoch(epoch)
        total = 0.0
        for xb, yb in loader:
            F = _cheb(xb, DEG)
            P = F @ a
            Q = 1.0 + F[:, 1:] @ b
            yp = P / Q
            w = 1.0 / (1.0 + yp * yp)
            u1, u2 = 2.0 * w - 1.0, 2.0 * yp * w
            wt = 1.0 / (1.0 + yb * yb)
            t1, t2 = 2.0 * wt - 1.0, 2.0 * yb * wt
            loss = (u1 - t1) ** 2 + (u2 - t2) ** 2
            total += loss.sum()
            dw = -2.0 * yp * w * w
            dy = (2.0 * (u1 - t1) * 2.0 * dw + 2.0 * (u2 - t2) * (2.0 * w + 2.0 * yp * dw)) / len(xb)
            gP = dy / Q
            gQ = -dy * yp / Q
            grads = [F.T @ gP, F[:, 1:].T @ gQ]
            t += 1
            for i, (p, g) in enumerate(zip(params, grads)):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                p -= LR * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8)
        last = total / len(x)
    return time.perf_counter() - t0, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat instead of three")
    args = ap.parse_args()
    reps = 1 if args.quick else 3
    x, y = data()
    print(f"Training benchmark: RationalLayer({DEG}, {DEG}, chebyshev), {N} points, {EPOCHS} epochs, "
          f"batch {BATCH} ({EPOCHS * N // BATCH} steps), Adam, chordal loss")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    zp_times, np_times = [], []
    for _ in range(reps):  # interleaved, best of each
        tz, loss_z, model = run_zeroproof(x, y)
        tn, loss_n = run_numpy(x, y)
        zp_times.append(tz)
        np_times.append(tn)
    tz, tn = min(zp_times), min(np_times)
    poles = model.find_poles(domain=(-1, 1))
    print(f"  zeroproof SCMTrainer + hybrid schedule : {tz:7.3f} s  ({tz / (EPOCHS * N // BATCH) * 1e3:.3f} "
          f"ms/step)  final loss {loss_z:.3e}  poles {np.round(poles, 4).tolist()}")
    print(f"  plain NumPy, hand-written gradient     : {tn:7.3f} s  ({tn / (EPOCHS * N // BATCH) * 1e3:.3f} "
          f"ms/step)  final loss {loss_n:.3e}")
    print(f"  ratio zeroproof / NumPy                : {tz / tn:7.2f}x")


if __name__ == "__main__":
    main()
