"""tau_infer sweeps (zeroproof.metrics)."""
import json

import numpy as np
import pytest

from zeroproof.inference import InferenceConfig, strict_inference
from zeroproof.metrics import tau_infer_sweep_from_q_abs, write_tau_infer_sweep


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    in_range = rng.random(n) < 0.8
    q_abs = np.where(in_range, 10 ** rng.uniform(-5, 0, n), 10 ** rng.uniform(-9, -3, n))
    q_abs[:5] = [1e-4, 1e-4, np.nan, 0.0, 1e-3]
    return q_abs, in_range


def test_curves_monotone_in_tau():
    q_abs, in_range = _data()
    taus = list(np.logspace(-10, 1, 40))
    c = tau_infer_sweep_from_q_abs(q_abs, is_in_range=in_range, taus=taus)
    fir, fcr, cov = (np.array(c[k]) for k in ("false_in_range_on_censored",
                                                "false_censoring_on_in_range", "coverage"))
    assert np.all(np.diff(fir) <= 0) and np.all(np.diff(fcr) >= 0) and np.all(np.diff(cov) <= 0)
    assert np.all(np.diff(c["n_bottom"]) >= 0)
    assert c["n_in_range"] + c["n_censored"] == c["n_total"] == q_abs.size


def test_sweep_matches_strict_decoder_at_each_tau():
    q_abs, in_range = _data(500, 3)
    taus = [0.0, 1e-4, 1e-3, 0.3]           # 1e-4 and 1e-3 are exact values in q_abs
    c = tau_infer_sweep_from_q_abs(q_abs, is_in_range=in_range, taus=taus)
    for i, t in enumerate(taus):
        _, bottom, _ = strict_inference(np.ones_like(q_abs), q_abs, InferenceConfig(t))
        assert c["n_bottom"][i] == int(bottom.sum())
        assert c["coverage"][i] == pytest.approx(1 - bottom.mean())
        assert c["false_censoring_on_in_range"][i] == pytest.approx(bottom[in_range].mean())
        assert c["false_in_range_on_censored"][i] == pytest.approx((~bottom[~in_range]).mean())


def test_undefined_rates_are_none_and_order_kept():
    c = tau_infer_sweep_from_q_abs([0.1, 0.2], is_in_range=[True, True], taus=[1.0, 0.15])
    assert c["taus"] == [1.0, 0.15]
    assert c["false_in_range_on_censored"] == [None, None]
    assert c["false_censoring_on_in_range"] == [1.0, 0.5]


def test_sweep_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        tau_infer_sweep_from_q_abs(np.ones(3), is_in_range=np.ones(2, bool), taus=[1e-3])
    with pytest.raises(ValueError, match="q_abs"):
        tau_infer_sweep_from_q_abs(np.array([-1.0]), is_in_range=np.array([True]), taus=[1e-3])
    with pytest.raises(ValueError, match=r"taus\[1\]"):
        tau_infer_sweep_from_q_abs(np.ones(1), is_in_range=np.array([True]), taus=[1e-3, -1])
    with pytest.raises(ValueError, match="taus"):
        tau_infer_sweep_from_q_abs(np.ones(1), is_in_range=np.array([True]), taus=[])
    with pytest.raises(TypeError, match="is_in_range"):
        tau_infer_sweep_from_q_abs(np.ones(1), is_in_range=np.array([0.5]), taus=[1e-3])
    with pytest.raises(TypeError, match="taus"):
        tau_infer_sweep_from_q_abs(np.ones(1), is_in_range=np.array([True]), taus=1e-3)


def test_write_sweep(tmp_path):
    q_abs, in_range = _data(300)
    c = tau_infer_sweep_from_q_abs(q_abs, is_in_range=in_range, taus=[1e-6, 1e-4, 1e-2])
    paths = write_tau_infer_sweep(c, tmp_path / "out", title="demo")
    assert json.loads(paths["json"].read_text()) == c
    md = paths["markdown"].read_text()
    assert md.startswith("# demo") and md.count("\n| ") == 4   # header + 3 rows
    with pytest.raises(ValueError, match="missing keys"):
        write_tau_infer_sweep({"taus": [1.0]}, tmp_path)
