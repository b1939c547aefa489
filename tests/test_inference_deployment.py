"""The reference robotics deployment script, end to end with small settings, for both fits."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zeroproof.inference import validate_bundle

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("fit,model_name", [("trainer", "zeroproof.ProjectiveRationalHead"),
                                            ("closed-form", "zeroproof.PolynomialRationalHead")])
def test_reference_deployment_script(tmp_path, fit, model_name):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "reference_robotics_deployment.py"),
         "--device", "cpu", "--epochs", "2", "--n-samples", "1500", "--out", str(tmp_path),
         "--run-name", "ci", "--fit", fit],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "ci"
    report = (run / "VALIDATION_REPORT.md").read_text()
    for words in ("coverage", "bottom rate", "gap rate", "validate_bundle: **passed**"):
        assert words in report
    assert sorted(os.listdir(run / "bundle")) == ["architecture.json", "metadata.json",
                                                  "parameters.npz", "reference.npz"]
    assert validate_bundle(run / "bundle").model_name == model_name
    assert f"fit={fit}" in report
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["settings"]["fit"] == fit
    summary = metrics["training_summary"]
    assert summary["test_error_after"]["median"] < 0.1
    if fit == "trainer":
        assert [e["epoch"] for e in metrics["training"]] == [1, 2]
        assert all(e["loss"] is not None and e["loss_coverage"] == 1.0
                   for e in metrics["training"])
        assert "SCMTrainer" in report and "at the start" in report
    assert metrics["final_outputs_all_finite"] is True
    sf = metrics["safety_first"]
    assert abs(sf["bottom_rate"] + sf["gap_rate"] + sf["accept_rate"] - 1) < 1e-12
    assert (run / "tau_infer_sweep.json").exists() and (run / "tau_infer_sweep.md").exists()
    # tau_train is max(percentile, tau_infer), and the report says so (and whether it clamped)
    src = metrics["tau_train_source"]
    th = metrics["thresholds"]
    assert th["tau_train"] == max(src["q_abs_p1_finite_train"], th["tau_infer"])
    assert src["clamped_to_tau_infer"] == (src["q_abs_p1_finite_train"] < th["tau_infer"])
    line = next(ln for ln in report.splitlines() if ln.startswith("- tau_train"))
    assert "max(1st percentile of |Q| over finite training targets, tau_infer)" in line
    assert ("clamped up to tau_infer" in line) == src["clamped_to_tau_infer"]
    # the sweep counts joint values (2 per row); report and sweep say the same numbers
    rows = metrics["split_sizes"]["calibration"]
    assert metrics["calibration_sweep_size"] == {"rows": rows, "joint_values": 2 * rows}
    units = f"{2 * rows} joint values from {rows} rows"
    assert units in report and units in (run / "tau_infer_sweep.md").read_text()
