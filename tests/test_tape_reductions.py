"""Reductions over lists of scalar nodes: ``zp.tr_sum([nodes])`` and the lifted
``zeroproof.autodiff.tr_sum`` … build a node whose value is the core reduction's, bit for bit."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import zeroproof as zp
from zeroproof import ReductionMode, ninf, phi, pinf, real
from zeroproof.autodiff import (
    TRNode, gradient_mode, tr_grad, tr_max, tr_mean, tr_min, tr_prod, tr_sum, tr_tanh,
)

from _tr import same

CORE = {"sum": zp.tr_sum, "mean": zp.tr_mean, "prod": zp.tr_prod, "min": zp.tr_min,
        "max": zp.tr_max}
LIFTED = {"sum": tr_sum, "mean": tr_mean, "prod": tr_prod, "min": tr_min, "max": tr_max}

special = st.sampled_from([0.0, -0.0, 1.0, -2.5, 1e308, -1e308, 5e-324, math.inf, -math.inf,
                           math.nan])
entries = st.lists(st.one_of(special, st.floats(allow_nan=False, allow_infinity=False)),
                   max_size=7)


@given(entries, st.sampled_from(sorted(CORE)), st.sampled_from(list(ReductionMode)))
def test_value_is_the_core_reduction(xs, name, mode):
    scalars = [zp.from_ieee(x) for x in xs]
    nodes = [TRNode.parameter(s) for s in scalars]
    expected = CORE[name](scalars, mode)
    assert same(LIFTED[name](nodes, mode).value, expected)
    via_core = CORE[name](nodes, mode)  # the core name dispatches on a list holding nodes
    assert same(via_core.value if nodes else via_core, expected)


def test_core_names_dispatch_on_node_lists_and_generators():
    x = TRNode.parameter(2.0)
    s = zp.tr_sum([x, 1.0, real(3.0)])
    assert isinstance(s, TRNode) and s.value == real(6.0)
    g = zp.tr_sum(v for v in [x, x])
    g.backward()
    assert g.value == real(4.0) and x.gradient == real(2.0)
    assert isinstance(zp.tr_sum([real(1.0), 2.0]), zp.TRScalar)  # no node: no graph


def test_sum_hands_g_to_every_entry_even_past_an_overflowing_partial_sum():
    a, b, c = (TRNode.parameter(v) for v in (1e308, 1e308, -1e308))
    s = tr_sum([a, b, c])
    s.backward()
    assert s.value == real(1e308)  # exactly rounded; 1e308 + 1e308 alone would be +∞
    assert a.gradient == b.gradient == c.gradient == real(1.0)


def test_mean_divides_by_the_count_drop_null_leaves_phi_out():
    x, y, p = TRNode.parameter(1.0), TRNode.parameter(4.0), TRNode.parameter(phi())
    m = tr_mean([x, y, p, 7.0], mode="drop_null")
    m.backward()
    assert m.value == real(4.0)
    assert x.gradient == y.gradient == real(1.0 / 3.0)
    assert p.gradient == real(0.0)  # ignored by the reduction, but reached: R(0) (SPEC §4.2)
    big = [TRNode.parameter(1e308), TRNode.parameter(1e308)]
    mb = tr_mean(big)
    mb.backward()
    assert mb.value == real(1e308) and big[0].gradient == real(0.5)


def test_strict_non_real_result_masks_every_entry():
    x, y = TRNode.parameter(1.0), TRNode.parameter(2.0)
    for r in (tr_sum([x, y, pinf()]), tr_mean([x, y, phi()]), tr_max([x, y, pinf()])):
        x.zero_grad()
        y.zero_grad()
        r.backward()
        assert r.tag is not zp.TRTag.REAL
        assert x.gradient in (real(0.0), None) and y.gradient in (real(0.0), None)
    s = tr_sum([x, y, pinf()])
    x.zero_grad()
    s.backward()
    assert x.gradient == real(0.0)  # reached, no contribution (Mask-REAL)


def test_prod_gradient_is_the_product_of_the_others():
    xs = [TRNode.parameter(v) for v in (2.0, -3.0, 5.0)]
    p = tr_prod(xs)
    p.backward()
    assert p.value == real(-30.0)
    assert [x.gradient.value for x in xs] == [-15.0, 10.0, -6.0]
    zero = TRNode.parameter(0.0)
    q = tr_prod([zero, ninf()])
    q.backward()
    assert q.tag is zp.TRTag.PHI and zero.gradient == real(0.0)


def test_min_max_route_to_the_first_attaining_entry():
    a, b, c = TRNode.parameter(1.0), TRNode.parameter(3.0), TRNode.parameter(3.0)
    r = tr_max([a, b, c])
    r.backward()
    assert r.value == real(3.0) and b.gradient == real(1.0)
    assert a.gradient == c.gradient == real(0.0)  # reached, not selected: R(0)
    z0, z1 = TRNode.parameter(0.0), TRNode.parameter(-0.0)
    r = tr_min([z0, z1])
    r.backward()
    assert same(r.value, zp.tr_min([real(0.0), real(-0.0)]))
    assert (z0.gradient, z1.gradient) == (real(1.0), real(0.0))


def test_second_derivative_through_a_mean():
    f = lambda x: zp.tr_mean([x * x, x * x * x, 1.0])  # (x² + x³ + 1) / 3
    assert math.isclose(tr_grad(f)(2.0).value.value, 16.0 / 3.0, rel_tol=1e-15)
    assert math.isclose(tr_grad(tr_grad(f))(2.0).value.value, 14.0 / 3.0, rel_tol=1e-15)


@pytest.mark.parametrize("mode", ["mask-real", "saturating"])
def test_same_gradients_in_every_mode(mode):
    with gradient_mode(mode):
        x = TRNode.parameter(2.0)
        s = tr_sum([x * 3.0, tr_tanh(x), x])
        s.backward()
    assert x.gradient.value == pytest.approx(4.0 + (1 - math.tanh(2.0) ** 2))


def test_bad_input_names_the_argument():
    with pytest.raises(TypeError, match=r"tr_sum\(values\): values\[1\]"):
        zp.tr_sum([TRNode.parameter(1.0), "a"])
    with pytest.raises(TypeError, match="values must be"):
        tr_mean(TRNode.parameter(1.0))
    with pytest.raises(ValueError):
        tr_sum([TRNode.parameter(1.0)], mode="sideways")
