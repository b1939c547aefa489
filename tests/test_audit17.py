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


# -- scalar tape: stop_gradient, reductions, saturating forms, losses ---------------------------

import zeroproof as zp  # noqa: E402
from zeroproof import bottom, phi, real  # noqa: E402
from zeroproof.autodiff import (  # noqa: E402
    TRNode, stop_gradient, tr_grad, tr_max, tr_mean, tr_min, tr_prod, tr_sum,
)


def test_stop_gradient_blocks_a_subclass_instance_too():
    class My(TRNode):
        pass

    p = My(2.0, True)
    s = stop_gradient(p)
    assert s is not p and not s.requires_grad and s.value == real(2.0)
    y = p * stop_gradient(p)
    y.backward()
    assert p.gradient == real(2.0)


@pytest.mark.parametrize("fn", [tr_min, tr_max])
def test_min_max_give_every_reached_entry_a_gradient(fn):
    x, y = TRNode.parameter(1.0), TRNode.parameter(2.0)
    r = fn([x, y])
    r.backward()
    chosen, other = (x, y) if fn is tr_min else (y, x)
    assert chosen.gradient == real(1.0) and other.gradient == real(0.0)
    # a non-REAL result: Mask-REAL, every parameter reached gets R(0) (as tr_sum gives)
    x, y = TRNode.parameter(1.0), TRNode.parameter(2.0)
    r = fn([x, y, phi()])
    r.backward()
    assert r.tag is zp.TRTag.PHI and x.gradient == y.gradient == real(0.0)
    # tr_grad and backward agree
    g = tr_grad(lambda a, b: fn([a, b]), argnums=(0, 1))(1.0, 2.0)
    expected = [real(1.0), real(0.0)] if fn is tr_min else [real(0.0), real(1.0)]
    assert [v.value for v in g] == expected


@pytest.mark.parametrize("fn", [tr_sum, tr_mean, tr_prod, tr_min, tr_max])
def test_drop_null_reaches_the_entries_it_ignores(fn):
    x, p = TRNode.parameter(3.0), TRNode.parameter(phi())
    r = fn([x, p, 2.0], mode="drop_null")
    r.backward()
    assert r.tag is zp.TRTag.REAL and p.gradient == real(0.0)
    assert x.gradient == {tr_sum: real(1.0), tr_mean: real(0.5), tr_prod: real(2.0),
                          tr_min: real(0.0), tr_max: real(1.0)}[fn]


def test_second_derivative_through_a_maximum():
    assert tr_grad(tr_grad(lambda a: tr_max([a * a, 1.0])))(3.0).value == real(2.0)


def test_saturating_forms_let_bottom_absorb():
    from zeroproof.autodiff.saturating_ops import saturating_inverse_square, saturating_reciprocal

    for f in (saturating_inverse_square, saturating_reciprocal):
        assert f(bottom()).tag is zp.TRTag.BOTTOM
        assert f(phi()).tag is zp.TRTag.PHI


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_losses_on_node_lists_reduce_exactly_like_arrays(reduction):
    from zeroproof.losses import implicit_loss

    P, Q, Yn, Yd = [1e8, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    nodes = implicit_loss([TRNode.parameter(p) for p in P], [TRNode.parameter(q) for q in Q],
                          Yn, Yd, gamma=0.0, reduction=reduction)
    arrays = implicit_loss(np.array(P), np.array(Q), np.array(Yn), np.array(Yd), gamma=0.0,
                           reduction=reduction)
    assert nodes.value.value == arrays
    assert arrays == (1.0000000000000002e16 if reduction == "sum" else 3333333333333334.0)


def test_submodules_are_attributes_of_their_packages():
    code = ("import zeroproof as zp\n"
            "assert zp.training.targets.lift_targets is zp.training.lift_targets\n"
            "assert zp.autodiff.projective.encode(2.0) == (2.0, 1.0)\n"
            "assert zp.utils.ieee_bridge.from_ieee(float('nan')) == zp.phi()\n"
            "assert zp.autodiff.saturating_ops.saturating_reciprocal\n"
            "assert zp.inference.reference_models.PolynomialRationalHead\n"
            "try:\n    zp.training.no_such_thing\nexcept AttributeError as e:\n"
            "    assert 'no_such_thing' in str(e)\nelse:\n    raise SystemExit('no error')\n"
            "import sys\nassert not [m for m in sys.modules if m.startswith(('matplotlib', "
            "'torch'))]\n")
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                       env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert r.returncode == 0, r.stderr


def test_enum_like_arguments_refuse_other_types_with_type_error():
    from zeroproof.inference import PolynomialRationalHead
    from zeroproof.layers import basis_matrix

    with pytest.raises(TypeError, match="basis must be one of .*got int 1"):
        RationalLayer(1, 1, basis=1)
    with pytest.raises(TypeError, match="basis must be one of"):
        basis_matrix(np.zeros(3), 2, basis=None)
    with pytest.raises(ValueError, match="basis must be one of .*'cheb'"):
        RationalLayer(1, 1, basis="cheb")
    assert PolynomialRationalHead(1, dtype=np.float64).dtype == "float64"
    assert PolynomialRationalHead(1, dtype=np.dtype("f4")).dtype == "float32"
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        PolynomialRationalHead(1, dtype="float16")
    with pytest.raises(TypeError, match="dtype must be 'float32' or 'float64'.*got int 3"):
        PolynomialRationalHead(1, dtype=3)


def test_a_bool_among_numbers_in_a_list_is_refused_like_a_bool_alone():
    import zeroproof.array as za
    from zeroproof.autodiff.projective import decode, renormalize
    from zeroproof.losses import implicit_loss

    for call in (lambda: za.array([1.0, True]), lambda: za.array([[1.0], [np.True_]]),
                 lambda: decode([True, 1.0], [1.0, 1.0]),
                 lambda: renormalize([1.0, 2.0], (1.0, False)),
                 lambda: implicit_loss([True, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0])):
        with pytest.raises(TypeError, match=r"holds a bool \((np\.)?(True|False)_?\) among numbers"):
            call()
    assert za.array([[1, 2], [3.5, 4]]).shape == (2, 2)  # plain numbers still read


def test_check_gradient_names_a_masked_intermediate_instead_of_a_wrong_gradient():
    from zeroproof.autodiff import check_gradient

    r = check_gradient(lambda x: 1 / (1 / x), 0.0)
    assert not r.passed and r.analytical == 0.0 and r.numerical == 1.0
    assert r.reason.startswith("masked at x: an intermediate div node is +∞ at x")
    assert "mismatch" not in r.reason
    assert check_gradient(lambda x: 1 / (1 / x), 2.0).passed
    r = check_gradient(lambda x: x * 2.0 + 1 / (1 + 2.0 / x), 0.0)
    assert r.reason.startswith("masked at x")


def test_save_checkpoint_names_path_and_leaves_nothing_behind(tmp_path):
    from zeroproof.training import SGD, SCMTrainer, TrainingConfig

    m = RationalLayer(1, 1, seed=0)
    t = SCMTrainer(m, SGD(m.parameters(), lr=0.1), lambda o, y: (o - y) ** 2,
                   (np.zeros(4), np.ones(4)), TrainingConfig(epochs=1, progress=False))
    t.fit()
    with pytest.raises(ValueError, match=r"path=.* is a directory; give the checkpoint file"):
        t.save_checkpoint(tmp_path)
    with pytest.raises(ValueError, match=r"the directory .*nodir.* does not exist"):
        t.save_checkpoint(tmp_path / "nodir" / "ck.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert t.save_checkpoint(tmp_path / "ck.npz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]


def test_function_forms_read_both_arguments_alike():
    import zeroproof.array as za

    for fn in (za.add, za.sub, za.mul, za.div):
        assert fn([1.0, 2.0], 3.0).shape == fn(3.0, [1.0, 2.0]).shape == (2,)
        for args in ((float("nan"), 1.0), (1.0, float("nan"))):
            with pytest.raises(ValueError, match="must be finite"):
                fn(*args)
        assert fn(np.array([np.nan]), 1.0).tags.tolist() == [3]
        assert fn(1.0, np.array([np.nan])).tags.tolist() == [3]
    with pytest.raises(TypeError):
        za.array([1.0]) + [1.0]  # operators take no lists


def test_plot_training_draws_a_backbone_model():
    pytest.importorskip("matplotlib")
    from zeroproof.layers import Linear, Sequential, Tanh
    from zeroproof.training import plot_training

    s = Sequential(Linear(1, 4, seed=0), Tanh(), Linear(4, 1, seed=1), RationalLayer(2, 2, seed=0))
    fig = plot_training(s, n_points=33)
    line = fig.axes[0].lines[0]
    assert len(line.get_xdata()) == 33


def test_printed_progress_defaults_to_about_ten_lines(capsys):
    from zeroproof.training import SGD, SCMTrainer, TrainingConfig

    m = RationalLayer(1, 1, seed=0)
    t = SCMTrainer(m, SGD(m.parameters(), lr=0.01), lambda o, y: (o - y) ** 2,
                   (np.zeros(4), np.ones(4)), TrainingConfig(epochs=25, progress="print"))
    t.fit()
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch")]
    assert [ln.split()[2] for ln in lines] == ["[2/25]", "[4/25]", "[6/25]", "[8/25]", "[10/25]",
                                              "[12/25]", "[14/25]", "[16/25]", "[18/25]",
                                              "[20/25]", "[22/25]", "[24/25]", "[25/25]"]
    assert [ln.split()[1] for ln in lines][:2] == ["1", "3"]  # the history's 0-based index
    t.config.log_every = 5
    t.fit(epochs=30)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch")]
    assert [ln.split()[1:3] for ln in lines] == [["29", "[30/30]"]]


def test_encode_keeps_the_trarray_kind():
    import zeroproof.array as za
    from zeroproof.autodiff.projective import decode, encode

    N, D = encode(za.array(np.array([1.0, np.inf, -np.inf], np.float32)))
    assert isinstance(N, za.TRArray) and isinstance(D, za.TRArray) and N.dtype == np.float32
    assert N.to_numpy().tolist() == [1.0, 1.0, -1.0] and D.to_numpy().tolist() == [1.0, 0.0, 0.0]
    assert isinstance(decode(N, D), za.TRArray)
    n, d = encode(np.array([2.0, np.inf]))
    assert isinstance(n, np.ndarray) and d.tolist() == [1.0, 0.0]


def test_masked_reason_ignores_the_nodes_that_reach_unselected_entries():
    from zeroproof.autodiff import check_gradient
    from zeroproof.autodiff.grad_funcs import _first_non_real

    x = TRNode.parameter(3.0)
    assert _first_non_real(tr_max([x * x, x])) is None
    assert _first_non_real(1 / (1 / TRNode.parameter(0.0))).op == "div"
    assert check_gradient(lambda v: tr_max([v * v, 1.0]), 3.0).passed
