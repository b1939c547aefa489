"""ProjectiveRationalHead: shapes, anchoring, config round trip, bundle export/validate,
gradients against finite differences (constant input and through a backbone)."""
from __future__ import annotations

import numpy as np
import pytest

import zeroproof.array as za
from zeroproof.inference import InferenceConfig, export_bundle, load_bundle, validate_bundle
from zeroproof.inference.registry import registered_models
from zeroproof.layers import Linear, ProjectiveRationalHead, Sequential, Tanh
from zeroproof.losses import implicit_loss


@pytest.mark.parametrize("shared_q,anchor", [(False, True), (True, True), (False, False),
                                             (True, False)])
def test_fresh_head_shapes_and_q_is_one(shared_q, anchor):
    head = ProjectiveRationalHead(3, 2, degree_p=2, degree_q=2, shared_q=shared_q, anchor=anchor,
                                  seed=0)
    x = np.random.default_rng(1).standard_normal((5, 3))
    P, Q = head(x)
    assert P.shape == Q.shape == (5, 2)
    assert np.all(Q.numpy() == 1.0)
    rows = head.n_features_q - (1 if anchor else 0)
    assert head.denominator.shape == (rows, 1 if shared_q else 2)
    p, q = head.predict_pq(x)
    np.testing.assert_array_equal(p, P.numpy())
    np.testing.assert_array_equal(q, Q.numpy())


def test_anchored_and_free_denominators_give_the_same_function():
    x = np.random.default_rng(2).standard_normal((7, 2))
    a = ProjectiveRationalHead(2, 1, degree_p=1, degree_q=1, anchor=True, seed=0)
    b = ProjectiveRationalHead(2, 1, degree_p=1, degree_q=1, anchor=False, seed=0)
    num = np.array([[0.5], [1.0], [-2.0]])
    a.load_state_dict({"numerator": num, "denominator": np.array([[3.0], [0.25]])})
    b.load_state_dict({"numerator": num, "denominator": np.array([[1.0], [3.0], [0.25]])})
    for pa, pb in zip(a.predict_pq(x), b.predict_pq(x)):
        np.testing.assert_allclose(pa, pb, rtol=1e-14)


def test_config_round_trip_and_state():
    head = ProjectiveRationalHead(4, 3, degree_p=3, degree_q=2, shared_q=True, anchor=False,
                                  init_scale=0.2, seed=5)
    clone = ProjectiveRationalHead.from_config(head.get_config())
    assert clone.get_config() == head.get_config()
    clone.load_state_dict(head.state_dict())
    x = head.example_inputs(6)
    for u, v in zip(head.predict_pq(x), clone.predict_pq(x)):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="unknown keys"):
        ProjectiveRationalHead.from_config({"in_features": 2, "degree": 3})
    with pytest.raises(ValueError, match="denominator"):
        clone.load_state_dict({"numerator": head.state_dict()["numerator"],
                               "denominator": np.zeros((2, 2))})


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(batch, 3\).*\(4, 2\)"):
        ProjectiveRationalHead(3)(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="anchor=True with degree_q=0"):
        ProjectiveRationalHead(2, degree_q=0)
    with pytest.raises(TypeError, match="shared_q"):
        ProjectiveRationalHead(2, shared_q="yes")
    with pytest.raises(ValueError, match="in_features"):
        ProjectiveRationalHead(0)


def test_registered_and_bundle_round_trip(tmp_path):
    assert "zeroproof.ProjectiveRationalHead" in registered_models()
    head = ProjectiveRationalHead(2, 2, degree_p=2, degree_q=1, anchor=False, seed=0)
    head.load_state_dict({"numerator": head.state_dict()["numerator"],
                          "denominator": np.array([[0.0, 0.1], [1.0, 0.0], [0.0, 1.0]])})
    x = np.array([[0.0, 0.3], [1.0, -0.5], [0.5, 0.0], [2.0, 1.0]])   # Q = x0 is 0 on row 0
    path = export_bundle(head, tmp_path / "b", InferenceConfig(tau_infer=1e-6, tau_train=1e-3),
                         reference_inputs=x)
    report = validate_bundle(path)
    assert report.model_name == "zeroproof.ProjectiveRationalHead"
    loaded = load_bundle(path)
    for u, v in zip(loaded.model.predict_pq(x), head.predict_pq(x)):
        np.testing.assert_array_equal(u, v)


def _loss_numpy(head, x, yn, yd, state):
    head.load_state_dict(state)
    P, Q = head.predict_pq(x)
    return float(np.sum((P * yd - Q * yn) ** 2 / (Q * Q * yd * yd + P * P * yn * yn + 1e-9)))


@pytest.mark.parametrize("shared_q,anchor", [(False, True), (True, False)])
def test_parameter_gradients_match_finite_differences(shared_q, anchor):
    rng = np.random.default_rng(3)
    head = ProjectiveRationalHead(3, 2, degree_p=2, degree_q=1, shared_q=shared_q,
                                  anchor=anchor, init_scale=0.5, seed=4)
    state = head.state_dict()
    state["denominator"] = state["denominator"] + 0.2 * rng.standard_normal(
        state["denominator"].shape)
    head.load_state_dict(state)
    x = rng.uniform(-1, 1, (9, 3))
    y = rng.standard_normal((9, 2))
    y[0, 1] = np.nan                                         # a ⊥ target: (1, 0)
    yn = np.where(np.isnan(y), 1.0, y)
    yd = np.where(np.isnan(y), 0.0, 1.0)
    P, Q = head(x)
    loss = implicit_loss(P, Q, yn, yd, reduction="sum")
    grads = za.grad(loss, [head.numerator, head.denominator])
    h = 1e-6
    for name, g in zip(("numerator", "denominator"), grads):
        g = np.asarray(g.codes)
        fd = np.zeros_like(g)
        for idx in np.ndindex(g.shape):
            plus = {k: v.copy() for k, v in state.items()}
            minus = {k: v.copy() for k, v in state.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            fd[idx] = (_loss_numpy(head, x, yn, yd, plus)
                       - _loss_numpy(head, x, yn, yd, minus)) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7, err_msg=name)


def test_backbone_input_gets_gradients_matching_finite_differences():
    rng = np.random.default_rng(6)
    net = Sequential(Linear(2, 3, seed=0), Tanh(),
                     ProjectiveRationalHead(3, 1, degree_p=2, degree_q=2, seed=1))
    x = rng.uniform(-1, 1, (6, 2))
    P, Q = net(x)
    # The tape path (backbone features) and the constant path agree on the values.
    h_const = net[1](net[0](x)).numpy()
    p2, q2 = net[2].predict_pq(h_const)
    np.testing.assert_allclose(P.numpy(), p2, rtol=1e-12)
    np.testing.assert_allclose(Q.numpy(), q2, rtol=1e-12)
    w = net[0].weight
    (g,) = za.grad((P * P + Q).sum(), [w])
    base = np.array(w.codes, copy=True)
    fd = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        vals = []
        for s in (1e-6, -1e-6):
            trial = base.copy()
            trial[idx] += s
            w.set_value(trial)
            Pv, Qv = net(x)
            vals.append(float((Pv.numpy() ** 2 + Qv.numpy()).sum()))
        fd[idx] = (vals[0] - vals[1]) / 2e-6
    w.set_value(base)
    np.testing.assert_allclose(np.asarray(g.codes), fd, rtol=1e-5, atol=1e-7)


def test_trains_with_scm_trainer_on_lifted_targets():
    from zeroproof.training import AdamW, SCMTrainer, TrainingConfig

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (256, 2))
    y = (x[:, :1] + 0.5 * x[:, 1:]) / (1.0 + 0.5 * x[:, :1])   # in the family, no pole in range
    head = ProjectiveRationalHead(2, 1, degree_p=1, degree_q=1, seed=0)

    def loss_fn(out, lifted):
        return implicit_loss(out[0], out[1], lifted[0], lifted[1], reduction="none")

    history = SCMTrainer(head, AdamW(head.parameters(), lr=0.05, weight_decay=0.0), loss_fn,
                         (x, y), TrainingConfig(epochs=40, batch_size=64, progress="none")).fit()
    assert history[-1]["loss"] < 0.05 * history[0]["loss"]
    P, Q = head.predict_pq(x)
    assert np.median(np.abs(P / Q - y)) < 0.05
