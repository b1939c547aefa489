"""Regressions found by the twelfth session's SPEC audits (one test per finding)."""
from __future__ import annotations

import numpy as np
import pytest

from zeroproof.training import TrainingConfig, lift_semantic_targets, lift_targets


@pytest.mark.parametrize("y,where", [
    ([1.0, None], r"y\[1\] is NoneType None"),
    ([[1.0], [None]], r"y\[1\]\[0\] is NoneType None"),
    ((1.0, "a"), r"y\[1\] is str 'a'"),
])
def test_lift_targets_names_the_entry_that_is_not_a_number(y, where):
    with pytest.raises(TypeError, match=r"lift_targets: y must hold real numbers, but " + where):
        lift_targets(y)


def test_lift_targets_ragged_and_string_arrays_name_y():
    with pytest.raises(ValueError, match="lift_targets: y is a ragged nested sequence"):
        lift_targets([[1.0], [2.0, 3.0]])
    with pytest.raises(TypeError, match="lift_targets: y must hold real numbers, got ndarray of "
                                        "dtype <U1"):
        lift_targets(np.array(["x"]))


def test_lift_semantic_targets_ignored_values_must_still_be_numbers():
    n, d = lift_semantic_targets([float("nan"), 1.0], ["bottom", "finite"])  # NaN is fine
    assert n.tolist() == [1.0, 1.0] and d.tolist() == [0.0, 1.0]
    with pytest.raises(TypeError, match=r"values\[0\] is NoneType None"):
        lift_semantic_targets([None, 1.0], ["bottom", "finite"])


@pytest.mark.parametrize("field,value,shown", [("shuffle", 1, "int 1"),
                                               ("detect_poles", "yes", "str 'yes'")])
def test_training_config_bool_fields_name_the_type_given(field, value, shown):
    with pytest.raises(TypeError, match=f"{field} must be a bool \\(True or False\\), got {shown}"):
        TrainingConfig(**{field: value})


# ---- derivative rules evaluated as SPEC §4.2 writes them (in the normal range) ----------------
import zeroproof as zp  # noqa: E402
import zeroproof.array as za  # noqa: E402
from zeroproof.autodiff import GradientMode, TRNode, grad, gradient_mode  # noqa: E402


def _three_tapes(build, x0, g):
    """d(build(x))/dx at x0 for upstream g: float pass, create_graph pass, batched tape."""
    x = TRNode.parameter(x0)
    build(x).backward(g)
    float_pass = float(x.gradient)
    x = TRNode.parameter(x0)
    graph_pass = float(grad(build(x) * g, [x], create_graph=True)[0].value)
    t = za.parameter(np.array([x0]))
    build(t).backward(np.array([g]))
    return float_pass, graph_pass, float(t.gradient.to_numpy()[0])


@pytest.mark.parametrize("a,b,g", [(7.0, 10.0, 1.0), (7.0, 5.0, 1.0), (1.0, 0.1, 1.0),
                                   (2.0, 0.7, 1.0), (3.0, -7.0, 0.3), (0.1, 0.2, -2.5)])
def test_division_gradient_in_b_is_minus_g_a_over_b_squared_as_written(a, b, g):
    want = (-g * a) / (b * b)  # −g·a/b², e.g. −0.07 for a = 7, b = 10 (not −0.06999999999999999)
    assert _three_tapes(lambda t: a / t, b, g) == (want, want, want)


@pytest.mark.parametrize("x,y,g,bound", [(3.0, 0.5, 0.1, 1.0), (0.1, 0.2, 0.3, 1.0),
                                         (0.7, 0.1, 0.3, 0.5), (2.0, -1e-3, 1.7, 0.1)])
def test_saturating_division_gradient_in_y_is_as_written(x, y, g, bound):
    want = (-g * x) / (y * y + bound * bound)  # −g·x/(y² + b²)
    with gradient_mode(GradientMode.SATURATING, saturation_bound=bound):
        assert _three_tapes(lambda t: x / t, y, g) == (want, want, want)


@pytest.mark.parametrize("x,k,g", [(1.1, 3, 0.7), (0.1, 3, 0.1), (0.7, 3, 0.3), (0.1, -1, 1.0),
                                   (0.2, -1, 1.0), (1.1, -2, 1.0), (0.3, -3, 0.9)])
def test_power_gradient_is_g_times_k_times_x_to_the_k_minus_1(x, k, g):
    want = (g * k) * zp.tr_pow_int(zp.real(x), k - 1).value  # (g·k)·x^(k−1), left to right
    assert _three_tapes(lambda t: t ** k, x, g) == (want, want, want)


def test_out_of_range_squares_fall_back_without_losing_the_gradient():
    # b² underflows (1e-400) but −a/b² = −1e100 is representable; b² overflows but the
    # gradient 1e-200·... is not lost; a tiny denominator's gradient overflows to −∞ (SPEC)
    assert _three_tapes(lambda t: 1e-300 / t, 1e-200, 1.0) == (-1e100,) * 3
    got = _three_tapes(lambda t: za.log(1.0 / t) if hasattr(t, "shape") else
                       zp.autodiff.tr_log(1.0 / t), 1e200, 1.0)
    assert all(v == pytest.approx(-1e-200, rel=1e-15) for v in got)
    x = TRNode.parameter(1e-200)
    (1.0 / x).backward()
    assert x.gradient == zp.ninf()


@pytest.mark.parametrize("x0,k,want", [(1.0, 10**400, zp.pinf()), (1.0, -10**400, zp.ninf()),
                                       (-1.0, 10**400 + 1, zp.pinf()), (0.5, 10**400, zp.real(0.0))])
def test_power_with_an_exponent_beyond_the_float_range_differentiates(x0, k, want):
    x = TRNode.parameter(x0)
    (x ** k).backward()  # was OverflowError (int too large to convert to float)
    assert x.gradient == want
    x = TRNode.parameter(x0)
    assert grad(x ** k, [x], create_graph=True)[0].value == want


# ---- backward(create_graph=True), as in PyTorch ------------------------------------------------
def test_backward_create_graph_gives_a_differentiable_gradient_node():
    x = TRNode.parameter(3.0)
    (x * x * x).backward(create_graph=True)
    assert x.gradient == zp.real(27.0) and x.grad_node.value == zp.real(27.0)
    assert x.grad_node.requires_grad  # connected to the graph
    g = x.grad_node
    x.zero_grad()
    g.backward()
    assert x.gradient == zp.real(18.0)  # d(3x²)/dx = 6x


def test_backward_create_graph_accumulates_with_ordinary_passes():
    x = TRNode.parameter(2.0)
    (x * x).backward()                       # 4, a value
    assert not x.grad_node.requires_grad     # a constant node of .gradient
    (x * x * x).backward(create_graph=True)  # + 12, as a node
    (x * x).backward()                       # + 4 onto the node
    assert x.gradient == zp.real(20.0)
    g = x.grad_node
    x.zero_grad()
    g.backward()  # the ordinary passes added constants: d(4 + 3x² + 4)/dx = 6x
    assert x.gradient == zp.real(12.0)


def test_backward_create_graph_must_be_a_bool_and_copies_keep_the_value():
    import copy

    x = TRNode.parameter(2.0)
    with pytest.raises(TypeError, match="create_graph must be a bool"):
        (x * x).backward(create_graph=1)
    (x * x).backward(create_graph=True)
    assert copy.deepcopy(x).gradient == zp.real(4.0)


# ---- backward passes in several threads over graphs that share a parameter ---------------------
def test_threads_differentiating_graphs_that_share_a_parameter_get_their_own_gradients():
    import sys
    import threading

    w = TRNode.parameter(1.0)
    wrong, totals = [], []

    def work(c):
        for _ in range(30):
            y = w * c
            for _ in range(100):
                y = y + w * c  # dy/dw = 101·c
            (g,) = grad(y, [w])
            if g.value != zp.real(101 * c):
                wrong.append((c, g.value))
            y.backward()  # accumulates 101·c into w.gradient, serialised with the other thread

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(float(c),)) for c in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert wrong == []
    assert w.gradient == zp.real(30 * 101 * 3.0)


# ---- batched tape: a −0.0 gradient stays −0.0, as on the scalar tape --------------------------
def test_batched_masked_path_and_broadcast_sum_keep_a_negative_zero_gradient():
    from zeroproof.autodiff.tr_ops_grad import tr_log

    x = za.parameter(np.array([0.0, 2.0]))
    (x / za.log(x)).sum().backward()  # element 0: log 0 = −∞ (masked), x/−∞ = −0
    s = TRNode.parameter(0.0)
    (s / tr_log(s)).backward()
    assert np.signbit(x.gradient.to_numpy()[0]) and np.signbit(float(s.gradient))
    w = za.parameter(np.array(1.0))  # shape (), broadcast over two points
    (w * za.constant(np.array([-0.0, -0.0]))).sum().backward()
    assert np.signbit(float(w.gradient.to_numpy()))


# ---- context managers can be kept and entered again (like np.errstate, torch.no_grad) ----------
def test_context_manager_objects_are_reusable_nested_and_restore_on_error():
    from zeroproof.autodiff import GradientModeConfig, HybridGradientSchedule, no_grad
    from zeroproof.autodiff.projective import gradient_policy

    makers = [lambda: zp.wheel_mode(), lambda: zp.arithmetic_mode("wheel"),
              lambda: zp.autodiff.gradient_mode("saturating", saturation_bound=0.5), no_grad,
              lambda: HybridGradientSchedule().apply(2), gradient_policy]
    for make in makers:
        cm = make()
        with cm:
            with cm:
                pass
        with cm:
            pass
        for exc in (KeyError("k"), StopIteration()):
            with pytest.raises(type(exc)):
                with cm:
                    raise exc
    assert GradientModeConfig.get_mode().value == "mask-real"
    assert GradientModeConfig.get_saturation_bound() == 1.0
    assert zp.tr_mul(zp.real(0.0), zp.pinf()) == zp.phi()  # wheel mode left
    x = TRNode.parameter(1.0)
    assert (x * 2).requires_grad  # no_grad left
    guard = no_grad()

    @guard
    def f(t):
        return t * 2

    assert not f(x).requires_grad and (x * 2).requires_grad


# ---- gradient-function nits: NumPy integer argnums, tuple sources, IEEE non-finite points -------
def test_gradient_functions_accept_numpy_ints_keep_tuples_and_read_ieee_points():
    from zeroproof.autodiff import check_gradient, gradient_tape, tr_grad

    assert tr_grad(lambda x: x * x, np.int64(0))(3.0).value == zp.real(6.0)
    assert tr_grad(lambda x, y: x * y, (np.int32(1),))(3.0, 4.0)[0].value == zp.real(3.0)
    a, b = TRNode.parameter(1.0), TRNode.parameter(2.0)
    with gradient_tape(persistent=True) as tape:
        z = a * b
    ga, gb = got = tape.gradient(z, (a, b))
    assert isinstance(got, tuple) and (ga.value, gb.value) == (zp.real(2.0), zp.real(1.0))
    assert isinstance(tape.gradient(z, [a, b]), list)
    with pytest.raises(TypeError, match="got str 'ab'"):
        tape.gradient(z, "ab")
    for point, shown in ((float("inf"), "+∞"), (float("-inf"), "−∞"), (float("nan"), "Φ")):
        r = check_gradient(lambda x: x * x, point)
        assert not r.passed and r.reason == f"not compared: x is {shown}, not REAL"


def test_bool_of_a_node_is_the_truth_value_of_its_value():
    assert [bool(TRNode.parameter(v)) for v in (0.0, -0.0, 2.0, zp.pinf(), zp.ninf(), zp.phi(),
                                                zp.bottom())] == [False, False, True, True, True,
                                                                  False, False]
    assert bool(TRNode.parameter(3.0) - 3.0) is False  # a recorded node: its value, 0


# ---- review of this session's changes ---------------------------------------------------------
def test_array_pow_int_with_an_exponent_beyond_the_float_range():
    from zeroproof.array import kernels as K

    assert K.pow_int(np.array([1.0, 0.5]), 10**400)[0].tolist() == [1.0, 0.0]
    assert K.pow_int(np.array([1.0, 0.5], np.float32), -10**400)[0].tolist() == [1.0, np.inf]


def test_division_gradient_numerator_that_underflows_is_not_an_exact_zero():
    # −g·a = −1e-400 underflows to 0, but −g·a/b² ≈ −1e-100 is representable; for these float
    # inputs the correctly rounded value is the float just above −1e-100 (mpmath)
    import mpmath as mp
    with mp.workprec(400):
        exact = float(-mp.mpf(1e-200) * mp.mpf(1e-200) / mp.mpf(1e-150) ** 2)
    assert exact == -9.999999999999999e-101
    assert _three_tapes(lambda t: 1e-200 / t, 1e-150, 1e-200) == (exact,) * 3


def test_pow_int_rounds_up_to_the_smallest_subnormal_from_just_above_half_of_it():
    from fractions import Fraction

    x = 1.085726189987556e19
    assert float(Fraction(x) ** -17) == 5e-324
    assert zp.tr_pow_int(zp.real(x), -17).value == 5e-324
    assert za.pow_int(za.array([x, -x]), -17).to_numpy().tolist() == [5e-324, -5e-324]


def test_zero_upstream_gradient_through_an_exponent_beyond_the_float_range_is_zero():
    x = TRNode.parameter(1.0)
    (x ** 10**400).backward(0.0)
    assert x.gradient == zp.real(0.0)


def test_a_kept_context_object_shared_by_two_asyncio_tasks():
    import asyncio

    from zeroproof.autodiff import GradientModeConfig, gradient_mode

    shared = gradient_mode("saturating", saturation_bound=0.5)
    seen = []

    async def task(name, delay):
        with shared:
            await asyncio.sleep(delay)
            seen.append((name, GradientModeConfig.get_mode().value))
        seen.append((name, GradientModeConfig.get_mode().value))

    async def main():
        await asyncio.gather(task("a", 0.01), task("b", 0.0))

    asyncio.run(main())
    assert sorted(seen) == [("a", "mask-real"), ("a", "saturating"), ("b", "mask-real"),
                            ("b", "saturating")]
