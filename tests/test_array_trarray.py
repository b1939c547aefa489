"""TRArray: construction, conversion, validation, indexing, operators, dispatch, matmul."""
from __future__ import annotations

import contextlib

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import zeroproof as zp
import zeroproof.array as za
from zeroproof.array import TRArray
from zeroproof.core import kernels as SK
from zeroproof.core import reductions as CR
from zeroproof.core import wheel_mode
from zeroproof.core.scalar import BOTTOM_CODE, tag_of_code


# --- construction and conversion -------------------------------------------------------------------
def test_values_tags_roundtrip():
    a = TRArray(np.array([1.5, 7.0, np.nan, 0.0, 9.0]), np.array([0, 1, 2, 3, 4], np.uint8))
    assert a.tags.tolist() == [0, 1, 2, 3, 4]
    v = a.values
    assert v[0] == 1.5 and np.isnan(v[1:]).all()
    assert not v.flags.writeable and not a.tags.flags.writeable
    b = TRArray(a.values, a.tags)
    assert za.array_identical(a, b)
    assert repr(a) == "TRArray([1.5, +∞, −∞, Φ, ⊥], dtype=float64)"
    assert a.tag_counts() == {"REAL": 1, "PINF": 1, "NINF": 1, "PHI": 1, "BOTTOM": 1}


def test_from_numpy_and_dtypes():
    a = TRArray.from_numpy(np.array([np.nan, np.inf, -np.inf, -0.0]))
    assert a.tags.tolist() == [3, 1, 2, 0]
    assert math.copysign(1.0, a[3].value) < 0
    assert TRArray.from_numpy(np.array([1, 2], dtype=np.int32)).dtype == np.float64
    assert TRArray.from_numpy(np.array([True])).dtype == np.float64
    assert TRArray.from_numpy(np.ones(2, np.float32)).dtype == np.float32
    for bad in (np.array([1j]), np.array(["a"]), np.array([object()], dtype=object)):
        with pytest.raises(TypeError, match="dtype"):
            TRArray.from_numpy(bad)
    x = np.array([1.0, np.nan])
    y = TRArray.from_numpy(x)
    x[0] = 5.0
    assert y[0] == 1.0  # a copy
    assert np.array_equal(y.to_numpy(), np.array([1.0, np.nan]), equal_nan=True)


def test_constructor_validation_messages():
    with pytest.raises(ValueError, match=r"values shape \(2,\) and tags shape \(3,\)"):
        TRArray(np.zeros(2), np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="0..4"):
        TRArray(np.zeros(2), np.array([0, 7], np.uint8))
    with pytest.raises(TypeError, match="tags must be an integer"):
        TRArray(np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="REAL-tagged entry has a non-finite"):
        TRArray(np.array([np.nan]), np.array([0], np.uint8))
    with pytest.raises(TypeError, match="complex"):
        TRArray(np.array([1j]), np.array([0], np.uint8))
    with pytest.raises(TypeError, match="float64 or float32"):
        TRArray.from_codes(np.array([1, 2]))
    with pytest.raises(TypeError, match="float64 or float32"):
        za.zeros(3, dtype=np.int64)


def test_from_codes_no_copy():
    c = np.array([1.0, 2.0])
    a = TRArray.from_codes(c)
    assert np.shares_memory(a.codes, c)
    assert not a.codes.flags.writeable


def test_factories():
    assert za.zeros((2, 3)).shape == (2, 3)
    assert za.ones(2, dtype=np.float32).dtype == np.float32
    assert za.full(2, zp.bottom()).tag_counts()["BOTTOM"] == 2
    assert za.full(3, 2.5).values.tolist() == [2.5, 2.5, 2.5]
    with pytest.raises(ValueError, match="from_ieee"):
        za.full(2, math.nan)
    a = za.array([zp.real(1.0), 2, zp.phi(), zp.ninf()])
    assert a.tags.tolist() == [0, 0, 3, 2]
    assert za.array([[1, 2], [3, 4]]).dtype == np.float64
    with pytest.raises(TypeError, match="element 1"):
        za.array([zp.real(1.0), "x"])
    with pytest.raises(TypeError):
        za.array("abc")
    x = za.array([1.0])
    assert za.asarray(x) is x and za.array(x) is not x


def test_indexing_iteration_shape_ops():
    a = za.array(np.arange(6.0).reshape(2, 3)) / za.array([0.0, 1.0, 2.0])
    assert isinstance(a[0], TRArray) and a[0].shape == (3,)
    assert a[0, 0] == zp.phi() and a[1, 0] == zp.pinf() and a[1, 2] == zp.real(2.5)
    assert [x.tag.name for x in a[:, 0]] == ["PHI", "PINF"]
    assert a.T.shape == (3, 2) and a.reshape(3, 2).shape == (3, 2) and a.reshape((6,)).shape == (6,)
    assert a.ndim == 2 and a.size == 6 and len(a) == 2
    assert a[a.tags == 0].shape == (4,)
    b = za.full((2, 2), zp.bottom())
    assert b[0, 1] == zp.bottom() and b[0].tag_counts()["BOTTOM"] == 2
    assert za.array([1.0, 2.0])[1:].bottom is None
    assert a.astype(np.float32).dtype == np.float32
    assert za.array([1e300]).astype(np.float32).tags.tolist() == [1]
    with pytest.raises(TypeError):
        len(za.array(1.0))
    assert za.array_identical(pickle.loads(pickle.dumps(a)), a)


# --- operators and dispatch ---------------------------------------------------------------------------
def test_operators_with_all_operand_types():
    x = za.array([1.0, 0.0, -2.0])
    assert (x + 1).values.tolist() == [2.0, 1.0, -1.0]
    assert (1 - x).values.tolist() == [0.0, 1.0, 3.0]
    assert (x * zp.pinf()).tags.tolist() == [1, 3, 2]
    assert (zp.real(1.0) / x).tags.tolist() == [0, 1, 0]
    assert (np.array([1.0, 1.0, 1.0]) / x).tags.tolist() == [0, 1, 0]  # ndarray defers to us
    assert (x / np.array([0.0, 0.0, np.nan])).tags.tolist() == [1, 3, 3]
    assert (-x).values.tolist() == [-1.0, -0.0, 2.0]
    assert abs(x).values.tolist() == [1.0, 0.0, 2.0]
    assert (x ** 2).values.tolist() == [1.0, 0.0, 4.0]
    assert (x ** 0).tags.tolist() == [0, 3, 0]
    assert (x + zp.bottom()).tag_counts()["BOTTOM"] == 3
    with pytest.raises(TypeError, match="int"):
        x ** 2.0
    with pytest.raises(TypeError, match="int"):
        x ** True
    with pytest.raises(TypeError):
        2 ** x
    with pytest.raises(ValueError, match="from_ieee"):
        x + math.inf
    with pytest.raises(TypeError):
        x + "a"
    assert za.array_identical(np.add(np.ones(3), x), np.ones(3) + x)  # NEP 13: the twin runs
    with pytest.raises(TypeError, match="out="):
        np.add(np.ones(3), x, out=np.empty(3))


def test_core_tr_functions_dispatch():
    x = za.array([4.0, 0.0, -1.0])
    assert isinstance(zp.tr_add(x, 1.0), TRArray)
    assert isinstance(zp.tr_add(1.0, x), TRArray)
    assert zp.tr_sqrt(x).tags.tolist() == [0, 0, 3]
    assert zp.tr_log(x).tags.tolist() == [0, 2, 3]
    assert zp.tr_pow_int(x, -1).tags.tolist() == [0, 1, 0]
    assert zp.tr_div(zp.real(1.0), x).tags.tolist() == [0, 1, 0]
    with pytest.raises(TypeError):
        zp.tr_pow_int(x, 1.5)
    for fn in (zp.tr_sign, zp.tr_abs, zp.tr_neg, zp.tr_exp):
        assert isinstance(fn(x), TRArray)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3,\) and \(4,\)"):
        za.array([1.0, 2.0, 3.0]) + za.zeros(4)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 3\)"):
        za.zeros((2, 3)) @ za.zeros((2, 3))


def test_broadcasting_and_dtype_promotion():
    a = za.zeros((3, 1)) + za.ones((1, 4))
    assert a.shape == (3, 4)
    f = za.ones(2, dtype=np.float32)
    assert (f + 1.0).dtype == np.float32
    assert (f + zp.real(0.1)).dtype == np.float32
    assert (f + za.ones(2)).dtype == np.float64
    assert (f + np.ones(2, dtype=np.int64)).dtype == np.float64


def test_equality_helpers():
    a = za.array([0.0, np.nan, np.inf])
    b = za.array([-0.0, np.nan, np.inf])
    assert (a == b).tolist() == [True, True, True]
    assert za.array_equal(a, b) and not za.array_identical(a, b)
    assert not za.array_equal(a, za.array([0.0, np.nan]))
    assert not za.array_equal(za.full(1, zp.bottom()), za.full(1, zp.phi()))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(a)
    assert bool(za.array([2.0]))


# --- operators on random arrays equal the scalar ops -------------------------------------------------
SPECIALS = [0.0, -0.0, 1.0, -2.5, math.inf, -math.inf, math.nan, 5e-324, 1e308, -1e308]
el = st.one_of(st.sampled_from(SPECIALS), st.floats(width=64))


@given(hnp.arrays(np.float64, st.integers(0, 12).map(lambda n: (n,)), elements=el), st.data())
def test_operators_equal_scalar_ops(a, data):
    b = data.draw(hnp.arrays(np.float64, a.shape, elements=el))
    A, B = TRArray.from_numpy(a), TRArray.from_numpy(b)
    for op, sk in (("__add__", SK.f_add), ("__sub__", SK.f_sub), ("__mul__", SK.f_mul),
                   ("__truediv__", SK.f_div)):
        got = getattr(A, op)(B)
        want = za.TRArray.from_numpy(np.array([sk(float(x), float(y)) for x, y in zip(a, b)]))
        assert za.array_identical(got, want)
        for i in range(len(a)):  # and each element equals the TRScalar op
            s = getattr(A[i], op)(B[i])
            assert got[i].tag is s.tag and (s.tag != 0 or got[i] == s)


# --- matmul ------------------------------------------------------------------------------------------
def ref_matmul(a: np.ndarray, b: np.ndarray, abot=None, bbot=None):
    """Entrywise STRICT core sum of core products."""
    n, k = a.shape
    m = b.shape[1]
    out = []
    for i in range(n):
        row = []
        for j in range(m):
            prods = []
            for t in range(k):
                x = BOTTOM_CODE if abot is not None and abot[i, t] else float(a[i, t])
                y = BOTTOM_CODE if bbot is not None and bbot[t, j] else float(b[t, j])
                prods.append(SK.f_mul(x, y))
            row.append(CR.sum_codes(prods))
        out.append(row)
    return out


mm_el = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan]),
                  st.floats(-1e3, 1e3))


@st.composite
def mm_operands(draw):
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    a = draw(hnp.arrays(np.float64, (n, k), elements=mm_el))
    b = draw(hnp.arrays(np.float64, (k, m), elements=mm_el))
    abot = draw(hnp.arrays(np.bool_, (n, k))) if draw(st.integers(0, 5)) == 0 else None
    return a, b, abot


@given(mm_operands(), st.booleans())
def test_matmul_tags_exact_values_close(ops, wheel):
    a, b, abot = ops
    A = TRArray.from_codes(np.where(abot, np.nan, a) if abot is not None else a, abot)
    B = TRArray.from_numpy(b)
    if wheel:
        with wheel_mode():
            got = A @ B
            want = ref_matmul(A.codes, b, abot)
    else:
        got = A @ B
        want = ref_matmul(A.codes, b, abot)
    tags = got.tags
    for i, row in enumerate(want):
        for j, w in enumerate(row):
            assert tags[i, j] == tag_of_code(w), (i, j, w)
            if tags[i, j] == 0:
                assert math.isclose(got.codes[i, j], w, rel_tol=1e-12, abs_tol=1e-9)


edge_el = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e200, -1e200, 1e308, -1e308, 1e-200, 3e-320,
                     math.inf, -math.inf, math.nan]),
    st.floats(-1e3, 1e3))


@given(st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3)).flatmap(
    lambda s: st.tuples(hnp.arrays(np.float64, s[:2], elements=edge_el),
                        hnp.arrays(np.float64, s[1:], elements=edge_el))), st.booleans())
def test_matmul_at_the_edges_of_the_range_is_the_strict_sum_of_products(ab, wheel):
    """Overflowing products, sums at the edge of the range and zeros: tags and signs are those of
    the STRICT sum of the products, REAL values within BLAS's rounding of it."""
    a, b = ab
    with wheel_mode() if wheel else contextlib.nullcontext():
        got = za.from_numpy(a) @ za.from_numpy(b)
        want = ref_matmul(a, b)
    k = a.shape[1]
    for i, row in enumerate(want):
        for j, w in enumerate(row):
            assert got.tags[i, j] == tag_of_code(w), (i, j, w)
            if got.tags[i, j] == 0:
                g = float(got.codes[i, j])
                bound = 2 * k * 2.0 ** -52 * sum(abs(SK.f_mul(float(a[i, t]), float(b[t, j])))
                                                 for t in range(k))
                assert abs(g - w) <= bound, (i, j, g, w)
                if w == 0.0 and g == 0.0:
                    assert math.copysign(1.0, g) == math.copysign(1.0, w), (i, j)


def test_matmul_shapes_batched_and_vectors():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 3, 4))
    b = rng.standard_normal((4, 2))
    got = za.matmul(a, b)
    assert got.shape == (5, 3, 2)
    assert np.allclose(got.values, a @ b)
    v = za.array([1.0, 2.0, 3.0, 4.0])
    assert (za.array(a[0]) @ v).shape == (3,)
    assert v @ v == zp.real(30.0)
    a2 = a.copy()
    a2[2, 1, 0] = np.inf
    g = za.matmul(a2, b)
    assert g.tags[2, 1].tolist() == [1 if x > 0 else 2 for x in b[0]]
    assert (g.tags[[0, 1, 3, 4]] == 0).all() and (g.tags[2, [0, 2]] == 0).all()


def test_matmul_batched_and_vector_tags_match_reference():
    rng = np.random.default_rng(11)
    pool = np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, 3.0, 0.5, -1.0])
    a = rng.choice(pool, size=(3, 4, 5), p=[.1, .05, .25, .2, .05, .05, .05, .1, .1, .05])
    b = rng.choice(pool, size=(5, 2))
    got = za.matmul(a, b)
    for t in range(3):
        want = ref_matmul(a[t], b)
        assert got[t].tags.tolist() == [[tag_of_code(w) for w in row] for row in want]
    v = b[:, 0]
    gv = za.matmul(a[0], v)
    assert gv.tags.tolist() == [tag_of_code(r[0]) for r in ref_matmul(a[0], b[:, :1])]
    gvv = za.matmul(v, v)
    assert gvv.tag == tag_of_code(ref_matmul(v[None, :], v[:, None])[0][0])
