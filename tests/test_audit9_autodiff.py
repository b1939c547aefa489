"""Audit 9 (autodiff): closures in tr_grad, nested tapes, schedule field assignment, epoch types,
GradientCheckResult as a named tuple, bool flags, argument names in errors, per-pass δ."""
from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

from zeroproof.autodiff import (
    HybridGradientContext, HybridGradientSchedule, ScheduleType, TRNode,
    check_gradient, gradient_tape, no_grad, tr_grad, tr_value_and_grad, use_saturating,
)
from zeroproof.autodiff.backward import grad
from zeroproof.autodiff.grad_funcs import GradientCheckResult
from zeroproof.autodiff.gradient_tape import TRGradientTape


pytestmark = pytest.mark.usefixtures("fresh_gradient_state")


def v(node: TRNode) -> float:
    return node.value.value


# ---- 1. tr_grad / tr_value_and_grad stay connected to what f closes over ------------------------
def test_tr_grad_gradient_is_connected_to_a_closed_over_parameter():
    w = TRNode.parameter(2.0)
    g = tr_grad(lambda x: w * x * x)(3.0)      # 2wx
    assert v(g) == 12.0 and g.requires_grad
    g.backward()
    assert w.gradient.value == 6.0       # d(2wx)/dw = 2x


def test_tr_value_and_grad_gradient_penalty_pattern():
    w = TRNode.parameter(2.0)
    val, g = tr_value_and_grad(lambda x: w * x * x)(3.0)
    assert v(val) == 18.0 and v(g) == 12.0
    penalty = (g - 1.0) ** 2                   # d/dw = 2(g − 1)·2x = 132
    penalty.backward()
    assert w.gradient.value == 132.0


def test_tr_grad_connects_through_a_closed_over_interior_node():
    w = TRNode.parameter(2.0)
    h = w * 2.0                                # recorded before the call
    g = tr_grad(lambda x: h * x)(3.0)
    assert v(g) == 4.0
    g.backward()
    assert w.gradient.value == 2.0


def test_tr_grad_without_closure_still_gives_a_constant_and_the_same_values():
    g = tr_grad(lambda x: x * x + 2 * x + 1)(3.0)
    assert v(g) == 8.0 and not g.requires_grad


def test_second_derivatives_still_work_and_connect_to_closures():
    assert v(tr_grad(tr_grad(lambda x: x * x * x))(2.0)) == 12.0
    w = TRNode.parameter(2.0)
    d2 = tr_grad(tr_grad(lambda x: w * x * x * x))(2.0)   # 6wx = 24
    assert v(d2) == 24.0
    d2.backward()
    assert w.gradient.value == 12.0                 # 6x


def test_closure_inside_no_grad_gives_constants():
    w = TRNode.parameter(2.0)
    with no_grad():
        g = tr_grad(lambda x: w * x * x)(3.0)
    assert v(g) == 12.0 and not g.requires_grad


def test_closure_each_hybrid_decision_is_counted_once():
    w = TRNode.parameter(2.0)
    s = HybridGradientSchedule(delta_init=1e-2, delta_final=1e-2, adaptive_delta=False,
                               transition_epochs=0, force_pole_exploration=False)
    with s.apply(0):
        g = tr_grad(lambda x: 1 / (w * x) + 1 / x)(0.5)   # two divisions: two decisions
    assert v(g) == pytest.approx(-1 / (2.0 * 0.25) - 1 / 0.25)
    assert g.requires_grad
    assert HybridGradientContext.get_statistics()["total_gradient_calls"] == 2


# ---- 2. nested tapes --------------------------------------------------------------------------
def test_inner_tape_exit_keeps_a_constant_the_outer_tape_watches():
    c = TRNode.constant(3.0)
    with gradient_tape() as outer:
        with gradient_tape() as inner:
            inner.watch(c)
            outer.watch(c)
        assert c.requires_grad            # still watched by the outer tape
        y = c * c
    assert outer.gradient(y, c).value.value == 6.0
    assert not c.requires_grad            # a constant again once the last tape exits


def test_tapes_exited_out_of_order_restore_on_the_last_exit():
    c = TRNode.constant(1.0)
    a, b = TRGradientTape(), TRGradientTape()
    a.__enter__()
    b.__enter__()
    b.watch(c)
    a.watch(c)
    a.__exit__(None, None, None)
    assert c.requires_grad
    b.__exit__(None, None, None)
    assert not c.requires_grad


def test_a_tape_watching_twice_counts_once():
    c = TRNode.constant(1.0)
    with gradient_tape() as outer:
        outer.watch(c)
        with gradient_tape() as inner:
            inner.watch(c)
            inner.watch(c)
        assert c.requires_grad
    assert not c.requires_grad


# ---- 3. schedule fields assigned after construction -----------------------------------------
def test_schedule_type_string_assignment_is_coerced_and_drops_the_cache():
    s = HybridGradientSchedule(transition_epochs=10, adaptive_delta=False)
    assert s.get_delta(2) == pytest.approx(1e-2 * (1e-6 / 1e-2) ** 0.2)   # cached
    s.schedule_type = "linear"
    assert s.schedule_type is ScheduleType.LINEAR
    assert s.get_delta(2) == 1e-2 + (1e-6 - 1e-2) * 0.2


@pytest.mark.parametrize("field, value, exc", [
    ("delta_init", -1.0, ValueError), ("delta_final", "a", TypeError),
    ("warmup_epochs", 2.5, TypeError), ("transition_epochs", -1, ValueError),
    ("enable", "no", TypeError), ("adaptive_delta", 1, TypeError),
    ("schedule_type", "step", ValueError), ("saturating_bound", 0.0, ValueError),
    ("min_delta", float("nan"), ValueError), ("pole_exploration_epochs", True, TypeError),
])
def test_bad_field_assignment_fails_at_assignment_naming_the_field(field, value, exc):
    s = HybridGradientSchedule()
    before = getattr(s, field)
    with pytest.raises(exc, match=field):
        setattr(s, field, value)
    assert getattr(s, field) == before       # the field keeps its valid value


def test_field_assignment_is_coerced_like_the_constructor():
    s = HybridGradientSchedule()
    s.delta_init = 1                          # int → float, as in the constructor
    s.warmup_epochs = np.int64(3)
    s.enable = np.bool_(False)
    assert type(s.delta_init) is float and type(s.warmup_epochs) is int and s.enable is False
    assert s == HybridGradientSchedule(delta_init=1.0, warmup_epochs=3, enable=False)


# ---- 4. get_delta's epoch is checked before the cache -----------------------------------------
@pytest.mark.parametrize("epoch", [True, 1.0, np.float64(1.0), "1", None])
def test_get_delta_rejects_a_bad_epoch_even_when_cached(epoch):
    s = HybridGradientSchedule()
    s.get_delta(1)
    with pytest.raises(TypeError, match="epoch"):
        s.get_delta(epoch)


def test_get_delta_accepts_numpy_integers():
    s = HybridGradientSchedule()
    assert s.get_delta(np.int64(1)) == s.get_delta(1)


# ---- 5. GradientCheckResult is a named tuple --------------------------------------------------
def _result() -> GradientCheckResult:
    return check_gradient(lambda x: x * x, 3.0)


@pytest.mark.parametrize("clone", [
    lambda r: pickle.loads(pickle.dumps(r)), copy.copy, copy.deepcopy,
    lambda r: pickle.loads(pickle.dumps(r, protocol=0)),
])
def test_gradient_check_result_copies_and_pickles(clone):
    r = _result()
    c = clone(r)
    assert type(c) is GradientCheckResult
    assert tuple(c) == tuple(r) and c.passed is True and c.reason == "ok"


def test_gradient_check_result_replace_and_make():
    r = _result()
    r2 = r._replace(rel_error=0.5)
    assert type(r2) is GradientCheckResult and r2.rel_error == 0.5
    assert (r2.passed, r2.reason) == (r.passed, r.reason)
    r3 = r._replace(passed=False, reason="x")
    assert tuple(r3) == tuple(r) and (r3.passed, r3.reason) == (False, "x")
    m = GradientCheckResult._make([1.0, 2.0, 0.5, False, "mismatch"])
    assert tuple(m) == (1.0, 2.0, 0.5) and (m.passed, m.reason) == (False, "mismatch")
    with pytest.raises(TypeError):
        GradientCheckResult._make([1.0, 2.0])
    with pytest.raises(ValueError, match="nope"):
        r._replace(nope=1)
    a, n, e = r
    assert r._asdict() == {"analytical": a, "numerical": n, "rel_error": e}


# ---- 6. boolean flags -------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["no", 1, None, 0.0])
def test_grad_create_graph_must_be_a_bool(flag):
    x = TRNode.parameter(2.0)
    with pytest.raises(TypeError, match="create_graph"):
        grad(x * x, [x], create_graph=flag)


def test_tape_persistent_must_stay_a_bool():
    tape = gradient_tape()
    with pytest.raises(TypeError, match="persistent"):
        tape.persistent = "yes"
    tape.persistent = np.bool_(True)
    assert tape.persistent is True


# ---- 7. errors name the right argument --------------------------------------------------------
def test_check_gradient_names_func():
    with pytest.raises(TypeError, match=r"^func must be callable"):
        check_gradient(3, 1.0)


def test_use_saturating_names_bound():
    with pytest.raises(TypeError, match=r"^bound must"):
        with use_saturating(bound="a"):
            pass


def test_tape_gradient_names_target_and_output_gradient():
    c = TRNode.constant(1.0)
    with gradient_tape(persistent=True) as t:
        t.watch(c)
        y = c * c
    with pytest.raises(TypeError, match=r"gradient\(target\): target must be a TRNode"):
        t.gradient(3.0, c)
    with pytest.raises(TypeError, match=r"output_gradient must") as info:
        t.gradient(y, c, output_gradient="x")
    assert "grad_output" not in str(info.value)
    with pytest.raises(TypeError, match=r"gradient\(sources\)"):
        t.gradient(y, 3)
    assert t.gradient(y, c).value.value == 2.0   # failed calls did not use the tape up


# ---- 8. local_threshold of a pass that decided nothing --------------------------------------------
def test_local_threshold_is_none_after_a_pass_without_delta():
    with HybridGradientSchedule(delta_init=1e-2, delta_final=1e-2).apply(0):
        (1 / TRNode.parameter(1e-3)).backward()
    assert HybridGradientContext.get_statistics()["local_threshold"] == 1e-2
    with HybridGradientSchedule(warmup_epochs=5).apply(1):
        (1 / TRNode.parameter(1e-3)).backward()
    st = HybridGradientContext.get_statistics()
    assert st["current_epoch"] == 1 and st["total_gradient_calls"] == 0
    assert st["local_threshold"] is None and st["q_min_batch"] is None


def test_local_threshold_after_a_disabled_schedule_pass():
    fixed = HybridGradientSchedule(delta_init=1e-2, delta_final=1e-2, adaptive_delta=False)
    with fixed.apply(0):
        (1 / TRNode.parameter(1e-3)).backward()
    with HybridGradientSchedule(enable=False).apply(0):
        (1 / TRNode.parameter(1e-3)).backward()
    assert HybridGradientContext.get_statistics()["local_threshold"] is None
