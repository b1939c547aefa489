"""Gradient modes: configuration, contexts, isolation (threads, asyncio), saturating forms."""
from __future__ import annotations

import asyncio
import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroproof.autodiff import (
    GradientMode, GradientModeConfig, HybridGradientContext, TRNode, create_default_schedule,
    gradient_mode, is_grad_enabled, no_grad, use_mask_real, use_saturating,
)
from zeroproof.autodiff import tr_ops_grad as T
from zeroproof.autodiff.saturating_ops import saturating_inverse_square, saturating_reciprocal
from zeroproof.core import TRTag, wheel_mode
from zeroproof.core.wheel import get_arithmetic_mode


pytestmark = pytest.mark.usefixtures("fresh_gradient_state")


def state() -> tuple:
    """Everything a `with` block may change, in this thread."""
    return (GradientModeConfig.get_mode(), GradientModeConfig.get_saturation_bound(),
            HybridGradientContext.get_schedule(), HybridGradientContext.current_delta(),
            is_grad_enabled(), get_arithmetic_mode())


# ---- configuration ---------------------------------------------------------------------------
def test_mode_names():
    assert [str(m) for m in GradientMode] == ["mask-real", "saturating", "hybrid"]
    assert GradientModeConfig.get_mode() is GradientMode.MASK_REAL
    assert GradientModeConfig.is_mask_real()


def test_set_mode_accepts_enum_and_strings():
    GradientModeConfig.set_mode("saturating")
    assert GradientModeConfig.is_saturating()
    GradientModeConfig.set_mode(GradientMode.HYBRID)
    assert GradientModeConfig.is_hybrid()
    GradientModeConfig.set_mode("MASK_REAL")
    assert GradientModeConfig.is_mask_real()


def test_set_mode_unknown_lists_the_modes():
    with pytest.raises(ValueError) as err:
        GradientModeConfig.set_mode("fast")
    msg = str(err.value)
    assert "'fast'" in msg and all(m in msg for m in ("mask-real", "saturating", "hybrid"))
    with pytest.raises(ValueError):
        with gradient_mode("fast"):
            pass  # pragma: no cover
    assert GradientModeConfig.is_mask_real()


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, float("nan"), float("inf"), -0.0])
def test_bad_saturation_bound_is_value_error(bad):
    with pytest.raises(ValueError, match="bound"):
        GradientModeConfig.set_saturation_bound(bad)
    with pytest.raises(ValueError, match="bound"):
        with gradient_mode("saturating", saturation_bound=bad):
            pass  # pragma: no cover
    assert GradientModeConfig.get_saturation_bound() == 1.0


@pytest.mark.parametrize("bad", ["1", None, [1.0], True])
def test_non_numeric_saturation_bound_is_type_error(bad):
    with pytest.raises(TypeError):
        GradientModeConfig.set_saturation_bound(bad)


def test_reset():
    GradientModeConfig.set_mode("hybrid")
    GradientModeConfig.set_saturation_bound(0.25)
    GradientModeConfig.reset()
    assert GradientModeConfig.is_mask_real() and GradientModeConfig.get_saturation_bound() == 1.0


# ---- contexts restore everything --------------------------------------------------------------
def test_gradient_mode_context_restores_on_exit_and_exception():
    before = state()
    with gradient_mode("saturating", saturation_bound=0.5) as m:
        assert m is GradientMode.SATURATING
        assert GradientModeConfig.get_saturation_bound() == 0.5
        with use_mask_real():
            assert GradientModeConfig.is_mask_real()
        assert GradientModeConfig.is_saturating()
    assert state() == before
    with pytest.raises(RuntimeError):
        with use_saturating(0.1):
            GradientModeConfig.set_mode("hybrid")  # even a set() inside the block is undone
            raise RuntimeError
    assert state() == before


def test_no_state_survives_nested_blocks_that_raise():
    before = state()
    schedule = create_default_schedule(warmup_epochs=1)
    with pytest.raises(ZeroDivisionError):
        with wheel_mode(), no_grad(), gradient_mode("saturating", 0.3), schedule.apply(4):
            assert GradientModeConfig.is_hybrid()
            assert GradientModeConfig.get_saturation_bound() == schedule.saturating_bound
            assert HybridGradientContext.get_schedule() is schedule
            assert not is_grad_enabled()
            1 / 0
    assert state() == before
    assert HybridGradientContext.get_schedule() is None


# ---- isolation --------------------------------------------------------------------------------
def _grad_of_reciprocal(x0: float) -> float:
    x = TRNode.parameter(x0)
    (1 / x).backward()
    return x.gradient.value


def test_two_threads_with_different_modes_get_their_own_answers():
    barrier = threading.Barrier(2, timeout=10)
    results: dict = {}

    def worker(name: str, mode: str, bound: float) -> None:
        with gradient_mode(mode, saturation_bound=bound):
            barrier.wait()  # both threads are inside their block now
            for _ in range(200):
                g = _grad_of_reciprocal(0.5)
                results.setdefault(name, set()).add(g)
            barrier.wait()
            results[name + "_mode"] = GradientModeConfig.get_mode()

    threads = [threading.Thread(target=worker, args=("exact", "mask-real", 1.0)),
               threading.Thread(target=worker, args=("sat", "saturating", 2.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results["exact"] == {-4.0}
    assert results["sat"] == {-1.0 / (0.25 + 4.0)}
    assert results["exact_mode"] is GradientMode.MASK_REAL
    assert results["sat_mode"] is GradientMode.SATURATING
    assert GradientModeConfig.is_mask_real()


def test_new_thread_starts_in_mask_real():
    GradientModeConfig.set_mode("saturating")
    seen = []
    t = threading.Thread(target=lambda: seen.append(GradientModeConfig.get_mode()))
    t.start()
    t.join(10)
    assert seen == [GradientMode.MASK_REAL]


def test_asyncio_tasks_are_isolated():
    async def worker(mode: str, out: dict) -> None:
        with gradient_mode(mode):
            await asyncio.sleep(0)
            a = _grad_of_reciprocal(0.5)
            await asyncio.sleep(0.001)
            out[mode] = (a, _grad_of_reciprocal(0.5), GradientModeConfig.get_mode())

    async def main() -> dict:
        out: dict = {}
        await asyncio.gather(worker("mask-real", out), worker("saturating", out))
        out["parent"] = GradientModeConfig.get_mode()
        return out

    out = asyncio.run(main())
    assert out["mask-real"] == (-4.0, -4.0, GradientMode.MASK_REAL)
    assert out["saturating"] == (-0.8, -0.8, GradientMode.SATURATING)
    assert out["parent"] is GradientMode.MASK_REAL


def test_asyncio_tasks_keep_separate_hybrid_statistics():
    async def worker(x0: float, out: dict, key: str) -> None:
        with create_default_schedule().apply(0):
            await asyncio.sleep(0)
            _grad_of_reciprocal(x0)
            await asyncio.sleep(0.001)
            stats = HybridGradientContext.get_statistics()
            out[key] = (stats["total_gradient_calls"], stats["q_min_batch"])

    async def main() -> dict:
        HybridGradientContext.reset_statistics()  # the parent owns a statistics object
        out: dict = {}
        await asyncio.gather(worker(1e-3, out, "a"), worker(5.0, out, "b"))
        out["parent"] = HybridGradientContext.get_statistics()["total_gradient_calls"]
        return out

    out = asyncio.run(main())
    assert out == {"a": (1, 1e-3), "b": (1, 5.0), "parent": 0}


# ---- saturating forms -------------------------------------------------------------------------
bounds = st.sampled_from([1e-3, 0.1, 0.5, 1.0, 4.0])
anything = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e-300, 1e300, -1e300]),
)


def _sat_grads(op: str, x0: float, b: float, other: float = 1.0) -> tuple:
    x = TRNode.parameter(x0)
    o = TRNode.parameter(other)
    with use_saturating(b):
        if op == "div_num":
            y = x / o
        elif op == "div_den":
            y = o / x
        elif op == "log":
            y = T.tr_log(x)
        elif op == "sqrt":
            y = T.tr_sqrt(x)
        else:
            y = T.tr_pow_int(x, int(op[3:]))
        y.backward()
    return y, x.gradient, o.gradient


@given(u=anything, b=bounds)
def test_saturating_reciprocal_bounded_by_one_over_b(u, b):
    s = saturating_reciprocal(u, bound=b)
    assert s.tag is TRTag.REAL and abs(s.value) <= 1.0 / b
    q = saturating_inverse_square(u, bound=b)
    assert q.tag is TRTag.REAL and 0.0 <= q.value <= 1.0 / (b * b)


@pytest.mark.parametrize("op", ["div_num", "log", "sqrt", "pow-1", "pow-2", "pow-3"])
@given(u=anything, b=bounds)
def test_saturating_gradients_bounded_for_every_input(op, u, b):
    """|g·sat(u)| ≤ 1/b (times |k| for x^k): at exact poles too (there Mask-REAL gives 0)."""
    y, gx, _ = _sat_grads(op, u, b)
    assert gx.tag is TRTag.REAL
    k = abs(int(op[3:])) if op.startswith("pow") else 1
    assert abs(gx.value) <= k / b * (1 + 1e-15)
    if y.tag is not TRTag.REAL:
        assert gx.value == 0.0


@given(u=anything, b=bounds, a=st.floats(min_value=-1e3, max_value=1e3))
def test_saturating_division_denominator_gradient_bounded(u, b, a):
    """∂(a/u)/∂u → −a/(u² + b²): bounded by |a|/b², and by 1/b for the numerator's 1/u."""
    y, gu, ga = _sat_grads("div_den", u, b, other=a)
    assert gu.tag is TRTag.REAL and abs(gu.value) <= abs(a) / (b * b) * (1 + 1e-15)
    assert ga.tag is TRTag.REAL and abs(ga.value) <= 1.0 / b * (1 + 1e-15)


def test_saturating_at_exact_poles():
    for op, x0 in (("div_den", 0.0), ("div_den", -0.0), ("log", 0.0), ("pow-2", 0.0), ("sqrt", 0.0)):
        y, gx, _ = _sat_grads(op, x0, 1.0)
        assert gx.tag is TRTag.REAL and gx.value == 0.0, (op, y, gx)


EXACT = {
    "div_num": lambda u, a: 1.0 / a, "div_den": lambda u, a: -a / (u * u),
    "log": lambda u, a: 1.0 / u, "sqrt": lambda u, a: 0.5 / math.sqrt(u),
    "pow-1": lambda u, a: -1.0 / (u * u), "pow-2": lambda u, a: -2.0 / u**3,
}
SINGULAR = {  # the quantity u whose 1/u is saturated, as a function of the input
    "div_num": lambda x, a: a, "div_den": lambda x, a: x, "log": lambda x, a: x,
    "sqrt": lambda x, a: 2.0 * math.sqrt(x), "pow-1": lambda x, a: x * x, "pow-2": lambda x, a: x**3,
}


@pytest.mark.parametrize("op", sorted(EXACT))
@given(m=st.floats(min_value=1.0, max_value=1e6), b=bounds, s=st.sampled_from([-1.0, 1.0]))
def test_saturating_equals_exact_far_from_the_pole(op, m, b, s):
    """Once |u| ≥ 1e3·b, the saturating gradient is the exact one to 1e-6 relative error
    (5e-7 for the forms built on sat(u); 1e-6 for the division's 1/(u² + b²))."""
    a = 1.5
    if op in ("log", "sqrt"):
        s = 1.0
    # pick x so that the singular quantity is at least 1e3·b
    x = s * m * 1e3 * b
    if op == "sqrt":
        x = (m * 1e3 * b) ** 2
    elif op == "pow-1":
        x = s * math.sqrt(m * 1e3 * b)
    elif op == "pow-2":
        x = s * (m * 1e3 * b) ** (1 / 3)
    if op == "div_num":
        x, a = 0.75, s * m * 1e3 * b
    u = SINGULAR[op](x, a)
    if abs(u) < 1e3 * b:
        return  # rounding put it a hair below the threshold
    _, gx, _ = _sat_grads(op, x, b, other=a)
    want = EXACT[op](x, a)
    tol = 1e-6 if op == "div_den" else 5e-7
    assert abs(gx.value - want) <= tol * abs(want), (x, gx, want)


def test_saturating_bound_changes_the_answer_not_the_forward():
    vals = []
    for b in (0.5, 1.0, 2.0):
        x = TRNode.parameter(0.1)
        with use_saturating(b):
            y = 1 / x
            y.backward()
        vals.append((y.value.value, x.gradient.value))
    assert {v[0] for v in vals} == {10.0}
    assert [v[1] for v in vals] == [-1 / (0.01 + 0.25), -1 / (0.01 + 1.0), -1 / (0.01 + 4.0)]


def test_one_graph_follows_every_mode_and_bound_change_between_passes():
    # backward caches its sweep and tables per mode and bound: a change between two passes over
    # the same graph must still take effect, in any order
    from zeroproof.autodiff import HybridGradientSchedule, gradient_mode

    x = TRNode.parameter(0.1)
    y = 1 / x
    sched = {b: HybridGradientSchedule(delta_init=1.0, delta_final=1.0, saturating_bound=b)
             for b in (0.5, 2.0)}
    steps = [("mask", None, -100.0), ("sat", 1.0, -1 / 1.01), ("sat", 2.0, -1 / 4.01),
             ("hybrid", 2.0, -1 / 4.01), ("sat", 1.0, -1 / 1.01), ("hybrid", 0.5, -1 / 0.26),
             ("mask", None, -100.0), ("hybrid", 2.0, -1 / 4.01)]
    for mode, b, want in steps:
        x.zero_grad()
        if mode == "mask":
            with gradient_mode(GradientMode.MASK_REAL):
                y.backward()
        elif mode == "sat":
            with use_saturating(b):
                y.backward()
        else:
            with sched[b].apply(0):
                y.backward()
        assert math.isclose(x.gradient.value, want, rel_tol=1e-14), (mode, b, x.gradient)


def test_saturating_keeps_exact_rules_of_non_singular_ops():
    x = TRNode.parameter(0.3)
    with use_saturating(0.01):
        y = T.tr_exp(x) * x + x * x - abs(x) + T.tr_pow_int(x, 3)
        y.backward()
    want = math.exp(0.3) * 1.3 + 0.6 - 1 + 3 * 0.09
    assert math.isclose(x.gradient.value, want, rel_tol=1e-15)


# ---- saturating forms at extreme magnitudes (u² or b² out of the float range) ----------------
@pytest.mark.parametrize("u, b, want", [
    (1e-300, 1e-200, 1e200),     # u² + b² underflows: the root is b, sat ≈ 1/b
    (0.0, 1e-200, 0.0),          # sign(0) = 0, not Φ
    (1e200, 1.0, 1e-200),        # u² overflows: sat ≈ 1/u, not 0
    (-1e200, 1.0, -1e-200),
    (3.0, 4.0, 0.2),             # the literal formula in the normal range
])
def test_saturating_reciprocal_at_extreme_magnitudes(u, b, want):
    s = saturating_reciprocal(u, bound=b)
    assert s.tag is TRTag.REAL and s.value == pytest.approx(want, rel=1e-15, abs=0.0)


def test_saturating_inverse_square_overflows_only_when_the_result_does():
    assert saturating_inverse_square(1e200, bound=1.0).value == 0.0  # 1e-400 underflows
    assert saturating_inverse_square(0.0, bound=1e-200).tag is TRTag.PINF  # 1e400 overflows
    assert saturating_inverse_square(0.0, bound=1e-154).value == pytest.approx(
        1e308, rel=1e-12)  # b² is subnormal (imprecise), the result is not


@pytest.mark.parametrize("mode", ["saturating", "hybrid"])
def test_saturating_division_rule_keeps_representable_gradients(mode):
    """∂(a/c)/∂c = −a/(c² + b²): for a = 1e300, c = 1e200, −1e-100 (c² alone overflows)."""
    a, c = TRNode.parameter(1e300), TRNode.parameter(1e200)
    sched = create_default_schedule()
    with (gradient_mode(GradientMode.SATURATING) if mode == "saturating" else sched.apply(0)):
        (a / c).backward()
    assert c.gradient.value == pytest.approx(-1e-100, rel=1e-14, abs=0.0)


@pytest.mark.parametrize("x, k", [(1e-60, -1), (1e-60, -2), (-1e-60, -2), (-1e-60, -5),
                                  (1e-200, -1), (-1e-300, -1), (1e-100, -3)])
def test_saturating_negative_power_next_to_the_pole_is_k_over_b(x, k):
    """x^k (k < 0) saturates to g·k·sat(x^(1−k)); next to the pole x^(1−k) underflows to ±0,
    but sat of the true (tiny, non-zero) value is sign(x^(1−k))/b, not sign(±0) = 0."""
    xs = TRNode.parameter(x)
    with gradient_mode(GradientMode.SATURATING, saturation_bound=0.5):
        y = xs ** k
        assert y.tag is TRTag.REAL
        y.backward()
    sign = math.copysign(1.0, x) ** (1 - k)
    assert xs.gradient.value == pytest.approx(k * sign / 0.5, rel=1e-12)


def test_saturating_forms_agree_between_the_tapes_at_extreme_magnitudes():
    import numpy as np

    import zeroproof as zp
    import zeroproof.array as za

    vals = np.array([1e-300, 1e-200, 1e-60, 0.5, 1e200])
    for bound in (1e-200, 1.0):
        with gradient_mode(GradientMode.SATURATING, saturation_bound=bound):
            t = za.parameter(vals)
            (1.0 / t + zp.tr_log(t) + t ** -3).backward(np.ones(len(vals)))
            batched = t.gradient.to_numpy()
            scalar = []
            for v in vals:
                n = TRNode.parameter(float(v))
                (1.0 / n + zp.tr_log(n) + n ** -3).backward()
                scalar.append(float(n.gradient))
        assert np.allclose(batched, scalar, rtol=1e-14, atol=0.0, equal_nan=True), (
            bound, batched, scalar)
