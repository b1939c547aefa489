"""Findings of the nineteenth session's input fuzz: arguments that were accepted or failed with
another library's error, each now refused early with a message naming the argument."""
from __future__ import annotations

import numpy as np
import pytest

import zeroproof as zp
from zeroproof.autodiff import HybridGradientSchedule, check_gradient
from zeroproof.autodiff.hybrid_gradient import HybridGradientContext
from zeroproof.core._parse import check_int, check_real, is_integer, is_real_number
from zeroproof.inference import InferenceConfig, safe_sentinel, strict_inference

NS = np.timedelta64(5, "ns")
DAYS = np.timedelta64(5, "D")


@pytest.mark.parametrize("x", [NS, DAYS, True, np.bool_(False), np.array(True), "1", None, 1j])
def test_the_number_predicates_refuse_durations_and_bools(x):
    assert not is_real_number(x)
    assert not is_integer(x)


@pytest.mark.parametrize("x", [0, -3, 10**400, np.int8(2), np.uint64(7)])
def test_the_number_predicates_accept_integers(x):
    assert is_integer(x) and is_real_number(x)


def test_an_int_enum_is_an_int_for_the_validators_but_not_a_transreal_operand():
    import enum

    class K(enum.IntEnum):
        N = 2

    assert is_integer(K.N) and check_int("epochs", K.N, 1) == 2
    assert zp.array.zeros(K.N).shape == (2,)
    assert zp.array.zeros((2, 2, 2)).sum(axis=K.N).shape == (2, 2)
    from zeroproof.layers import Linear
    assert Linear(3, K.N, seed=0).out_features == 2
    for bad in (K.N, zp.TRTag.PINF):  # a TRTag names a tag: never an operand or an exponent
        with pytest.raises(TypeError):
            zp.real(bad)
        with pytest.raises(TypeError):
            zp.tr_pow_int(zp.real(2.0), bad)


def test_a_0d_integer_array_is_an_index():
    za = zp.array
    a = za.zeros((2, 3))
    assert is_integer(np.array(0)) and not is_integer(np.array(0.0))
    assert za.stack([a, a], axis=np.array(0)).shape == (2, 2, 3)
    assert za.concatenate([a, a], axis=np.array(1)).shape == (2, 6)
    assert a.reshape(np.array(6)).shape == (6,)
    assert za.constant(np.zeros(3)).unsqueeze(np.array(0)).shape == (1, 3)


@pytest.mark.parametrize("duration", [NS, DAYS])
@pytest.mark.parametrize("call, name", [
    (lambda v: HybridGradientSchedule(warmup_epochs=v), "warmup_epochs"),
    (lambda v: HybridGradientSchedule(delta_init=v), "delta_init"),
    (lambda v: InferenceConfig(tau_infer=v), "tau_infer"),
    (lambda v: InferenceConfig(1e-6, tau_train=v), "tau_train"),
    (lambda v: safe_sentinel(np.ones(2), np.array([True, False]), v), "sentinel"),
    (lambda v: strict_inference(np.ones(2), np.ones(2), threads=v), "threads"),
    (lambda v: zp.tr_grad(lambda x: x, v), "argnums"),
    (lambda v: zp.TRScalar(1.0, tag=v), "tag"),
    (lambda v: check_gradient(lambda x: x * x, 1.0, eps=v), "eps"),
    (lambda v: check_gradient(lambda x: x * x, 1.0, argnum=v), "argnum"),
    (lambda v: HybridGradientContext.should_use_saturating(0.1, v), "x_value"),
    (lambda v: zp.tr_pow_int(zp.real(2.0), v), "k"),
    (lambda v: check_int("epochs", v, 1), "epochs"),
    (lambda v: check_real("lr", v, "a number > 0", lambda f: f > 0), "lr"),
])
def test_a_numpy_duration_is_not_a_number(call, name, duration):
    with pytest.raises(TypeError, match=name) as info:
        call(duration)
    assert "timedelta64" in str(info.value)


def test_training_arguments_refuse_durations():
    from zeroproof.layers import Linear
    from zeroproof.training import SGD, TrainingConfig
    with pytest.raises(TypeError, match="epochs"):
        TrainingConfig(epochs=NS)
    with pytest.raises(TypeError, match="lr"):
        SGD(Linear(1, 1, seed=0).parameters(), lr=NS)
    with pytest.raises(TypeError, match="in_features"):
        Linear(NS, 2)


# --- a bool on its own is not numeric data -------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda v: zp.array.array(v), lambda v: zp.array.asarray(v), lambda v: zp.array.from_numpy(v),
    lambda v: zp.array.TRTensor(v), lambda v: zp.array.parameter(v), lambda v: zp.array.constant(v),
    lambda v: zp.from_numpy(v), lambda v: zp.array.TRArray(v),
])
@pytest.mark.parametrize("flag", [True, np.bool_(False)])
def test_a_lone_bool_is_refused_where_arrays_are_read(call, flag):
    with pytest.raises(TypeError, match="got bool .*use 1.0 or 0.0"):
        call(flag)


def test_a_boolean_array_is_still_data():
    assert zp.array.array(np.array([True, False])).to_numpy().tolist() == [1.0, 0.0]
    assert zp.from_numpy(np.array(True))[0].tolist() == 1.0


# --- axes and shapes -----------------------------------------------------------------------------
def _arrays():
    za = zp.array
    return za.array(np.ones((1, 2))), za.parameter(np.ones((1, 2)))


@pytest.mark.parametrize("kind", [0, 1])
@pytest.mark.parametrize("call, err, pattern", [
    (lambda a: a.squeeze(10**400), ValueError, r"squeeze\(axis\): axis=<int of 401 digits> is out"),
    (lambda a: a.squeeze(True), TypeError, r"squeeze\(axis\): axis must be None, an int"),
    (lambda a: a.squeeze((0, 0)), ValueError, "repeats an axis"),
    (lambda a: a.squeeze(1), ValueError, "does not have length 1"),
    (lambda a: a.reshape("a"), TypeError, r"reshape\(shape\): shape must be an int or a tuple"),
    (lambda a: a.reshape(10**400), ValueError, r"reshape\(shape\): shape: each dimension"),
    (lambda a: a.reshape(-1, -1), ValueError, "one -1 stands for the rest"),
    (lambda a: a.reshape(3), ValueError, r"cannot reshape .* of shape \(1, 2\) into \(3,\)"),
    (lambda a: a.transpose(10**400, 0), ValueError, r"transpose\(axes\): axes=<int of 401"),
    (lambda a: a.transpose(True, 0), TypeError, r"transpose\(axes\): axes must be ints"),
])
def test_shape_methods_name_their_argument(call, err, pattern, kind):
    with pytest.raises(err, match=pattern):
        call(_arrays()[kind])


def test_axes_follow_numpy_in_the_corners():
    za = zp.array
    assert za.zeros((2, 3)).transpose(np.array([1, 0])).shape == (3, 2)
    assert za.constant(np.zeros((2, 3))).transpose(np.array([1, 0])).shape == (3, 2)
    assert za.constant(np.zeros(3)).unsqueeze((0, -1)).shape == (1, 3, 1)
    with pytest.raises(ValueError, match="repeats an axis"):
        za.constant(np.zeros(3)).unsqueeze((0, 0))
    for x in (za.array(1.0), za.constant(1.0)):  # NumPy: a 0-d array squeezes axis 0 or -1
        assert x.squeeze(0).shape == () and x.squeeze(-1).shape == () and x.squeeze().shape == ()
        with pytest.raises(ValueError, match="out of bounds"):
            x.squeeze(1)
    assert za.array(1.0).transpose(()).shape == ()
    with pytest.raises(ValueError, match="permutation"):  # as NumPy: axes don't match
        za.zeros((2, 3)).transpose(())


def test_shape_methods_still_follow_numpy():
    a, t = _arrays()
    for x in (a, t):
        assert x.squeeze().shape == (2,) and x.squeeze((0,)).shape == (2,)
        assert x.squeeze(-2).shape == (2,)
        assert x.reshape(-1).shape == (2,) and x.reshape([2, 1]).shape == (2, 1)
        assert x.reshape((2, -1)).shape == (2, 1) and x.transpose().shape == (2, 1)
        assert x.transpose((1, 0)).shape == (2, 1) and x.transpose(-1, -2).shape == (2, 1)
    assert t.unsqueeze(-1).shape == (1, 2, 1) and t.unsqueeze(0).shape == (1, 1, 2)


@pytest.mark.parametrize("shape, err, pattern", [
    (None, TypeError, "shape must be an int or a tuple of ints, got NoneType"),
    (np.datetime64("2020"), TypeError, "got datetime64"),
    (np.ones((2, 3)), TypeError, "got ndarray"),
    ((3, 2, 5), ValueError, r"shape \(1, 2\) cannot be broadcast to \(3, 2, 5\)"),
])
def test_broadcast_to_names_its_shape(shape, err, pattern):
    with pytest.raises(err, match=pattern):
        _arrays()[0].broadcast_to(shape)


def test_unsqueeze_and_the_joins_refuse_bad_axes():
    za = zp.array
    t = za.parameter(np.ones(2))
    for bad, err in ((10**400, ValueError), (True, TypeError), (1.0, TypeError)):
        with pytest.raises(err, match=r"unsqueeze\(axis\): axis"):
            t.unsqueeze(bad)
        with pytest.raises(err, match=r"stack\(arrays, axis\): axis"):
            za.stack([za.array([1.0]), za.array([2.0])], axis=bad)
        with pytest.raises(err, match=r"stack\(arrays, axis\): axis"):
            za.stack([t, t], axis=bad)
        with pytest.raises(err, match=r"concatenate\(arrays, axis\): axis"):
            za.concatenate([za.array([1.0])], axis=bad)
    with pytest.raises(ValueError, match="shape: each dimension must be at most"):
        za.zeros(10**400)


# --- 0-d inputs where an iterable is read ---------------------------------------------------------
@pytest.mark.parametrize("call, name", [
    (lambda v: zp.tr_sum(v), "values"),
    (lambda v: zp.tr_max(v), "values"),
    (lambda v: __import__("zeroproof.training").training.SGD(v), "params"),
    (lambda v: __import__("zeroproof.inference").inference.StrictInferenceMonitor.merge_all(v),
     "monitors"),
    (lambda v: HybridGradientSchedule().update_detected_poles(v, 0), "poles"),
])
@pytest.mark.parametrize("zero_d", [np.array(1.0), np.array(1.0, dtype=object)])
def test_a_0d_array_is_not_an_iterable(call, name, zero_d):
    with pytest.raises(TypeError, match=name) as info:
        call(zero_d)
    assert "iteration over" not in str(info.value)


def test_should_use_saturating_reads_huge_ints_as_magnitudes():
    from zeroproof.autodiff import create_default_schedule
    with create_default_schedule().apply(0):
        assert HybridGradientContext.should_use_saturating(10**400) is False
        assert HybridGradientContext.should_use_saturating(1e-9, 10**400) is True
        with pytest.raises(ValueError, match="abs_q must be >= 0"):
            HybridGradientContext.should_use_saturating(-(10**400))


def test_rule_table_internals_refuse_unknown_backends_and_ops():
    from zeroproof.autodiff import rules
    from zeroproof.autodiff.backward import rule_table
    with pytest.raises(ValueError, match="backend must be 'float' or 'node'"):
        rule_table("bogus")
    with pytest.raises(ValueError, match="op must be an op code"):
        rules.needed_values(None, True, True)
    assert "sat" not in rules.__all__ and "inv_sq_sat" not in rules.__all__


# --- the training data path ----------------------------------------------------------------------
def test_training_data_refuses_masked_and_ragged_arrays():
    import numpy.ma as ma
    from zeroproof.training import DataLoader, TensorDataset
    m = ma.masked_array([1.0, 2.0], mask=[0, 1])
    with pytest.raises(TypeError, match="TensorDataset: array 0: a masked array"):
        TensorDataset(m)
    with pytest.raises(TypeError, match="TensorDataset: array 1: a masked array"):
        DataLoader((np.ones(2), m))
    with pytest.raises(TypeError, match=r"to_numpy\(values, tags\): values: a masked array"):
        zp.to_numpy(m, np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="TensorDataset: array 0 is a ragged"):
        TensorDataset([[1.0], [2.0, 3.0]], np.ones(2))


@pytest.mark.parametrize("index", [None, True, "a", 1.0, (0, 0)])
def test_tensor_dataset_refuses_indices_numpy_would_misread(index):
    from zeroproof.training import TensorDataset
    with pytest.raises(TypeError, match="TensorDataset index must be"):
        TensorDataset(np.ones(3))[index]


def test_tensor_dataset_indexes_like_numpy_rows():
    from zeroproof.training import TensorDataset
    ds = TensorDataset(np.arange(3.0))
    assert ds[range(2)][0].tolist() == [0.0, 1.0]
    assert ds[np.int64(1)][0] == 1.0 and ds[[0, 2]][0].tolist() == [0.0, 2.0]
    assert ds[np.array([True, False, True])][0].tolist() == [0.0, 2.0] and len(ds[1:][0]) == 2


def test_fit_refuses_a_one_shot_iterator_before_training_more_than_one_epoch():
    from zeroproof.layers import RationalLayer
    from zeroproof.training import Adam, SCMTrainer, TrainingConfig, chordal_loss
    model = RationalLayer(1, 1, seed=0)
    before = [p.value.to_numpy().copy() for p in model.parameters()]
    batches = ((np.ones(2), np.ones(2)) for _ in range(2))
    trainer = SCMTrainer(model, Adam(model.parameters()), chordal_loss, batches,
                         TrainingConfig(epochs=3, progress="none"))
    with pytest.raises(TypeError, match="one-shot iterator"):
        trainer.fit()
    assert trainer.epoch == 0 and all(np.array_equal(b, p.value.to_numpy())
                                      for b, p in zip(before, model.parameters()))
    assert len(trainer.fit(epochs=1)) == 1  # one epoch can read it


def test_fit_takes_an_iterator_class_that_resets_itself():
    from zeroproof.layers import RationalLayer
    from zeroproof.training import Adam, SCMTrainer, TrainingConfig, chordal_loss

    class Reiterable:  # __iter__ starts over and returns self: re-iterable, not one-shot
        def __iter__(self):
            self.i = 0
            return self

        def __next__(self):
            if self.i == 2:
                raise StopIteration
            self.i += 1
            return np.linspace(-1, 1, 4), np.ones(4)

    model = RationalLayer(1, 1, seed=0)
    trainer = SCMTrainer(model, Adam(model.parameters()), chordal_loss, Reiterable(),
                         TrainingConfig(epochs=3, progress="none"))
    assert len(trainer.fit()) == 3


def test_export_bundle_says_what_a_model_lacks_and_what_to_do(tmp_path):
    from zeroproof.inference import export_bundle

    class Toy:
        def __call__(self, x):
            return x, x

        def state_dict(self):
            return {}

    with pytest.raises(TypeError, match="lacks get_config, load_state_dict, from_config; add them "
                                        "and decorate the class with .*register_model"):
        export_bundle(Toy(), tmp_path / "b")


# --- a tape inside a transform -------------------------------------------------------------------
def _tape_derivative(x):
    from zeroproof.autodiff import gradient_tape
    with gradient_tape() as tape:
        tape.watch(x)
        y = x * x * x
    return tape.gradient(y, x)          # 3x²


def test_a_tape_inside_tr_grad_stays_differentiable():
    from zeroproof.autodiff import TRNode, tr_grad, tr_value_and_grad
    assert tr_grad(_tape_derivative)(2.0).item() == 12.0            # 6x
    assert tr_grad(tr_grad(_tape_derivative))(2.0).item() == 6.0    # 6
    value, g = tr_value_and_grad(_tape_derivative)(-1.5)
    assert value.item() == 6.75 and g.item() == -9.0
    r = check_gradient(_tape_derivative, 2.0)
    assert r.passed, r.reason
    outside = _tape_derivative(TRNode.constant(2.0))   # no transform around it: a constant
    assert outside.item() == 12.0 and not outside.requires_grad


def test_a_tape_in_a_worker_thread_inside_tr_grad_stays_differentiable():
    from concurrent.futures import ThreadPoolExecutor

    from zeroproof.autodiff import tr_grad
    with ThreadPoolExecutor(1) as pool:
        assert tr_grad(lambda x: pool.submit(_tape_derivative, x).result())(2.0).item() == 12.0


def test_the_transform_sources_do_not_outlive_the_call():
    from zeroproof.autodiff import tr_grad
    from zeroproof.autodiff.grad_funcs import _TRANSFORM_SOURCES

    def boom(x):
        raise RuntimeError("inside f")

    with pytest.raises(RuntimeError):
        tr_grad(boom)(1.0)
    tr_grad(lambda x: x * x)(1.0)
    assert _TRANSFORM_SOURCES == {}


def test_register_model_sees_a_missing_call_method():
    from zeroproof.inference.registry import register_model

    class NoCall:  # type(NoCall) has a __call__, but instances of NoCall do not
        def get_config(self):
            return {}

        def state_dict(self):
            return {}

        def load_state_dict(self, d):
            pass

        @classmethod
        def from_config(cls, config):
            return cls()

    with pytest.raises(TypeError, match=r"missing \['__call__'\]"):
        register_model("audit19.NoCall")(NoCall)
