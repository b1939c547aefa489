"""Scalar tape behaviour: Mask-REAL, accumulation, graph control, transforms, tape, gradcheck, types."""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest

import zeroproof as zp
from zeroproof.autodiff import (
    GradientCheckResult, TRNode, check_gradient, create_default_schedule, gradient_mode,
    gradient_tape, grad, no_grad, stop_gradient, tr_grad, tr_value_and_grad, topological_sort,
)
from zeroproof.autodiff import tr_ops_grad as T
from zeroproof.core import TRScalar, TRTag, ninf, phi, pinf, real

MODES = ["mask-real", "saturating", "hybrid"]


def is_real_zero(g: TRScalar | None) -> bool:
    return g is not None and g.tag is TRTag.REAL and g.value == 0.0


def in_mode(mode: str):
    """A context for each mode; HYBRID with a schedule whose δ is active and large."""
    if mode == "hybrid":
        return create_default_schedule(warmup_epochs=0).apply(0)
    return gradient_mode(mode)


# ---- Mask-REAL ----------------------------------------------------------------------------------
POLES = [
    ("1/x at 0", lambda x: 1 / x, 0.0, TRTag.PINF),
    ("1/x at -0", lambda x: 1 / x, -0.0, TRTag.NINF),
    ("log at 0", lambda x: T.tr_log(x), 0.0, TRTag.NINF),
    ("log of negative", lambda x: T.tr_log(x), -1.0, TRTag.PHI),
    ("sqrt of negative", lambda x: T.tr_sqrt(x), -4.0, TRTag.PHI),
    ("x^-2 at 0", lambda x: T.tr_pow_int(x, -2), 0.0, TRTag.PINF),
    ("0/0", lambda x: x / x, 0.0, TRTag.PHI),
    ("exp overflow", lambda x: T.tr_exp(x), 800.0, TRTag.PINF),
    ("x*∞ at 0", lambda x: x * pinf(), 0.0, TRTag.PHI),
    ("∞-∞", lambda x: (x + pinf()) - pinf(), 1.0, TRTag.PHI),
    ("x^0 at 0", lambda x: T.tr_pow_int(x, 0), 0.0, TRTag.PHI),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,f,x0,tag", POLES, ids=[p[0] for p in POLES])
def test_mask_real_pole_gives_exact_real_zero(mode, name, f, x0, tag):
    x = TRNode.parameter(x0)
    with in_mode(mode):
        y = f(x)
        y.backward()
    assert y.tag is tag
    assert is_real_zero(x.gradient), x.gradient


@pytest.mark.parametrize("mode", MODES)
def test_non_real_root_gives_every_parameter_real_zero(mode):
    a, b, c = TRNode.parameter(2.0), TRNode.parameter(-1.0), TRNode.parameter(0.0)
    with in_mode(mode):
        y = (a * b + T.tr_exp(a)) / c  # REAL / 0 = ±∞ at the root
        y.backward()
    assert y.tag is TRTag.PINF
    for p in (a, b, c):
        assert is_real_zero(p.gradient), p.gradient


@pytest.mark.parametrize("mode", MODES)
def test_masked_branch_contributes_nothing_other_paths_still_do(mode):
    x = TRNode.parameter(0.0)
    w = TRNode.parameter(3.0)
    with in_mode(mode):
        masked = w / x  # +∞: Mask-REAL sends nothing to w or x from here
        y = x * w + 1 / (1 + masked)  # 1/(1+∞) = 0, a REAL root
        y.backward()
    assert y.tag is TRTag.REAL and y.value == real(0.0)
    assert x.gradient == real(3.0) and x.gradient.tag is TRTag.REAL
    assert w.gradient == real(0.0)


def test_mask_is_a_skip_not_a_multiplication_by_zero():
    # a REAL node downstream of an infinite gradient factor would give 0 × ∞ = Φ if masked by
    # multiplication; the mask must leave plain R(0)
    x = TRNode.parameter(0.0)
    y = T.tr_sqrt(x) * 0.0  # sqrt'(0) = +∞, but the upstream gradient is 0·... = REAL 0
    y.backward()
    assert x.gradient is not None  # not None: reached


def test_mask_real_passes_on_non_real_local_derivative_of_real_node():
    # SPEC §4.2: √ at 0 is REAL but its derivative 1/(2√0) is +∞, passed on in MASK_REAL
    x = TRNode.parameter(0.0)
    T.tr_sqrt(x).backward()
    assert x.gradient.tag is TRTag.PINF


def test_reciprocal_shifted_pole_gradient_is_minus_four():
    # exact in MASK_REAL and in HYBRID far from the pole (|x − 1| = 0.5 > δ); SATURATING gives
    # −1/(u² + b²) = −0.8 with b = 1
    for mode, want in (("mask-real", -4.0), ("hybrid", -4.0), ("saturating", -0.8)):
        x = TRNode.parameter(0.5)
        with in_mode(mode):
            (1 / (x - 1)).backward()
        assert x.gradient == real(want), mode


# ---- accumulation, zero_grad, detach, stop_gradient, no_grad -----------------------------------
def test_backward_accumulates_across_calls_and_zero_grad_resets():
    x = TRNode.parameter(3.0)
    y = x * x
    y.backward()
    y.backward()
    assert x.gradient == real(12.0)
    (x * 2).backward()
    assert x.gradient == real(14.0)
    x.zero_grad()
    assert x.gradient is None
    y.backward(grad_output=real(0.5))
    assert x.gradient == real(3.0)


def test_accumulation_keeps_transreal_addition():
    x = TRNode.parameter(0.0)
    T.tr_sqrt(x).backward()  # +∞
    y = -T.tr_sqrt(x)
    y.backward()  # −∞ added to +∞ is Φ
    assert x.gradient.tag is TRTag.PHI


def test_reached_node_without_contribution_gets_real_zero():
    x = TRNode.parameter(0.0)
    y = TRNode.parameter(5.0)
    z = (x / 0.0) * y  # masked: neither input gets anything
    z.backward()
    assert is_real_zero(x.gradient) and is_real_zero(y.gradient)


def test_sign_gradient_is_real_zero_even_for_infinite_upstream():
    x = TRNode.parameter(2.0)
    y = T.tr_sign(x)
    y.backward(grad_output=pinf())
    assert is_real_zero(x.gradient)


def test_detach_is_a_constant_copy():
    x = TRNode.parameter(2.0)
    d = (x * x).detach()
    assert d.is_leaf and not d.requires_grad and d.value == real(4.0)
    y = d * x
    y.backward()
    assert x.gradient == real(4.0)


def test_stop_gradient_blocks_only_its_path():
    x = TRNode.parameter(3.0)
    y = x * stop_gradient(x * x)
    y.backward()
    assert x.gradient == real(9.0)
    assert stop_gradient(2.5).value == real(2.5)
    assert not stop_gradient(real(1.0)).requires_grad


def test_no_grad_records_nothing_and_restores():
    x = TRNode.parameter(2.0)
    with no_grad():
        y = T.tr_exp(x * x)
        assert not zp.autodiff.is_grad_enabled()
    assert zp.autodiff.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y.inputs == ()
    z = x * 2
    assert z.requires_grad


def test_no_grad_restores_after_exception():
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("boom")
    assert zp.autodiff.is_grad_enabled()
    x = TRNode.parameter(1.0)
    assert (x + 1).requires_grad


def test_no_grad_in_one_thread_does_not_affect_another():
    entered, release = threading.Event(), threading.Event()
    results = {}

    def holder():
        with no_grad():
            entered.set()
            release.wait(10)
            results["holder"] = (TRNode.parameter(1.0) * 2).requires_grad

    t = threading.Thread(target=holder)
    t.start()
    assert entered.wait(10)
    try:
        x = TRNode.parameter(1.0)
        y = x * 3
        results["main"] = y.requires_grad
        y.backward()
        results["grad"] = x.gradient
    finally:
        release.set()
        t.join(10)
    assert results == {"holder": False, "main": True, "grad": real(3.0)}


def test_nodes_from_constants_record_nothing():
    c = TRNode.constant(2.0)
    y = c * c + 1
    assert not y.requires_grad and y.is_leaf


# ---- graph and object model ----------------------------------------------------------------------
def test_scalar_on_the_left_builds_a_node():
    x = TRNode.parameter(2.0)
    for y, want in ((real(3.0) * x, 3.0), (real(3.0) + x, 1.0), (real(3.0) - x, -1.0),
                    (real(3.0) / x, -0.75), (2 - x, -1.0), (8 / x, -2.0)):
        assert isinstance(y, TRNode) and y.requires_grad
        x.zero_grad()
        y.backward()
        assert x.gradient == real(want)


@pytest.mark.parametrize("other", [np.array([1.0, 2.0]), np.array(1.0), "two"])
def test_arrays_and_strings_mixed_with_a_node_raise_type_error(other):
    x = TRNode.parameter(1.0)
    hint = "batched" if isinstance(other, np.ndarray) else "number"
    for f in (lambda: x + other, lambda: other + x, lambda: x * other, lambda: other / x,
              lambda: T.tr_add(x, other), lambda: T.tr_div(other, x)):
        with pytest.raises(TypeError, match=hint):
            f()


def test_node_protocols():
    x = TRNode.parameter(1.5)
    assert TRNode.__array_ufunc__ is None
    assert not hasattr(TRNode, "__array__")
    with pytest.raises(TypeError):
        float(x)
    y = TRNode.parameter(1.5)
    assert x != y and x == x and (x == y) is False
    assert len({x, y, x}) == 2
    assert hash(x) != hash(y) or x is not y
    assert not hasattr(x, "__dict__")


def test_constructor_signature_and_argument_errors_name_trnode():
    import inspect

    assert list(inspect.signature(TRNode).parameters) == ["value", "requires_grad", "name"]
    n = TRNode(2.0, True, "w")
    assert type(n) is TRNode and n.requires_grad and n.name == "w" and n.is_leaf
    with pytest.raises(TypeError, match=r"TRNode\(\) got an unexpected keyword argument 'valu'"):
        TRNode(valu=1.0)
    with pytest.raises(TypeError, match=r"TRNode\(\) takes from 0 to 3 positional"):
        TRNode(1.0, True, "n", 4)
    with pytest.raises(TypeError, match=r"requires_grad must be a bool, got int 1"):
        TRNode(1.0, 1)
    with pytest.raises(TypeError, match=r"name must be a str or None, got int 3"):
        TRNode(1.0, name=3)
    with pytest.raises(TypeError, match="already a TRNode"):
        TRNode(n)


def test_subclasses_construct_compute_and_differentiate_like_trnode():
    import inspect

    class Param(TRNode):
        __slots__ = ("extra",)

        def __init__(self, value, requires_grad=True, name=None, extra=1):
            super().__init__(value, requires_grad, name)
            self.extra = extra

    class Plain(TRNode):
        pass

    p = Param(1.5, extra=3)
    q = Plain(2.0, True, "q")
    assert isinstance(p, TRNode) and isinstance(q, TRNode) and type(p) is Param
    assert (p.extra, p.requires_grad, p.value.value) == (3, True, 1.5)
    assert (q.name, q.requires_grad) == ("q", True)
    assert list(inspect.signature(Param).parameters) == ["value", "requires_grad", "name", "extra"]
    assert list(inspect.signature(Plain).parameters) == ["value", "requires_grad", "name"]
    y = p * q + 1.0 / p
    y.backward()
    assert p.gradient.value == 2.0 - 1 / 1.5 ** 2 and q.gradient.value == 1.5
    with pytest.raises(TypeError, match=r"TRNode\(value\): value must be a TRScalar or a real"):
        Param("x")


def test_pow_exponent_must_be_int():
    x = TRNode.parameter(2.0)
    with pytest.raises(TypeError, match="int"):
        x ** 2.0
    with pytest.raises(TypeError):
        T.tr_pow_int(x, True)
    with pytest.raises(TypeError):
        2 ** x


def test_topological_sort_inputs_before_outputs():
    a = TRNode.parameter(1.0)
    b = a * 2
    c = b + a
    order = topological_sort(c)
    assert order.index(a) < order.index(b) < order.index(c)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("build, dy", [
    (lambda x: x * 3.0, 3.0), (lambda x: 3.0 * x, 3.0), (lambda x: x + 3.0, 1.0),
    (lambda x: 3.0 + x, 1.0), (lambda x: x - 3.0, 1.0), (lambda x: 3.0 - x, -1.0),
])
def test_a_folded_float_constant_is_one_input_and_shows_as_a_constant_leaf(mode, build, dy):
    x = TRNode.parameter(2.0)
    y = build(x)
    assert topological_sort(y) == [x, y]
    shown = y.inputs
    assert len(shown) == 2 and x in shown
    (c,) = [n for n in shown if n is not x]
    assert c.is_leaf and not c.requires_grad and c.value == real(3.0)
    z = y * y  # the folded node inside a graph, under every mode
    with in_mode(mode):
        z.backward()
    assert x.gradient == real(2.0 * y.value.value * dy)


@pytest.mark.parametrize("mode", MODES)
def test_a_folded_constant_node_that_overflows_is_masked(mode):
    x = TRNode.parameter(1e308)
    y = x * 10.0  # REAL × finite constant overflowing: +∞, recorded with its folded constant
    z = (y * 0.5) + x
    assert y.tag is TRTag.PINF and z.tag is TRTag.PINF
    with in_mode(mode):
        z.backward()
    assert is_real_zero(y.gradient) and is_real_zero(x.gradient)  # root non-REAL: R(0) for all
    w = TRNode.parameter(1e308)
    v = (w * 10.0) * 0.0 + w  # the masked branch passes nothing; the other path still does
    with in_mode(mode):
        v.backward()
    assert v.tag is TRTag.PHI and is_real_zero(w.gradient)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_non_finite_float_operand_is_refused_on_either_side(bad):
    x = TRNode.parameter(0.0)  # a result that would be finite (0 · ∞ aside) cannot hide it
    for op in (lambda: x * bad, lambda: bad * x, lambda: x + bad, lambda: bad - x):
        with pytest.raises(ValueError, match="other operand must be finite.*from_ieee"):
            op()


def test_nodes_take_no_weak_references():
    import weakref

    with pytest.raises(TypeError):
        weakref.ref(TRNode.parameter(1.0))  # documented: key side tables by id(node)


def test_backward_on_non_node_is_a_clear_error():
    from zeroproof.autodiff import backward_pass

    with pytest.raises(TypeError, match="TRNode"):
        backward_pass(real(1.0))


# ---- transforms ------------------------------------------------------------------------------------
def test_value_and_grad_argnums_int_and_tuple():
    f = lambda a, b: a * a * b  # noqa: E731
    val, g = tr_value_and_grad(f)(3.0, 2.0)
    assert val.value == real(18.0) and g.value == real(12.0) and isinstance(g, TRNode)
    val, (ga, gb) = tr_value_and_grad(f, argnums=(0, 1))(3.0, 2.0)
    assert (ga.value, gb.value) == (real(12.0), real(9.0))
    assert tr_grad(f, argnums=1)(3.0, 2.0).value == real(9.0)
    assert tr_grad(f, argnums=-1)(3.0, 2.0).value == real(9.0)


@pytest.mark.parametrize("argnums", [2, (0, 5), -3])
def test_value_and_grad_argnums_out_of_range(argnums):
    with pytest.raises(ValueError, match="argnums"):
        tr_value_and_grad(lambda a, b: a * b, argnums=argnums)(1.0, 2.0)


@pytest.mark.parametrize("bad", [lambda x: 3.0, lambda x: (x, x), lambda x: real(1.0), lambda x: None])
def test_grad_of_non_node_output_is_type_error_with_remedy(bad):
    with pytest.raises(TypeError, match="must return a scalar TRNode") as err:
        tr_grad(bad)(1.0)
    msg = str(err.value)
    assert "got" in msg


def test_grad_tuple_output_suggests_reducing():
    with pytest.raises(TypeError, match="return one scalar"):
        tr_grad(lambda x: (x, x))(1.0)


def test_value_and_grad_leaves_caller_nodes_untouched():
    x = TRNode.parameter(2.0)
    val, g = tr_value_and_grad(lambda t: t * t)(x)
    assert g.value == real(4.0)
    assert x.gradient is None  # the transform does not accumulate into .gradient


def test_grad_function_with_create_graph_nests():
    x = TRNode.parameter(2.0)
    (dx,) = grad(x * x * x, [x], create_graph=True)
    assert dx.requires_grad
    (d2,) = grad(dx, [x])
    assert d2.value == real(12.0)


def test_seed_example_value_and_grad():
    from zeroproof.autodiff.grad_funcs import tr_value_and_grad as vg_fn

    def f(x):
        return T.tr_add(T.tr_add(T.tr_mul(x, x), T.tr_mul(real(2.0), x)), real(1.0))

    val, g = vg_fn(f)(TRNode.parameter(real(3.0)))
    assert val.value == real(16.0) and g.value == real(8.0)


# ---- gradient tape ---------------------------------------------------------------------------------
def test_tape_watch_of_a_constant_returns_nodes():
    c = TRNode.constant(3.0)
    with gradient_tape() as tape:
        tape.watch(c)
        y = c * c + c
    g = tape.gradient(y, c)
    assert isinstance(g, TRNode) and g.value == real(7.0)
    assert not c.requires_grad  # a constant again after the tape
    assert c.gradient is None


def test_tape_non_persistent_second_call_raises():
    x = TRNode.parameter(2.0)
    with gradient_tape() as tape:
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="persistent"):
        tape.gradient(y, x)


def test_tape_persistent_gives_fresh_values_each_call():
    x = TRNode.parameter(2.0)
    w = TRNode.parameter(5.0)
    with gradient_tape(persistent=True) as tape:
        y = x * w
        z = x * x
    gy = tape.gradient(y, [x, w])
    gz = tape.gradient(z, [x, w])
    assert [g.value for g in gy] == [real(5.0), real(2.0)]
    assert [g.value for g in gz] == [real(4.0), real(0.0)]
    assert all(isinstance(g, TRNode) for g in gy + gz)


def test_tape_watch_rejects_non_nodes():
    with gradient_tape() as tape:
        with pytest.raises(TypeError, match="TRNode"):
            tape.watch(2.0)


# ---- check_gradient ---------------------------------------------------------------------------------
def test_check_gradient_passes_on_smooth_functions():
    for f, x in ((lambda t: t * T.tr_exp(t), 0.7), (lambda t: T.tr_log(t * t + 1), -2.0),
                 (lambda t: 1 / (t - 1), 0.5), (lambda t: T.tr_sqrt(t) * t, 3.0)):
        r = check_gradient(f, x)
        assert isinstance(r, GradientCheckResult)
        assert r.passed and bool(r) and r.reason == "ok", r
        assert r.rel_error < 1e-6
        analytical, numerical, rel = r
        assert math.isclose(analytical, numerical, rel_tol=1e-6)


def test_check_gradient_reports_pole_in_stencil():
    r = check_gradient(lambda t: 1 / t, 1e-6)  # the stencil [x − eps, x + eps] contains 0
    assert not r.passed and "not differentiable" in r.reason
    r = check_gradient(lambda t: T.tr_log(t), 5e-6)
    assert not r.passed and "not differentiable" in r.reason


def test_check_gradient_at_non_real_point_does_not_compare():
    r = check_gradient(lambda t: t * 2, pinf())
    assert not r.passed and "not compared" in r.reason and math.isnan(r.numerical)
    r = check_gradient(lambda t: 1 / t, 0.0)  # f(x) itself is +∞
    assert not r.passed and "not compared" in r.reason


def test_check_gradient_with_several_arguments():
    r = check_gradient(lambda a, b: a * b * b, (2.0, 3.0), argnum=1)
    assert r.passed and math.isclose(r.analytical, 12.0)
    with pytest.raises(ValueError, match="argnum"):
        check_gradient(lambda a, b: a * b, (2.0, 3.0), argnum=2)
    with pytest.raises(ValueError, match="eps"):
        check_gradient(lambda a: a, 1.0, eps=0.0)


# ---- printing and views ---------------------------------------------------------------------------
def test_values_and_tags_are_views_of_codes():
    x = TRNode.parameter(2.0, name="x")
    assert repr(x) == "TRNode(2.0, REAL, name='x', requires_grad=True)"
    y = x / 0
    assert y.value == pinf() and y.tag is TRTag.PINF and str(y) == "+∞"
    assert (x - pinf()).value == ninf()
    assert (y - y).value == phi()
    assert TRNode.constant(phi()).tag is TRTag.PHI


def test_trnode_defines_no_float_or_array_conversion():
    """SPEC §4.1: no __float__/__array__ (a node never silently becomes a number), ufuncs refused."""
    import numpy as np

    from zeroproof.autodiff import TRNode

    node = TRNode.parameter(1.0)
    assert not hasattr(TRNode, "__float__") and not hasattr(TRNode, "__array__")
    assert TRNode.__array_ufunc__ is None
    with pytest.raises(TypeError):
        float(node)
    with pytest.raises(TypeError):
        np.add(np.ones(2), node)


# -- rules inlined into the generated sweeps ----------------------------------------------------
def test_inlined_rule_forms_match_the_rule_table():
    """The sweep evaluates pure rules in place (rules.inline_forms); each form must compute
    exactly what the table's rule returns, and impure rules (hybrid decisions, vocabulary calls)
    must never be inlined."""
    import random

    from zeroproof.autodiff import rules
    from zeroproof.autodiff.backward import FLOAT_VOCAB

    rng = random.Random(0)
    for name, table in rules.TABLES.items():
        forms = rules.inline_forms(name, {})
        assert rules.MUL in forms and rules.ADD in forms
        for op, fn in table.items():
            if op not in forms:
                continue
            bound = rules.bind_table(name, {**FLOAT_VOCAB, "B": 1.0})[op]
            for _ in range(20):
                env = {"g": rng.uniform(-3, 3), "a": rng.uniform(0.5, 3), "b": rng.uniform(0.5, 3),
                       "k": rng.uniform(-3, 3)}  # k: the folded constant of x·c, x + c, ...
                env["out"] = env["a"] / env["b"] if op == rules.DIV else rng.uniform(-3, 3)
                want = bound(env["g"], env["a"], env["b"], env["out"], env["k"])
                got = tuple(eval(src, dict(FLOAT_VOCAB), env) for src in forms[op])
                assert got == want, (name, op)
    assert rules.DIV in rules.inline_forms("exact", {})  # calls neg_over_sq: inlinable
    assert rules.DIV not in rules.inline_forms("saturating", {})  # the bound B: not inlined
    assert rules.DIV not in rules.inline_forms("hybrid", {})
    assert rules.POW not in rules.inline_forms("exact", {})
    # hybrid choices decided in the sweep: the inlined exact branch equals the exact rule
    choices = rules.choice_forms("hybrid", {})
    assert set(choices) == {rules.DIV, rules.LOG}  # sqrt's exact form calls div: not inlined
    exact = rules.bind_table("exact", {**FLOAT_VOCAB, "B": 1.0})
    for op, (u, x, forms) in choices.items():
        assert (u, x) == (("b", "k") if op == rules.DIV else ("a", "k"))
        for _ in range(20):
            env = {"g": rng.uniform(-3, 3), "a": rng.uniform(0.5, 3), "b": rng.uniform(0.5, 3),
                   "k": None}
            env["out"] = env["a"] / env["b"]
            want = exact[op](env["g"], env["a"], env["b"], env["out"], None)
            assert tuple(eval(src, dict(FLOAT_VOCAB), env) for src in forms) == want


def test_check_gradient_names_a_jump_and_the_active_mode():
    r = zp.check_gradient(lambda x: zp.tr_sign(x), 0.0)
    assert not r.passed and r.reason.startswith("not differentiable here: f jumps")
    assert zp.check_gradient(lambda x: x * x * x, 0.0).passed  # f' = 0 is no jump
    with zp.gradient_mode("saturating"):
        r = zp.check_gradient(lambda x: 1 / (x - 1), 0.5)
    assert not r.passed and "active gradient mode is 'saturating'" in r.reason
    assert zp.check_gradient(lambda x: 1 / (x - 1), 0.5).passed


def test_non_real_root_that_is_a_parameter_gets_zero():
    # SPEC §4.2: a non-REAL root gives every parameter R(0) — the root itself included.
    import zeroproof.array as za
    from zeroproof.autodiff.backward import grad as node_grad

    x = TRNode.parameter(pinf())
    x.backward()
    assert x.gradient == real(0.0)
    y = TRNode.parameter(2.0)
    y.backward()
    assert y.gradient == real(1.0)
    p = TRNode.parameter(phi())
    assert node_grad(p, [p])[0].value == real(0.0)
    t = za.parameter(np.array([np.inf, 2.0, np.nan]))
    t.backward(np.ones(3))
    np.testing.assert_array_equal(t.gradient.to_numpy(), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(za.grad(t, [t], np.ones(3))[0].to_numpy(), [0.0, 1.0, 0.0])


def test_backward_on_a_constant_gives_no_gradient_anywhere():
    from zeroproof.autodiff import no_grad

    c = TRNode.constant(1.0)
    c.backward()
    assert c.gradient is None
    y = TRNode.constant(2.0) * 3
    y.backward()
    assert y.gradient is None
    x = TRNode.parameter(2.0)
    with no_grad():
        z = x * x
    z.backward()
    assert z.gradient is None and x.gradient is None


def test_power_rules_at_the_edges_of_the_range():
    """x^0 is constant (gradient exactly 0, even where x^-1 overflows); x^k for k < 0 as
    (g·k·x^k)/x, so x^(k−1) underflowing alone does not lose a representable gradient."""
    from zeroproof.autodiff import tr_grad
    from zeroproof.autodiff.tr_ops_grad import tr_div, tr_log, tr_pow_int

    x = TRNode.parameter(1e-310)
    tr_pow_int(x, 0).backward()
    assert x.gradient == real(0.0)
    assert tr_grad(lambda t: t ** 0)(5e-324).value == 0.0
    assert tr_grad(lambda t: tr_log(t ** -1))(1e200).value == pytest.approx(-1e-200, rel=1e-15,
                                                                            abs=0.0)
    assert tr_grad(lambda t: tr_log(t ** -1))(1e200).value == tr_grad(
        lambda t: tr_log(tr_div(1.0, t)))(1e200).value  # nodes compare by identity
    assert tr_grad(lambda t: t ** -2)(3.0).value == pytest.approx(-2 / 27, rel=1e-15)
    assert tr_grad(tr_grad(lambda t: t ** -2))(3.0).value == pytest.approx(6 / 81, rel=1e-15)


def test_second_derivatives_with_a_huge_saturation_bound_do_not_raise():
    from zeroproof.autodiff import GradientMode, gradient_mode, tr_grad
    from zeroproof.autodiff.tr_ops_grad import tr_log

    with gradient_mode(GradientMode.SATURATING, saturation_bound=1e200):
        d2 = tr_grad(tr_grad(tr_log))(2.0)
    assert d2.tag is TRTag.REAL and abs(d2.value) <= 1e-190


def test_graphs_recorded_among_other_graphs_differentiate_correctly():
    """Creation numbers with gaps everywhere (another computation recording in between): the
    sweep skips each gap without rescanning everything, and the result is unchanged."""
    x, z = TRNode.parameter(1.0), TRNode.parameter(2.0)
    terms, noise = [], []
    for i in range(3000):
        terms.append(x * 1.5)
        noise.append(z * 3.0)
        if i % 100 == 0:  # now and then a larger gap
            noise.extend(z * float(j) for j in range(40))
    acc = terms[0]
    for t in terms[1:]:
        acc = acc + t
    acc.backward()
    assert x.gradient == real(4500.0) and z.gradient is None


def test_check_gradient_flags_a_kink_even_where_the_central_difference_agrees():
    from zeroproof.autodiff import check_gradient

    r = check_gradient(lambda x: T.tr_abs(x), 0.0)  # analytical 0 = central difference 0
    assert not r.passed and "kink" in r.reason
    assert check_gradient(lambda x: x * x, 1e-7).passed  # smooth: the slopes' gap shrinks
    assert check_gradient(lambda x: x * x * x, 0.0).passed


def test_check_gradient_does_not_call_a_smooth_function_non_differentiable():
    # A large eps for the curvature makes the one-sided differences disagree, but their gap halves
    # with the step: that is a finite-difference mismatch (use a smaller eps), not a pole or kink.
    for f, x, eps in ((lambda t: T.tr_exp(t), 0.0, 0.3), (lambda t: t * t * t, 1.0, 0.5),
                      (lambda t: 1 / t, 1e-4, 1e-5)):
        r = check_gradient(f, x, eps=eps)
        assert not r.passed and r.reason.startswith("mismatch"), r.reason
        assert "smaller eps" in r.reason and "not differentiable" not in r.reason
        assert check_gradient(f, x, eps=eps / 1000).passed
    # a pole strictly inside the stencil still is one (the gap grows as the step shrinks)
    r = check_gradient(lambda t: 1 / t, 1e-7)
    assert not r.passed and "not differentiable" in r.reason and "pole" in r.reason


def test_gradient_tape_watches_each_node_once():
    from zeroproof.autodiff import gradient_tape

    xs = [TRNode.constant(float(i)) for i in range(500)]
    with gradient_tape() as tape:
        for x in xs + xs[:100]:  # watched twice: kept once
            tape.watch(x)
        total = xs[0]
        for x in xs[1:]:
            total = total + x * x
    assert tape.watched() == xs
    grads = tape.gradient(total, xs[:3])
    assert [g.value.value for g in grads] == [1.0, 2.0, 4.0]


def test_node_backward_agrees_with_backward_pass_in_every_case_it_hands_on():
    """``TRNode.backward`` becomes the MASK_REAL sweep itself after the first pass; every case
    outside its fast path (grad_output, a non-REAL parameter root, a constant root, re-entry,
    wheel arithmetic, the other modes) must behave exactly as ``backward_pass``."""
    import inspect

    from zeroproof.autodiff import backward_pass
    from zeroproof.core.wheel import wheel_mode

    def run(entry, x0, build, ctx, kw):
        x = TRNode.parameter(x0)
        y = build(x)
        with ctx() if ctx else _nothing():
            entry(y, **kw)
            entry(y, **kw)  # accumulates
        return x.gradient, y.gradient

    cases = [
        (3.0, lambda x: x * x + 1.0 / (x - 1), None, {}),
        (3.0, lambda x: x * x, None, {"grad_output": 2.0}),
        (3.0, lambda x: x * x, None, {"grad_output": real(-0.5)}),
        (3.0, lambda x: x * pinf(), None, {}),                  # non-REAL op root
        (3.0, lambda x: TRNode.parameter(ninf()), None, {}),    # non-REAL parameter root
        (3.0, lambda x: TRNode.constant(4.0) * 2.0, None, {}),  # a constant: nothing
        # two −∞ contributions: −∞ in IEEE (and transreal) sums, ⊥ in wheel arithmetic
        (1e-200, lambda x: 1 / x + 1 / x, wheel_mode, {}),
        (3.0, lambda x: 1 / (x - 2.9), lambda: gradient_mode("saturating"), {}),
        (3.0, lambda x: 1 / (x - 2.9), lambda: in_mode("hybrid"), {}),
    ]
    TRNode.parameter(1.0).backward()  # the first MASK_REAL pass installs the fast method
    assert TRNode.backward is not TRNode.backward.__wrapped__
    for x0, build, ctx, kw in cases:
        by_method = run(lambda y, **k: y.backward(**k), x0, build, ctx, kw)
        by_pass = run(backward_pass, x0, build, ctx, kw)
        assert repr(by_method) == repr(by_pass), (x0, kw, by_method, by_pass)
    assert run(backward_pass, 1e-200, cases[6][1], wheel_mode, {})[0].tag is TRTag.BOTTOM
    y = TRNode.parameter(2.0) * 2.0
    y._g = 1.0  # as in the middle of a pass over this graph
    with pytest.raises(RuntimeError, match="already being differentiated"):
        y.backward()
    y._g = None
    with pytest.raises(TypeError, match="root must be a TRNode"):
        TRNode.backward(real(1.0))  # the unbound method on something else
    assert str(inspect.signature(TRNode.backward)) == (
        "(self, grad_output: 'Any' = None, create_graph: 'bool' = False) -> 'None'")
    assert TRNode.backward.__qualname__ == "TRNode.backward"
    assert "Mask-REAL" in TRNode.backward.__doc__


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None
