"""Deployment bundles: export, validation (one test per failure), registry, no pickle."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from zeroproof.inference import (
    BundleValidationError, InferenceConfig, export_bundle, load_bundle, register_model,
    validate_bundle,
)
from zeroproof.inference import bundle as bundle_module
from zeroproof.inference.reference_models import PolynomialRationalHead
from zeroproof.inference.registry import resolve_model_class

REPO = Path(__file__).resolve().parents[1]


def _model():
    m = PolynomialRationalHead(in_features=2, out_features=2, degree_p=2, degree_q=1)
    rng = np.random.default_rng(0)
    m.load_state_dict({"numerator": rng.standard_normal(m.numerator.shape),
                       "denominator": rng.standard_normal(m.denominator.shape)})
    return m


@pytest.fixture
def bundle(tmp_path):
    x = np.random.default_rng(1).standard_normal((10, 2))
    x[0] = [0.0, 0.0]
    return export_bundle(_model(), tmp_path / "b", InferenceConfig(1e-6, 1e-3),
                         reference_inputs=x, bundle_id="test-bundle")


def _meta(path):
    return json.loads((path / "metadata.json").read_text())


def _write_meta(path, meta, resign=True):
    if resign:
        meta["metadata_sha256"] = bundle_module._metadata_digest(meta)
    (path / "metadata.json").write_text(json.dumps(meta, indent=2))


def _redigest(path, name):
    meta = _meta(path)
    meta["files"][name]["sha256"] = bundle_module._sha256(path / name)
    meta["files"][name]["bytes"] = (path / name).stat().st_size
    _write_meta(path, meta)


def _rewrite_npz(path, name, arrays):
    bundle_module._write_npz(path / name, arrays)
    _redigest(path, name)


def _expect(path, code, *words):
    with pytest.raises(BundleValidationError) as info:
        validate_bundle(path)
    assert info.value.code == code, str(info.value)
    for w in words:
        assert w in str(info.value)
    assert isinstance(info.value, ValueError)


# -- round trip ---------------------------------------------------------------------------

def test_roundtrip_and_metadata_fields(bundle):
    report = validate_bundle(bundle)
    assert report.bundle_id == "test-bundle" and report.tau_train == 1e-3
    assert sorted(os.listdir(bundle)) == ["architecture.json", "metadata.json",
                                          "parameters.npz", "reference.npz"]
    meta = _meta(bundle)
    assert meta["strict_inference_schema_version"] == 1
    assert meta["tau_infer"] == 1e-6 and meta["tau_train"] == 1e-3
    assert meta["output_contract"]["outputs"] == ["decoded", "bottom_mask", "gap_mask"]
    assert set(meta["files"]) == {"architecture.json", "parameters.npz", "reference.npz"}
    assert all(len(v["sha256"]) == 64 for v in meta["files"].values())
    loaded = load_bundle(bundle)
    x = np.random.default_rng(5).standard_normal((4, 2))
    assert np.array_equal(loaded.model(x)[0], _model()(x)[0])
    d, b, g = loaded.wrapper()(x)
    assert d.shape == (4, 2) and loaded.monitor().bundle_id == "test-bundle"


def test_export_is_reproducible(tmp_path):
    a = export_bundle(_model(), tmp_path / "a")
    b = export_bundle(_model(), tmp_path / "b")
    for name in os.listdir(a):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_nothing_is_pickled(bundle, monkeypatch):
    for name in ("parameters.npz", "reference.npz"):
        with zipfile.ZipFile(bundle / name) as zf:
            for member in zf.namelist():
                assert member.endswith(".npy")
    seen = []
    real_load = np.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("allow_pickle"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    import pickle
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load called"))
    validate_bundle(bundle)
    assert seen and all(flag is False for flag in seen)


def test_object_array_in_parameters_is_refused(bundle):
    import io
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(bundle / "parameters.npz", "w") as zf:
        zf.writestr("numerator.npy", buf.getvalue())
    _redigest(bundle, "parameters.npz")
    _expect(bundle, "parameter_mismatch", "without pickle")


# -- one test per failure case ------------------------------------------------------------

def test_missing_bundle_dir(tmp_path):
    _expect(tmp_path / "nope", "missing_bundle")


def test_missing_metadata(bundle):
    (bundle / "metadata.json").unlink()
    _expect(bundle, "missing_file", "metadata.json")


@pytest.mark.parametrize("name", ["parameters.npz", "reference.npz", "architecture.json"])
def test_missing_data_file(bundle, name):
    (bundle / name).unlink()
    _expect(bundle, "missing_file", name)


def test_truncated_metadata(bundle):
    text = (bundle / "metadata.json").read_text()
    (bundle / "metadata.json").write_text(text[: len(text) // 2])
    _expect(bundle, "metadata_unreadable", "metadata.json")


def test_edited_metadata(bundle):
    meta = _meta(bundle)
    meta["tau_infer"] = 1e-4
    _write_meta(bundle, meta, resign=False)
    _expect(bundle, "metadata_digest", "edited")


def test_edited_metadata_field_that_is_invalid_is_named_with_the_digest(bundle):
    meta = _meta(bundle)
    meta["tau_infer"] = -1
    _write_meta(bundle, meta, resign=False)
    _expect(bundle, "metadata_digest", "edited", "tau_infer", "-1")


def test_unknown_schema_version(bundle):
    meta = _meta(bundle)
    meta["strict_inference_schema_version"] = 99
    _write_meta(bundle, meta)
    _expect(bundle, "unknown_schema_version", "99")


def test_invalid_thresholds_field(bundle):
    meta = _meta(bundle)
    meta["tau_train"] = 1e-9     # < tau_infer, re-signed so only the field check can catch it
    _write_meta(bundle, meta)
    _expect(bundle, "metadata_field", "tau_train")


def test_changed_output_contract(bundle):
    meta = _meta(bundle)
    meta["output_contract"]["decoded"] = "whatever"
    _write_meta(bundle, meta)
    _expect(bundle, "metadata_field", "output_contract")


def test_changed_digest(bundle):
    with open(bundle / "reference.npz", "ab") as f:
        f.write(b"\0")
    _expect(bundle, "digest_mismatch", "reference.npz")


def test_unexpected_file(bundle):
    (bundle / "notes.txt").write_text("hi")
    _expect(bundle, "unexpected_file", "notes.txt")


def test_parameters_not_matching_architecture(bundle):
    _rewrite_npz(bundle, "parameters.npz", {"numerator": np.zeros((3, 2)),
                                           "denominator": np.zeros((3, 2))})
    _expect(bundle, "parameter_mismatch", "numerator", "(6, 2)")


def test_parameters_with_wrong_names(bundle):
    _rewrite_npz(bundle, "parameters.npz", {"weights": np.zeros((6, 2))})
    _expect(bundle, "parameter_mismatch", "weights")


def test_outputs_no_longer_match(bundle):
    state = _model().state_dict()
    state["numerator"] = state["numerator"] * (1 + 1e-6)
    _rewrite_npz(bundle, "parameters.npz", state)
    _expect(bundle, "reference_mismatch", "P no longer matches")


def test_recorded_mask_changed(bundle):
    with np.load(bundle / "reference.npz", allow_pickle=False) as z:
        refs = {k: z[k] for k in z.files}
    refs["bottom_mask"] = ~refs["bottom_mask"]
    _rewrite_npz(bundle, "reference.npz", refs)
    _expect(bundle, "reference_mismatch", "bottom_mask")


def test_unknown_model_outside_zeroproof(bundle):
    meta = _meta(bundle)
    meta["model"] = {"name": "someone.Else", "class_path": "os:system"}
    _write_meta(bundle, meta)
    arch = json.loads((bundle / "architecture.json").read_text())
    arch["model_name"], arch["class_path"] = "someone.Else", "os:system"
    (bundle / "architecture.json").write_text(json.dumps(arch))
    _redigest(bundle, "architecture.json")
    _expect(bundle, "unknown_model", "import 'os'")


# -- export errors and registry -----------------------------------------------------------

def test_export_errors(tmp_path, bundle):
    with pytest.raises(FileExistsError):
        export_bundle(_model(), bundle)
    export_bundle(_model(), bundle, overwrite=True)

    class Unregistered(PolynomialRationalHead):
        pass

    with pytest.raises(ValueError, match="register_model"):
        export_bundle(Unregistered(2), tmp_path / "u")
    with pytest.raises(TypeError, match="BundleModel"):
        export_bundle(lambda x: (x, x), tmp_path / "l")


def test_register_model_rules():
    with pytest.raises(TypeError, match="missing"):
        @register_model("tests.Bad")
        class Bad:
            def __call__(self, x):
                return x, x
    with pytest.raises(ValueError, match="already registered"):
        @register_model("zeroproof.PolynomialRationalHead")
        class Other(PolynomialRationalHead):
            pass


def test_registry_import_has_no_side_effects_and_lazy_zeroproof_import():
    code = (
        "import sys\n"
        "import zeroproof.inference.registry as r\n"
        "assert 'zeroproof.inference.reference_models' not in sys.modules\n"
        "assert r.registered_models() == {}\n"
        "import zeroproof.inference\n"
        "assert 'zeroproof.inference.reference_models' not in sys.modules\n"
        "assert not any(m.startswith(('zeroproof.autodiff', 'zeroproof.layers', "
        "'zeroproof.training')) for m in sys.modules)\n"
        "cls = r.resolve_model_class('zeroproof.PolynomialRationalHead', "
        "'zeroproof.inference.reference_models:PolynomialRationalHead')\n"
        "assert cls.__name__ == 'PolynomialRationalHead'\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO)


def test_resolve_refuses_foreign_modules():
    with pytest.raises(LookupError, match="import 'json'"):
        resolve_model_class("x.Y", "json:JSONDecoder")


def test_reference_model_rejects_bad_state():
    m = PolynomialRationalHead(2)
    with pytest.raises(ValueError, match="shape"):
        m.load_state_dict({"numerator": np.zeros((2, 1)), "denominator": np.zeros((3, 1))})
    with pytest.raises(ValueError, match="keys"):
        m.load_state_dict({"numerator": np.zeros((6, 1))})
    with pytest.raises(ValueError, match="shape"):
        m(np.zeros((3, 5)))


def test_wrapper_and_loaded_bundle_decode_a_rational_layer(tmp_path):
    # A RationalLayer's call gives y = P/Q; the wrapper asks it for (P, Q) through predict_pq
    # (eval) or forward_pq (training, on the tape), like the bundle does.
    from zeroproof.inference import SCMInferenceWrapper, strict_inference
    from zeroproof.layers import RationalLayer

    layer = RationalLayer(2, 2, seed=0)
    x = np.array([0.0, 0.5, -0.7])
    cfg = InferenceConfig(1e-6, 1e-4)
    P, Q = layer.predict_pq(x)
    want = strict_inference(P, Q, cfg)
    got = SCMInferenceWrapper(layer, cfg).eval()(x)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    tP, tQ = SCMInferenceWrapper(layer, cfg).train()(x)
    assert tP.requires_grad and np.array_equal(tQ.codes, Q)
    path = export_bundle(layer, tmp_path / "rational", cfg)
    for a, b in zip(load_bundle(path).wrapper()(x), want):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="must return a pair"):
        SCMInferenceWrapper(lambda v: v, cfg)(x)


@pytest.mark.parametrize("field, value, words", [
    (("reference", "rtol"), 5.0, ("reference.rtol",)),
    (("reference", "rtol"), -1.0, ("reference.rtol",)),
    (("reference", "atol"), -1.0, ("reference.atol",)),
    (("reference", "atol"), 1e9, ("reference.atol", "exceeds")),
    (("bundle_id",), "", ("bundle_id",)),
])
def test_validation_refuses_values_export_never_writes(bundle, field, value, words):
    meta = _meta(bundle)
    target = meta
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    _write_meta(bundle, meta)
    _expect(bundle, "metadata_field", *words)


def test_validation_checks_schema_version_type_and_file_sizes(bundle):
    meta = _meta(bundle)
    meta["strict_inference_schema_version"] = float(meta["strict_inference_schema_version"])
    _write_meta(bundle, meta)
    _expect(bundle, "unknown_schema_version")
    meta["strict_inference_schema_version"] = int(meta["strict_inference_schema_version"])
    meta["files"]["parameters.npz"]["bytes"] += 1
    _write_meta(bundle, meta)
    _expect(bundle, "digest_mismatch", "bytes")


def test_validation_messages_name_what_differs(bundle):
    meta = _meta(bundle)
    meta["reference"]["n_rows"] = 3
    _write_meta(bundle, meta)
    _expect(bundle, "reference_mismatch", "n_rows 3")


def test_bad_bundle_id_is_refused_before_anything_is_written(tmp_path):
    d = export_bundle(_model(), tmp_path / "b", reference_inputs=np.ones((2, 2)))
    before = sorted(os.listdir(d))
    with pytest.raises(TypeError, match="bundle_id"):
        export_bundle(_model(), d, reference_inputs=np.ones((2, 2)), bundle_id=5, overwrite=True)
    with pytest.raises(ValueError, match="bundle_id"):
        export_bundle(_model(), d, reference_inputs=np.ones((2, 2)), bundle_id="", overwrite=True)
    assert sorted(os.listdir(d)) == before
    validate_bundle(d)


def test_angular_head_exports_and_decodes(tmp_path):
    from zeroproof.inference import SCMInferenceWrapper
    from zeroproof.layers import AngularProjectiveHead

    head = AngularProjectiveHead(2, 1, seed=0)
    path = export_bundle(head, tmp_path / "angular", InferenceConfig(1e-6))
    validate_bundle(path)
    x = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
    want = SCMInferenceWrapper(head, InferenceConfig(1e-6)).eval()(x)
    for a, b in zip(load_bundle(path).wrapper()(x), want):
        np.testing.assert_array_equal(a, b)


def test_exporting_a_wrapper_exports_the_model_it_wraps(tmp_path):
    from zeroproof.inference import SCMInferenceWrapper, load_bundle
    from zeroproof.inference.reference_models import PolynomialRationalHead

    head = PolynomialRationalHead(2)
    wrapped = SCMInferenceWrapper(head, InferenceConfig(1e-5, 1e-3))
    path = export_bundle(wrapped, tmp_path / "wrapped")
    report = validate_bundle(path)
    assert report.tau_infer == 1e-5 and report.tau_train == 1e-3
    assert type(load_bundle(path).model) is PolynomialRationalHead


def test_one_reference_row_near_a_pole_does_not_loosen_the_check_of_the_others(tmp_path):
    """The absolute floor of the reference check is rtol × the typical magnitude, so a model
    whose P changed by 1e-3 fails even when one reference row decodes to 1e300."""

    @register_model("tests.ShiftedHead")
    class ShiftedHead(PolynomialRationalHead):
        SHIFT = 0.0

        def __call__(self, x):
            P, Q = super().__call__(x)
            return P + self.SHIFT * np.asarray(x)[..., :1], Q  # invisible at the pole row

    head = ShiftedHead(in_features=1, degree_p=1, degree_q=1)
    head.load_state_dict({"numerator": np.array([[1.0], [0.0]]),
                          "denominator": np.array([[0.0], [1.0]])})  # P/Q = 1/x
    path = export_bundle(head, tmp_path / "b", InferenceConfig(tau_infer=0.0),
                         reference_inputs=np.array([[-1.0], [0.5], [1.0], [1e-300]]))
    validate_bundle(path)
    ShiftedHead.SHIFT = 1e-3
    with pytest.raises(BundleValidationError, match="reference_mismatch"):
        validate_bundle(path)


def test_symlinked_files_and_foreign_files_are_refused(tmp_path):
    import shutil

    d = export_bundle(PolynomialRationalHead(2), tmp_path / "b", InferenceConfig())
    shutil.move(str(d / "parameters.npz"), str(tmp_path / "elsewhere.npz"))
    os.symlink(tmp_path / "elsewhere.npz", d / "parameters.npz")
    with pytest.raises(BundleValidationError, match="symbolic link"):
        validate_bundle(d)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not part of a bundle"):
        export_bundle(PolynomialRationalHead(2), other, InferenceConfig(), overwrite=True)
    assert (other / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("dtype, big", [("float32", 3e38), ("float64", 1.7e308)])
def test_bundles_of_huge_reference_values_export_and_validate(tmp_path, dtype, big):
    head = PolynomialRationalHead(1, dtype=dtype)
    head.numerator[0] = big  # P = big, Q = 1: the median of |P, Q, P/Q| must not overflow
    path = export_bundle(head, tmp_path / "b", InferenceConfig(1e-6),
                         reference_inputs=np.ones((2, 1)))
    assert validate_bundle(path).max_abs_error == {"P": 0.0, "Q": 0.0, "decoded": 0.0}


def test_a_directory_named_like_a_bundle_file_is_not_overwritten(tmp_path):
    target = tmp_path / "c"
    (target / "reference.npz").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not part of a bundle"):
        export_bundle(PolynomialRationalHead(2), target, InferenceConfig(), overwrite=True)
    assert (target / "reference.npz").is_dir()


# -- fields the reference run and the version record (re-signed edits) ----------------------------

@pytest.mark.parametrize("value", [None, 0, [], ""])
def test_zeroproof_version_must_be_a_non_empty_string(bundle, value):
    meta = _meta(bundle)
    meta["zeroproof_version"] = value
    _write_meta(bundle, meta)
    _expect(bundle, "metadata_field", "zeroproof_version")


def test_zeroproof_version_missing(bundle):
    meta = _meta(bundle)
    del meta["zeroproof_version"]
    _write_meta(bundle, meta)
    _expect(bundle, "metadata_field", "zeroproof_version")


def test_other_exporting_version_still_validates(bundle):
    meta = _meta(bundle)
    meta["zeroproof_version"] = "0.0.1-elsewhere"  # compatibility is the schema version's job
    _write_meta(bundle, meta)
    assert validate_bundle(bundle).bundle_id == "test-bundle"


def test_extra_must_be_an_object(bundle):
    meta = _meta(bundle)
    meta["extra"] = [1, 2]
    _write_meta(bundle, meta)
    _expect(bundle, "metadata_field", "extra")


@pytest.mark.parametrize("key, value, code", [
    ("n_bottom", 10**6, "reference_mismatch"), ("n_gap", 10**6, "reference_mismatch"),
    ("n_bottom", "3", "metadata_field"), ("input_dtype", "<f4", "reference_mismatch"),
    ("input_dtype", None, "metadata_field"), ("file", "other.npz", "metadata_field"),
])
def test_reference_description_fields_are_checked(bundle, key, value, code):
    meta = _meta(bundle)
    meta["reference"][key] = value
    _write_meta(bundle, meta)
    _expect(bundle, code, key if code == "metadata_field" else "")
