"""Learn 1/(x + 0.1) *including its pole* with a projective head.

A tuple head predicts (P, Q) = (a0 + a1·x, b0 + b1·x) on the batched tape. Targets are lifted
to tuples — finite y ↦ (y, 1), the pole's +∞ ↦ (1, 0) — so the pole sample is an ordinary
training point, and the implicit loss compares directions, never dividing by Q. Tuples are
renormalised with a detached norm; a plain Adam update, written out below.

Run: python examples/projective_pole.py   (a few seconds)
"""
from __future__ import annotations

import numpy as np

import zeroproof.array as za
from zeroproof.autodiff import projective
from zeroproof.layers import Linear
from zeroproof.losses import coverage, implicit_loss
from zeroproof.training.targets import lift_targets


def main(steps: int = 600, lr: float = 0.05, seed: int = 0) -> dict:
    x = np.linspace(-1.0, 1.0, 41)[:, None]          # contains x = -0.1 exactly on the grid
    x[np.argmin(np.abs(x + 0.1))] = -0.1
    with np.errstate(divide="ignore"):
        y = 1.0 / (x + 0.1)                           # +inf at the pole
    y_n, y_d = lift_targets(y)

    head_p = Linear(1, 1, seed=seed)                  # P(x) = a0 + a1·x
    head_q = Linear(1, 1, seed=seed + 1)              # Q(x) = b0 + b1·x
    params = head_p.parameters() + head_q.parameters()
    m1 = [np.zeros(p.shape) for p in params]
    m2 = [np.zeros(p.shape) for p in params]
    b1, b2 = 0.9, 0.999

    def forward(inp: np.ndarray) -> tuple:
        return projective.renormalize(head_p(inp), head_q(inp), gamma=1e-9)

    for step in range(steps):
        for p in params:
            p.zero_grad()
        P, Q = forward(x)
        loss = implicit_loss(P, Q, y_n, y_d)
        loss.backward()
        for p, m, v in zip(params, m1, m2):
            g = p.gradient.to_numpy()
            m[...] = b1 * m + (1 - b1) * g
            v[...] = b2 * v + (1 - b2) * g * g
            mh, vh = m / (1 - b1 ** (step + 1)), v / (1 - b2 ** (step + 1))
            p.set_value(p.codes - lr * mh / (np.sqrt(vh) + 1e-12))
        if step % 300 == 0 or step == steps - 1:
            print(f"step {step:4d}  implicit loss {float(loss.numpy()):.3e}")

    P, Q = forward(x)
    decoded, bottom_mask = projective.decode_masked(P.numpy(), Q.numpy(), tau=1e-6)
    pole = int(np.argmin(np.abs(x[:, 0] + 0.1)))
    print("\nx       target        decoded       bottom  |Q| (normalised)")
    for i in (pole - 2, pole - 1, pole, pole + 1, pole + 2, len(x) - 1):
        shown = "⊥" if bottom_mask[i, 0] else f"{decoded[i, 0]:+.5g}"
        print(f"{x[i, 0]:+.2f}  {y[i, 0]:+12.5g}  {shown:>12}  {bool(bottom_mask[i, 0])!s:6}"
              f"  {abs(Q.numpy()[i, 0]):.2e}")
    finite = ~bottom_mask[:, 0] & np.isfinite(y[:, 0])
    rel = np.abs(decoded[finite, 0] - y[finite, 0]) / np.abs(y[finite, 0])
    cov = coverage(P.numpy(), Q.numpy(), tau=1e-6)
    print(f"\nbottom mask at the pole: {bool(bottom_mask[pole, 0])}; coverage {cov:.3f}; "
          f"max relative error off the pole {rel.max():.2e}")
    return {"bottom_at_pole": bool(bottom_mask[pole, 0]), "coverage": cov,
            "max_rel_error": float(rel.max()), "bottom_mask": bottom_mask[:, 0]}


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
