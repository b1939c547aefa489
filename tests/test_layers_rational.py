"""RationalLayer: shapes, bases, anchoring, poles, serialization, bad input; the batched tape's
masking through matmul/axis reductions that the layer relies on."""
from __future__ import annotations

import os

import numpy as np
import pytest

import zeroproof.array as za
from zeroproof.inference import InferenceConfig, export_bundle, validate_bundle
from zeroproof.layers import Linear, RationalLayer, Sequential, Tanh, basis_matrix


def _set(layer, a, b):
    state = {"numerator": np.asarray(a, float).reshape(-1, layer.out_features)}
    if layer.degree_q:
        state["denominator"] = np.asarray(b, float).reshape(-1, 1)
    layer.load_state_dict(state)


def test_fresh_layer_is_anchored():
    layer = RationalLayer(3, 2, seed=0)
    P, Q = layer.forward_pq(np.linspace(-1, 1, 7))
    assert np.all(Q.numpy() == 1.0)
    assert layer.q_coefficients().tolist() == [1.0, 0.0, 0.0]
    assert [n for n, _ in layer.named_parameters()] == ["numerator", "denominator"]


@pytest.mark.parametrize("shape,out,expect", [((5,), 1, (5,)), ((5, 1), 1, (5, 1)),
                                              ((5,), 3, (5, 3)), ((5, 1), 3, (5, 3))])
def test_shapes(shape, out, expect):
    layer = RationalLayer(2, 2, out_features=out, seed=1)
    assert layer(np.zeros(shape)).shape == expect
    P, Q = layer.predict_pq(np.zeros(shape))
    assert P.shape == Q.shape


def test_wrong_input_dimension_is_a_clear_error():
    with pytest.raises(ValueError, match=r"shape \(batch,\) or \(batch, 1\).*got shape \(4, 2\)"):
        RationalLayer(1, 1, seed=0)(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="degree_p"):
        RationalLayer(-1, 1)
    with pytest.raises(ValueError, match="basis must be one of"):
        RationalLayer(1, 1, basis="legendre")


def test_nan_input_gives_phi_and_no_error():
    layer = RationalLayer(2, 1, seed=0)
    y = layer(np.array([0.0, np.nan, np.inf]))
    tags = y.value.tags
    assert tags[0] == 0 and tags[1] == 3  # REAL, Φ
    loss = (y - 1.0) ** 2
    loss.backward(np.array([1.0, 1.0, 1.0]))  # masked elements send nothing
    assert np.all(np.isfinite(layer.numerator.gradient.codes))


def test_pole_gives_infinity_and_masked_gradient():
    layer = RationalLayer(0, 1, seed=0)
    _set(layer, [-2.0], [-2.0])  # -2/(1 - 2x) = 1/(x - 0.5)
    y = layer(np.array([0.0, 0.5]))
    assert y.value.tags.tolist() == [0, 2]  # REAL, −∞ (−2/+0)
    y.backward(np.ones(2))
    g = layer.denominator.gradient.codes
    assert np.all(np.isfinite(g))
    # only x = 0 contributes: d/db (-2/(1 + b x)) = 2x/(1+bx)^2 = 0 at x = 0
    assert g.ravel().tolist() == [0.0]


def test_chebyshev_and_monomial_represent_the_same_function():
    rng = np.random.default_rng(3)
    cheb = RationalLayer(4, 3, basis="chebyshev", seed=0)
    a_c = rng.normal(size=5)
    b_c = np.concatenate([[1.0], 0.1 * rng.normal(size=3)])
    _set(cheb, a_c, b_c[1:])
    # convert Chebyshev coefficients to monomial ones; the anchored constant stays 1 only if
    # the T_2 term's constant part is folded back in: scale both P and Q by 1/b0
    a_m = np.polynomial.chebyshev.cheb2poly(a_c)
    b_m = np.polynomial.chebyshev.cheb2poly(b_c)
    mono = RationalLayer(4, 3, basis="monomial", seed=0)
    _set(mono, a_m / b_m[0], b_m[1:] / b_m[0])
    x = np.linspace(-1, 1, 101)
    np.testing.assert_allclose(cheb(x).numpy(), mono(x).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.sort(cheb.find_poles()), np.sort(mono.find_poles()), atol=1e-10)


def test_chebyshev_domain_maps_to_unit_interval():
    layer = RationalLayer(3, 0, basis="chebyshev", domain=(0.0, 4.0), seed=0)
    _set(layer, [0, 0, 0, 1.0], [])
    x = np.array([0.0, 1.0, 2.0, 4.0])
    t = (2 * x - 4.0) / 4.0
    np.testing.assert_allclose(layer(x).numpy(), np.cos(3 * np.arccos(t)), atol=1e-12)
    np.testing.assert_allclose(basis_matrix(x, 3, "chebyshev", (0.0, 4.0))[:, 3],
                               np.cos(3 * np.arccos(t)), atol=1e-12)


def test_find_poles_monomial_and_chebyshev_domain():
    layer = RationalLayer(0, 2, seed=0)
    _set(layer, [1.0], [0.0, -4.0])  # 1 - 4x^2
    np.testing.assert_allclose(layer.find_poles(), [-0.5, 0.5], atol=1e-14)
    assert layer.find_poles(domain=(0.0, 1.0)).tolist() == pytest.approx([0.5])
    _set(layer, [1.0], [0.0, 4.0])  # 1 + 4x^2: complex roots only
    assert layer.find_poles().size == 0
    cheb = RationalLayer(0, 1, basis="chebyshev", domain=(2.0, 6.0), seed=0)
    _set(cheb, [1.0], [-2.0])  # 1 - 2t, t = (x - 4)/2: root at t = 0.5 -> x = 5
    np.testing.assert_allclose(cheb.find_poles(), [5.0])


def test_backbone_input_matches_constant_path_and_backpropagates():
    layer = RationalLayer(3, 2, out_features=2, basis="chebyshev", seed=1)
    layer.denominator.set_value(np.array([[0.3], [0.2]]))
    x = np.linspace(-1, 1, 9).reshape(-1, 1)
    lin = Linear(1, 1, seed=0)
    lin.weight.set_value(np.ones((1, 1)))
    lin.bias.set_value(np.zeros(1))
    np.testing.assert_allclose(layer(x).numpy(), layer(lin(x)).numpy(), rtol=1e-14, atol=1e-16)
    net = Sequential(Linear(1, 4, seed=0), Tanh(), Linear(4, 1, seed=1), layer)
    net(x).sum().backward()
    assert all(np.all(np.isfinite(p.gradient.codes)) for p in net.parameters())


def test_x_value_is_attached_to_the_division_node():
    layer = RationalLayer(1, 1, seed=0)
    y = layer(np.array([[0.1], [0.2]]))
    assert y.op == "div"
    np.testing.assert_array_equal(np.ravel(y.x_value), [0.1, 0.2])


def test_config_roundtrip_and_bundle(tmp_path):
    layer = RationalLayer(2, 2, out_features=2, basis="chebyshev", domain=(-2.0, 2.0), seed=5)
    layer.denominator.set_value(np.array([[0.4], [-0.3]]))
    clone = RationalLayer.from_config(layer.get_config())
    clone.load_state_dict(layer.state_dict())
    x = np.linspace(-2, 2, 11)
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())
    d = tmp_path / "bundle"
    export_bundle(layer, d, InferenceConfig(1e-6, 1e-4))
    assert validate_bundle(d).model_name == "zeroproof.RationalLayer"
    with pytest.raises(ValueError, match="unknown keys"):
        RationalLayer.from_config({"degree_p": 1, "bogus": 2})


def test_tape_masking_through_matmul_and_axis_sum():
    # A matmul whose output has a non-REAL row, then a sum over an axis with a masked element:
    # the masked elements send nothing and the weight gradient stays REAL.
    w = za.parameter(np.array([[1.0, 2.0], [3.0, 4.0]]))
    x = za.constant(np.array([[1.0, 0.0], [np.inf, 1.0], [np.nan, 2.0]]))
    (x @ w).sum(axis=1).backward(np.ones(3))
    assert w.gradient.codes.tolist() == [[1.0, 1.0], [0.0, 0.0]]
    v = za.parameter(np.array([[1.0], [0.0], [2.0]]))
    y = (1.0 / v).sum(axis=1)           # middle element +∞
    y.backward(np.ones(3))
    assert v.gradient.codes.ravel().tolist() == [-1.0, 0.0, -0.25]


def test_tanh_is_total():
    from zeroproof.layers import tanh
    out = tanh(np.array([-np.inf, -1e6, 0.0, 0.3, 1e6, np.inf, np.nan])).value
    assert out.codes[:6].tolist() == pytest.approx([-1.0, -1.0, 0.0, np.tanh(0.3), 1.0, 1.0])
    assert out.tags[6] == 3
