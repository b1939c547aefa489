"""Every snippet of ``seeds/autodiff_modes.txt`` runs verbatim (module paths included).

The snippets are kept as source text, exactly as the seed prints them, and executed in a fresh
thread: some set ``GradientModeConfig`` for "the rest of the program", and a new thread starts
from the default context, so nothing leaks into other tests. ``print`` is captured.
"""
from __future__ import annotations

import math
import textwrap

from _isolation import run_in_fresh_thread

from zeroproof.autodiff import GradientMode, GradientModeConfig, HybridGradientContext
from zeroproof.core import TRScalar, TRTag

MASK_REAL = """
from zeroproof.autodiff import grad_mode
from zeroproof.autodiff.tr_node import TRNode
from zeroproof.core import real
from zeroproof.autodiff.tr_ops_grad import tr_div
x = TRNode.parameter(real(0.0))
y = tr_div(real(1.0), x) # forward tag = PINF
# Backprop uses Mask‑REAL → grad wrt x is 0
y.backward()
print(x.gradient) # REAL 0.0
"""

SATURATING = """
from zeroproof.autodiff.grad_mode import GradientMode, GradientModeConfig
from zeroproof.autodiff.tr_ops_grad import tr_div
from zeroproof.autodiff.tr_node import TRNode
from zeroproof.core import real
GradientModeConfig.set_mode(GradientMode.SATURATING)
GradientModeConfig.set_saturation_bound(1.0)
x = TRNode.parameter(real(1e-12))
y = tr_div(real(1.0), x)
y.backward()
print(x.gradient) # finite, bounded by saturation rule
"""

HYBRID = """
from zeroproof.autodiff.hybrid_gradient import create_default_schedule
from zeroproof.autodiff.grad_mode import GradientMode, GradientModeConfig
from zeroproof.autodiff.tr_ops_grad import tr_div
from zeroproof.autodiff.tr_node import TRNode
from zeroproof.core import real
schedule = create_default_schedule(aggressive=False, warmup_epochs=5, force_exploration=True)
for epoch in range(50):
    with schedule.apply(epoch):
        x = TRNode.parameter(real(1e-6))
        y = tr_div(real(1.0), x)
        y.backward()
# Inspect context stats per batch/epoch
from zeroproof.autodiff.hybrid_gradient import HybridGradientContext
stats = HybridGradientContext.get_statistics()
# stats includes q_min_batch, near_pole_ratio, saturating_ratio, etc.
"""

VALUE_AND_GRAD = """
from zeroproof.autodiff.grad_funcs import tr_value_and_grad
from zeroproof.autodiff.tr_node import TRNode
from zeroproof.core import real
from zeroproof.autodiff.tr_ops_grad import tr_mul, tr_add
# f(x) = x*x + 2x + 1
def f(x):
    return tr_add(tr_add(tr_mul(x, x), tr_mul(real(2.0), x)), real(1.0))
val_and_grad = tr_value_and_grad(f)
x = TRNode.parameter(real(3.0))
val, grad = val_and_grad(x)
# val is REAL 16, grad is REAL 8
"""


def run_snippet(source: str) -> tuple[dict, list]:
    """Execute ``source`` in a fresh thread; returns its namespace and what it printed."""
    printed: list = []
    ns: dict = {"print": lambda *a: printed.append(a)}
    run_in_fresh_thread(
        lambda: exec(compile(textwrap.dedent(source), "<seed snippet>", "exec"), ns))
    return ns, printed


def test_mask_real_snippet():
    ns, printed = run_snippet(MASK_REAL)
    (g,) = printed[0]
    assert isinstance(g, TRScalar) and g.tag is TRTag.REAL and g.value == 0.0
    assert ns["y"].tag is TRTag.PINF


def test_saturating_snippet_is_bounded_and_does_not_leak():
    ns, printed = run_snippet(SATURATING)
    (g,) = printed[0]
    assert g.tag is TRTag.REAL and math.isfinite(g.value)
    assert abs(g.value) <= 1.0  # −1/(x² + b²) with b = 1
    assert math.isclose(g.value, -1.0 / (1e-24 + 1.0), rel_tol=1e-15)
    # the snippet set the mode "globally": only in its own thread
    assert GradientModeConfig.get_mode() is GradientMode.MASK_REAL
    assert GradientModeConfig.get_saturation_bound() == 1.0


def test_hybrid_snippet_statistics():
    ns, _ = run_snippet(HYBRID)
    stats = ns["stats"]
    for key in ("current_epoch", "local_threshold", "total_gradient_calls", "saturating_activations",
                "mask_real_activations", "saturating_ratio", "near_pole_ratio", "q_min_batch",
                "q_min_epoch", "q_mean_batch", "q_median_batch", "q_p10", "q_p50", "q_p90",
                "exploration_regions"):
        assert key in stats
    # the last epoch (49) had one backward with one division: one decision, |u| = 1e-6 ≤ δ
    assert stats["current_epoch"] == 49
    assert stats["total_gradient_calls"] == 1
    assert stats["saturating_activations"] == 1 and stats["saturating_ratio"] == 1.0
    assert stats["q_min_batch"] == 1e-6
    # x's gradient in that epoch is the saturating one, −1/(x² + b²), not −1e12
    assert math.isclose(ns["x"].gradient.value, -1.0 / (1e-12 + 1.0))
    # nothing leaks: the main thread still has no schedule and MASK_REAL
    assert HybridGradientContext.get_schedule() is None
    assert GradientModeConfig.get_mode() is GradientMode.MASK_REAL


def test_hybrid_snippet_warmup_epochs_are_mask_real():
    src = HYBRID.replace("for epoch in range(50):", "for epoch in range(5):")
    ns, _ = run_snippet(src)
    assert ns["x"].gradient.value == -1e12  # warm-up: exact rule, no decision counted
    assert ns["stats"]["total_gradient_calls"] == 0


def test_value_and_grad_snippet():
    ns, _ = run_snippet(VALUE_AND_GRAD)
    assert ns["val"].value.value == 16.0 and ns["val"].tag is TRTag.REAL
    assert ns["grad"].value.value == 8.0 and ns["grad"].tag is TRTag.REAL
