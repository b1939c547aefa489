"""Wrong *types* are a TypeError and wrong *values* a ValueError, each naming the argument
(SPEC §8), across the mode parsers, check_gradient, the hybrid schedule and bundles."""
from __future__ import annotations

import pytest

import zeroproof as zp
from zeroproof.autodiff import GradientModeConfig, HybridGradientSchedule, create_default_schedule
from zeroproof.core import ArithmeticMode, ReductionMode, real
from zeroproof.inference import export_bundle, validate_bundle
from zeroproof.inference.reference_models import PolynomialRationalHead


@pytest.mark.parametrize("call", [
    lambda m: GradientModeConfig.set_mode(m),
    lambda m: zp.gradient_mode(m).__enter__(),
    lambda m: zp.arithmetic_mode(m).__enter__(),
    lambda m: zp.tr_sum([real(1.0)], mode=m),
])
def test_mode_parsers_type_and_value_errors(call):
    with pytest.raises(TypeError, match=r"mode must be one of .*got int 3"):
        call(3)
    with pytest.raises(ValueError, match=r"mode must be one of .*got 'fast'"):
        call("fast")


def test_mode_parsers_accept_members_values_and_names():
    assert zp.tr_sum([real(1.0), zp.phi()], mode="DROP-NULL") == real(1.0)
    assert zp.tr_sum([real(1.0)], mode=ReductionMode.STRICT) == real(1.0)
    with zp.arithmetic_mode("WHEEL") as m:
        assert m is ArithmeticMode.WHEEL
    with zp.gradient_mode("mask_real"):
        assert GradientModeConfig.is_mask_real()


def test_check_gradient_argument_types():
    f = lambda x: x * x  # noqa: E731
    with pytest.raises(TypeError, match="eps must be a finite real number > 0, got str"):
        zp.check_gradient(f, 1.0, eps="a")
    with pytest.raises(ValueError, match="eps must be a finite real number > 0"):
        zp.check_gradient(f, 1.0, eps=-1e-5)
    with pytest.raises(TypeError, match="argnum must be an int"):
        zp.check_gradient(f, 1.0, argnum="a")
    with pytest.raises(ValueError, match="argnum=3 is out of range"):
        zp.check_gradient(f, 1.0, argnum=3)
    assert zp.check_gradient(f, 1.0, eps=1e-6).passed


def test_schedule_epoch_and_flags_are_checked():
    s = HybridGradientSchedule()
    for method in (s.get_delta, s.is_warmup, s.is_transitioning, s.get_exploration_regions):
        with pytest.raises(TypeError, match="epoch must be an int, got str"):
            method("a")
        with pytest.raises(ValueError, match="epoch must be ≥ 0"):
            method(-1)
    with pytest.raises(TypeError, match="epoch must be an int"):
        s.update_detected_poles([0.5], 1.5)
    with pytest.raises(TypeError, match=r"aggressive must be a bool \(True or False\), got str"):
        create_default_schedule(aggressive="yes")
    with pytest.raises(TypeError, match="force_exploration must be a bool"):
        create_default_schedule(force_exploration=1)


def test_bundle_paths_must_be_paths(tmp_path):
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        validate_bundle(3)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        export_bundle(PolynomialRationalHead(2), 5)


def test_inference_mode_module_has_the_whole_inference_api():
    import zeroproof.inference as inference
    import zeroproof.inference.mode as mode

    names = ["InferenceConfig", "strict_inference", "SCMInferenceWrapper", "reject_on_gap",
             "reject_on_bottom", "safe_sentinel", "decode_strict_censored_3way",
             "StrictInferenceMonitor", "export_bundle", "validate_bundle"]
    for name in names:
        assert getattr(mode, name) is getattr(inference, name)
        assert name in dir(mode)
    with pytest.raises(AttributeError):
        mode.no_such_name  # noqa: B018



def test_argnums_naming_one_argument_twice_is_an_error():
    with pytest.raises(ValueError, match="names the same argument twice"):
        zp.tr_grad(lambda x, y: x * y, argnums=(0, 0))(1.0, 2.0)
    with pytest.raises(ValueError, match="names the same argument twice"):
        zp.tr_grad(lambda x, y: x * y, argnums=(1, -1))(1.0, 2.0)


@pytest.mark.parametrize("kwargs, exc, word", [
    ({"adaptive_delta": "no"}, TypeError, "adaptive_delta must be a bool"),
    ({"enable": "false"}, TypeError, "enable must be a bool"),
    ({"force_pole_exploration": "no"}, TypeError, "force_pole_exploration must be a bool"),
    ({"delta_init": "0.1"}, TypeError, "delta_init must be a real number"),
    ({"schedule_type": 3}, TypeError, "schedule_type must be one of"),
    ({"schedule_type": "sideways"}, ValueError, "schedule_type must be one of"),
])
def test_schedule_fields_are_typed(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        HybridGradientSchedule(**kwargs)


def test_update_detected_poles_names_poles():
    with pytest.raises(TypeError, match="poles must be a sequence of real numbers"):
        HybridGradientSchedule().update_detected_poles(0.5, 0)


@pytest.mark.parametrize("kwargs, exc", [
    ({"epochs": "10"}, TypeError), ({"epochs": 2.5}, TypeError), ({"epochs": 0}, ValueError),
    ({"batch_size": "a"}, TypeError), ({"gradient_mode": 5}, TypeError),
    ({"gradient_mode": "fast"}, ValueError), ({"progress": 3}, TypeError),
    ({"progress": "loud"}, ValueError), ({"lift_targets": 1}, TypeError),
])
def test_training_config_types_and_values(kwargs, exc):
    from zeroproof.training import TrainingConfig

    with pytest.raises(exc, match=next(iter(kwargs))):
        TrainingConfig(**kwargs)


def test_projective_layers_and_losses_type_errors():
    from zeroproof.autodiff.projective import ProjectiveNormalize, gradient_policy
    from zeroproof.layers import AngularProjectiveHead, Linear, ProjectiveRationalHead
    from zeroproof.losses import coverage_loss

    for call, word in [
        (lambda: ProjectiveNormalize(3), "policy must be one of"),
        (lambda: gradient_policy(3).__enter__(), "policy must be one of"),
        (lambda: AngularProjectiveHead(2, theta_scale="a"), "theta_scale"),
        (lambda: AngularProjectiveHead(input_dim="a"), "input_dim"),
        (lambda: Linear("a", 1), "in_features"),
        (lambda: ProjectiveRationalHead(2, init_scale="x"), "init_scale"),
        (lambda: coverage_loss([1.0], [0.0], target_coverage="x"), "target_coverage"),
    ]:
        with pytest.raises(TypeError, match=word):
            call()
    with pytest.raises(ValueError, match="input_dim must be an int >= 1"):
        AngularProjectiveHead(input_dim=0)
    with pytest.raises(ValueError, match="target_coverage"):
        coverage_loss([1.0], [0.0], target_coverage=2.0)


def test_optimizer_lr_and_module_mode_are_checked():
    import numpy as np

    from zeroproof.array import parameter
    from zeroproof.layers import Linear
    from zeroproof.training import SGD

    opt = SGD([parameter(np.ones(1))], lr=0.1)
    opt.lr = 0.05
    assert opt.lr == 0.05
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        opt.lr = -5
    with pytest.raises(TypeError, match="lr must be a real number"):
        opt.lr = "fast"
    with pytest.raises(TypeError, match="mode must be a bool"):
        Linear(2, 2).train("no")


# ---- third round (probe findings): each bad argument raises early, naming it -------------------
def _bad_input_cases():
    import numpy as np

    import zeroproof as zp
    import zeroproof.array as za
    from zeroproof.autodiff import TRNode, check_gradient, create_default_schedule, gradient_tape
    from zeroproof.layers import RationalLayer
    from zeroproof.losses import coverage, margin_loss, sign_consistency_loss

    layer = RationalLayer(1, 1, seed=0)
    div = 1 / TRNode.parameter(1.0)

    def set_x(v):
        div.x_value = v

    def schedule_changed():
        s = create_default_schedule()
        s.delta_init = -1.0
        with s.apply(0):
            pass

    f = lambda x: x * x  # noqa: E731
    return [
        (lambda: check_gradient(f, 1.0, rtol=-1), ValueError, "rtol"),
        (lambda: check_gradient(f, 1.0, atol=float("nan")), ValueError, "atol"),
        (lambda: coverage(np.ones(3), tau=-1), ValueError, "tau"),
        (lambda: coverage(np.ones(3), tau="a"), TypeError, "tau"),
        (lambda: coverage(D=np.ones(3)), ValueError, "D was given without N"),
        (lambda: layer.find_poles(imag_tol=-1), ValueError, "imag_tol"),
        (lambda: layer.find_poles(imag_tol="a"), TypeError, "imag_tol"),
        (lambda: layer.find_poles(domain="x"), TypeError, "domain"),
        (lambda: layer.find_poles(domain=(1, -1)), ValueError, "domain"),
        (lambda: RationalLayer(init_scale="a"), TypeError, "init_scale"),
        (lambda: set_x(float("nan")), ValueError, "x_value"),
        (lambda: set_x("1.5"), TypeError, "x_value"),
        (lambda: set_x(True), TypeError, "x_value"),
        (lambda: gradient_tape(persistent="x"), TypeError, "persistent"),
        (lambda: margin_loss(np.ones(2), np.ones(2), rng="x"), TypeError, "rng"),
        (lambda: sign_consistency_loss(np.ones(2), np.ones(2), np.ones(2), margin=-1), ValueError,
         "margin"),
        (lambda: za.array([[1, 2], [3]]), ValueError, "ragged"),
        (lambda: za.zeros(-1), ValueError, "negative"),
        (lambda: za.zeros("a"), TypeError, "shape"),
        (schedule_changed, ValueError, "delta_init"),
    ]


@pytest.mark.parametrize("case", range(20))
def test_bad_arguments_fail_early_and_name_the_argument(case):
    cases = _bad_input_cases()
    assert len(cases) == 20
    call, exc, words = cases[case]
    with pytest.raises(exc, match=words):
        call()


def test_to_numpy_of_one_transreal_value_is_a_0d_array():
    import numpy as np

    import zeroproof as zp

    assert zp.to_numpy(zp.real(1.5)) == np.array(1.5) and zp.to_numpy(zp.real(1.5)).ndim == 0
    assert np.isposinf(zp.to_numpy(zp.pinf())) and np.isnan(zp.to_numpy(zp.phi()))


def test_a_trainer_config_changed_after_construction_is_checked_again():
    import numpy as np

    from zeroproof.layers import RationalLayer
    from zeroproof.training import Adam, SCMTrainer, TrainingConfig, chordal_loss

    cfg = TrainingConfig(epochs=2)
    model = RationalLayer(1, 1, seed=0)
    trainer = SCMTrainer(model, Adam(model.parameters()), chordal_loss,
                         (np.linspace(-1, 1, 8), np.ones(8)), cfg)
    cfg.epochs = -3
    with pytest.raises(ValueError, match="epochs"):
        trainer.fit()
