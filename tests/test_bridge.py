"""IEEE bridge (SPEC §2): from_ieee/to_ieee and from_numpy/to_numpy, bit exact incl. −0.0."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import zeroproof
import zeroproof.utils.ieee_bridge as ieee_bridge
from zeroproof.bridge import from_ieee, from_numpy, to_ieee, to_numpy
from zeroproof.core import TRTag, bottom, ninf, phi, pinf, real

from _tr import bits, same

MAX = sys.float_info.max


@pytest.mark.parametrize("x, want", [
    (math.nan, phi()), (-math.nan, phi()), (math.inf, pinf()), (-math.inf, ninf()),
    (0.0, real(0.0)), (-0.0, real(-0.0)), (5e-324, real(5e-324)), (-MAX, real(-MAX)),
    (np.float64("nan"), phi()), (np.float32("-inf"), ninf()), (np.float32(0.1), real(np.float32(0.1))),
    (3, real(3.0)), (np.int64(-2), real(-2.0)), (10**400, pinf()), (-(10**400), ninf()),
])
def test_from_ieee(x: object, want) -> None:
    assert same(from_ieee(x), want)  # type: ignore[arg-type]


@pytest.mark.parametrize("x", ["nan", None, 1j, True, np.bool_(False), [1.0], np.array([1.0])])
def test_from_ieee_rejects_non_numbers(x: object) -> None:
    with pytest.raises(TypeError):
        from_ieee(x)  # type: ignore[arg-type]


@pytest.mark.parametrize("x, want", [
    (real(1.5), 1.5), (real(-0.0), -0.0), (pinf(), math.inf), (ninf(), -math.inf),
])
def test_to_ieee(x, want: float) -> None:
    got = to_ieee(x)
    assert type(got) is float and bits(got) == bits(want)


@pytest.mark.parametrize("x", [phi(), bottom()])
def test_to_ieee_of_phi_and_bottom_is_nan(x) -> None:
    got = to_ieee(x)
    assert type(got) is float and math.isnan(got)
    assert same(from_ieee(got), phi())  # ⊥ leaves as NaN and comes back as Φ


def test_to_ieee_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        to_ieee("1.0")  # type: ignore[arg-type]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_round_trip_is_bit_exact(x: float) -> None:
    y = to_ieee(from_ieee(x))
    assert type(y) is float and bits(y) == bits(x)
    assert from_ieee(x).tag is TRTag.REAL


@pytest.mark.parametrize("x", [0.0, -0.0, 5e-324, -5e-324, MAX, -MAX, sys.float_info.min,
                               math.inf, -math.inf])
def test_round_trip_edges(x: float) -> None:
    assert bits(to_ieee(from_ieee(x))) == bits(x)


def test_from_numpy_tags_and_values() -> None:
    a = np.array([1.5, -0.0, np.inf, -np.inf, np.nan])
    v, t = from_numpy(a)
    assert t.dtype == np.uint8 and t.tolist() == [0, 0, 1, 2, 3]
    assert v.dtype == np.float64
    assert bits(v[1]) == bits(-0.0)
    assert np.isnan(v[2:]).all()  # NaN at every non-REAL entry
    assert not np.shares_memory(v, a)


def test_from_numpy_dtypes() -> None:
    v, t = from_numpy(np.array([1, 2], dtype=np.int32))
    assert v.dtype == np.float64 and t.tolist() == [0, 0]
    v, _ = from_numpy(np.array([1.0, np.inf], dtype=np.float32))
    assert v.dtype == np.float32
    v, _ = from_numpy(np.array([1.0], dtype=np.float16))
    assert v.dtype == np.float64
    v, t = from_numpy([[1.0, np.nan]])  # nested lists and shapes
    assert v.shape == t.shape == (1, 2)
    for bad in (np.array([1j]), np.array(["a"]), np.array([None], dtype=object)):
        with pytest.raises(TypeError, match="dtype"):
            from_numpy(bad)


def test_to_numpy() -> None:
    v = np.array([2.0, 7.0, 7.0, 7.0, 7.0, -0.0])
    t = np.array([0, 1, 2, 3, 4, 0], dtype=np.uint8)
    out = to_numpy(v, t)
    assert out[0] == 2.0 and out[1] == np.inf and out[2] == -np.inf
    assert np.isnan(out[3]) and np.isnan(out[4])
    assert bits(out[5]) == bits(-0.0)
    with pytest.raises(ValueError, match="shape"):
        to_numpy(np.zeros(2), np.zeros(3, dtype=np.uint8))


def test_to_numpy_of_a_sequence_of_scalars() -> None:
    out = to_numpy([real(-0.0), pinf(), phi()])
    assert out.dtype == np.float64 and bits(out[0]) == bits(-0.0)
    assert out[1] == np.inf and np.isnan(out[2])


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=20))
def test_numpy_round_trip(xs: list[float]) -> None:
    a = np.array(xs, dtype=np.float64)
    out = to_numpy(*from_numpy(a))
    assert out.dtype == np.float64
    finite = np.isfinite(a)
    assert a[finite].tobytes() == out[finite].tobytes()  # bit exact, −0.0 kept
    assert (np.isnan(a) == np.isnan(out)).all()
    assert (a[np.isinf(a)] == out[np.isinf(a)]).all()


def test_same_functions_everywhere() -> None:
    for name in ("from_ieee", "to_ieee", "from_numpy", "to_numpy"):
        f = getattr(zeroproof.bridge, name)
        assert getattr(ieee_bridge, name) is f
        assert zeroproof.__dict__[name] is f
