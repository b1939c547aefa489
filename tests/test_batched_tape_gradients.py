"""Batched-tape gradients: broadcasting (summed back to the parameter's shape), shape ops and
matmul against central finite differences and NumPy's analytic formulas, Mask-REAL per element
against the scalar tape, the split-rule path (one input needs no gradient) against the combined
path, and float32 kept end to end."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import GradientMode, TRNode, gradient_mode


def central_fd(f: Callable[[np.ndarray], float], w: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of a float function of an array, element by element."""
    out = np.zeros_like(w, dtype=np.float64)
    for idx in np.ndindex(w.shape):
        wp = w.astype(np.float64, copy=True)
        wm = wp.copy()
        wp[idx] += eps
        wm[idx] -= eps
        out[idx] = (f(wp) - f(wm)) / (2 * eps)
    return out


def value_of(build: Callable[[Any], Any], w: np.ndarray) -> float:
    return float(build(za.constant(w)).numpy())


# ---- broadcasting ------------------------------------------------------------------------------
PARAM_SHAPES = [(), (1,), (3, 1), (1, 4), (3, 4)]
DATA_SHAPES = [(3, 4), (5, 3, 4)]


@pytest.mark.parametrize("wshape", PARAM_SHAPES, ids=str)
@pytest.mark.parametrize("xshape", DATA_SHAPES, ids=str)
def test_broadcast_parameter_gradient_matches_finite_differences(wshape, xshape):
    rng = np.random.default_rng(hash((wshape, xshape)) % 2**32)
    w0 = rng.uniform(0.5, 1.5, wshape)
    x = za.constant(rng.uniform(-1.0, 1.0, xshape))

    def build(w: Any) -> Any:
        # every input kind of broadcast: w on the left and right of +, ×, ÷, inside log/exp/sin
        u = w * x + w
        return (zp.tr_log(1.0 + u * u) / (w + 2.0) + zp.tr_sin(x / w) - zp.tr_exp(-w) * x).mean()

    w = za.parameter(w0)
    build(w).backward()
    assert w.gradient.shape == wshape
    fd = central_fd(lambda v: value_of(build, v), w0)
    np.testing.assert_allclose(w.gradient.to_numpy(), fd, rtol=1e-6, atol=1e-9)


def test_broadcast_gradient_reduced_like_numpy_sum():
    """d/dw sum(w·x) for w of shape (1, 4) and x of shape (5, 3, 4) is x summed over axes 0, 1."""
    rng = np.random.default_rng(1)
    xv = rng.normal(size=(5, 3, 4))
    w = za.parameter(np.ones((1, 4)))
    (w * za.constant(xv)).sum().backward()
    np.testing.assert_allclose(w.gradient.to_numpy(), xv.sum(axis=(0, 1))[None, :], rtol=1e-13)


# ---- shape ops and matmul ----------------------------------------------------------------------
RNG = np.random.default_rng(2)
W0 = RNG.normal(size=(3, 4))
C34 = RNG.normal(size=(3, 4))
C43 = RNG.normal(size=(4, 3))
C26 = RNG.normal(size=(2, 6))
X45 = RNG.normal(size=(4, 5))


def _check(build: Callable[[Any], Any], analytic: np.ndarray) -> None:
    w = za.parameter(W0)
    build(w).backward()
    got = w.gradient.to_numpy()
    np.testing.assert_allclose(got, analytic, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got, central_fd(lambda v: value_of(build, v), W0), rtol=1e-6, atol=1e-8)


def test_reshape_gradient():
    _check(lambda w: (w.reshape(2, 6) * za.constant(C26)).sum(), C26.reshape(3, 4))


def test_flatten_squeeze_unsqueeze_gradient():
    c = C34.reshape(-1)
    _check(lambda w: (w.unsqueeze(0).squeeze().flatten() * za.constant(c)).sum(), C34)


def test_transpose_gradient():
    _check(lambda w: (w.T * za.constant(C43)).sum(), C43.T)


def test_index_gradient_with_repeated_indices_accumulates():
    rows = np.array([0, 0, 2])
    weights = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    analytic = np.zeros((3, 4))
    np.add.at(analytic, (rows[:, None], np.array([1, 2])[None, :]), weights)
    _check(lambda w: (w[rows, 1:3] * za.constant(weights)).sum(), analytic)


def test_basic_and_boolean_index_gradient():
    mask = C34 > 0
    analytic = np.where(mask, 1.0, 0.0)
    analytic[1] += 2.0 * W0[1]
    _check(lambda w: w[mask].sum() + (w[1] * w[1]).sum(), analytic)


def test_matmul_gradient_matches_numpy_formula():
    # loss = sum(G ⊙ (W @ X)) → dW = G @ Xᵀ ; with a square on top: 2 (W X ⊙ G) Xᵀ
    G = RNG.normal(size=(3, 5))
    analytic = (2.0 * (W0 @ X45) * G) @ X45.T
    _check(lambda w: ((w @ za.constant(X45)) * (w @ za.constant(X45)) * za.constant(G)).sum(),
           analytic)


def test_matmul_gradient_of_the_right_operand():
    A = RNG.normal(size=(2, 3))
    G = RNG.normal(size=(2, 4))
    w = za.parameter(W0)
    ((za.constant(A) @ w) * za.constant(G)).sum().backward()
    np.testing.assert_allclose(w.gradient.to_numpy(), A.T @ G, rtol=1e-12)


def test_axis_sum_and_mean_gradients():
    G = RNG.normal(size=(4,))
    _check(lambda w: (w.sum(axis=0) * za.constant(G)).sum() + w.mean(axis=1, keepdims=True).sum(),
           np.broadcast_to(G, (3, 4)) + 0.25)


def test_exact_and_ieee_sum_have_the_same_gradient():
    w1, w2 = za.parameter(W0), za.parameter(W0)
    (w1 * w1).sum(exact=False).backward()
    (w2 * w2).sum().backward()
    assert float((za.parameter([1e16, 1.0, -1e16])).sum().codes) == 1.0  # exact by default
    np.testing.assert_array_equal(w1.gradient.to_numpy(), w2.gradient.to_numpy())


def test_tr_sum_and_tr_mean_on_a_tensor_are_exactly_rounded():
    # zp.tr_sum / zp.tr_mean are the STRICT reductions of SPEC §3 on every argument type.
    t = za.parameter(np.array([1e16, 1.0, -1e16]))
    assert float(zp.tr_sum(t).codes) == 1.0
    assert float(zp.tr_mean(t).codes) == float(zp.tr_mean([zp.real(v) for v in (1e16, 1.0, -1e16)]))
    zp.tr_sum(t).backward()
    np.testing.assert_array_equal(t.gradient.to_numpy(), np.ones(3))


@pytest.mark.parametrize("values, axis, expected", [
    ([1e308, 1e308, -1e308], None, [1e308]),            # a partial sum overflows: exact result
    ([[1e308, 1e308], [1.0, -np.inf]], None, [-np.inf]),  # only −∞ present: −∞, not Φ
    ([[1e308, 1e308], [1.0, -np.inf]], 1, [np.inf, -np.inf]),
])
def test_fast_sum_falls_back_to_the_exact_kernel_on_ieee_events(values, axis, expected):
    t = za.parameter(np.array(values))
    got = t.sum(axis=axis, exact=False)
    ref = t.sum(axis=axis)  # exact by default
    np.testing.assert_array_equal(np.ravel(got.codes), expected)
    np.testing.assert_array_equal(got.tags, ref.tags)
    mean = za.parameter(np.array([1e308, 1e308])).mean(exact=False)
    assert float(mean.codes) == 1e308 and int(mean.tags) == 0


def test_exact_sum_over_several_axes():
    x = np.arange(24.0).reshape(2, 3, 4)
    for axis in [(0, 2), (1, 2), (0, 1, 2)]:
        for keepdims in (False, True):
            t = za.parameter(x)
            s = t.sum(axis=axis, keepdims=keepdims, exact=True)
            np.testing.assert_array_equal(s.codes, x.sum(axis=axis, keepdims=keepdims))
            s.sum().backward()
            np.testing.assert_array_equal(t.gradient.to_numpy(), np.ones_like(x))


# ---- Mask-REAL per element ---------------------------------------------------------------------
def _scalar_grads(f: Callable[[Any, Any], Any], wv: float, xs: np.ndarray) -> tuple[list, list]:
    outs, grads = [], []
    for x in xs:
        w = TRNode.parameter(float(wv))
        y = f(w, TRNode.constant(float(x)))
        y.backward()
        outs.append(float(y.value))
        grads.append(float(w.gradient))
    return outs, grads


@pytest.mark.parametrize("mode", [GradientMode.MASK_REAL, GradientMode.SATURATING])
def test_masked_element_sends_nothing_no_phi_from_zero_times_inf(mode):
    """At x = 1: u = 1/(x − 1) = +∞; v = (x − 1)·u = 0·∞ = Φ; the root element is Φ and masked.
    Its path must send *nothing* (a multiplication by zero would give 0·∞ = Φ into w's gradient);
    the other elements keep their exact gradient. Compared with the scalar tape at each point."""
    xs = np.array([1.0, 0.5, 2.0, 1.0, -1.0])

    def f(w: Any, x: Any) -> Any:
        u = 1.0 / (x - 1.0)
        return w * ((x - 1.0) * u) + w * w * x

    with gradient_mode(mode):
        s_out, s_grad = _scalar_grads(f, 0.7, xs)
        w = za.parameter(np.full(xs.shape, 0.7))  # per element: no reduction over points
        y = f(w, za.constant(xs))
        y.backward(np.ones(xs.shape))
        wb = za.parameter(np.array(0.7))  # broadcast: summed over points
        f(wb, za.constant(xs)).backward(np.ones(xs.shape))
    out = y.numpy()
    assert np.isnan(out[0]) and np.isnan(out[3]) and np.isnan(s_out[0])
    np.testing.assert_array_equal(out, s_out)
    got = w.gradient.to_numpy()
    assert got[0] == 0.0 and got[3] == 0.0  # nothing received, not Φ
    np.testing.assert_allclose(got, s_grad, rtol=1e-15)
    assert float(wb.gradient.to_numpy()) == pytest.approx(math.fsum(s_grad), rel=1e-14)


def test_masked_output_of_matmul_sends_nothing():
    """A non-finite data entry makes its output column non-REAL; the weight gradient is the
    NumPy formula over the other columns (never Φ from 0·∞)."""
    X = X45.copy()
    X[2, 1] = np.inf
    w = za.parameter(W0)
    y = w @ za.constant(X)
    y.backward(np.ones(y.shape))
    keep = [0, 2, 3, 4]
    analytic = np.ones((3, 4)) @ X[:, keep].T
    got = w.gradient.to_numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, analytic, rtol=1e-12)


def test_root_all_masked_gives_zero_gradients():
    w = za.parameter(np.array([1.0, 2.0]))
    y = (w / za.constant(np.array([0.0, 1.0]))).sum()  # +∞ + 2 = +∞: the root is not REAL
    y.backward()
    np.testing.assert_array_equal(w.gradient.to_numpy(), [0.0, 0.0])


# ---- split path (one input needs no gradient) vs combined path ---------------------------------
SPLIT_CASES = {
    "x / c": lambda x, c: x / c,
    "c / x": lambda x, c: c / x,
    "c * x": lambda x, c: c * x,
    "x * c": lambda x, c: x * c,
    "x - c": lambda x, c: x - c,
    "c - x": lambda x, c: c - x,
    "x + c": lambda x, c: x + c,
}


@pytest.mark.parametrize("case", list(SPLIT_CASES))
@pytest.mark.parametrize("mode", [GradientMode.MASK_REAL, GradientMode.SATURATING])
def test_constant_operand_split_path_equals_combined_path(case, mode):
    f = SPLIT_CASES[case]
    xv = np.array([0.5, -2.0, 0.0, 3.0, 1e-3, 0.0])
    cv = np.array([2.0, 0.0, 0.0, -1.0, 1e-3, 1.0])  # zeros: ±∞ and Φ elements (masked)
    with gradient_mode(mode):
        x1 = za.parameter(xv)
        f(x1, za.constant(cv)).backward(np.ones(6))  # c needs no gradient: split rule
        x2, c2 = za.parameter(xv), za.parameter(cv)
        f(x2, c2).backward(np.ones(6))  # both need gradients: combined rule
        x3 = za.parameter(xv)
        f(x3, 2.5).backward(np.ones(6))  # a plain number
        x4, c4 = za.parameter(xv), za.parameter(np.array(2.5))
        f(x4, c4).backward(np.ones(6))
    np.testing.assert_array_equal(x1.gradient.to_numpy(), x2.gradient.to_numpy())
    np.testing.assert_array_equal(x3.gradient.to_numpy(), x4.gradient.to_numpy())


# ---- float32 ------------------------------------------------------------------------------------
def test_float32_values_and_gradients_stay_float32():
    rng = np.random.default_rng(3)
    x = za.constant(rng.uniform(-1, 1, (5, 3, 4)).astype(np.float32))
    w = za.parameter(np.full((1, 4), 0.5, dtype=np.float32))
    b = za.parameter(np.float32(0.25) * np.ones((3, 1), dtype=np.float32))
    W = za.parameter(rng.normal(size=(4, 2)).astype(np.float32))
    h = zp.tr_sqrt(zp.tr_abs(w * x + b) + 1.0) / (w + 1.0)
    z = (h @ W).T.reshape(-1)[::2]
    loss = (z * z).mean()
    for t in (h, z, loss):
        assert t.dtype == np.float32
    loss.backward()
    for p in (w, b, W):
        assert p.gradient.codes.dtype == np.float32
        assert p.gradient.shape == p.shape
        assert np.isfinite(p.gradient.codes).all()
    (g,) = za.grad(loss, [w])
    np.testing.assert_allclose(g.to_numpy(), w.gradient.to_numpy(), rtol=1e-6)


def test_batched_matmul_with_a_shared_weight_sums_over_batch_axes():
    """(5, 3, 4) @ (4, 2): the weight is broadcast over the batch axis, so its gradient is summed
    over it (NumPy: einsum); a non-finite data entry masks the outputs of its row only."""
    rng = np.random.default_rng(4)
    H = rng.normal(size=(5, 3, 4))
    W = rng.normal(size=(4, 2))
    G = rng.normal(size=(5, 3, 2))
    w = za.parameter(W)
    ((za.constant(H) @ w) * za.constant(G)).sum().backward()
    np.testing.assert_allclose(w.gradient.to_numpy(), np.einsum("bij,bik->jk", H, G), rtol=1e-12)
    Hm = H.copy()
    Hm[2, 1, 3] = np.inf  # row (2, 1) of the product becomes non-REAL
    w = za.parameter(W)
    y = za.constant(Hm) @ w
    y.backward(G)
    keep = np.ones((5, 3), dtype=bool)
    keep[2, 1] = False
    analytic = np.einsum("nj,nk->jk", H[keep], G[keep])
    got = w.gradient.to_numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, analytic, rtol=1e-12)
    h = za.parameter(H)
    (h @ za.constant(W)).backward(G)
    np.testing.assert_allclose(h.gradient.to_numpy(), G @ W.T, rtol=1e-12)
