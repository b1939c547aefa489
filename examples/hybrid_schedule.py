"""Learn where a pole is: fit y = 1/(x − a) on the scalar tape under a hybrid gradient schedule.

The data come from a* = 0.3. The model starts with its pole at a = −0.5, so during training the
pole travels towards the data: whenever an input sits close to the current pole, the exact
derivative of 1/(x − a) is huge (it grows like 1/(x − a)²). The hybrid schedule swaps in the
bounded saturating form for those inputs only (|x − a| ≤ δ(epoch), or x inside an exploration
region around the last detected pole) and keeps the exact derivative everywhere else; an input
exactly on the pole gives a non-REAL prediction and Mask-REAL sends it no gradient at all.

The inputs lie right of the true pole (x ∈ [0.31, 1.51]), the usual situation for a resonance at
the edge of the measured range; the pole starts far left, at a = −0.5, and moves towards the
data. One line per epoch: loss, the pole estimate, δ, the share of saturating decisions (the
squash also divides, so each input makes two decisions) and the smallest |u| met in the batch.

Run:  python examples/hybrid_schedule.py
"""
from __future__ import annotations

from zeroproof.autodiff import HybridGradientContext, TRNode, create_default_schedule, tr_div

TRUE_A = 0.3
XS = [0.31 + 1.2 * i / 39 for i in range(40)]  # 40 inputs on [0.31, 1.51], right of the pole
YS = [1.0 / (x - TRUE_A) for x in XS]


def squash(v: TRNode | float) -> TRNode | float:
    """v/(1 + |v|): maps the real line (and ±∞) into [−1, 1], so no single input dominates."""
    return v / (1.0 + abs(v))


def loss_graph(a: TRNode) -> TRNode:
    """Mean squared error of squash(1/(x − a)) against squash(y), as one graph.

    Each division node carries its input x (``x_value``) so that forced pole exploration can
    recognise inputs near a detected pole.
    """
    total = TRNode.constant(0.0)
    for x, y in zip(XS, YS):
        pred = tr_div(1.0, x - a)
        pred.x_value = x
        err = squash(pred) - squash(y)
        total = total + err * err
    return total / len(XS)


def phase(schedule, epoch: int) -> str:
    """warm-up (HYBRID = Mask-REAL), transition (δ decaying) or final (δ = δ_final)."""
    if schedule.is_warmup(epoch):
        return "warm-up"
    return "transition" if schedule.is_transitioning(epoch) else "final"


def main(epochs: int = 30, lr: float = 1.0) -> float:
    """Train with plain SGD, one full batch per epoch; returns the learned pole location."""
    schedule = create_default_schedule(warmup_epochs=2, aggressive=False)
    a = TRNode.parameter(-0.5, name="a")
    print(f"{'epoch':>5} {'loss':>10} {'a':>8} {'delta':>9} {'sat.ratio':>9} {'q_min':>9}  phase")
    for epoch in range(epochs):
        with schedule.apply(epoch):
            loss = loss_graph(a)
            a.zero_grad()
            loss.backward()
            stats = HybridGradientContext.get_statistics()
        g = a.gradient.value  # always REAL: Mask-REAL turns non-REAL paths into R(0)
        a = TRNode.parameter(a.value.value - lr * g, name="a")  # SGD step on a fresh leaf
        schedule.update_detected_poles([a.value.value], epoch)  # explore around the new pole
        delta, ratio, q_min = stats["local_threshold"], stats["saturating_ratio"], stats["q_min_batch"]
        print(f"{epoch:5d} {loss.value.value:10.3e} {a.value.value:8.4f} "
              f"{'-' if delta is None else f'{delta:.2e}':>9} "
              f"{'-' if ratio is None else f'{ratio:.3f}':>9} "
              f"{'-' if q_min is None else f'{q_min:.2e}':>9}  {phase(schedule, epoch)}")
    return a.value.value


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    a_fit = main()
    print(f"learned pole a = {a_fit:.5f} (true {TRUE_A})")
