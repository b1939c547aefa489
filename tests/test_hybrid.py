"""Hybrid schedule: δ formulas, decisions (MASK_REAL vs SATURATING), exploration, statistics."""
from __future__ import annotations

import math
import threading

import pytest

from zeroproof.autodiff import (
    GradientMode, GradientModeConfig, HybridGradientContext, HybridGradientSchedule, ScheduleType,
    TRNode, create_default_schedule, gradient_mode, tr_grad, use_saturating,
)
from zeroproof.autodiff import tr_ops_grad as T

KEYS = ("current_epoch", "local_threshold", "total_gradient_calls", "saturating_activations",
        "mask_real_activations", "saturating_ratio", "near_pole_ratio", "q_min_batch", "q_min_epoch",
        "q_mean_batch", "q_median_batch", "q_p10", "q_p50", "q_p90", "exploration_regions")


pytestmark = pytest.mark.usefixtures("fresh_gradient_state")


def fixed(delta: float, **kw) -> HybridGradientSchedule:
    """A schedule whose δ is ``delta`` at every epoch (no decay, no adaptation)."""
    kw.setdefault("force_pole_exploration", False)
    return HybridGradientSchedule(delta_init=delta, delta_final=delta, adaptive_delta=False,
                                  transition_epochs=0, **kw)


def model(x0: float, w0: float = 2.0):
    """A small expression with every singular op: div, log, sqrt, x^-2 (four decisions)."""
    x, w = TRNode.parameter(x0), TRNode.parameter(w0)
    y = w / x + T.tr_log(abs(x)) + T.tr_sqrt(abs(x)) + T.tr_pow_int(x, -2) + x * w
    return y, (x, w)


def grads(x0: float, ctx) -> list:
    y, params = model(x0)
    with ctx:
        y.backward()
    return [p.gradient.value for p in params]


# ---- δ(t) -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(ScheduleType))
def test_get_delta_formulas(kind):
    s = HybridGradientSchedule(warmup_epochs=3, transition_epochs=8, delta_init=1e-2,
                               delta_final=1e-6, schedule_type=kind, adaptive_delta=False)
    di, df = 1e-2, 1e-6
    for t in range(0, 15):
        d = s.get_delta(t)
        if t < 3:
            assert d is None and s.is_warmup(t)
            continue
        p = min(max((t - 3) / 8, 0.0), 1.0)
        want = {
            ScheduleType.LINEAR: di + (df - di) * p,
            ScheduleType.EXPONENTIAL: di * (df / di) ** p,
            ScheduleType.COSINE: df + 0.5 * (di - df) * (1 + math.cos(math.pi * p)),
        }[kind]
        assert d == max(want, 1e-8), (t, d, want)  # the exact expression, bit for bit
        assert s.is_transitioning(t) == (t < 11)


def test_get_delta_none_when_disabled_and_floor_at_min_delta():
    assert HybridGradientSchedule(enable=False).get_delta(50) is None
    s = HybridGradientSchedule(delta_init=1e-3, delta_final=1e-12, min_delta=1e-9, transition_epochs=4,
                               adaptive_delta=False)
    assert s.get_delta(4) == 1e-9
    assert HybridGradientSchedule(transition_epochs=0, adaptive_delta=False).get_delta(0) == 1e-6


def test_adaptive_delta_uses_last_batch_q_min():
    s = HybridGradientSchedule(transition_epochs=10, delta_init=1e-2, delta_final=1e-6)
    base = 1e-2 * (1e-6 / 1e-2) ** 0.5
    assert s.get_delta(5) == base  # nothing recorded yet
    with s.apply(5):
        x = TRNode.parameter(0.05)
        (1 / x).backward()  # records q_min_batch = 0.05
    assert HybridGradientContext.get_statistics()["q_min_batch"] == 0.05
    assert s.get_delta(5) == min(base * max(1.0, 0.1 / 0.05), 2e-2)
    with s.apply(5):
        (1 / TRNode.parameter(1e-9)).backward()  # tiny q: δ grows but is capped at 2·δ_init
    assert s.get_delta(5) == 2e-2
    with s.apply(5):
        (1 / TRNode.parameter(3.0)).backward()  # q ≥ 0.1: no growth
    assert s.get_delta(5) == base


def test_a_schedule_never_adapts_to_another_schedules_pass():
    # The statistics a finished apply() block leaves behind (for reading) must not change the δ
    # of a schedule that did not run that pass: get_delta of a fresh schedule is the formula.
    with HybridGradientSchedule(delta_init=1e-3, delta_final=1e-3).apply(0):
        (1 / TRNode.parameter(1e-7)).backward()  # q_min_batch = 1e-7 in this context
    assert HybridGradientContext.get_statistics()["q_min_batch"] == 1e-7
    fresh = HybridGradientSchedule()
    assert (fresh.get_delta(0), fresh.get_delta(20)) == (1e-2, 1e-2 * (1e-6 / 1e-2) ** 1)
    with fresh.apply(20):  # its first pass uses the formula too, then it adapts to its own
        (1 / TRNode.parameter(1e-3)).backward()
        assert HybridGradientContext.get_statistics()["local_threshold"] == 1e-6
    assert fresh.get_delta(20) == 1e-6 * 100


@pytest.mark.parametrize("kw", [
    {"transition_epochs": -1}, {"warmup_epochs": -2}, {"delta_init": 0.0}, {"delta_init": -1e-3},
    {"delta_final": 0.0}, {"min_delta": -1e-9}, {"saturating_bound": 0.0},
    {"pole_exploration_radius": -0.1}, {"schedule_type": "quadratic"}, {"delta_init": float("nan")},
])
def test_bad_schedule_is_value_error_at_construction(kw):
    with pytest.raises(ValueError) as err:
        HybridGradientSchedule(**kw)
    assert next(iter(kw)).split("_")[0] in str(err.value)


def test_create_default_schedule_presets():
    d = create_default_schedule()
    assert (d.warmup_epochs, d.transition_epochs, d.delta_init, d.delta_final, d.schedule_type,
            d.saturating_bound, d.pole_exploration_radius, d.pole_exploration_epochs, d.min_delta,
            d.force_pole_exploration, d.adaptive_delta, d.enable) == (
        0, 20, 1e-2, 1e-6, ScheduleType.EXPONENTIAL, 1.0, 0.05, 5, 1e-8, True, True, True)
    a = create_default_schedule(aggressive=True, warmup_epochs=3, force_exploration=False)
    assert (a.delta_init, a.delta_final, a.saturating_bound, a.pole_exploration_radius,
            a.pole_exploration_epochs, a.min_delta, a.warmup_epochs, a.force_pole_exploration) == (
        1e-1, 1e-8, 0.1, 0.1, 10, 1e-10, 3, False)


def test_mode_description_mentions_phase():
    s = HybridGradientSchedule(warmup_epochs=2, transition_epochs=3)
    assert "warm-up" in s.get_mode_description(0)
    assert "transition" in s.get_mode_description(2)
    assert "final" in s.get_mode_description(10)
    assert "disabled" in HybridGradientSchedule(enable=False).get_mode_description(0)


# ---- HYBRID = MASK_REAL / SATURATING where it should be ---------------------------------------------
@pytest.mark.parametrize("x0", [0.5, -3.0, 1e-3, 1e-7, -1e-9])
def test_hybrid_equals_mask_real_during_warmup_and_without_schedule(x0):
    exact = grads(x0, gradient_mode("mask-real"))
    warm = create_default_schedule(warmup_epochs=5)
    assert grads(x0, warm.apply(2)) == exact
    assert grads(x0, gradient_mode("hybrid")) == exact  # HYBRID without a schedule
    assert grads(x0, HybridGradientSchedule(enable=False).apply(7)) == exact
    assert HybridGradientContext.get_statistics()["total_gradient_calls"] == 0  # nothing decided


@pytest.mark.parametrize("x0", [0.5, -3.0, 2.0])
def test_hybrid_equals_mask_real_far_from_poles(x0):
    # every singular quantity (x, |x|, 2√|x|, x³) is far above δ = 1e-4
    assert grads(x0, fixed(1e-4).apply(0)) == grads(x0, gradient_mode("mask-real"))
    stats = HybridGradientContext.get_statistics()
    assert stats["total_gradient_calls"] == 4 and stats["saturating_activations"] == 0


@pytest.mark.parametrize("x0", [1e-3, -2e-3, 1e-6])
def test_hybrid_equals_saturating_inside_delta(x0):
    # δ = 1 covers every singular quantity here
    s = fixed(1.0, saturating_bound=0.5)
    assert grads(x0, s.apply(0)) == grads(x0, use_saturating(0.5))
    stats = HybridGradientContext.get_statistics()
    assert stats["saturating_activations"] == 4 and stats["saturating_ratio"] == 1.0


def test_hybrid_mixes_per_node():
    # δ = 1e-2: 1/x with x = 1e-3 saturates; 1/(x + 5) is exact
    x = TRNode.parameter(1e-3)
    with fixed(1e-2).apply(0):
        (1 / x + 1 / (x + 5.0)).backward()
    want = -1 / (1e-6 + 1.0) - 1 / (5.001 * 5.001)
    assert math.isclose(x.gradient.value, want, rel_tol=1e-15)
    stats = HybridGradientContext.get_statistics()
    assert (stats["total_gradient_calls"], stats["saturating_activations"],
            stats["mask_real_activations"]) == (2, 1, 1)


def test_exploration_region_forces_saturation():
    s = fixed(1e-9, force_pole_exploration=True, pole_exploration_radius=0.1, pole_exploration_epochs=3)
    s.update_detected_poles([0.5], epoch=10)
    assert s.get_exploration_regions(9) == []
    assert s.get_exploration_regions(10) == [(0.4, 0.6)] and s.get_exploration_regions(12)
    assert s.get_exploration_regions(13) == []

    def run(epoch: int, attach: bool) -> float:
        x = TRNode.parameter(0.55)
        q = x - 0.5
        y = 1 / q  # |q| = 0.05 ≫ δ: exact unless the input lies in an exploration region
        if attach:
            y.x_value = x.value.value
        with s.apply(epoch):
            y.backward()
        return x.gradient.value

    with use_saturating(s.saturating_bound):
        x = TRNode.parameter(0.55)
        (1 / (x - 0.5)).backward()
        saturating = x.gradient.value
    exact = -1 / (0.55 - 0.5) ** 2
    assert run(11, attach=True) == saturating
    assert run(11, attach=False) == pytest.approx(exact)  # nothing attached: δ decides
    assert run(13, attach=True) == pytest.approx(exact)  # exploration over
    stats = HybridGradientContext.get_statistics()
    assert stats["exploration_regions"] is None  # epoch 13: no active region


def test_exploration_regions_reported_in_statistics():
    s = create_default_schedule()
    s.update_detected_poles([1.0, -2.0], epoch=0)
    with s.apply(1):
        stats = HybridGradientContext.get_statistics()
    assert stats["exploration_regions"] == [(0.95, 1.05), (-2.05, -1.95)]
    with pytest.raises(ValueError, match="poles"):
        s.update_detected_poles([float("nan")], 0)


def test_hybrid_second_derivative_far_from_pole_is_exact():
    f = lambda x: 1 / (x - 1)  # noqa: E731
    with fixed(1e-6).apply(0):
        d2 = tr_grad(tr_grad(f))(3.0)
    assert d2.value.value == pytest.approx(2 / 8, rel=1e-15)


# ---- statistics ---------------------------------------------------------------------------------
def test_statistics_keys_always_present():
    stats = HybridGradientContext.get_statistics()
    assert set(KEYS) <= set(stats)
    assert stats["total_gradient_calls"] == 0
    assert all(stats[k] is None for k in KEYS if k not in (
        "total_gradient_calls", "saturating_activations", "mask_real_activations"))


def test_each_decision_counted_once():
    s = fixed(1e-2)
    singular_real_nodes = 0
    with s.apply(0):
        for x0 in (1e-3, 0.5, -2.0, 3e-3):
            y, _ = model(x0)  # four singular REAL nodes each
            y.backward()
            singular_real_nodes += 4
            y.backward()  # a second backward on the same graph decides again
            singular_real_nodes += 4
        x = TRNode.parameter(0.0)
        z = 1 / x + T.tr_log(x * 0 + 2)  # 1/0 = +∞ is masked: no decision; log: one decision
        z.backward()
        singular_real_nodes += 0  # the root is +∞: everything is masked
        w = T.tr_exp(x) + x * x  # no singular op: nothing to decide
        w.backward()
    stats = HybridGradientContext.get_statistics()
    assert stats["total_gradient_calls"] == singular_real_nodes == 32
    assert stats["saturating_activations"] + stats["mask_real_activations"] == 32
    assert stats["saturating_ratio"] == stats["saturating_activations"] / 32
    assert 0 <= stats["near_pole_ratio"] <= 1


def test_batch_quantities_describe_the_last_backward():
    with fixed(1e-3).apply(0):
        x = TRNode.parameter(2.0)
        y = 1 / x + 1 / (x - 1.5) + 1 / (x + 2.0) + 1 / (x - 1.99)
        y.backward()
    stats = HybridGradientContext.get_statistics()
    qs = sorted([2.0, 0.5, 4.0, abs(2.0 - 1.99)])
    assert stats["q_min_batch"] == qs[0] == stats["q_min_epoch"]
    assert stats["q_mean_batch"] == pytest.approx(sum(qs) / 4)
    assert stats["q_median_batch"] == pytest.approx((qs[1] + qs[2]) / 2) == stats["q_p50"]
    assert stats["q_p10"] <= stats["q_p50"] <= stats["q_p90"]
    assert stats["local_threshold"] == 1e-3 and stats["current_epoch"] == 0


def test_epoch_counters_reset_on_new_epoch_and_q_min_epoch_spans_batches():
    s = fixed(1e-3)
    with s.apply(0):
        (1 / TRNode.parameter(0.2)).backward()
        (1 / TRNode.parameter(0.7)).backward()
    stats = HybridGradientContext.get_statistics()
    assert stats["total_gradient_calls"] == 2
    assert stats["q_min_batch"] == 0.7 and stats["q_min_epoch"] == 0.2
    with s.apply(1):
        (1 / TRNode.parameter(0.9)).backward()
    stats = HybridGradientContext.get_statistics()
    assert stats["current_epoch"] == 1 and stats["total_gradient_calls"] == 1
    assert stats["q_min_epoch"] == 0.9
    HybridGradientContext.reset_epoch_statistics()
    assert HybridGradientContext.get_statistics()["total_gradient_calls"] == 0
    HybridGradientContext.reset_statistics()
    assert HybridGradientContext.get_statistics()["q_min_batch"] is None


def test_statistics_memory_is_bounded():
    from zeroproof.autodiff.hybrid_gradient import _SAMPLE_CAP

    with fixed(1e-3).apply(0):
        x = TRNode.parameter(1.0)
        y = x
        for i in range(3 * _SAMPLE_CAP):
            y = y + 1 / (x + i)
        y.backward()
    stats_obj = HybridGradientContext._stats()
    assert len(stats_obj._b_sample) <= _SAMPLE_CAP
    stats = HybridGradientContext.get_statistics()
    assert stats["total_gradient_calls"] == 3 * _SAMPLE_CAP
    assert stats["q_min_batch"] == 1.0


def test_should_use_saturating_decides_and_counts_once():
    assert HybridGradientContext.should_use_saturating(1e-9) is False  # no schedule: never
    assert HybridGradientContext.get_statistics()["total_gradient_calls"] == 0
    s = fixed(1e-3, force_pole_exploration=True)
    s.update_detected_poles([2.0], 0)
    HybridGradientContext.set_schedule(s)
    HybridGradientContext.update_epoch(0)
    assert HybridGradientContext.get_schedule() is s
    assert HybridGradientContext.should_use_saturating(1e-4) is True
    assert HybridGradientContext.should_use_saturating(0.5) is False
    assert HybridGradientContext.should_use_saturating(0.5, x_value=2.01) is True
    stats = HybridGradientContext.get_statistics()
    assert (stats["total_gradient_calls"], stats["saturating_activations"]) == (3, 2)
    assert stats["near_pole_ratio"] == pytest.approx(1 / 3)
    with pytest.raises(TypeError):
        HybridGradientContext.set_schedule("default")


def test_apply_restores_previous_mode_bound_schedule_epoch():
    outer = fixed(1e-2, saturating_bound=0.3)
    inner = fixed(1e-5, saturating_bound=2.0)
    with gradient_mode("saturating", saturation_bound=0.7):
        with outer.apply(4):
            with pytest.raises(ArithmeticError):
                with inner.apply(9):
                    assert HybridGradientContext.current_delta() == 1e-5
                    assert GradientModeConfig.get_saturation_bound() == 2.0
                    raise ArithmeticError
            assert HybridGradientContext.get_schedule() is outer
            assert HybridGradientContext.current_delta() == 1e-2
            assert GradientModeConfig.get_saturation_bound() == 0.3
        assert GradientModeConfig.get_mode() is GradientMode.SATURATING
        assert GradientModeConfig.get_saturation_bound() == 0.7
        assert HybridGradientContext.get_schedule() is None
    assert GradientModeConfig.is_mask_real()


def test_hybrid_state_is_per_thread():
    s = fixed(1.0)
    out = {}

    def worker():
        out["schedule"] = HybridGradientContext.get_schedule()
        out["mode"] = GradientModeConfig.get_mode()
        x = TRNode.parameter(1e-3)
        (1 / x).backward()
        out["grad"] = x.gradient.value
        out["calls"] = HybridGradientContext.get_statistics()["total_gradient_calls"]

    with s.apply(0):
        t = threading.Thread(target=worker)
        t.start()
        t.join(10)
        (1 / TRNode.parameter(1e-3)).backward()
        assert HybridGradientContext.get_statistics()["total_gradient_calls"] == 1
    assert out == {"schedule": None, "mode": GradientMode.MASK_REAL, "grad": -1e6, "calls": 0}


def test_the_pass_decider_is_cleared_after_a_pass_and_after_a_failing_one(monkeypatch):
    from zeroproof.autodiff.hybrid_gradient import ACTIVE_PASS, HybridStatistics

    s = fixed(1.0)
    x = TRNode.parameter(1e-3)
    y = 1 / x
    with s.apply(0):
        y.backward()
        assert ACTIVE_PASS.decider is None
        calls = []

        def failing_record(self, q, saturate, near):
            calls.append(q)
            raise RuntimeError("statistics failed")

        monkeypatch.setattr(HybridStatistics, "record", failing_record)
        with pytest.raises(RuntimeError, match="statistics failed"):
            y.backward()
        assert calls == [1e-3] and ACTIVE_PASS.decider is None
        monkeypatch.undo()
        x.zero_grad()
        y.backward()  # the graph is clean: the same pass runs again
    assert x.gradient.value == -1.0 / (1e-6 + 1.0)  # saturated −a/(b² + B²): |b| = 1e-3 ≤ δ = 1
    assert ACTIVE_PASS.decider is None


def test_a_nested_apply_gives_the_outer_epoch_its_statistics_back():
    from zeroproof.autodiff import HybridGradientContext, TRNode, create_default_schedule

    sched = create_default_schedule()

    def step(v):
        x = TRNode.parameter(v)
        (1 / x).backward()

    def stats():
        s = HybridGradientContext.get_statistics()
        return s["current_epoch"], s["total_gradient_calls"], s["q_min_batch"]

    with sched.apply(7):
        step(1e-3)
        step(0.5)
        outer = stats()
        with sched.apply(3):
            step(2e-3)
            assert stats() == (3, 1, 2e-3)
        assert stats() == outer == (7, 2, 0.5)
        step(0.25)
    assert stats() == (7, 3, 0.25)  # still readable after the block
    with sched.apply(8):  # a new epoch, not nested: fresh counters
        step(0.5)
    assert stats() == (8, 1, 0.5)


def test_quantiles_of_many_decisions_arriving_in_order_are_unbiased_and_reproducible():
    """Beyond 2048 decisions per batch the |u| sample is a reservoir: uniform over the batch
    whatever the order of arrival (an ordered stream used to skew p50 to ~0.9)."""
    import numpy as np

    import zeroproof.array as za
    from zeroproof.autodiff import HybridGradientContext, HybridGradientSchedule, TRNode

    sched = HybridGradientSchedule(delta_init=10.0, delta_final=10.0, adaptive_delta=False,
                                   force_pole_exploration=False)
    xs = np.linspace(1e-3, 1.0, 10000)

    def scalar_run():
        HybridGradientContext.reset_statistics()
        x = TRNode.parameter(1.0)
        y = TRNode.constant(0.0)
        for v in xs:
            y = y + x / TRNode.constant(float(v))
        y.backward()
        s = HybridGradientContext.get_statistics()
        return s["q_p10"], s["q_p50"], s["q_p90"]

    def batched_run():
        HybridGradientContext.reset_statistics()
        w = za.parameter(np.array(1.0))
        (w / za.constant(xs)).backward(np.ones(xs.size))
        s = HybridGradientContext.get_statistics()
        return s["q_p10"], s["q_p50"], s["q_p90"]

    with sched.apply(0):
        for run in (scalar_run, batched_run):
            first = run()
            assert run() == first  # reproducible
            for got, want in zip(first, (0.1, 0.5, 0.9)):
                assert abs(got - want) < 0.05, (run.__name__, first)


def test_statistics_snapshot_restores_the_reservoir_generator_state():
    import random

    from zeroproof.autodiff.hybrid_gradient import HybridStatistics

    st = HybridStatistics()
    st.begin_batch(0.1)
    for i in range(3000):
        st.record(float(i), False, False)
    saved = st.snapshot()
    after = [st._rng.random() for _ in range(3)]
    st.restore(saved)
    assert isinstance(st._rng, random.Random) and [st._rng.random() for _ in range(3)] == after
