"""Every snippet of seeds/inference_and_deployment.txt, verbatim, with NumPy arrays in place of
tensors (``torch`` imports dropped)."""
import numpy as np
import pytest

B = 64


@pytest.fixture
def P():
    rng = np.random.default_rng(0)
    return rng.standard_normal((B, 1))


@pytest.fixture
def Q():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((B, 1))
    q[:6, 0] = [0.0, 1e-7, -1e-9, 5e-4, 2e-6, -3e-5]   # bottoms and gap rows
    return q


@pytest.fixture
def dir_logits():
    return np.random.default_rng(2).standard_normal((B, 2))


@pytest.fixture
def wrapped():
    from zeroproof.inference import InferenceConfig, SCMInferenceWrapper
    from zeroproof.inference.reference_models import PolynomialRationalHead
    model = PolynomialRationalHead(in_features=1, degree_p=1, degree_q=1)
    model.load_state_dict({"numerator": np.array([[1.0], [0.0]]),
                           "denominator": np.array([[0.0], [1.0]])})   # P/Q = 1/x
    # deployed: trained, then switched to eval mode (strict outputs)
    return SCMInferenceWrapper(model, InferenceConfig(tau_infer=1e-6, tau_train=1e-4)).eval()


@pytest.fixture
def x():
    return np.array([[1.0], [0.0], [1e-7], [5e-5], [-2.0]])


def test_validate_bundle_snippet(tmp_path, monkeypatch):
    from zeroproof.inference import export_bundle
    from zeroproof.inference.reference_models import PolynomialRationalHead
    export_bundle(PolynomialRationalHead(2), tmp_path / "path/to/bundle_dir")
    monkeypatch.chdir(tmp_path)
    from zeroproof.inference import validate_bundle
    validate_bundle("path/to/bundle_dir")


def test_censored_3way_snippet(P, Q, dir_logits):
    from zeroproof.inference import decode_strict_censored_3way
    # Given projective head outputs (P, Q) and optional direction logits.
    decoded, bottom_mask, class_id = decode_strict_censored_3way(
        P.squeeze(-1),
        Q.squeeze(-1),
        tau_infer=1e-6,
        direction_logits=dir_logits,  # shape (B, 2); omit to fall back to sign(P)
    )
    assert decoded.shape == bottom_mask.shape == class_id.shape == (B,)
    assert bottom_mask[:3].all() and not bottom_mask[3:6].any()
    assert set(np.unique(class_id[bottom_mask])) <= {0, 2}
    assert (class_id[~bottom_mask] == 1).all()


def test_monitoring_snippet(wrapped, x):
    from zeroproof.inference import StrictInferenceMonitor, reject_on_gap
    decoded, bottom_mask, gap_mask = wrapped(x)  # strict outputs
    decoded_safe, accept_mask = reject_on_gap(decoded, bottom_mask, gap_mask)
    mon = StrictInferenceMonitor(bundle_id="my_bundle")
    mon.update(bottom_mask, gap_mask)
    rates = mon.rates()
    assert rates["n_bottom"] == 2 and rates["n_gap"] == 1 and rates["n_accept"] == 2
    assert accept_mask.ravel().tolist() == [True, False, False, False, True]


def test_sweep_snippet():
    q_abs = np.array([1e-7, 2e-6, 3e-5, 0.5, 2e-5, 0.9])
    is_in_range = np.array([False, False, False, True, True, True])
    from zeroproof.metrics import tau_infer_sweep_from_q_abs
    # q_abs: cached |Q|, is_in_range: boolean ground-truth mask
    curves = tau_infer_sweep_from_q_abs(q_abs, is_in_range=is_in_range, taus=[1e-6, 1e-5, 1e-4])
    assert curves["taus"] == [1e-6, 1e-5, 1e-4]


def test_safety_first_snippet(P, Q):
    from zeroproof.inference import InferenceConfig, reject_on_gap, safe_sentinel, strict_inference
    cfg = InferenceConfig(tau_infer=1e-4, tau_train=1e-3)
    decoded, bottom_mask, gap_mask = strict_inference(P, Q, config=cfg)
    decoded, accept_mask = reject_on_gap(decoded, bottom_mask, gap_mask)
    decoded = safe_sentinel(decoded, ~accept_mask, sentinel=float("nan"))
    assert np.isnan(decoded[:6]).all()
    assert np.isfinite(decoded[accept_mask]).all()


def test_direction_aware_snippet(P, Q, dir_logits):
    from zeroproof.inference import decode_strict_censored_3way
    decoded, bottom_mask, class_id = decode_strict_censored_3way(
        P.squeeze(-1),
        Q.squeeze(-1),
        tau_infer=1e-6,
        direction_logits=dir_logits,  # (B, 2)
    )
    expected = np.where(dir_logits[:, 1] > dir_logits[:, 0], 2, 0)
    assert np.array_equal(class_id[bottom_mask], expected[bottom_mask])


def test_accuracy_first_snippet(wrapped, x):
    from zeroproof.inference import StrictInferenceMonitor, reject_on_bottom
    decoded, bottom_mask, gap_mask = wrapped(x)
    decoded, accept_mask = reject_on_bottom(decoded, bottom_mask)
    mon = StrictInferenceMonitor(bundle_id="my_bundle")
    mon.update(bottom_mask, gap_mask)  # log rates; do not reject gap by default
    assert accept_mask.ravel().tolist() == [True, False, False, True, True]
    assert mon.rates()["gap_rate"] == 0.2


def test_bottom_encoded_as_nan_like_to_ieee():
    from zeroproof.utils.ieee_bridge import to_ieee
    from zeroproof import bottom
    from zeroproof.inference import strict_inference
    decoded, bottom_mask, _ = strict_inference(np.array([1.0]), np.array([0.0]))
    assert np.isnan(decoded[0]) and np.isnan(to_ieee(bottom()))
