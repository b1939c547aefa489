"""Session-18 audit findings: each test pins one fixed behaviour."""
import json

import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import TRNode
from zeroproof.inference import BundleValidationError, InferenceConfig, export_bundle, validate_bundle
from zeroproof.inference import bundle as bundle_module
from zeroproof.layers import RationalLayer
from zeroproof.training import lift_semantic_targets, lift_targets


# -- validate_bundle: an edited architecture.json is named as the problem ------------------

def _edit_architecture(path, edit):
    arch = json.loads((path / "architecture.json").read_text())
    edit(arch)
    (path / "architecture.json").write_text(json.dumps(arch))
    meta = json.loads((path / "metadata.json").read_text())
    meta["files"]["architecture.json"]["sha256"] = bundle_module._sha256(path / "architecture.json")
    meta["files"]["architecture.json"]["bytes"] = (path / "architecture.json").stat().st_size
    meta["metadata_sha256"] = bundle_module._metadata_digest(meta)
    (path / "metadata.json").write_text(json.dumps(meta))


@pytest.fixture
def layer_bundle(tmp_path):
    return export_bundle(RationalLayer(2, 2, seed=0), tmp_path / "b", InferenceConfig(1e-6, 1e-4))


def _error(path):
    with pytest.raises(BundleValidationError) as info:
        validate_bundle(path)
    return info.value


def test_architecture_missing_a_parameter_is_an_architecture_error(layer_bundle):
    _edit_architecture(layer_bundle, lambda a: a["parameters"].pop("denominator"))
    e = _error(layer_bundle)
    assert e.code == "architecture" and e.file == "architecture.json"
    assert "lists parameters ['numerator']" in str(e) and "'denominator'" in str(e)


def test_architecture_with_a_wrong_shape_is_an_architecture_error(layer_bundle):
    _edit_architecture(layer_bundle, lambda a: a["parameters"]["numerator"].update(shape=[4, 1]))
    e = _error(layer_bundle)
    assert e.code == "architecture" and e.file == "architecture.json"
    assert "[4, 1]" in str(e) and "(3, 1)" in str(e)


def test_architecture_with_another_dtype_names_both_dtypes(layer_bundle):
    _edit_architecture(layer_bundle, lambda a: a["parameters"]["numerator"].update(dtype="<f4"))
    e = _error(layer_bundle)
    assert e.code == "parameter_mismatch"
    assert "'<f8'" in str(e) and "'<f4'" in str(e) and "architecture.json" in str(e)


def test_architecture_record_that_is_not_an_object(layer_bundle):
    _edit_architecture(layer_bundle, lambda a: a["parameters"].update(numerator=[3, 1]))
    e = _error(layer_bundle)
    assert e.code == "architecture" and "'numerator'" in str(e)


# -- lift_semantic_targets takes a scalar-tape batch, as lift_targets does -------------------

@pytest.mark.parametrize("values", [[zp.real(2.0), zp.real(0.0), zp.phi()],
                                    [TRNode.constant(2.0), TRNode.constant(0.0),
                                     TRNode.constant(zp.phi())]])
def test_lift_semantic_targets_takes_a_scalar_tape_batch(values):
    y_n, y_d = lift_semantic_targets(values, ["finite", "-inf", "bottom"])
    assert y_n.tolist() == [2.0, -1.0, 1.0] and y_d.tolist() == [1.0, 0.0, 0.0]
    assert [a.tolist() for a in lift_targets(values[:1])] == [[2.0], [1.0]]


def test_lift_semantic_targets_scalar_batch_errors():
    with pytest.raises(ValueError, match=r"values\[0\] is nan \(NaN, Φ or ⊥\) but its label is"):
        lift_semantic_targets([zp.phi(), zp.real(1.0)], ["finite", "bottom"])
    with pytest.raises(TypeError, match=r"values\[1\] is NoneType None"):
        lift_semantic_targets([zp.real(1.0), None], "finite")
    with pytest.raises(TypeError, match="requires grad"):
        lift_semantic_targets([TRNode.parameter(1.0)], "finite")


# -- the progress line numbers epochs as the history does ------------------------------------

def test_progress_line_uses_the_history_epoch_index(capsys):
    from zeroproof.training import SGD, SCMTrainer, TrainingConfig, chordal_loss

    m = RationalLayer(1, 1, seed=0)
    t = SCMTrainer(m, SGD(m.parameters(), lr=0.01), chordal_loss,
                   (np.linspace(-1, 1, 8), np.linspace(-1, 1, 8)),
                   TrainingConfig(epochs=3, progress="print", log_every=1))
    history = t.fit()
    lines = [ln.split() for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch")]
    assert [ln[1] for ln in lines] == [str(r["epoch"]) for r in history] == ["0", "1", "2"]
    assert [ln[2] for ln in lines] == ["[1/3]", "[2/3]", "[3/3]"]


# -- NumPy functions without a transreal twin say what to use instead -----------------------

@pytest.mark.parametrize("call, hint", [
    (lambda a: np.maximum(a, 0), "za.relu"),
    (lambda a: np.fmin(a, a), "za.where(a <= b, a, b)"),
    (lambda a: np.isnan(a), "TRTag.PHI"),
    (lambda a: np.isinf(a), "TRTag.PINF"),
    (lambda a: np.isfinite(a), "TRTag.REAL"),
    (lambda a: np.median(a), "decide what Φ and ±∞ mean"),
    (lambda a: np.cumsum(a), "has no transreal cumsum. For plain IEEE floats use .to_numpy()"),
])
@pytest.mark.parametrize("kind", ["TRArray", "TRTensor"])
def test_numpy_refusals_point_to_the_alternative(call, hint, kind):
    a = za.array([1.0, np.nan]) if kind == "TRArray" else za.parameter([1.0, 2.0])
    with pytest.raises(TypeError, match=f"is not supported on a {kind}") as info:
        call(a)
    assert hint in str(info.value)


def test_tags_comparison_named_in_the_hint_works():
    a = za.array([1.0, np.nan, np.inf])
    assert (a.tags == zp.TRTag.PHI).tolist() == [False, True, False]
    assert (a.tags == zp.TRTag.REAL).tolist() == [True, False, False]


# -- dir(zeroproof) lists the public names, not the module's own imports --------------------

def test_dir_lists_public_names_only():
    names = dir(zp)
    assert "annotations" not in names and "importlib" not in names and "Any" not in names
    for n in ("tr_add", "TRNode", "check_gradient", "array", "inference", "training", "__name__"):
        assert n in names
    assert set(zp.__all__) <= set(names)


# -- a NumPy duration is an np.integer subclass, but not a number ----------------------------

def test_timedelta64_is_not_a_real_number():
    d = np.timedelta64(1)
    with pytest.raises(TypeError, match=r"real\(x\): x must be a real number .* got timedelta64"):
        zp.real(d)
    with pytest.raises(TypeError, match="unsupported operand types for \\+: 'TRScalar' and "
                                        "'timedelta64'"):
        zp.real(1.0) + d
    with pytest.raises(TypeError, match=r"values\[0\] must be a TRScalar or a real number"):
        zp.tr_sum([np.timedelta64("NaT")])
    with pytest.raises(TypeError, match="exponent k must be an int, got timedelta64"):
        zp.tr_pow_int(zp.real(2.0), np.timedelta64(2))
    with pytest.raises(TypeError, match="got timedelta64"):
        za.array([1.0]) + d
    assert (zp.real(2.0) == np.timedelta64(2, "s")) is False
    assert (zp.real(2.0) != np.timedelta64(2, "s")) is True
    assert zp.real(3.0) == np.int64(3) and zp.real(np.int64(3)).value == 3.0


# -- fit() warns about parameters that can never train ---------------------------------------

def _trainer(model, epochs=2):
    from zeroproof.training import SGD, SCMTrainer, TrainingConfig, chordal_loss

    x = np.linspace(-1, 1, 8)
    return SCMTrainer(model, SGD(model.parameters(), lr=0.01), chordal_loss, (x, x),
                      TrainingConfig(epochs=epochs, progress="none"))


def test_fit_warns_about_non_real_parameters():
    m = RationalLayer(1, 1, seed=0)
    state = m.state_dict()
    state["numerator"] = np.array([[np.nan], [1.0]])
    m.load_state_dict(state)
    t = _trainer(m)
    with pytest.warns(RuntimeWarning, match=r"parameter 'numerator' holds 1 of 2 entries that "
                                            r"are not REAL") as rec:
        t.fit()
    assert rec[0].filename == __file__  # points at the caller's line
    assert m.state_dict()["numerator"][0, 0] != m.state_dict()["numerator"][0, 0]  # untouched


def test_fit_does_not_warn_for_real_parameters():
    import warnings

    t = _trainer(RationalLayer(1, 1, seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t.fit()


# -- PyTorch's .grad / .data point to .gradient / .value -------------------------------------

@pytest.mark.parametrize("make", [lambda: TRNode.parameter(1.0), lambda: za.parameter([1.0])])
def test_torch_attribute_names_point_to_ours(make):
    x = make()
    with pytest.raises(AttributeError, match=r"has no attribute 'grad'; the accumulated gradient "
                                             r"is \.gradient"):
        x.grad
    with pytest.raises(AttributeError, match=r"has no attribute 'data'; the forward value is "
                                             r"\.value"):
        x.data
    with pytest.raises(AttributeError, match=r"object has no attribute 'gradiant'") as info:
        x.gradiant
    assert info.value.name == "gradiant" and info.value.obj is x  # Python's "did you mean"
    assert not hasattr(x, "grad") and not hasattr(x, "data")
    assert "__getattr__" not in vars(type(x))  # (it would slow every attribute access)
    assert not hasattr(x, "__float__") or type(x).__name__ == "TRTensor"
