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


@pytest.mark.parametrize("x", [NS, DAYS, True, np.bool_(False), zp.TRTag.PINF, "1", None, 1j])
def test_the_number_predicates_refuse_durations_bools_and_tags(x):
    assert not is_real_number(x)
    assert not is_integer(x)


@pytest.mark.parametrize("x", [0, -3, 10**400, np.int8(2), np.uint64(7)])
def test_the_number_predicates_accept_integers(x):
    assert is_integer(x) and is_real_number(x)


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
