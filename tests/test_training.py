"""Optimizers, data loading, SCMTrainer: learning a pole inside the data (vs IEEE NaN), hybrid
statistics against a hand count, bit-for-bit resume, reproducibility and bad input."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import zeroproof.array as za
from zeroproof.autodiff import HybridGradientSchedule, create_default_schedule
from zeroproof.layers import RationalLayer
from zeroproof.training import (
    SGD, Adam, AdamW, DataLoader, SCMTrainer, TensorDataset, TrainingConfig, chordal_loss,
    squared_error,
)

X = np.linspace(-1.0, 1.0, 257)  # step 1/128: x = 0.5 is a data point
with np.errstate(divide="ignore"):
    Y = 1.0 / (X - 0.5)


def _fit(epochs=120, degree=(1, 1), basis="monomial", schedule="default", seed=0, **cfg):
    model = RationalLayer(*degree, basis=basis, seed=seed)
    sched = create_default_schedule(warmup_epochs=5) if schedule == "default" else schedule
    config = TrainingConfig(epochs=epochs, batch_size=64, seed=seed, schedule=sched,
                            progress=False, **cfg)
    trainer = SCMTrainer(model, Adam(model.parameters(), lr=0.05), chordal_loss, (X, Y), config)
    return model, trainer


# -- learning a pole ---------------------------------------------------------------------------
@pytest.mark.parametrize("degree,basis", [((1, 1), "monomial"), ((2, 2), "chebyshev")])
def test_learns_pole_inside_the_data(degree, basis):
    model, trainer = _fit(epochs=200, degree=degree, basis=basis)
    history = trainer.fit()
    poles = model.find_poles(domain=(-1, 1))
    assert np.min(np.abs(poles - 0.5)) < 0.01
    far = np.linspace(-1, 1, 1001)
    far = far[np.abs(far - 0.5) > 0.2]
    pred = model(far).numpy()
    assert np.all(np.isfinite(pred))
    np.testing.assert_allclose(pred, 1.0 / (far - 0.5), rtol=0.05, atol=0.05)
    assert all(np.all(np.isfinite(p.codes)) for p in model.parameters())
    assert history[-1]["loss"] < history[0]["loss"]
    # the target at x = 0.5 is +∞: its loss element is Φ and drops out of every epoch's mean
    assert all(r["loss_coverage"] == pytest.approx(256 / 257) for r in history)


def _ieee_run(epochs=5):
    """The same model, loss and Adam written in plain NumPy floats with hand-written gradients."""
    a = RationalLayer(1, 1, seed=0).p_coefficients().ravel().copy()
    b = np.zeros(1)
    m = np.zeros(3); v = np.zeros(3)
    loader = DataLoader(TensorDataset(X, Y), batch_size=64, shuffle=True, seed=0)
    t = 0
    with np.errstate(all="ignore"):
        for epoch in range(epochs):
            loader.set_epoch(epoch)
            for xb, yb in loader:
                P = a[0] + a[1] * xb
                Q = 1.0 + b[0] * xb
                y = P / Q
                w = 1.0 / (1.0 + y * y)
                u1, u2 = 2 * w - 1, 2 * y * w
                wt = 1.0 / (1.0 + yb * yb)
                t1, t2 = 2 * wt - 1, 2 * yb * wt
                # d loss / d y, loss = (u1 - t1)^2 + (u2 - t2)^2, averaged over the batch
                dw = -2 * y * w * w
                dy = (2 * (u1 - t1) * 2 * dw + 2 * (u2 - t2) * (2 * w + 2 * y * dw)) / len(xb)
                gP = dy / Q
                gQ = -dy * y / Q
                g = np.array([gP.sum(), (gP * xb).sum(), (gQ * xb).sum()])
                t += 1
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * g * g
                step = 0.05 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
                a = a - step[:2]
                b = b - step[2:]
    return np.concatenate([a, b])


def test_ieee_numpy_run_is_nan_where_ours_is_not():
    params = _ieee_run()
    assert np.all(np.isnan(params))  # the +inf target at x = 0.5 poisons the first batch with it
    model, trainer = _fit(epochs=5, schedule=None)
    trainer.fit()
    assert all(np.all(np.isfinite(p.codes)) for p in model.parameters())


# -- hybrid statistics ------------------------------------------------------------------------
def test_hybrid_statistics_match_a_hand_count():
    x = np.array([-0.5, 0.0, 0.3, 0.49, 0.5005, 0.9])
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    delta = 0.35
    sched = HybridGradientSchedule(warmup_epochs=1, transition_epochs=0, delta_init=delta,
                                   delta_final=delta, adaptive_delta=False,
                                   force_pole_exploration=False)
    layer = RationalLayer(0, 1, seed=0)
    layer.load_state_dict({"numerator": np.array([[1.0]]), "denominator": np.array([[-1.9]])})
    seen = []  # |Q| of every batch, as the model computed it

    def model(xb):
        seen.append(np.abs(layer.forward_pq(xb)[1].numpy()))
        return layer(xb)

    trainer = SCMTrainer(model, SGD(layer.parameters(), lr=1e-5), squared_error,
                         DataLoader((x, y), batch_size=4, shuffle=False),
                         TrainingConfig(epochs=3, schedule=sched, progress=False))
    history = trainer.fit()
    assert len(seen) == 6  # 3 epochs x 2 batches
    # warm-up epoch: HYBRID is exactly Mask-REAL, no decisions are made or counted
    assert history[0]["delta"] is None and history[0]["hybrid"]["total_gradient_calls"] == 0
    for epoch in (1, 2):
        qs = seen[2 * epoch: 2 * epoch + 2]
        calls = sum(q.size for q in qs)
        sat = sum(int(np.count_nonzero(q <= delta)) for q in qs)
        h = history[epoch]["hybrid"]
        assert 0 < sat < calls
        assert h["total_gradient_calls"] == calls == 6
        assert h["saturating_activations"] == sat
        assert h["mask_real_activations"] == calls - sat
        assert h["saturating_ratio"] == pytest.approx(sat / calls)
        assert h["q_min_epoch"] == pytest.approx(min(float(q.min()) for q in qs))
        assert history[epoch]["delta"] == delta


def test_history_records_the_schedule():
    model, trainer = _fit(epochs=8)
    h = trainer.fit()
    assert [r["epoch"] for r in h] == list(range(8))
    assert h[0]["delta"] is None and h[0]["hybrid"]["total_gradient_calls"] == 0  # warm-up
    assert h[6]["delta"] == pytest.approx(1e-2 * (1e-6 / 1e-2) ** (1 / 20))
    # two division nodes per sample: P/Q and the 1/(1 + v²) of the chordal loss; the sample with
    # the +∞ target has a Φ loss element, so its path receives nothing and decides nothing (as a
    # scalar-tape backward at that point would)
    assert h[6]["hybrid"]["total_gradient_calls"] == 2 * 256
    assert h[6]["hybrid"]["exploration_regions"]  # poles detected after epoch 5 are explored
    json.dumps(h, allow_nan=False)  # JSON-able


# -- checkpoints and reproducibility -------------------------------------------------------------
def _strip(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history]


def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(tmp_path):
    model_a, full = _fit(epochs=12)
    full.fit()
    model_b, first = _fit(epochs=12)
    first.fit(epochs=5)
    path = first.save_checkpoint(tmp_path / "ck.npz")
    model_c, resumed = _fit(epochs=12, seed=0)
    resumed.load_checkpoint(path)
    assert resumed.epoch == 5
    resumed.fit()
    for (na, pa), (nc, pc) in zip(model_a.named_parameters(), model_c.named_parameters()):
        assert na == nc
        assert pa.codes.tobytes() == pc.codes.tobytes()
    assert _strip(resumed.history) == _strip(full.history)
    for k, v in full.optimizer.state_dict()["arrays"].items():
        assert v.tobytes() == resumed.optimizer.state_dict()["arrays"][k].tobytes()


def test_checkpoint_has_no_pickle(tmp_path):
    model, trainer = _fit(epochs=2)
    trainer.fit()
    path = trainer.save_checkpoint(tmp_path / "ck.npz")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert "__meta__.json" in names and all(n.endswith((".npy", ".json")) for n in names)
    with np.load(path, allow_pickle=False) as npz:
        assert any(k.startswith("param/") for k in npz.files)


def test_checkpoint_from_a_different_architecture_is_refused(tmp_path):
    model, trainer = _fit(epochs=1)
    trainer.fit()
    path = trainer.save_checkpoint(tmp_path / "ck.npz")
    other = RationalLayer(3, 2, seed=0)
    t2 = SCMTrainer(other, Adam(other.parameters(), lr=0.1), chordal_loss, (X, Y),
                    TrainingConfig(epochs=2, progress=False))
    with pytest.raises(ValueError, match="different architecture"):
        t2.load_checkpoint(path)
    with pytest.raises(ValueError, match="not a zeroproof checkpoint|cannot read"):
        (tmp_path / "junk.npz").write_bytes(b"not a zip")
        t2.load_checkpoint(tmp_path / "junk.npz")


def test_same_seed_same_run_and_different_seed_different_order():
    m1, t1 = _fit(epochs=4)
    m2, t2 = _fit(epochs=4)
    t1.fit(); t2.fit()
    assert m1.numerator.codes.tobytes() == m2.numerator.codes.tobytes()
    loader = DataLoader((X,), batch_size=10, shuffle=True, seed=1)
    assert not np.array_equal(loader.order(0), DataLoader((X,), 10, True, 2).order(0))
    assert not np.array_equal(loader.order(0), loader.order(1))


# -- optimizers -------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p, lr=0.1),
                                  lambda p: AdamW(p, lr=0.1)])
def test_optimizers_skip_non_real_gradient_elements(make):
    w = za.parameter(np.array([1.0, 2.0, 3.0, 4.0]))
    opt = make([w])
    # gradient elements: REAL, +∞ (exact rule at a pole in MASK_REAL), Φ, REAL
    w._grad = np.array([1.0, np.inf, np.nan, -1.0])
    skipped = opt.step()
    new = w.codes
    assert skipped == 2 and opt.total_skipped == 2
    assert new[1] == 2.0 and new[2] == 3.0  # untouched
    assert new[0] < 1.0 and new[3] > 4.0 - 1e-12
    assert np.all(np.isfinite(new))
    for st in opt.state:
        for arr in st.values():
            assert np.all(np.isfinite(arr)) and arr[1] == 0.0 and arr[2] == 0.0


def test_adam_overflowing_second_moment_is_skipped_not_nan():
    w = za.parameter(np.array([1.0, 1.0]))
    opt = Adam([w], lr=0.1)
    w._grad = np.array([1e300, 1.0])  # g*g overflows to inf
    assert opt.step() == 1
    assert w.codes[0] == 1.0 and np.isfinite(w.codes[1]) and w.codes[1] != 1.0


def test_optimizer_never_writes_nan_in_training_with_nan_inputs():
    x = X.copy()
    x[::17] = np.nan  # NaN inputs are Φ: their outputs and loss elements are Φ and drop out
    model = RationalLayer(2, 2, seed=0)
    trainer = SCMTrainer(model, SGD(model.parameters(), lr=0.05, momentum=0.5), chordal_loss,
                         (x, Y), TrainingConfig(epochs=5, progress=False))
    h = trainer.fit()
    assert all(np.all(np.isfinite(p.codes)) for p in model.parameters())
    n_nan = int(np.isnan(x).sum())
    assert h[-1]["coverage"] == pytest.approx(1 - n_nan / len(x))
    assert h[-1]["loss"] is not None and np.isfinite(h[-1]["loss"])


@pytest.mark.parametrize("lr", [0.0, -1e-3])
def test_lr_must_be_positive(lr):
    w = za.parameter(np.ones(2))
    for cls in (SGD, Adam, AdamW):
        with pytest.raises(ValueError, match=r"lr must be a finite number > 0, got"):
            cls([w], lr=lr)


def test_bad_arguments():
    w = za.parameter(np.ones(2))
    with pytest.raises(ValueError, match="params is empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="params\\[0\\]"):
        SGD([za.constant(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        SGD([w], lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="lift_targets"):
        TrainingConfig(lift_targets="sometimes")
    with pytest.raises(ValueError, match="batch_size"):
        TrainingConfig(batch_size=0)
    with pytest.raises(TypeError, match="schedule"):
        TrainingConfig(schedule="hybrid")
    with pytest.raises(ValueError, match="array 1 has 3 samples"):
        TensorDataset(np.zeros(4), np.zeros(3))
    model = RationalLayer(1, 1, seed=0)
    with pytest.raises(TypeError, match="optimizer must be"):
        SCMTrainer(model, object(), chordal_loss, (X, Y))
    bad = SCMTrainer(model, SGD(model.parameters(), lr=0.1), chordal_loss,
                     (np.zeros((8, 2)), np.zeros(8)), TrainingConfig(epochs=1, progress=False))
    with pytest.raises(ValueError, match=r"\(batch,\) or \(batch, 1\)"):
        bad.fit()


def test_progress_prints_plain_lines_without_tqdm(capsys):
    model, trainer = _fit(epochs=4, log_every=2)
    trainer.config.progress = "print"
    trainer.fit()
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch")]
    assert len(lines) == 2 and "loss" in lines[0] and "coverage" in lines[0]


def test_lift_targets_auto_uses_issue_7_module_when_the_model_returns_a_pair():
    model = RationalLayer(1, 1, seed=0)
    seen = {}

    def loss(out, targets):
        seen["targets"] = targets
        p, q = out
        return ((p - q) ** 2).sum()

    class PQ:
        def __call__(self, x):
            return model.forward_pq(x)

    trainer = SCMTrainer(PQ(), SGD(model.parameters(), lr=0.01), loss, (X[:8], Y[:8]),
                         TrainingConfig(epochs=1, progress=False, shuffle=False))
    try:
        import zeroproof.training.targets  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="lift_targets=False"):
            trainer.fit()
    else:
        trainer.fit()
        assert isinstance(seen["targets"], tuple) and len(seen["targets"]) == 2


def test_module_tree_includes_modules_in_lists_and_angular_head_config_round_trip():
    from zeroproof.layers import AngularProjectiveHead, Linear, ReLU, Sequential

    net = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
    assert [type(m).__name__ for m in net.modules()] == ["Sequential", "Linear", "ReLU", "Linear"]
    assert [n for n, _ in net.named_children()] == ["layers.0", "layers.1", "layers.2"]
    net.eval()
    assert not any(m.training for m in net.modules())
    head = AngularProjectiveHead(4, 2, theta_scale=2.0)
    again = AngularProjectiveHead.from_config(head.get_config())
    assert again.get_config() == head.get_config()
    with pytest.raises(ValueError, match="gauge"):
        AngularProjectiveHead.from_config({**head.get_config(), "gauge": "free"})


def _pole_data(n=64):
    x = np.linspace(-1, 1, n)
    with np.errstate(divide="ignore"):
        return x, 1 / (x - 0.5)


def test_epochs_that_would_train_nothing_are_errors():
    from zeroproof.training import Adam, SCMTrainer, TrainingConfig, chordal_loss

    x, y = _pole_data()
    model = RationalLayer(2, 2, seed=0)
    cfg = TrainingConfig(epochs=2, batch_size=16, progress="none")
    constant_loss = lambda out, t: za.constant(1.0)  # noqa: E731
    with pytest.raises(ValueError, match="depends on no parameter"):
        SCMTrainer(model, Adam(model.parameters()), constant_loss, (x, y), cfg).fit()
    batches = ((x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16))  # a one-shot generator
    with pytest.raises(TypeError, match="one-shot iterator .* fit\\(\\) would train 2"):
        SCMTrainer(model, Adam(model.parameters()), chordal_loss, batches, cfg).fit()

    class Once:  # re-iterable, but dry after one pass: found out at the epoch that sees nothing
        def __init__(self) -> None:
            self.items = [(x[:16], y[:16])]

        def __iter__(self):
            items, self.items = self.items, []
            return iter(items)

    with pytest.raises(ValueError, match="epoch 1 saw no batches"):
        SCMTrainer(model, Adam(model.parameters()), chordal_loss, Once(), cfg).fit()
    with pytest.raises(ValueError, match="epoch 0 saw no batches"):
        SCMTrainer(model, Adam(model.parameters()), chordal_loss, [], cfg).fit()
    trainer = SCMTrainer(model, Adam(model.parameters()), chordal_loss, (x, y), cfg)
    with pytest.raises(TypeError, match="epochs must be an int"):
        trainer.fit(2.7)


def test_checkpoint_restores_the_shuffle_seed(tmp_path):
    from zeroproof.training import Adam, SCMTrainer, TrainingConfig, chordal_loss

    x, y = _pole_data()

    def make(seed):
        model = RationalLayer(2, 2, seed=0)
        cfg = TrainingConfig(epochs=6, batch_size=16, seed=seed, progress="none")
        return model, SCMTrainer(model, Adam(model.parameters(), lr=0.01), chordal_loss, (x, y),
                                 cfg)

    m1, t1 = make(None)  # a random shuffle seed, drawn once
    t1.fit(3)
    t1.save_checkpoint(tmp_path / "ck.zip")
    t1.fit(6)
    m2, t2 = make(12345)  # a different seed: the checkpoint's must win
    t2.load_checkpoint(tmp_path / "ck.zip")
    t2.fit(6)
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(a.codes, b.codes)


def test_wrapper_in_training_keeps_a_projective_head_on_the_tape():
    from zeroproof.inference import SCMInferenceWrapper
    from zeroproof.layers import ProjectiveRationalHead

    head = ProjectiveRationalHead(1, 1, seed=0)
    P, Q = SCMInferenceWrapper(head).train()(np.zeros((3, 1)))
    assert isinstance(P, za.TRTensor) and P.requires_grad
    decoded, bottom, gap = SCMInferenceWrapper(head).eval()(np.zeros((3, 1)))  # NumPy decoding
    assert isinstance(decoded, np.ndarray)


def test_lifted_targets_reach_the_loss_with_their_kinds():
    from zeroproof.training import Adam, SCMTrainer, TrainingConfig
    from zeroproof.training.targets import LiftedTargets

    x, y = _pole_data(32)
    seen = []

    def loss(out, targets):
        seen.append(targets)
        P, Q = out
        return (P * targets[1] - Q * targets[0]) ** 2

    model = RationalLayer(2, 2, seed=0)
    cfg = TrainingConfig(epochs=1, batch_size=32, progress="none")
    SCMTrainer(model.forward_pq, Adam(model.parameters()), loss, (x, y), cfg).fit()
    assert isinstance(seen[0], LiftedTargets) and seen[0].finite_mask.shape == (32,)
    assert isinstance(seen[0][0], za.TRTensor)


def test_tau_sweep_compares_in_the_dtype_of_q():
    from zeroproof.inference import InferenceConfig, strict_inference
    from zeroproof.metrics import tau_infer_sweep_from_q_abs

    Q = np.array([1e-6, 2e-6, 5e-7], np.float32)
    bottom = strict_inference(np.ones(3, np.float32), Q, InferenceConfig(1e-6))[1]
    curves = tau_infer_sweep_from_q_abs(np.abs(Q), [True, True, False], [1e-6])
    assert curves["n_bottom"] == [int(bottom.sum())] == [1]


def test_adam_counts_steps_per_element_like_pytorch_per_parameter():
    a, b = za.parameter(np.array([1.0])), za.parameter(np.array([1.0, 1.0]))
    opt = Adam([a, b], lr=0.1)
    for s in range(6):
        opt.zero_grad()
        a._grad = np.array([0.5])
        if s >= 3:  # b gets gradients from step 4 on; its first element once is not REAL
            b._grad = np.array([np.inf, 0.5]) if s == 3 else np.array([0.5, 0.5])
        opt.step()
    # three Adam steps of size lr for b[1], two for b[0] (its first was skipped), six for a
    np.testing.assert_allclose(b.codes, [0.8, 0.7], rtol=1e-7)
    np.testing.assert_allclose(a.codes, [0.4], rtol=1e-7)


def test_float32_parameter_never_overflows_to_infinity():
    w = za.parameter(np.array([3.3e38, 1.0], dtype=np.float32))
    opt = SGD([w], lr=1.0)
    w._grad = np.array([-1e38, 1.0])
    assert opt.step() == 1
    assert np.isfinite(w.numpy()).all() and w.numpy()[1] == 0.0


def test_optimizer_load_state_dict_checks_what_it_restores():
    w = za.parameter(np.ones(2))
    sd = Adam([w], lr=0.1).state_dict()
    for key, value, exc in (("lr", -1.0, ValueError), ("betas", [2.0, 0.5], ValueError),
                            ("bogus", 1, ValueError)):
        bad = {**sd, "config": {**sd["config"], key: value}}
        opt = Adam([w], lr=0.5)
        with pytest.raises(exc):
            opt.load_state_dict(bad)
        assert opt.lr == 0.5  # nothing changed
    with pytest.raises(TypeError, match="state must be a dict"):
        Adam([w]).load_state_dict([1, 2])


def test_named_parameters_in_pytorch_order():
    from zeroproof.layers import Linear, ReLU, Sequential

    net = Sequential(Sequential(Linear(2, 4), ReLU()), Linear(4, 1))
    assert [n for n, _ in net.named_parameters()] == [
        "layers.0.layers.0.weight", "layers.0.layers.0.bias", "layers.1.weight", "layers.1.bias"]


def test_frozen_parameters_stay_parameters_like_pytorch():
    from zeroproof.layers import Linear

    lin = Linear(2, 2, seed=0)
    lin.bias.requires_grad = False  # frozen
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert lin.num_parameters() == 6 and set(lin.state_dict()) == {"weight", "bias"}
    lin.load_state_dict(Linear(2, 2, seed=1).state_dict())
    opt = Adam(lin.parameters(), lr=0.1)  # a frozen parameter is accepted and left alone
    lin(np.ones((3, 2))).sum().backward()
    bias = lin.bias.codes.copy()
    weight = lin.weight.codes.copy()
    opt.step()
    assert np.array_equal(lin.bias.codes, bias) and not np.array_equal(lin.weight.codes, weight)
    with pytest.raises(TypeError, match="parameter"):  # a constant is never a parameter
        Adam([za.constant([1.0])])
