"""The training stack under misuse and at the edges: state loading is all-or-nothing, a trainer
cannot silently train nothing, schedule state stays in its thread, band losses push a
denominator sitting exactly at 0, and arguments are checked by type."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import zeroproof.array as za
from zeroproof.autodiff import TRNode, create_default_schedule
from zeroproof.layers import Linear, RationalLayer, Sequential
from zeroproof.losses import coverage_loss, margin_loss, rejection_loss
from zeroproof.training import (
    Adam, DataLoader, SCMTrainer, TrainingConfig, chordal_loss, squared_error,
)


def _data(n=64, pole=0.5):
    x = np.linspace(-1.0, 1.0, n)
    return x, 1.0 / (x - pole + 1e-3)


# ---- state loading: nothing changes unless everything is valid ------------------------------
def test_optimizer_load_state_dict_is_all_or_nothing():
    w = za.parameter(np.zeros(2))
    opt = Adam([w], lr=0.1)
    state = opt.state_dict()
    state["arrays"] = dict(state["arrays"])
    before = {k: np.array(v) for k, v in opt.state_dict()["arrays"].items()}
    state["arrays"]["0.exp_avg"] = np.full(2, 0.1)
    state["arrays"]["0.exp_avg_sq"] = np.array(["x", "y"])
    with pytest.raises(TypeError, match="exp_avg_sq"):
        opt.load_state_dict(state)
    state["arrays"]["0.exp_avg_sq"] = np.array([np.nan, 0.1])
    with pytest.raises(ValueError, match="non-finite"):
        opt.load_state_dict(state)
    after = opt.state_dict()["arrays"]
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_module_load_state_dict_is_all_or_nothing():
    model = Sequential(Linear(1, 2, seed=0), Linear(2, 1, seed=1))
    state = {k: np.array(v) for k, v in model.state_dict().items()}
    before = {k: v.copy() for k, v in state.items()}
    bad = {k: v + 1.0 for k, v in state.items()}
    last = sorted(bad)[-1]
    bad[last] = np.zeros(7)
    with pytest.raises(ValueError, match="shape"):
        model.load_state_dict(bad)
    bad[last] = np.array(["a"] * before[last].size).reshape(before[last].shape)
    with pytest.raises(TypeError, match="real numbers"):
        model.load_state_dict(bad)
    assert all(np.array_equal(np.asarray(model.state_dict()[k]), before[k]) for k in before)


# ---- the trainer ---------------------------------------------------------------------------
def test_an_optimizer_of_another_model_is_refused():
    x, y = _data()
    model, other = RationalLayer(1, 1, seed=0), RationalLayer(1, 1, seed=1)
    with pytest.raises(ValueError, match="none of the model's parameters"):
        SCMTrainer(model, Adam(other.parameters()), chordal_loss, (x, y))


def test_schedule_and_gradient_mode_together_are_refused():
    with pytest.raises(ValueError, match="either schedule"):
        TrainingConfig(schedule=create_default_schedule(), gradient_mode="saturating")


def test_a_target_of_another_shape_is_refused_not_compared_pairwise():
    x, y = _data(8)
    with pytest.raises(ValueError, match=r"\(8,\).*\(8, 1\)"):
        chordal_loss(za.parameter(np.ones(8)), y[:, None])
    with pytest.raises(ValueError, match="squared_error"):
        squared_error(za.parameter(np.ones(4)), np.ones((4, 1)))
    model = RationalLayer(1, 1, seed=0)
    trainer = SCMTrainer(model, Adam(model.parameters()), chordal_loss, (x, y[:, None]),
                         TrainingConfig(epochs=1, batch_size=8))
    with pytest.raises(ValueError, match="same shape"):
        trainer.fit()


@pytest.mark.parametrize("n_epochs", [1, 2, 3])
def test_pole_exploration_covers_exactly_the_next_n_epochs(n_epochs):
    """Poles found after epoch e are explored in epochs e+1 … e+N (N = pole_exploration_epochs):
    with a pole found after every epoch, every epoch but the first explores."""
    x, y = _data(32)
    sched = create_default_schedule()
    sched.pole_exploration_epochs = n_epochs
    model = RationalLayer(1, 1, seed=0)
    model.load_state_dict({"numerator": np.array([[1.0], [0.0]]),
                           "denominator": np.array([[-2.0]])})  # Q = 1 − 2x: a pole at 0.5
    trainer = SCMTrainer(model, Adam(model.parameters(), lr=1e-4), chordal_loss, (x, y),
                         TrainingConfig(epochs=4, batch_size=32, schedule=sched))
    history = trainer.fit()
    assert all(r["poles"] for r in history)
    explored = [r["epoch"] for r in history if r["hybrid"]["exploration_regions"]]
    assert explored == [1, 2, 3]

    sched.update_detected_poles([0.5], 1)  # as the trainer records poles found after epoch 0
    assert [e for e in range(0, 8) if sched.get_exploration_regions(e)] == list(
        range(1, 1 + n_epochs))


def test_detected_poles_stay_in_the_thread_that_found_them():
    sched = create_default_schedule()
    sched.update_detected_poles([0.5], 3)
    seen = []
    t = threading.Thread(target=lambda: seen.append(sched.get_exploration_regions(3)))
    t.start()
    t.join()
    assert seen == [[]]
    assert sched.get_exploration_regions(3) == [(0.45, 0.55)]

    def other():
        sched.update_detected_poles([-0.3], 3)
        seen.append(sched.get_exploration_regions(3))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen[-1] == [(-0.35, -0.25)]
    assert sched.get_exploration_regions(3) == [(0.45, 0.55)]


# ---- band losses at exactly Q = ±0 -----------------------------------------------------------
@pytest.mark.parametrize("q0, sign", [(0.0, 1.0), (-0.0, -1.0)])
def test_band_losses_push_a_denominator_sitting_exactly_at_zero(q0, sign):
    Q = za.parameter(np.array([q0, 1e-6, 1.0]))
    coverage_loss(za.constant(np.ones(3)), Q, tau=1e-4).backward()
    g = Q.gradient.to_numpy()
    assert g[0] * sign < 0 and g[0] == g[1] * sign  # as strong as its neighbour, away from 0
    Q = za.parameter(np.array([q0, 1e-6]))
    margin_loss(Q, np.ones(2), tau_train=1e-4).backward()
    assert Q.gradient.to_numpy()[0] * sign < 0
    qs = [TRNode.parameter(q0), TRNode.parameter(1.0)]
    rejection_loss([1.0, 1.0], qs, tau=1e-3).backward()
    assert qs[0].gradient.value * sign < 0 and qs[0].value.value == q0


def test_band_loss_target_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="Y_d has shape"):
        coverage_loss(np.ones(4), np.ones(4), Y_d=np.ones(3))


# ---- arguments checked by type ---------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: Linear(2, 1, bias="no"),
    lambda: Linear(2, 1, dtype=np.int64),
    lambda: Linear(2, 1, dtype="foo"),
    lambda: Linear(2, 1, seed="x"),
    lambda: RationalLayer(2, 2, seed=1.5),
    lambda: DataLoader((np.ones(3),), batch_size=1.5),
    lambda: DataLoader((np.ones(3),), drop_last="y"),
])
def test_wrong_argument_types_raise_type_errors(make):
    with pytest.raises(TypeError):
        make()


def test_negative_seed_is_a_value_error():
    with pytest.raises(ValueError, match="seed"):
        Linear(2, 1, seed=-1)


def test_lifting_a_target_that_requires_grad_is_refused_not_detached():
    from zeroproof.training import lift_semantic_targets, lift_targets

    y = za.parameter(np.array([1.0, np.inf]))
    with pytest.raises(TypeError, match="requires grad"):
        lift_targets(y)
    with pytest.raises(TypeError, match="requires grad"):
        lift_semantic_targets(y, "finite")
    with pytest.raises(TypeError, match="requires grad"):
        lift_targets([TRNode.parameter(1.0)])
    assert lift_targets(y.detach())[1].numpy().tolist() == [1.0, 0.0]
