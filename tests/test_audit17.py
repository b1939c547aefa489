"""Seventeenth-session regressions (audit findings and consistency fixes)."""
from __future__ import annotations

import numpy as np
import pytest

from zeroproof.layers import AngularProjectiveHead, ProjectiveRationalHead, RationalLayer


@pytest.mark.parametrize("model, shape", [(RationalLayer(1, 1, seed=0), (3,)),
                                          (RationalLayer(2, 1, out_features=2, seed=0), (3, 1)),
                                          (ProjectiveRationalHead(2, 1, seed=0), (3, 2)),
                                          (AngularProjectiveHead(2, 1, seed=0), (3, 2))])
def test_predict_pq_reads_input_like_the_deployment_side(model, shape):
    # predict_pq is what a bundle records: bool/str/complex inputs are refused by name, as
    # strict_inference refuses them; ints and float32 are read as float64 values.
    with pytest.raises(TypeError, match=r"must be an array of real numbers .*dtype bool"):
        model.predict_pq(np.ones(shape, dtype=bool))
    with pytest.raises(TypeError, match="complex"):
        model.predict_pq(np.ones(shape, dtype=complex))
    P, Q = model.predict_pq(np.ones(shape, dtype=np.int64))
    P2, Q2 = model.predict_pq(np.ones(shape))
    assert np.array_equal(P, P2) and np.array_equal(Q, Q2)


# -- strict inference: monitors, empty masks, bundles --------------------------------------------

import json  # noqa: E402
import zipfile  # noqa: E402

from zeroproof.inference import (  # noqa: E402
    BundleValidationError, InferenceConfig, StrictInferenceMonitor, export_bundle,
    reject_on_bottom, reject_on_gap, safe_sentinel, validate_bundle,
)
from zeroproof.inference import bundle as bundle_module  # noqa: E402


def test_merged_monitor_equals_one_fed_the_concatenation_in_every_view():
    b1, g1 = np.array([True, False]), np.array([False, True])
    b2, g2 = np.array([False, False, True]), np.array([True, False, False])
    merged = StrictInferenceMonitor("m").update(b1, g1).merge(
        StrictInferenceMonitor("m").update(b2, g2).update(np.zeros(0, bool)))
    whole = StrictInferenceMonitor("m").update(np.concatenate([b1, b2]), np.concatenate([g1, g2]))
    assert merged.rates() == whole.rates()
    assert merged.to_dict() == whole.to_dict()
    assert merged == whole
    assert merged != StrictInferenceMonitor("other").update(np.concatenate([b1, b2]),
                                                            np.concatenate([g1, g2]))
    assert merged != whole.update(np.array([False]))
    with pytest.raises(TypeError, match="unhashable"):
        hash(merged)


@pytest.mark.parametrize("empty", [[], np.array([]), np.zeros((0, 3))])
def test_an_empty_array_is_an_empty_mask(empty):
    shape = np.shape(empty)
    mon = StrictInferenceMonitor("m").update(empty, empty)
    assert mon.n_total == 0 and mon == StrictInferenceMonitor("m")
    d, acc = reject_on_bottom(np.zeros(shape), empty)
    assert d.shape == acc.shape == shape and acc.dtype == np.bool_
    d, acc = reject_on_gap(np.zeros(shape), empty, empty)
    assert d.shape == acc.shape == shape
    assert safe_sentinel(np.zeros(shape), empty).shape == shape
    with pytest.raises(TypeError, match="bottom_mask must be a boolean mask, got dtype float64"):
        StrictInferenceMonitor("m").update(np.array([0.0]))  # a non-empty float mask still is not


@pytest.mark.parametrize("name, member, code", [("parameters.npz", "numerator", "parameter_mismatch"),
                                                ("reference.npz", "inputs", "reference_unreadable"),
                                                ("reference.npz", "P", "reference_unreadable")])
def test_a_npz_member_that_is_not_npy_data_is_a_validation_error(tmp_path, name, member, code):
    from zeroproof.layers import RationalLayer

    path = export_bundle(RationalLayer(2, 1, seed=0), tmp_path / "b", InferenceConfig(1e-6, 1e-3))
    f = path / name
    with zipfile.ZipFile(f) as z:
        members = {n: z.read(n) for n in z.namelist()}
    assert member + ".npy" in members
    del members[member + ".npy"]
    members[member] = b"not an npy"
    with zipfile.ZipFile(f, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    meta = json.loads((path / "metadata.json").read_text())
    meta["files"][name]["sha256"] = bundle_module._sha256(f)
    meta["files"][name]["bytes"] = f.stat().st_size
    meta["metadata_sha256"] = bundle_module._metadata_digest(meta)
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleValidationError, match=rf"{name} is not a readable .npz: member "
                                                    rf"'{member}' is not an .npy array") as e:
        validate_bundle(path)
    assert e.value.code == code


def test_a_missing_listed_file_is_reported_after_the_metadata_checks(tmp_path):
    # docs/inference.md, "Validation": metadata.json missing comes second; a listed file that is
    # missing comes after metadata_field. Here both a listed file is gone and the metadata was
    # edited without re-digesting: the edit is the first problem.
    from zeroproof.layers import RationalLayer

    path = export_bundle(RationalLayer(2, 1, seed=0), tmp_path / "b", InferenceConfig(1e-6, 1e-3))
    (path / "parameters.npz").unlink()
    meta = json.loads((path / "metadata.json").read_text())
    meta["tau_infer"] = 2e-6
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleValidationError) as e:
        validate_bundle(path)
    assert e.value.code == "metadata_digest"
    meta["metadata_sha256"] = bundle_module._metadata_digest(meta)
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleValidationError) as e:
        validate_bundle(path)
    assert e.value.code == "missing_file" and "parameters.npz" in str(e.value)


def test_operating_points_import_by_name():
    from zeroproof import inference
    from zeroproof.inference import (OPERATING_POINTS, accuracy_first, direction_aware,
                                     safety_first)

    for op in (safety_first, direction_aware, accuracy_first):
        assert OPERATING_POINTS[op.name] is op and op.name in inference.__all__
    P, Q = np.array([1.0, 1.0, 1.0]), np.array([1.0, 1e-4, 0.0])
    r = safety_first.apply(P, Q, InferenceConfig(1e-6, 1e-3))
    assert r.accept_mask.tolist() == [True, False, False]
    r = accuracy_first.apply(P, Q, InferenceConfig(1e-6, 1e-3))
    assert r.accept_mask.tolist() == [True, True, False]


def test_sweep_report_prints_each_tau_exactly(tmp_path):
    from zeroproof.metrics import tau_infer_sweep_from_q_abs, write_tau_infer_sweep

    taus = [1e-6, 1.0000005e-6, 0.001]
    c = tau_infer_sweep_from_q_abs([1e-7, 1.0000003e-6, 0.5], [False, False, True], taus)
    write_tau_infer_sweep(c, tmp_path)
    rows = [ln for ln in (tmp_path / "tau_infer_sweep.md").read_text().splitlines()
            if ln.startswith("| ") and not ln.startswith("| tau_infer")]
    assert [float(r.split("|")[1]) for r in rows] == taus


def test_negative_zero_threshold_is_zero():
    cfg = InferenceConfig(-0.0, -0.0)
    assert str(cfg.tau_infer) == "0.0" and str(cfg.tau_train) == "0.0"
    assert json.dumps(cfg.to_dict()) == '{"tau_infer": 0.0, "tau_train": 0.0}'


@pytest.mark.parametrize("flag", [np.True_, np.False_])
def test_numpy_bools_are_bools_for_every_flag(flag):
    from zeroproof.autodiff import create_default_schedule, HybridGradientSchedule
    from zeroproof.inference import SCMInferenceWrapper
    from zeroproof.losses import implicit_loss
    from zeroproof.training import SGD, TrainingConfig

    assert SCMInferenceWrapper(lambda x: (x, x)).train(flag).training is bool(flag)
    assert RationalLayer(1, 1, seed=0).train(flag).training is bool(flag)
    assert ProjectiveRationalHead(2, 1, shared_q=flag, seed=0).shared_q is bool(flag)
    assert HybridGradientSchedule(enable=flag).enable is bool(flag)
    assert create_default_schedule(aggressive=flag) is not None
    assert TrainingConfig(shuffle=flag).shuffle is bool(flag)
    assert implicit_loss(1.0, 2.0, 1.0, 2.0, detach_scale=flag) is not None
    if flag:
        from zeroproof.array.tape import parameter
        assert SGD([parameter(np.zeros(2))], lr=0.1, momentum=0.9, nesterov=flag).nesterov is True
    for bad in (1, "yes", None):
        with pytest.raises(TypeError, match=r"must be a bool \(True or False\), got"):
            SCMInferenceWrapper(lambda x: (x, x)).train(bad)
