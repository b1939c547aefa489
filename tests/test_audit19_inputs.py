"""Input validation found by the nineteenth audit's fuzzing: projective float16/longdouble and
huge ints, loss argument names, scalar Q in the coverage losses, head and layer sizes."""
import numpy as np
import pytest

import zeroproof.autodiff.projective as pj
import zeroproof.inference.reference_models as rm
import zeroproof.layers as zl
import zeroproof.losses as zL
from zeroproof.autodiff import TRNode

BIG = 10**400
NAN = float("nan")
P4 = np.ones(4)
Q4 = np.array([0.5, 1e-5, 0.0, 1.0])


# ---- 1. float16 / longdouble read as zeroproof.array reads them ---------------------------------
@pytest.mark.parametrize("dt", [np.float16, np.longdouble])
def test_projective_reads_float16_and_longdouble_like_za_array(dt):
    assert pj.renormalize(dt(3.0), 4.0, gamma=0.0) == (0.6, 0.8)
    N, D = pj.angular_tuple(np.array([0.0], dt))
    assert N.codes.tolist() == [1.0] and N.dtype == np.float64
    assert pj.decode(np.array([3.0], dt), np.array([2.0], dt)).codes.tolist() == [1.5]
    pj.log_tuples(np.ones(4), np.ones(4), decoded=np.ones(4, dt))  # no from_codes error


def test_projective_longdouble_beyond_float64_is_infinite_and_big_endian_is_read():
    assert pj.encode(np.longdouble("1e400")) == (1.0, 0.0)
    assert pj.encode(np.array([2.0], ">f8"))[0].tolist() == [2.0]


def test_log_tuples_decoded_of_the_wrong_size_names_decoded_and_the_shapes():
    with pytest.raises(ValueError, match=r"log_tuples: decoded .*\(4,\).*shape \(\)") as e:
        pj.log_tuples(np.ones(4), np.ones(4), decoded=np.array(1.5))
    assert "from_codes" not in str(e.value)
    with pytest.raises(ValueError, match="decoded"):
        pj.log_tuples(3.0, 4.0, decoded=np.ones(3))


# ---- 2. an int beyond float64 ---------------------------------------------------------------------
@pytest.mark.parametrize("call, name", [
    (lambda: pj.encode(BIG), "encode: x"),
    (lambda: pj.tuple_norm(BIG, 1.0), "tuple_norm: N"),
    (lambda: pj.renormalize(1.0, -BIG), "renormalize: D"),
    (lambda: pj.encode([BIG, 1]), "encode: x"),
])
def test_an_int_beyond_float64_is_a_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=f"{name}=<(negative )?int of 401 digits> does not fit "
                                         f"in a float64"):
        call()


def test_ints_beyond_int64_that_fit_a_float_are_read():
    assert pj.encode([2**70, 1])[0].tolist() == [2.0**70, 1.0]
