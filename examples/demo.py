"""A short tour of zeroproof: transreal arithmetic, where nothing ever turns into NaN.

Run:  python examples/demo.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # also runs from a plain checkout

from zeroproof.bridge import from_ieee, to_ieee  # noqa: E402
from zeroproof.core import (  # noqa: E402
    ReductionMode, ninf, phi, pinf, real, tr_log, tr_mean, tr_sum, wheel_mode,
)


def _show(expr: str, value: object) -> None:
    print(f"  {expr:<34} = {value}")


def arithmetic_tour() -> None:
    """Print a few lines of transreal arithmetic: division by zero, infinities, nullity Φ,
    wheel mode's ⊥, exact reductions and the IEEE bridge.

    >>> arithmetic_tour()  # doctest: +ELLIPSIS
    Transreal arithmetic: every operation has an answer
    ...
    """
    print("Transreal arithmetic: every operation has an answer")
    one, zero = real(1.0), real(0.0)
    _show("1 / 0", one / zero)
    _show("1 / -0", one / real(-0.0))
    _show("0 / 0", zero / zero)
    _show("+∞ - +∞", pinf() - pinf())
    _show("0 × −∞", zero * ninf())
    _show("log(0)", tr_log(zero))
    _show("1e308 × 10 (overflow)", real(1e308) * real(10.0))
    _show("Φ + 5 (Φ absorbs)", phi() + real(5.0))
    _show("Φ == Φ", phi() == phi())
    _show("−∞ < -1e308 < +∞", ninf() < real(-1e308) < pinf())

    print("\nWheel mode: indeterminate forms become ⊥ (bottom)")
    with wheel_mode():
        _show("0 / 0", zero / zero)
        _show("+∞ + +∞", pinf() + pinf())
    _show("0 / 0 (after the with block)", zero / zero)

    print("\nReductions are exactly rounded and total")
    xs = [real(1e16), real(1.0), real(-1e16)]
    _show("sum([1e16, 1, -1e16])", tr_sum(xs))
    _show("float (1e16 + 1) + -1e16", (1e16 + 1.0) + -1e16)  # IEEE loses the 1
    _show("mean([1, Φ, 3]) strict", tr_mean([real(1.0), phi(), real(3.0)]))
    _show("mean([1, Φ, 3]) drop_null", tr_mean([real(1.0), phi(), real(3.0)], ReductionMode.DROP_NULL))

    print("\nIEEE bridge: NaN ↔ Φ, inf ↔ +∞, bit exact for every float")
    _show("from_ieee(nan), from_ieee(-inf)", f"{from_ieee(float('nan'))}, {from_ieee(float('-inf'))}")
    _show("to_ieee(from_ieee(-0.0))", to_ieee(from_ieee(-0.0)))


def gradient_tour() -> None:
    """Gradients through a pole: exact where the value is REAL, Mask-REAL zero at the pole,
    bounded under the saturating mode.

    >>> gradient_tour()  # doctest: +ELLIPSIS
    <BLANKLINE>
    Gradients through a pole: f(x) = 1 / (x - 1)
    ...
    """
    from zeroproof.autodiff import TRNode, check_gradient, gradient_mode, tr_grad

    print("\nGradients through a pole: f(x) = 1 / (x - 1)")
    for xv in (0.5, 1.0, 1.0 + 1e-9):
        x = TRNode.parameter(xv)
        y = 1 / (x - 1)
        y.backward()
        _show(f"x = {xv!r}: f(x), f'(x)", f"{y.value}, {x.gradient}")
    with gradient_mode("saturating", saturation_bound=1.0):
        x = TRNode.parameter(1.0 + 1e-9)
        (1 / (x - 1)).backward()
        _show("saturating f'(1 + 1e-9), ≤ 1/b²", x.gradient)
    d2 = tr_grad(tr_grad(lambda x: 1 / (x - 1)))
    _show("f''(0.5) via tr_grad(tr_grad(f))", d2(0.5).value)
    _show("check_gradient(f, 0.5)", check_gradient(lambda x: 1 / (x - 1), 0.5).reason)


def pole_learning_tour(epochs: int = 120) -> None:
    """Train a rational layer on 1/(x − 0.5) with the pole (and its +inf target) inside the data,
    under a hybrid schedule applied per epoch; print a few epochs and the learned pole.

    >>> pole_learning_tour(epochs=3)  # doctest: +ELLIPSIS
    <BLANKLINE>
    Learning a pole: y = 1/(x - 0.5) on [-1, 1], x = 0.5 among the data
    ...
    """
    import numpy as np

    from zeroproof.autodiff import create_default_schedule
    from zeroproof.layers import RationalLayer
    from zeroproof.training import Adam, SCMTrainer, TrainingConfig, chordal_loss

    print("\nLearning a pole: y = 1/(x - 0.5) on [-1, 1], x = 0.5 among the data")
    x = np.linspace(-1.0, 1.0, 129)
    with np.errstate(divide="ignore"):
        y = 1.0 / (x - 0.5)
    _show("target at x = 0.5 (IEEE)", y[96])
    model = RationalLayer(1, 1, seed=0)
    config = TrainingConfig(epochs=epochs, batch_size=32, schedule=create_default_schedule(
        warmup_epochs=2), progress="none")
    history = SCMTrainer(model, Adam(model.parameters(), lr=0.05), chordal_loss, (x, y), config).fit()
    for r in history[:: max(1, epochs // 4)] + [history[-1]]:
        sat = r["hybrid"]["saturating_ratio"]
        _show(f"epoch {r['epoch']:>3}: loss, δ, saturating share",
              f"{r['loss']:.2e}, "
              + ("warm-up (no δ)" if r["delta"] is None else f"{r['delta']:.1e}")
              + f", {sat or 0:.3f}")
    poles = model.find_poles(domain=(-1.0, 1.0))
    _show("learned pole(s) of Q", np.round(poles, 6).tolist())


def main() -> None:
    """Run the tour: arithmetic, gradients, then learning a pole.

    >>> callable(main)
    True
    """
    arithmetic_tour()
    gradient_tour()
    pole_learning_tour()


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
