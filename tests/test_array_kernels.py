"""Vectorized kernels == scalar kernels, elementwise, bit for bit (values) and exactly (tags)."""
from __future__ import annotations

import math
import struct
from contextlib import nullcontext as _nullcontext

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import zeroproof.array as za
from zeroproof.array import kernels as VK
from zeroproof.core import kernels as SK
from zeroproof.core import wheel_mode
from zeroproof.core.scalar import BOTTOM_CODE, tag_of_code

SPECIALS = [
    0.0, -0.0, 1.0, -1.0, 2.0, 0.5, -3.0, math.inf, -math.inf, math.nan,
    5e-324, -5e-324, 2.2250738585072014e-308, -2.225073858507201e-308,
    1.7976931348623157e308, -1.7976931348623157e308, 1e308, 1e-308, 709.78, 710.0, -745.2,
    1e154, 1.3407807929942596e154, 3.0e-162,
]
element = st.one_of(st.sampled_from(SPECIALS), st.floats(width=64))
SHAPE = st.integers(0, 24).map(lambda n: (n,))


@st.composite
def tr_arrays(draw, shape=None, dtype=np.float64):
    shp = draw(SHAPE) if shape is None else shape
    codes = draw(hnp.arrays(np.float64, shp, elements=element)).astype(dtype)
    if draw(st.integers(0, 3)) == 0:
        bot = draw(hnp.arrays(np.bool_, shp))
        codes = np.where(bot, np.nan, codes).astype(dtype)
    else:
        bot = None
    return codes, bot


@st.composite
def pairs(draw, dtype=np.float64):
    a = draw(tr_arrays(dtype=dtype))
    b = draw(tr_arrays(shape=a[0].shape, dtype=dtype))
    return a, b


def scalar_codes(codes, bot):
    out = [float(c) for c in codes.ravel()]
    if bot is not None:
        out = [BOTTOM_CODE if m else c for c, m in zip(out, np.broadcast_to(bot, codes.shape).ravel())]
    return out


def bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def assert_same(res, want, dtype=np.float64):
    """``res`` a (codes, bottom) pair; ``want`` a list of scalar-kernel codes."""
    codes, bot = res
    assert codes.dtype == dtype
    got_bot = np.zeros(codes.shape, bool) if bot is None else np.broadcast_to(bot, codes.shape)
    for i, (c, b, w) in enumerate(zip(codes.ravel().tolist(), got_bot.ravel().tolist(), want)):
        wt = tag_of_code(w)
        gt = 4 if b else tag_of_code(float(c))
        assert gt == wt, (i, c, b, w)
        if wt == 0:
            want_v = float(np.array(w, dtype=dtype)) if dtype == np.float32 else w
            assert bits(float(c)) == bits(want_v), (i, c, w)
        elif b:
            assert c != c  # ⊥ codes are NaN


BINARY = [(VK.add, SK.f_add), (VK.sub, SK.f_sub), (VK.mul, SK.f_mul), (VK.div, SK.f_div)]
UNARY = [(VK.neg, SK.f_neg), (VK.abs, SK.f_abs), (VK.sign, SK.f_sign), (VK.log, SK.f_log),
         (VK.exp, SK.f_exp), (VK.sqrt, SK.f_sqrt), (VK.relu, SK.f_relu), (VK.sin, SK.f_sin),
         (VK.cos, SK.f_cos), (VK.tanh, SK.f_tanh)]


def _check_binary(ab, wheel):
    (a, abot), (b, bbot) = ab
    sa, sb = scalar_codes(a, abot), scalar_codes(b, bbot)
    for vk, sk in BINARY:
        if wheel:
            with wheel_mode():
                res = vk(a, b, abot, bbot)
                want = [sk(x, y) for x, y in zip(sa, sb)]
        else:
            res = vk(a, b, abot, bbot)
            want = [sk(x, y) for x, y in zip(sa, sb)]
        assert_same(res, want)


@given(pairs())
def test_binary_kernels_equal_scalar(ab):
    _check_binary(ab, wheel=False)


@given(pairs(), st.sampled_from(["a", "b", "fresh"]), st.booleans())
def test_binary_kernels_write_into_out_exactly_as_they_allocate(ab, target, wheel):
    """``out=`` (an operand itself, or a fresh buffer) gives the allocating result bit for bit,
    ⊥ mask included, in both arithmetic modes."""
    (a, abot), (b, bbot) = ab
    for vk, _ in BINARY:
        with wheel_mode() if wheel else _nullcontext():
            want_codes, want_bot = vk(a, b, abot, bbot)
            a2, b2 = a.copy(), b.copy()
            out = {"a": a2, "b": b2, "fresh": np.empty_like(a)}[target]
            codes, bot = vk(a2, b2, abot, bbot, out=out)
        assert codes is out
        assert np.array_equal(codes.view(np.uint64), want_codes.view(np.uint64))
        assert (bot is None) == (want_bot is None)
        if bot is not None:
            assert np.array_equal(np.broadcast_to(bot, codes.shape),
                                  np.broadcast_to(want_bot, codes.shape))


@given(pairs())
def test_binary_kernels_equal_scalar_wheel(ab):
    _check_binary(ab, wheel=True)


@given(tr_arrays(), st.booleans())
def test_unary_kernels_equal_scalar(a, wheel):
    codes, bot = a
    s = scalar_codes(codes, bot)
    for vk, sk in UNARY:
        if wheel:
            with wheel_mode():
                res, want = vk(codes, bot), [sk(x) for x in s]
        else:
            res, want = vk(codes, bot), [sk(x) for x in s]
        assert_same(res, want)


@given(tr_arrays(), st.integers(-40, 40))
def test_pow_int_equals_scalar(a, k):
    codes, bot = a
    s = scalar_codes(codes, bot)
    assert_same(VK.pow_int(codes, k, bot), [SK.f_pow_int(x, k) for x in s])
    with wheel_mode():
        assert_same(VK.pow_int(codes, k, bot), [SK.f_pow_int(x, k) for x in s])


@pytest.mark.parametrize("k", [0, 1, 2, 3, 7, 64, 1023, 1025, -1, -2, -1075])
def test_pow_int_edges(k):
    codes = np.array([s for s in SPECIALS], dtype=np.float64)
    assert_same(VK.pow_int(codes, k), [SK.f_pow_int(float(x), k) for x in codes])


def test_golden_rows():
    a = np.array([0.0, -0.0, np.inf, np.inf, 1.0, np.nan, 0.0])
    b = np.array([np.inf, np.inf, -np.inf, np.inf, -0.0, 1.0, 0.0])
    assert za.array_identical(za.TRArray.from_codes(*VK.div(a, b)),
                              za.array([0.0, -0.0, np.nan, np.nan, -np.inf, np.nan, np.nan]))
    with wheel_mode():
        c, bot = VK.add(a, b)
        assert bot.tolist() == [False, False, True, True, False, False, False]
        c, bot = VK.div(a, b)
        assert bot.tolist() == [False, False, True, True, False, False, True]
        c, bot = VK.mul(a, b)
        assert bot.tolist() == [True, True, False, False, False, False, False]


# --- float32 -----------------------------------------------------------------------------------
F32_SPECIALS = [s for s in SPECIALS if not math.isfinite(s) or abs(s) <= 3.4e38] + [
    1e-45, -1e-45, 1.1754944e-38, 3.4028235e38, -3.4028235e38, 88.7, 89.0, 1.8446744e19]
f32_element = st.one_of(st.sampled_from(F32_SPECIALS), st.floats(width=32))


@st.composite
def f32_arrays(draw, n):
    return draw(hnp.arrays(np.float32, (n,), elements=f32_element))


@given(st.integers(0, 20).flatmap(lambda n: st.tuples(f32_arrays(n), f32_arrays(n))))
def test_float32_kernels(ab):
    a, b = ab
    with np.errstate(all="ignore"):
        sa = [np.float32(x) for x in a]
        sb = [np.float32(x) for x in b]
        for vk, sk in BINARY:
            res = vk(a, b)
            # the scalar kernel run in float32 arithmetic …
            assert_same(res, [float(sk(x, y)) for x, y in zip(sa, sb)], dtype=np.float32)
            # … equals the float64 scalar kernel rounded once to float32
            assert_same(res, [float(np.float32(sk(float(x), float(y)))) for x, y in zip(a, b)],
                        dtype=np.float32)
        for vk, sk in UNARY:  # log, exp, sin, cos, tanh too: computed in float64, rounded once
            assert_same(vk(a), [float(np.float32(sk(float(x)))) for x in a], dtype=np.float32)
        assert_same(VK.sqrt(a), [float(np.float32(SK.f_sqrt(float(x)))) for x in a], dtype=np.float32)
        for k in (0, 2, 5, -3):  # the float64 scalar result rounded once (SPEC §5: identical)
            assert_same(VK.pow_int(a, k), [float(np.float32(SK.f_pow_int(float(x), k)))
                                           for x in a], dtype=np.float32)


# --- broadcasting and the 2-D / strided paths ------------------------------------------------------
def test_broadcasting_matches_scalar():
    rng = np.random.default_rng(1)
    a = rng.choice(np.array(SPECIALS), size=(5, 1))
    b = rng.choice(np.array(SPECIALS), size=(1, 7))
    A, B = np.broadcast_arrays(a, b)
    for vk, sk in BINARY:
        for wheel in (False, True):
            if wheel:
                with wheel_mode():
                    res = vk(a, b)
                    want = [sk(float(x), float(y)) for x, y in zip(A.ravel(), B.ravel())]
            else:
                res = vk(a, b)
                want = [sk(float(x), float(y)) for x, y in zip(A.ravel(), B.ravel())]
            assert res[0].shape == (5, 7)
            assert_same(res, want)


def test_strided_input_log_exp():
    x = np.random.default_rng(2).uniform(-800, 800, 4001)[::3]
    assert_same(VK.exp(x), [SK.f_exp(float(v)) for v in x])
    assert_same(VK.log(x), [SK.f_log(float(v)) for v in x])


def test_large_contiguous_log_exp():
    x = np.random.default_rng(3).standard_normal(5000) * 300
    assert_same(VK.exp(x), [SK.f_exp(float(v)) for v in x])
    assert_same(VK.log(np.abs(x)), [SK.f_log(float(v)) for v in np.abs(x)])


def test_relu_sin_cos_tanh_on_trarrays_and_through_tr_functions():
    import zeroproof as zp

    x = za.array([-1.0, 0.0, 2.0, np.inf, -np.inf, np.nan])
    for fn, tr in ((za.relu, zp.tr_relu), (za.sin, zp.tr_sin), (za.cos, zp.tr_cos),
                   (za.tanh, zp.tr_tanh)):
        got = fn(x)
        assert za.array_identical(got, tr(x))
        for i in range(6):  # each element is the scalar op's value, tag included
            want = tr(zp.from_ieee(float(x.codes[i])))
            assert got[i] == want or (got[i].tag is want.tag and want.tag is not zp.TRTag.REAL)


# --- float64 pow_int with k < 0: the blocked path ------------------------------------------------
def test_negative_pow_int_over_several_blocks_equals_scalar():
    """Float64 ``x**-m`` runs in blocks with a cheap screen per block: exceptional elements
    (``x**m`` overflowing or subnormal, zeros, NaN, ±∞) in the first, a middle and the last
    (partial) block, and blocks without any, all equal the scalar kernel bit for bit."""
    rng = np.random.default_rng(5)
    n = 2 * VK._POW_BLOCK + 1234
    x = rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)  # every exponent, NaN, ±∞
    x[VK._POW_BLOCK:2 * VK._POW_BLOCK] = rng.standard_normal(VK._POW_BLOCK) + 3.0  # a quiet block
    odd = [1e-300, -1e-300, 2.0**-537, 1e300, -3e200, 0.0, -0.0, np.inf, -np.inf, np.nan,
           5e-324, 2.0**-1022, 2.0**1023,
           1.3 * 2.0**520, -(2.0**530) * 1.7,       # x**2 overflows, x**-2 is subnormal
           1.3 * 2.0**-512, -1.9 * 2.0**-512]      # x**2 is subnormal, x**-2 finite
    for at in (0, VK._POW_BLOCK + 17, n - len(odd)):
        x[at:at + len(odd)] = odd
    for k in (-1, -2, -3, -7, -64, -1075):
        assert_same(VK.pow_int(x, k), [SK.f_pow_int(float(v), k) for v in x])
    # one exception alone in an otherwise plain block (no NaN, ±∞ or zero next to it)
    for v in odd[13:]:
        y = rng.standard_normal(n) + 3.0
        y[VK._POW_BLOCK + 5] = v
        assert_same(VK.pow_int(y, -2), [SK.f_pow_int(float(w), -2) for w in y])


@pytest.mark.parametrize("x", [np.array(2.0**-537), np.array([[1e300, 2.0], [0.0, 3.0]]).T,
                               np.arange(12.0).reshape(3, 4)[:, ::2], np.zeros(0)])
def test_negative_pow_int_keeps_shape_for_0d_strided_and_empty(x):
    r, bot = VK.pow_int(x, -3)
    assert r.shape == x.shape and r.dtype == np.float64 and bot is None
    assert_same((r, None), [SK.f_pow_int(float(v), -3) for v in x.reshape(-1)])
