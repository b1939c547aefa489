"""Audit 9 (zeroproof.array): float32 with Python numbers float32 cannot hold, float32 ``pow_int``,
the overflow check of the fast tape sum, the dtype of empty fast means, and ``@`` with 1-D
operands on the batched tape."""
from __future__ import annotations

import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.array import kernels as K
from zeroproof.autodiff import TRNode
from zeroproof.core.wheel import wheel_mode

F32 = np.float32
F32_MAX = float(np.finfo(np.float32).max)


def f32_of_scalar(s: zp.TRScalar) -> tuple[int, float]:
    """(tag, value) of a float64 scalar result rounded once to float32 (overflow → ±∞)."""
    if s.tag is not zp.TRTag.REAL:
        return int(s.tag), float("nan")
    with np.errstate(over="ignore"):
        v = np.float32(s.value)
    if np.isinf(v):
        return (1 if v > 0 else 2), float("nan")
    return 0, float(v)


def assert_rounded_scalar(got: za.TRArray, want: list) -> None:
    """Each element of ``got`` is the float64 scalar result rounded once to float32, bit for bit."""
    assert got.dtype == np.float32
    tags = got.tags.ravel().tolist()
    codes = np.ravel(got.codes)
    for i, s in enumerate(want):
        t, v = f32_of_scalar(s)
        assert tags[i] == t, (i, got, s)
        if t == 0:
            assert codes[i].view(np.uint32) == np.float32(v).view(np.uint32), (i, codes[i], s)


# ---- 1. float32 ⊙ a Python number float32 cannot hold --------------------------------------------
X0 = np.array([0.0, 1.0, -0.0, 3.0, -7.5], F32)
OPS = {
    "x*c": (lambda x, c: x * c, lambda v, c: zp.tr_mul(zp.real(v), zp.real(c))),
    "c*x": (lambda x, c: c * x, lambda v, c: zp.tr_mul(zp.real(c), zp.real(v))),
    "x/c": (lambda x, c: x / c, lambda v, c: zp.tr_div(zp.real(v), zp.real(c))),
    "c/x": (lambda x, c: c / x, lambda v, c: zp.tr_div(zp.real(c), zp.real(v))),
    "x+c": (lambda x, c: x + c, lambda v, c: zp.tr_add(zp.real(v), zp.real(c))),
    "c-x": (lambda x, c: c - x, lambda v, c: zp.tr_sub(zp.real(c), zp.real(v))),
}


@pytest.mark.parametrize("c", [1e300, 1e-300, 16777217, 0.1, 2.0**-24 + 2.0**-60, 1e39])
@pytest.mark.parametrize("name", sorted(OPS))
def test_float32_with_a_wide_python_number_is_the_rounded_scalar_op(name, c):
    op, sop = OPS[name]
    x = za.from_numpy(X0)
    want = [sop(float(v), c) for v in X0]
    assert_rounded_scalar(op(x, c), want)
    assert_rounded_scalar(op(x, zp.real(c)), want)  # a TRScalar carries a Python float too


def test_float32_wide_number_reported_cases():
    x = za.from_numpy(np.array([0.0, 1.0], F32))
    assert (x * 1e300).tags.tolist() == [0, 1]         # was [Φ, +∞]: 0 · 1e300 is a REAL 0
    assert (1e-300 / x).tags.tolist() == [1, 0]        # was [Φ, 0]: 1e-300 / 0 is +∞
    assert (x + 16777217).codes.tolist() == [16777216.0, 16777218.0]
    assert zp.tr_mul(x, 1e300).tags.tolist() == [0, 1]


def test_float32_random_values_with_inexact_numbers_match_scalar_rounding():
    x = np.random.default_rng(9).standard_normal(400).astype(F32)
    X = za.from_numpy(x)
    for c in (0.1, 1 / 3, 1e-10 + 1e-17, 0.7, 1.3e-5):
        for name in ("x*c", "x/c", "x+c", "c/x"):
            op, sop = OPS[name]
            assert_rounded_scalar(op(X, c), [sop(float(v), c) for v in x])


def test_exact_numbers_keep_the_float32_fast_path_and_dtype():
    x = za.from_numpy(X0)
    assert not K.widens(x.codes, 0.5) and K.widens(x.codes, 0.1)
    assert not K.widens(np.ones(2), 0.1)  # float64 arrays: nothing to widen
    assert (x * 0.5).dtype == np.float32 and (x * 0.1).dtype == np.float32


def test_wide_kernel_with_out_and_in_wheel_mode():
    a = np.array([0.0, 1.0, np.inf], F32)
    out = a.copy()
    codes, bot = K.mul(out, 1e300, out=out)
    assert codes is out and bot is None
    assert out.tolist()[:1] == [0.0] and np.isinf(out[1]) and np.isinf(out[2])
    with wheel_mode():
        codes, bot = K.mul(np.array([0.0, np.inf], F32), 1e300)
        assert codes.dtype == np.float32 and codes[0] == 0.0 and np.isinf(codes[1])
        assert bot is None
        codes, bot = K.mul(np.array([np.inf, 2.0], F32), 1e-300)  # ∞ · tiny = ∞, not ⊥
        assert bot is None and np.isinf(codes[0]) and codes[1] == 0.0


def test_tape_float32_wide_number_values_and_gradients():
    # values: the forward follows the TRArray op
    t = za.parameter(np.array([0.0], F32))
    y = t * 1e300
    y.backward(np.ones(1, F32))
    assert y.value.tags.tolist() == [0] and float(y.codes[0]) == 0.0
    assert t.gradient.dtype == np.float32 and t.gradient.tags.tolist() == [1]  # 1e300 → +∞
    # gradients: d(t·c)/dt = c computed in float64 with g and rounded once
    xs = np.array([3.0, 0.0, 1.0, -7.0, 1e-3], F32)
    for c, build in ((16777217.0, lambda p, c: p * c), (0.1, lambda p, c: p / c),
                     (16777217.0, lambda p, c: c / p), (0.1, lambda p, c: c / p)):
        p = za.parameter(xs)
        y = build(p, c)
        y.backward(np.full(5, 3.0, F32))
        want_v, want_g = [], []
        for v in xs:
            n = TRNode.parameter(float(v))
            yn = build(n, c)
            (yn * 3.0).backward()
            want_v.append(yn.value)
            want_g.append(n.gradient if yn.value.tag is zp.TRTag.REAL else zp.real(0.0))
        assert_rounded_scalar(y.value, want_v)
        assert_rounded_scalar(p.gradient, want_g)


def test_tape_float32_wide_number_in_place_loop_is_bit_for_bit():
    """``p = p * x + 0.1`` on big float32 arrays reuses buffers; it must equal the TRArray ops."""
    n = 100_000  # 400 KB: above the in-place threshold
    x = np.random.default_rng(3).uniform(-1, 1, n).astype(F32)
    X = za.constant(x)
    p = za.constant(np.ones(n, F32))
    ref = za.from_numpy(np.ones(n, F32))
    for c in (0.1, 1 / 3, 16777217.0):
        p = p * X + c
        ref = ref * za.from_numpy(x) + c
    assert za.array_identical(p.value, ref)


# ---- 2. float32 pow_int ----------------------------------------------------------------------------
def test_float32_pow_int_reported_cases():
    x = za.from_numpy(np.array([88.72], F32))
    s = zp.tr_pow_int(zp.real(float(np.float32(88.72))), -20)
    assert_rounded_scalar(za.pow_int(x, -20), [s])  # was 0.0: x^20 overflows float32
    assert float(za.pow_int(x, -20).codes[0]) != 0.0
    v = np.float32(-1.4577854)
    assert_rounded_scalar(za.pow_int(za.from_numpy(np.array([v])), 31),
                          [zp.tr_pow_int(zp.real(float(v)), 31)])


def test_float32_pow_int_is_the_rounded_scalar_op_for_every_k():
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**32, 600, dtype=np.uint64).astype(np.uint32)
    x = np.concatenate([bits.view(F32), np.array(
        [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 88.72, -1.4577854, 1e-45, -1e-45,
         F32_MAX, -F32_MAX, 2.0, 0.5, -2.0, 1.0000001, 0.99999994, 1.1754944e-38], F32)])
    X = za.from_numpy(x)
    ks = list(range(-40, 41)) + [-1000, 1000, 127, -127, 2**31 - 1, -(2**31), 10**9 + 7,
                                 -(10**9 + 7), 2**64 + 1, -(2**64 + 1)]
    for k in ks:
        assert_rounded_scalar(za.pow_int(X, k), [zp.tr_pow_int(zp.from_ieee(float(v)), k)
                                                 for v in x])


# ---- 3. fast sum near the top of the range ----------------------------------------------------------
@pytest.mark.parametrize("dtype, vals", [
    (np.float64, [1.7976931348623157e308, 2.0**969, 2.0**969]),
    (np.float64, [-1.7976931348623157e308, -(2.0**969), -(2.0**969)]),
    (np.float32, [F32_MAX, 2.0**102, 2.0**102]),
    (np.float64, [[1.0, 2.0, 3.0], [1.7976931348623157e308, 2.0**969, 2.0**969]]),
])
def test_fast_sum_tags_are_exact_near_overflow(dtype, vals):
    t = za.parameter(np.array(vals, dtype))
    axis = None if np.ndim(vals) == 1 else 1
    fast, exact = t.sum(axis=axis, exact=False), t.sum(axis=axis)
    assert fast.dtype == dtype
    assert fast.value.tags.tolist() == exact.value.tags.tolist()
    assert int(np.ravel(fast.value.tags)[-1]) in (1, 2)  # ±∞


def test_fast_sum_near_but_below_overflow_stays_real():
    t = za.parameter(np.array([1.7976931348623157e308, 2.0**968, -(2.0**968)]))
    assert t.sum(exact=False).value.tags.tolist() == 0
    t32 = za.parameter(np.array([F32_MAX, 2.0**101, -(2.0**101)], F32))
    got = t32.sum(exact=False)
    assert got.dtype == np.float32 and got.value.tags.tolist() == 0


def test_fast_sum_of_a_very_long_float32_lane():
    n = (1 << 22) + 3
    x = np.full(n, 0.25, F32)
    got = za.parameter(x).sum(exact=False)
    assert got.dtype == np.float32 and float(got.codes) == n * 0.25
    x[:3] = [F32_MAX, 2.0**102, 2.0**102]
    x[3:] = 0.0
    assert za.parameter(x).sum(exact=False).value.tags.tolist() == 1


# ---- 4. empty fast mean keeps the dtype ------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_mean_over_empty_lanes_keeps_the_dtype(dtype):
    t = za.parameter(np.zeros((3, 0), dtype))
    m = t.mean(axis=1, exact=False)
    assert m.dtype == dtype and m.value.tags.tolist() == [3, 3, 3]
    assert m.value.dtype == t.mean(axis=1).value.dtype


# ---- 5. @ with 1-D operands on the batched tape --------------------------------------------------
SHAPES_1D = [((3,), (3, 2)), ((4, 3), (3,)), ((3,), (3,)), ((2, 4, 3), (3,)), ((3,), (2, 3, 5))]


@pytest.mark.parametrize("sa, sb", SHAPES_1D, ids=str)
@pytest.mark.parametrize("special", [False, True])
def test_tape_matmul_with_vectors_matches_numpy_shapes_and_2d_gradients(sa, sb, special):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    A = rng.integers(-3, 4, sa).astype(float)
    B = rng.integers(-3, 4, sb).astype(float)
    if special:  # a masked output element, and a 0 · ∞ it must not turn into Φ
        A.flat[0] = np.inf
        B.flat[-1] = 0.0
    a, b = za.parameter(A), za.parameter(B)
    y = a @ b
    ref = za.array(A) @ za.array(B)
    assert y.shape == np.matmul(np.ones(A.shape), np.ones(B.shape)).shape  # NumPy's shape rule
    assert za.array_identical(y.value, ref if isinstance(ref, za.TRArray)
                              else za.array(ref))
    zp.tr_log(zp.tr_abs(y) + 1.0).backward(np.ones(y.shape))
    # the same product written with explicit 2-D operands
    a2 = za.parameter(A.reshape(1, -1) if A.ndim == 1 else A)
    b2 = za.parameter(B.reshape(-1, 1) if B.ndim == 1 else B)
    y2 = a2 @ b2
    zp.tr_log(zp.tr_abs(y2) + 1.0).backward(np.ones(y2.shape))
    assert a.gradient.shape == sa and b.gradient.shape == sb
    np.testing.assert_allclose(a.gradient.to_numpy(), a2.gradient.to_numpy().reshape(sa))
    np.testing.assert_allclose(b.gradient.to_numpy(), b2.gradient.to_numpy().reshape(sb))


def test_tape_matmul_vector_reported_case_and_errors():
    w = za.parameter(np.ones((3, 2)))
    y = za.constant(np.ones(3)) @ w
    assert y.shape == (2,)
    y.sum().backward()
    assert w.gradient.to_numpy().tolist() == [[1.0, 1.0]] * 3
    v = za.parameter(np.array([1.0, 2.0]))
    d = v @ v
    d.backward()
    assert d.shape == () and v.gradient.to_numpy().tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match=r"\(3,\) and \(4, 2\).*1-D vectors"):
        za.constant(np.ones(3)) @ za.parameter(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"0-d operands are not accepted"):
        za.constant(np.ones(())) @ za.parameter(np.ones((4, 2)))
