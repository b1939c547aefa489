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


# ---- 3. loss arguments under their own names ------------------------------------------------------
def test_a_nan_number_next_to_arrays_is_phi_as_documented_not_an_error():
    assert np.isnan(zL.implicit_loss(P4, NAN, P4, P4))
    assert np.isnan(zL.implicit_loss(P4, Q4, P4, NAN, reduction="none")).all()
    assert np.isnan(zL.implicit_residual(P4, Q4, NAN, P4)).all()
    assert np.isnan(zL.margin_loss(NAN, P4))
    assert np.isnan(zL.sign_consistency_loss(P4, NAN, [1, 1, 1, 1]))
    f32 = np.ones(3, np.float32)
    assert zL.implicit_loss(f32, np.float32(NAN), f32, f32, reduction="none").dtype == np.float32


@pytest.mark.parametrize("call, name", [
    (lambda: zL.implicit_loss(P4, BIG, P4, P4), "implicit_loss: Q"),
    (lambda: zL.implicit_loss(P4, Q4, P4, BIG), "implicit_loss: Y_d"),
    (lambda: zL.implicit_residual(P4, Q4, BIG, P4), "implicit_residual: Y_n"),
    (lambda: zL.margin_loss(P4, BIG), "margin_loss: Y_d"),
    (lambda: zL.sign_consistency_loss(P4, BIG, [1, 1, 1, 1]), "sign_consistency_loss: Q"),
    (lambda: zL.coverage_loss(P4, BIG), "coverage_loss: Q"),
    (lambda: zL.rejection_loss(P4, BIG), "rejection_loss: Q"),
    (lambda: zL.implicit_loss([TRNode.parameter(1.0)], BIG, 1.0, 1.0), "implicit_loss: Q"),
    (lambda: zL.implicit_loss([TRNode.parameter(1.0), BIG], [1.0, 1.0], 1.0, 1.0),
     r"implicit_loss: P\[1\]"),
])
def test_loss_arguments_beyond_float64_are_named(call, name):
    with pytest.raises(ValueError, match=f"{name}=<int of 401 digits> does not fit in a float64"):
        call()


# ---- 4. a single number Q is shared by every element of P --------------------------------------
def test_coverage_and_rejection_losses_broadcast_a_number_q():
    assert zL.rejection_loss(P4, 0) == 1.0
    assert zL.rejection_loss(P4, 0.0, Y_d=[1.0, 1.0, 1.0, 0.0]) == 1.0
    assert zL.coverage_loss(P4, -1) == 0.0
    assert zL.coverage_loss(P4, 0.0, target_coverage=0.5) == 0.5
    assert zL.rejection_loss(P4, 0, reduction="none").tolist() == [1.0] * 4
    nodes = [TRNode.parameter(1.0), TRNode.parameter(1.0)]
    assert zL.rejection_loss(nodes, 0.0).value.value == 1.0


def test_a_shared_q_tensor_gets_the_gradient_of_every_element():
    import zeroproof.array as za

    q = za.parameter(np.array(-0.0))
    loss = zL.rejection_loss(P4, q, Y_d=[1.0, 1.0, 1.0, 0.0], tau=0.5)
    loss.backward()
    assert float(loss.value.codes) == 1.0 and float(q.gradient.codes) == 2.0


# ---- 5. P is checked although its values are not read ----------------------------------------------
def test_p_of_the_coverage_losses_is_checked_like_q():
    with pytest.raises(ValueError, match="coverage_loss: P=<int of 401 digits>"):
        zL.coverage_loss(BIG, Q4)
    with pytest.raises(ValueError, match="rejection_loss: P=<int of 401 digits>"):
        zL.rejection_loss(BIG, Q4)
    with pytest.raises(TypeError, match="coverage_loss: P must be"):
        zL.coverage_loss(None, Q4)
    # a NaN P is an IEEE Φ, and P's values are not read: the same loss as for P = 1
    assert zL.rejection_loss(NAN, Q4) == zL.rejection_loss(1.0, Q4)
    assert zL.coverage_loss(NAN, Q4) == zL.coverage_loss(1.0, Q4)


# ---- 6. sizes -------------------------------------------------------------------------------------
_DIM = r"must be an int >= 1 and <= 2147483647"


@pytest.mark.parametrize("call, name", [
    (lambda: rm.PolynomialRationalHead(BIG), "in_features"),
    (lambda: zl.ProjectiveRationalHead(BIG), "in_features"),
    (lambda: rm.PolynomialRationalHead(1, BIG), "out_features"),
    (lambda: zl.ProjectiveRationalHead(2, BIG), "out_features"),
    (lambda: rm.PolynomialRationalHead(1, 2**40), "out_features"),
    (lambda: zl.RationalLayer(seed=0).example_inputs(BIG), "n"),
    (lambda: rm.PolynomialRationalHead(1).example_inputs(BIG), "n"),
    (lambda: zl.ProjectiveRationalHead(1).example_inputs(BIG), "n"),
    (lambda: zl.AngularProjectiveHead(BIG), "input_dim"),
    (lambda: zl.AngularProjectiveHead(2).example_inputs(BIG), "n"),
])
def test_huge_sizes_are_named_value_errors(call, name):
    with pytest.raises(ValueError, match=f"^{name} {_DIM}, got "):
        call()


def test_head_parameter_count_and_high_degrees_are_refused_naming_the_sizes():
    with pytest.raises(ValueError, match=r"out_features=2147483647.*coefficients, more than "
                                         r"the 268435456"):
        rm.PolynomialRationalHead(1, 2**31 - 1)
    with pytest.raises(ValueError, match=r"out_features=2147483647.*coefficients"):
        zl.ProjectiveRationalHead(2, 2**31 - 1, shared_q=True)
    with pytest.raises(ValueError, match=r"in_features=2 and degree_p=1446 .*variable factors"):
        rm.PolynomialRationalHead(2, degree_p=1446)
    with pytest.raises(ValueError, match=r"in_features=1 and degree_p=<int of 401 digits> .*"
                                         r"monomials, more than"):
        rm.PolynomialRationalHead(1, degree_p=BIG)
    assert rm.PolynomialRationalHead(1, degree_p=5792).n_features_p == 5793


def test_projective_numbers_refuse_durations():
    import numpy as np
    import pytest
    from zeroproof.autodiff import projective as pj
    for call in (lambda v: pj.encode(v), lambda v: pj.angular_tuple(v)):
        with pytest.raises(TypeError, match="timedelta64"):
            call(np.timedelta64(5, "ns"))
