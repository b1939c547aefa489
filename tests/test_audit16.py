"""Regression tests for the sixteenth session's findings."""
from __future__ import annotations

import json
import threading
import zipfile

import numpy as np
import pytest

from zeroproof.autodiff import create_default_schedule
from zeroproof.layers import RationalLayer
from zeroproof.training import Adam, SCMTrainer, TrainingConfig, chordal_loss


# -- trainer: detected poles survive a change of thread -------------------------------------------
def _pole_trainer(epochs: int = 10) -> SCMTrainer:
    x = np.linspace(-1.0, 1.0, 129)
    with np.errstate(divide="ignore"):
        y = 1.0 / (x - 0.5)
    model = RationalLayer(2, 2, seed=0)
    cfg = TrainingConfig(epochs=epochs, batch_size=64, seed=0, progress="none",
                         schedule=create_default_schedule(warmup_epochs=2))
    return SCMTrainer(model, Adam(model.parameters(), lr=0.05), chordal_loss, (x, y), cfg)


def _no_time(history: list) -> list:
    return [{k: v for k, v in r.items() if k != "time"} for r in history]


def _in_thread(fn, *args, **kwargs):
    out = []
    th = threading.Thread(target=lambda: out.append(fn(*args, **kwargs)))
    th.start()
    th.join()
    return out[0] if out else None


def test_fit_continued_in_another_thread_matches_the_uninterrupted_run() -> None:
    ref = _pole_trainer().fit()
    assert any(r["poles"] for r in ref[:6]), "the setting must find poles early"
    t = _pole_trainer()
    t.fit(epochs=6)                      # this thread
    _in_thread(t.fit)                    # continued in a thread whose context has no poles
    assert _no_time(t.history) == _no_time(ref)


def test_fit_in_a_thread_then_here_and_checkpoint_keep_the_poles(tmp_path) -> None:
    ref = _pole_trainer().fit()
    t = _pole_trainer()
    _in_thread(t.fit, epochs=6)
    found = t.history[-1]["poles"]
    assert found
    path = t.save_checkpoint(tmp_path / "ck.npz")
    meta = json.loads(zipfile.ZipFile(path).read("__meta__.json"))
    assert meta["schedule"] == {"poles": found, "poles_epoch": 6}
    t.fit()                              # this thread never saw the poles: the trainer has them
    assert _no_time(t.history) == _no_time(ref)
    # and a checkpoint loaded in yet another thread resumes identically
    t2 = _pole_trainer()

    def resume():
        t2.load_checkpoint(path)
        return t2.fit()
    assert _no_time(_in_thread(resume)) == _no_time(ref)


def test_a_pole_record_made_here_since_is_not_overridden() -> None:
    t = _pole_trainer()
    _in_thread(t.fit, epochs=4)              # the trainer records its poles for epoch 4
    sched = t.config.schedule
    sched.update_detected_poles([0.25], 4)   # the user's own record for epoch 4, in this thread
    t.fit(epochs=5)
    r = sched.pole_exploration_radius
    assert t.history[4]["hybrid"]["exploration_regions"] == [[0.25 - r, 0.25 + r]]


# -- layer reprs carry their sizes (PyTorch style) --------------------------------------------
def test_module_repr_shows_config_and_children() -> None:
    from zeroproof.layers import Linear, Module, RationalLayer, ReLU, Sequential

    assert repr(Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"
    assert repr(ReLU()) == "ReLU()"
    assert repr(RationalLayer(2, 1, seed=0)).startswith("RationalLayer(degree_p=2, degree_q=1, ")
    model = Sequential(Linear(2, 4), Sequential(Linear(4, 4), ReLU()))
    assert repr(model) == (
        "Sequential(\n"
        "  (layers.0): Linear(in_features=2, out_features=4, bias=True)\n"
        "  (layers.1): Sequential(\n"
        "    (layers.0): Linear(in_features=4, out_features=4, bias=True)\n"
        "    (layers.1): ReLU()\n"
        "  )\n"
        ")")
    assert all(k.split(".")[0] + "." + k.split(".")[1] in repr(model)
               for k in model.state_dict())   # children are named as in state_dict()

    class Scaled(Module):
        def __init__(self) -> None:
            self.inner = Linear(1, 1)

        def extra_repr(self) -> str:
            return "factor=2"

        def forward(self, x):
            return self.inner(x) * 2.0

    assert repr(Scaled()) == ("Scaled(\n  factor=2\n"
                              "  (inner): Linear(in_features=1, out_features=1, bias=True)\n)")


# -- saturating x**k, k < 0: a^(1−k) beyond the float range no longer flushes the gradient to 0 ---
def _sat_pow_exact(a: float, k: int, b: float) -> float:
    import mpmath as mp
    with mp.workprec(300):
        x = mp.mpf(a)
        w = x ** (1 - k)
        return float(k * mp.sign(x) ** (1 - k) / mp.sqrt(w * w + mp.mpf(b) ** 2))


@pytest.mark.parametrize("a, k, b", [(2.0322, -1000, 1.0), (-2.0322, -999, 1.0),
                                     (1e155, -1, 1.0), (-7.0, -400, 1e-3), (1.5, -2, 1.0),
                                     (1e-5, -3, 0.5), (3.0, -700, 1e200)])
def test_saturating_negative_power_far_from_the_pole(a: float, k: int, b: float) -> None:
    from zeroproof.autodiff import TRNode, gradient_mode
    import zeroproof.array as za

    exact = _sat_pow_exact(a, k, b)
    with gradient_mode("saturating", b):
        x = TRNode.parameter(a)
        (x ** k).backward()
        scalar = x.gradient.value
        y = TRNode.parameter(a)
        (y ** k).backward(create_graph=True)
        nodes = y.gradient.value
        w = za.parameter(np.array([a, a]))
        (w ** k).backward(np.ones(2))
        batched = w.gradient.numpy()
    assert scalar == pytest.approx(exact, rel=1e-15, abs=0.0)
    assert exact == 0.0 or scalar != 0.0
    assert nodes == scalar and batched.tolist() == [scalar, scalar]


# -- one hypot: scalar tape, create_graph and batched tape give the same bits in the fallbacks ---
def _three_gradients(a: float, b: float, bound: "float | None", which: int) -> tuple:
    from zeroproof.autodiff import TRNode, gradient_mode
    import zeroproof.array as za

    with gradient_mode("saturating", bound) if bound is not None else gradient_mode("mask-real"):
        x, y = TRNode.parameter(a), TRNode.parameter(b)
        (x / y).backward()
        scalar = float((x, y)[which].gradient)
        x, y = TRNode.parameter(a), TRNode.parameter(b)
        (x / y).backward(create_graph=True)
        nodes = float((x, y)[which].gradient)
        pa, pb = za.parameter(np.array([a])), za.parameter(np.array([b]))
        (pa / pb).backward(np.ones(1))
        batched = float((pa, pb)[which].gradient.numpy()[0])
    return scalar, nodes, batched


@pytest.mark.parametrize("a, b, bound, which", [
    (1e-308, -0.3, 0.5, 1),                                     # subnormal numerator
    (6.378824526766967e-283, -8.281442849560675e-168, 3e-160, 0),  # bound below 1e-154
    (6.303270092139029e-42, -9.743204186384598e-161, 1e-160, 0),
    (-8.450413105583279e-20, 7.408149276081098e-167, 1e-160, 0),
    (3.0, 1e200, 1e200, 1), (1e300, 1e200, 1e-3, 1)])
def test_saturating_fallbacks_agree_bit_for_bit(a: float, b: float, bound: float,
                                                which: int) -> None:
    import mpmath as mp

    scalar, nodes, batched = _three_gradients(a, b, bound, which)
    assert scalar == nodes == batched
    with mp.workprec(300):
        A, Bm, c = mp.mpf(a), mp.mpf(b), mp.mpf(bound)
        exact = (mp.sign(Bm) / mp.sqrt(Bm * Bm + c * c)) if which == 0 else -A / (Bm * Bm + c * c)
    assert scalar == pytest.approx(float(exact), rel=4e-16)


def test_saturating_fallbacks_agree_on_random_extremes() -> None:
    rng = np.random.default_rng(16)
    for _ in range(150):
        a = float(rng.choice([-1, 1]) * 10.0 ** rng.uniform(-320, 300))
        b = float(rng.choice([-1, 1]) * 10.0 ** rng.uniform(-320, 300))
        bound = rng.choice([None, 1e-200, 1e-160, 1e-3, 1e154, 1e200])
        for which in (0, 1):
            s, n, m = _three_gradients(a, b, bound, which)
            assert s == n == m or (np.isnan(s) and np.isnan(n) and np.isnan(m)), (a, b, bound)


# -- pow(x, k, modulo) names the type on every transreal value --------------------------------
def test_pow_with_a_modulus_is_refused_by_name() -> None:
    import zeroproof as zp
    import zeroproof.array as za
    from zeroproof.autodiff import TRNode

    for v in (TRNode.parameter(2.0), za.TRArray(np.array([2.0])), za.parameter(np.array([2.0])),
              zp.real(2.0)):
        with pytest.raises(TypeError, match=f"modulus is not supported for a {type(v).__name__}"):
            pow(v, 2, 3)
        assert float(np.ravel(zp.to_numpy(pow(v, 2) if not isinstance(pow(v, 2), TRNode)
                                          else pow(v, 2).value))[0]) == 4.0


# -- the deployment side refuses NumPy masked arrays (their masked rows would be decoded) -------
def test_masked_arrays_are_refused_on_the_deployment_side() -> None:
    from zeroproof.inference import (InferenceConfig, StrictInferenceMonitor,
                                     decode_strict_censored_3way, reject_on_bottom, reject_on_gap,
                                     safe_sentinel, strict_inference)
    from zeroproof.losses import coverage
    from zeroproof.metrics import tau_infer_sweep_from_q_abs

    m = np.ma.masked_array([1.0, 1.0], mask=[False, True])
    mb = np.ma.masked_array([False, False], mask=[False, True])
    plain, bools = np.array([1.0, 1.0]), np.array([False, False])
    cases = {
        "P": lambda: strict_inference(m, plain, InferenceConfig(1e-6)),
        "Q": lambda: strict_inference(plain, m),
        "P ": lambda: decode_strict_censored_3way(m, plain, 1e-6),
        "bottom_mask": lambda: reject_on_bottom(plain, mb),
        "gap_mask": lambda: reject_on_gap(plain, bools, mb),
        "mask": lambda: safe_sentinel(plain, mb),
        "bottom_mask ": lambda: StrictInferenceMonitor("b").update(mb, bools),
        "q_abs": lambda: tau_infer_sweep_from_q_abs(m, bools, [1e-3]),
        "is_in_range": lambda: tau_infer_sweep_from_q_abs(plain, mb, [1e-3]),
        "coverage: decoded": lambda: coverage(m),
        "coverage: bottom_mask": lambda: coverage(bottom_mask=mb),
    }
    for name, call in cases.items():
        with pytest.raises(TypeError, match=f"^{name.strip()}: a masked array is not read") as e:
            call()
        if "mask" in name:       # a boolean mask: fill with the value a masked row should take
            assert "m.filled(True) counts masked rows as bottom" in str(e.value)
        elif name in ("q_abs", "is_in_range"):   # labels of masked rows are unknown: leave out
            assert "leave the masked rows out" in str(e.value)
        else:
            assert "m.filled(np.nan)" in str(e.value)
    # the remedy works: filled with NaN, the masked row is bottom
    _, bottom, _ = strict_inference(m.filled(np.nan), plain)
    assert bottom.tolist() == [False, True]


def test_bundle_with_an_unreadable_npz_says_so_not_pickle(tmp_path) -> None:
    from zeroproof.inference import BundleValidationError, InferenceConfig, export_bundle, \
        validate_bundle
    from zeroproof.inference import bundle as bundle_module
    from zeroproof.layers import RationalLayer

    path = export_bundle(RationalLayer(2, 1, seed=0), tmp_path / "b", InferenceConfig(1e-6, 1e-3))
    raw = (path / "parameters.npz").read_bytes()
    (path / "parameters.npz").write_bytes(raw[: len(raw) // 2])
    meta = json.loads((path / "metadata.json").read_text())
    meta["files"]["parameters.npz"]["sha256"] = bundle_module._sha256(path / "parameters.npz")
    meta["files"]["parameters.npz"]["bytes"] = len(raw) // 2
    meta["metadata_sha256"] = bundle_module._metadata_digest(meta)
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleValidationError, match="parameters.npz is not a readable .npz") as e:
        validate_bundle(path)
    assert "pickle" not in str(e.value)


def test_training_exports_the_target_lifters() -> None:
    import zeroproof.training as tr

    for name in ("lift_targets", "lift_semantic_targets", "plot_training"):
        assert name in tr.__all__ and name in dir(tr)
    ns: dict = {}
    exec("from zeroproof.training import *", ns)
    assert callable(ns["lift_targets"]) and callable(ns["lift_semantic_targets"])


# -- ∂(a/b)/∂b: a subnormal numerator keeps full precision; a huge bound does not raise ----------
def test_division_gradient_with_a_subnormal_numerator_is_correctly_rounded() -> None:
    import mpmath as mp

    a, b = 5e-324, -1.0917354097720416e-08
    from zeroproof.autodiff import TRNode
    import zeroproof.array as za
    x, y = TRNode.parameter(a), TRNode.parameter(b)
    (x / y).backward()
    x2, y2 = TRNode.parameter(a), TRNode.parameter(b)
    (x2 / y2).backward(create_graph=True)
    pa, pb = za.parameter(np.array([a])), za.parameter(np.array([b]))
    (pa / pb).backward(np.ones(1))
    with mp.workprec(300):
        exact = float(-mp.mpf(a) / mp.mpf(b) ** 2)
    assert float(y.gradient) == float(y2.gradient) == float(pb.gradient.numpy()[0]) == exact


def test_saturating_bound_near_the_float_maximum_never_raises() -> None:
    for which in (0, 1):
        s, n, m = _three_gradients(1.0, 1.7e308, 1.7e308, which)
        assert s == n == m
        s, n, m = _three_gradients(1e300, -1.7e308, 1.7e308, which)
        assert s == n == m


# -- should_use_saturating: consecutive calls form one batch -------------------------------------
def test_manual_decisions_form_one_batch_until_a_pass_or_reset() -> None:
    from zeroproof.autodiff import HybridGradientContext as H
    from zeroproof.autodiff import HybridGradientSchedule, TRNode

    s = HybridGradientSchedule(delta_init=1e-2, delta_final=1e-2, adaptive_delta=True)
    with s.apply(0):
        H.reset_statistics()
        assert [H.should_use_saturating(q) for q in (1e-3, 0.5, 0.2)] == [True, False, False]
        st = H.get_statistics()
        assert st["total_gradient_calls"] == 3
        assert st["q_min_batch"] == 1e-3
        assert st["q_mean_batch"] == pytest.approx((1e-3 + 0.5 + 0.2) / 3)
        assert s.get_delta(0) == pytest.approx(0.02)    # adaptive δ reads the whole batch
        # δ was read at the batch's first call: the batch keeps it
        assert H.should_use_saturating(0.015) is False
        # a backward pass is a batch of its own, and ends the manual one
        x = TRNode.parameter(0.3)
        (1 / x).backward()
        assert H.get_statistics()["q_min_batch"] == pytest.approx(0.3)
        # new manual batch: δ from the pass's q_min 0.3 is 1e-2 again, so 0.015 is not near
        assert H.should_use_saturating(0.015) is False
        assert H.get_statistics()["q_min_batch"] == 0.015
        assert H.get_statistics()["local_threshold"] == pytest.approx(1e-2)
        H.reset_statistics()
        H.should_use_saturating(0.7)
        assert H.get_statistics()["q_min_batch"] == 0.7
        with pytest.raises(ValueError, match="abs_q must be >= 0"):
            H.should_use_saturating(-1e-3)
        assert H.should_use_saturating(float("nan")) is False
        assert H.get_statistics()["q_min_batch"] == 0.7     # NaN: counted, never near


# -- create_graph fallbacks: no raise at an infinite divisor, second derivatives stay exact -----
def test_create_graph_with_an_infinite_divisor_and_a_huge_bound_does_not_raise() -> None:
    import math

    from zeroproof import from_ieee
    from zeroproof.autodiff import TRNode, gradient_mode, tr_grad

    with gradient_mode("saturating", 1e160):
        x, y = TRNode.parameter(1.0), TRNode.parameter(from_ieee(math.inf))
        (x / y).backward(create_graph=True)
        assert float(x.gradient) == 0.0 and float(y.gradient) == 0.0
        mixed = tr_grad(tr_grad(lambda a, b: a / b, argnums=1), argnums=0)(1.0, from_ieee(math.inf))
        assert float(mixed.value) == 0.0


@pytest.mark.parametrize("a", [5e-324, 1e-315, 1e-310, 3e-300])
def test_mixed_second_derivative_of_a_quotient_with_a_tiny_numerator(a: float) -> None:
    from zeroproof.autodiff import tr_grad

    # ∂²(a/b)/∂a∂b = −1/b², whatever the size of a (the first derivative's fallback path must
    # not route it through a scale factor that underflows in the second pass)
    h = tr_grad(tr_grad(lambda p, q: p / q, argnums=1), argnums=0)(a, 3.0)
    assert float(h.value) == -1.0 / 9.0


def test_create_graph_value_matches_the_float_pass_when_the_bound_squared_is_subnormal() -> None:
    from zeroproof.autodiff import TRNode, gradient_mode, tr_log

    with gradient_mode("saturating", 1.04e-157):
        x = TRNode.parameter(2.659197364765663e-154)
        tr_log(x).backward()
        plain = float(x.gradient)
        y = TRNode.parameter(2.659197364765663e-154)
        tr_log(y).backward(create_graph=True)
        assert float(y.gradient) == plain


def test_za_grad_float32_overflow_is_silent(recwarn) -> None:
    import warnings

    import zeroproof.array as za

    w = za.parameter(np.array([1e-30, 2.0], dtype=np.float32))
    c = za.constant(np.array([1.0, 1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        (g,) = za.grad(c / w, [w], np.ones(2))
    assert g.dtype == np.float32 and g.to_numpy().tolist() == [-np.inf, -0.25]
