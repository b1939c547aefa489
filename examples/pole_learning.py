"""Learn a function with a pole inside the data: y = 1/(x − 0.5) on [−1, 1].

A rational layer P/Q (Chebyshev basis, anchored Q = 1 + δQ) is trained with Adam by
``SCMTrainer`` under the default hybrid gradient schedule, one ``schedule.apply(epoch)`` per
epoch; after each epoch the real roots of the learned Q are fed back as forced-exploration
regions. The data include x = 0.5 itself, where the target is +∞: in IEEE arithmetic that one
sample turns the loss and then every weight into NaN; here its loss element is Φ and drops out
of the mean, and training goes on.

Run:  python examples/pole_learning.py [--plot out.png]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # also runs from a plain checkout

import numpy as np  # noqa: E402

from zeroproof.autodiff import create_default_schedule  # noqa: E402
from zeroproof.layers import RationalLayer  # noqa: E402
from zeroproof.training import Adam, SCMTrainer, TrainingConfig, chordal_loss  # noqa: E402

POLE = 0.5


def make_data(n: int = 257) -> tuple[np.ndarray, np.ndarray]:
    """``n`` evenly spaced points on [−1, 1] (x = 0.5 is one of them for n = 8k + 1) and the
    targets 1/(x − 0.5), +inf at the pole."""
    x = np.linspace(-1.0, 1.0, n)
    with np.errstate(divide="ignore"):
        y = 1.0 / (x - POLE)
    return x, y


def train(epochs: int = 200, degree: tuple[int, int] = (2, 2), basis: str = "chebyshev",
          lr: float = 0.05, batch_size: int = 64, seed: int = 0, progress: str = "none",
          log_every: int = 25) -> tuple[RationalLayer, SCMTrainer]:
    """Build the layer and the trainer, fit, and return both."""
    x, y = make_data()
    model = RationalLayer(*degree, basis=basis, seed=seed)
    schedule = create_default_schedule(warmup_epochs=5)
    config = TrainingConfig(epochs=epochs, batch_size=batch_size, seed=seed, schedule=schedule,
                            progress=progress, log_every=log_every)
    trainer = SCMTrainer(model, Adam(model.parameters(), lr=lr), chordal_loss, (x, y), config)
    trainer.fit()
    return model, trainer


def report(model: RationalLayer, trainer: SCMTrainer) -> dict[str, float]:
    """Pole found, error away from it and the last epoch's numbers."""
    poles = model.find_poles(domain=(-1.0, 1.0))
    xs = np.linspace(-1.0, 1.0, 2001)
    far = xs[np.abs(xs - POLE) > 0.1]
    err = np.max(np.abs(model(far).numpy() - 1.0 / (far - POLE)))
    last = trainer.history[-1]
    return {"pole": float(poles[np.argmin(np.abs(poles - POLE))]) if poles.size else float("nan"),
            "max_error_away": float(err), "loss": last["loss"], "coverage": last["coverage"]}


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train, print the per-epoch lines and the result; ``--plot out.png`` also draws it."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", metavar="OUT.png", help="also draw the fit (needs matplotlib)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)  # unknown arguments: an error
    plot_path = args.plot
    if plot_path is not None:  # check before training, not after
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit("--plot needs matplotlib: pip install 'zeroproof[plot]' (or "
                             "matplotlib)") from None
    print("Learning y = 1/(x - 0.5) on [-1, 1] (the pole is inside the data)")
    model, trainer = train(progress="print")
    r = report(model, trainer)
    print(f"learned pole {r['pole']:.6f} (true {POLE}); max |error| for |x - 0.5| > 0.1: "
          f"{r['max_error_away']:.2e}; loss {r['loss']:.2e}")
    if plot_path is not None:
        from zeroproof.training.plotting import plot_training
        x, y = make_data()
        plot_training(model, trainer.history, plot_path, data=(x, y),
                      true_fn=lambda t: 1.0 / (t - POLE))
        print(f"plot written to {plot_path}")
    return r


if __name__ == "__main__":
    main()
