"""Argument and checkpoint validation of SCMTrainer and DataLoader: a malformed checkpoint is a
ValueError naming the file and the field and changes nothing (all-or-nothing load); epochs are
ints >= 0 everywhere; a train_loader that can only fail inside fit() is refused at construction."""
from __future__ import annotations

import copy
import io
import json
import zipfile

import numpy as np
import pytest

import zeroproof.array as za
from zeroproof.autodiff import create_default_schedule
from zeroproof.layers import RationalLayer
from zeroproof.training import (
    SGD, DataLoader, SCMTrainer, TensorDataset, TrainingConfig,
)

pytestmark = pytest.mark.usefixtures("fresh_gradient_state")

X = np.linspace(-1.0, 1.0, 16)
META = "__meta__.json"


def _loss(out, y):
    return (out - y) ** 2


def _trainer(target=1.0, seed=0, schedule=None):
    model = RationalLayer(1, 1, seed=0)
    cfg = TrainingConfig(epochs=3, batch_size=8, shuffle=True, seed=seed, progress=False,
                         schedule=schedule)
    return SCMTrainer(model, SGD(model.parameters(), lr=0.1, momentum=0.9), _loss,
                      (X, np.full_like(X, target)), cfg)


@pytest.fixture
def saved(tmp_path):
    """A checkpoint after 3 epochs (target 1, shuffle seed 7)."""
    t = _trainer(target=1.0, seed=7)
    t.fit()
    return t.save_checkpoint(tmp_path / "ck.npz")


@pytest.fixture
def target():
    """The trainer a bad checkpoint is loaded into: 1 epoch on other data, another seed, so each
    piece of its state differs from the checkpoint's."""
    t = _trainer(target=-2.0, seed=0)
    t.fit(1)
    return t


def _state(t):
    opt = t.optimizer.state_dict()
    return {
        "params": {k: v.tobytes() for k, v in t.model.state_dict().items()},
        "opt_arrays": {k: v.tobytes() for k, v in opt.pop("arrays").items()},
        "opt": opt,
        "epoch": t.epoch,
        "history": copy.deepcopy(t.history),
        "loader": (t.train_loader.epoch, t.train_loader.seed),
    }


def _rewrite(src, dst, meta=None, drop=(), arrays=None):
    """Copy checkpoint ``src`` to ``dst``: the JSON member replaced by ``meta(parsed)``, the
    members in ``drop`` left out, members in ``arrays`` (name → array or .npy bytes) written
    instead of the originals."""
    arrays = arrays or {}
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for name in zi.namelist():
            if name in drop or name in arrays:
                continue
            data = zi.read(name)
            if name == META and meta is not None:
                data = json.dumps(meta(json.loads(data))).encode()
            zo.writestr(name, data)
        for name, arr in arrays.items():  # an array, or the bytes of a .npy member
            if not isinstance(arr, bytes):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
                arr = buf.getvalue()
            zo.writestr(name, arr)
    return dst


def _without(key):
    return lambda m: {k: v for k, v in m.items() if k != key}


def _with(key, value):
    return lambda m: {**m, key: value}


def _with_sub(key, sub, value):
    return lambda m: {**m, key: {**m[key], sub: value}}


def _without_sub(key, sub):
    return lambda m: {**m, key: {k: v for k, v in m[key].items() if k != sub}}


def _assert_refused_and_unchanged(target, path, field):
    before = _state(target)
    with pytest.raises(ValueError) as info:
        target.load_checkpoint(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    assert field in msg, msg
    assert _state(target) == before


# -- malformed JSON member: one test per case -----------------------------------------------------
@pytest.mark.parametrize("field", ["epoch", "model", "optimizer", "loader", "history"])
def test_checkpoint_without_a_field_is_refused_and_changes_nothing(saved, target, tmp_path, field):
    bad = _rewrite(saved, tmp_path / "bad.npz", meta=_without(field))
    _assert_refused_and_unchanged(target, bad, f"no field '{field}'")


@pytest.mark.parametrize("meta", [[1, 2], None, "text", 3], ids=["list", "null", "str", "int"])
def test_checkpoint_whose_json_is_not_an_object_is_refused(saved, target, tmp_path, meta):
    bad = _rewrite(saved, tmp_path / "bad.npz", meta=lambda m: meta)
    _assert_refused_and_unchanged(target, bad, "must be a JSON object")


@pytest.mark.parametrize("value", ["abc", -5, 1.5, True, None, [3]],
                         ids=["str", "negative", "float", "bool", "null", "list"])
def test_checkpoint_with_an_ill_typed_epoch_is_refused(saved, target, tmp_path, value):
    bad = _rewrite(saved, tmp_path / "bad.npz", meta=_with("epoch", value))
    _assert_refused_and_unchanged(target, bad, "field 'epoch' must be an int >= 0")


@pytest.mark.parametrize("value", [5, "abc", {"epoch": 0}, [1, 2], [{"epoch": 0}, None]],
                         ids=["int", "str", "dict", "list-of-ints", "list-with-null"])
def test_checkpoint_with_an_ill_typed_history_is_refused(saved, target, tmp_path, value):
    bad = _rewrite(saved, tmp_path / "bad.npz", meta=_with("history", value))
    _assert_refused_and_unchanged(target, bad, "'history")


@pytest.mark.parametrize("value", ["x", None, [1], {"class": "a:B", "config": None}],
                         ids=["str", "null", "list", "no-parameters"])
def test_checkpoint_with_an_ill_typed_model_is_refused(saved, target, tmp_path, value):
    bad = _rewrite(saved, tmp_path / "bad.npz", meta=_with("model", value))
    _assert_refused_and_unchanged(target, bad, "'model'")


@pytest.mark.parametrize("change,field", [
    (_with("optimizer", "x"), "'optimizer'"),
    (_with("optimizer", None), "'optimizer'"),
    (_with_sub("optimizer", "step_count", "abc"), "'optimizer.step_count'"),
    (_with_sub("optimizer", "step_count", -1), "'optimizer.step_count'"),
    (_with_sub("optimizer", "step_count", 2.5), "'optimizer.step_count'"),
    (_with_sub("optimizer", "total_skipped", None), "'optimizer.total_skipped'"),
    (_without_sub("optimizer", "step_count"), "'step_count'"),
    (_with_sub("optimizer", "type", "Adam"), "'optimizer'"),
    (_with_sub("optimizer", "config", {"lr": -1.0, "momentum": 0.9, "nesterov": False,
                                       "weight_decay": 0.0}), "'optimizer'"),
    (_with_sub("optimizer", "config", "x"), "'optimizer'"),
], ids=["str", "null", "step-str", "step-negative", "step-float", "skipped-null", "no-step",
        "other-type", "bad-lr", "config-str"])
def test_checkpoint_with_a_bad_optimizer_state_is_refused(saved, target, tmp_path, change, field):
    bad = _rewrite(saved, tmp_path / "bad.npz", meta=change)
    _assert_refused_and_unchanged(target, bad, field)


@pytest.mark.parametrize("change,field", [
    (_with("loader", "x"), "'loader'"),
    (_with("loader", [0, 1]), "'loader'"),
    (_with_sub("loader", "epoch", -1), "'loader.epoch'"),
    (_with_sub("loader", "epoch", 1.5), "'loader.epoch'"),
    (_with_sub("loader", "seed", "s"), "'loader.seed'"),
    (_with_sub("loader", "seed", True), "'loader.seed'"),
], ids=["str", "list", "epoch-negative", "epoch-float", "seed-str", "seed-bool"])
def test_checkpoint_with_a_bad_loader_state_is_refused(saved, target, tmp_path, change, field):
    bad = _rewrite(saved, tmp_path / "bad.npz", meta=change)
    _assert_refused_and_unchanged(target, bad, field)


@pytest.mark.parametrize("value,field", [
    ("x", "'schedule'"),
    ({"poles": ["a"], "poles_epoch": 1}, "'schedule.poles'"),
    ({"poles": 0.5, "poles_epoch": 1}, "'schedule.poles'"),
    ({"poles": [0.5], "poles_epoch": -1}, "'schedule.poles_epoch'"),
    ({"poles": [10**400], "poles_epoch": 1}, "'schedule.poles'"),
    ({"poles": [True], "poles_epoch": 1}, "'schedule.poles'"),
], ids=["str", "pole-str", "poles-number", "epoch-negative", "pole-beyond-float", "pole-bool"])
def test_checkpoint_with_a_bad_schedule_state_is_refused(saved, target, tmp_path, value, field):
    bad = _rewrite(saved, tmp_path / "bad.npz", meta=_with("schedule", value))
    _assert_refused_and_unchanged(target, bad, field)


# -- malformed arrays -----------------------------------------------------------------------------
def test_checkpoint_missing_a_parameter_array_is_refused_and_changes_nothing(saved, target,
                                                                               tmp_path):
    bad = _rewrite(saved, tmp_path / "bad.npz", drop=("param/denominator.npy",))
    _assert_refused_and_unchanged(target, bad, "denominator")


def test_checkpoint_with_a_wrong_parameter_shape_is_refused_and_changes_nothing(saved, target,
                                                                                  tmp_path):
    bad = _rewrite(saved, tmp_path / "bad.npz",
                   arrays={"param/numerator.npy": np.zeros((3, 1))})
    _assert_refused_and_unchanged(target, bad, "param/numerator")


def test_checkpoint_with_non_numeric_parameters_is_refused_and_changes_nothing(saved, target,
                                                                                 tmp_path):
    bad = _rewrite(saved, tmp_path / "bad.npz",
                   arrays={"param/numerator.npy": np.array([["a"], ["b"]])})
    _assert_refused_and_unchanged(target, bad, "param/numerator")


def test_checkpoint_missing_an_optimizer_array_is_refused_and_changes_nothing(saved, target,
                                                                                tmp_path):
    bad = _rewrite(saved, tmp_path / "bad.npz", drop=("opt/0.momentum_buffer.npy",))
    _assert_refused_and_unchanged(target, bad, "'optimizer'")


def test_checkpoint_with_a_pickled_array_is_refused_and_names_the_file(saved, target, tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([[None], [1]], dtype=object), allow_pickle=True)
    bad = _rewrite(saved, tmp_path / "bad.npz", arrays={"param/numerator.npy": buf.getvalue()})
    _assert_refused_and_unchanged(target, bad, "cannot read checkpoint")


# -- a failure while applying is undone -----------------------------------------------------------
def test_a_model_that_fails_to_load_leaves_the_optimizer_as_it_was(saved, target, monkeypatch):
    before = _state(target)

    def broken(state):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(target.model, "load_state_dict", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        target.load_checkpoint(saved)
    monkeypatch.undo()
    assert _state(target) == before


def test_a_schedule_that_fails_to_update_leaves_everything_as_it_was(tmp_path, monkeypatch):
    src = _trainer(target=1.0, seed=7, schedule=create_default_schedule(warmup_epochs=1))
    src.fit()
    path = src.save_checkpoint(tmp_path / "ck.npz")
    dst = _trainer(target=-2.0, seed=0, schedule=create_default_schedule(warmup_epochs=1))
    dst.fit(1)
    before = _state(dst)

    def broken(poles, epoch):
        raise RuntimeError("schedule broke")

    monkeypatch.setattr(dst.config.schedule, "update_detected_poles", broken)
    with pytest.raises(RuntimeError, match="schedule broke"):
        dst.load_checkpoint(path)
    assert _state(dst) == before


# -- epochs are ints >= 0 -------------------------------------------------------------------------
@pytest.mark.parametrize("epoch,exc", [
    (1.5, TypeError), (True, TypeError), (float("inf"), TypeError), ("abc", TypeError),
    (None, TypeError), (-1, ValueError),
], ids=["float", "bool", "inf", "str", "none", "negative"])
def test_train_epoch_refuses_a_bad_epoch_and_trains_nothing(epoch, exc):
    t = _trainer()
    before = {k: v.tobytes() for k, v in t.model.state_dict().items()}
    with pytest.raises(exc, match=r"epoch must be an int >= 0"):
        t.train_epoch(epoch)
    assert {k: v.tobytes() for k, v in t.model.state_dict().items()} == before
    assert t.optimizer.step_count == 0
    assert t.train_epoch(np.int64(2))["epoch"] == 2  # NumPy ints are ints


@pytest.mark.parametrize("epoch,exc", [
    (2.7, TypeError), (2.0, TypeError), (True, TypeError), ("1", TypeError), (-1, ValueError),
], ids=["float", "integral-float", "bool", "str", "negative"])
def test_dataloader_set_epoch_refuses_a_bad_epoch(epoch, exc):
    loader = DataLoader((X,), batch_size=4, shuffle=True, seed=0)
    with pytest.raises(exc, match=r"epoch must be an int >= 0"):
        loader.set_epoch(epoch)
    assert loader.epoch == 0 and not loader._epoch_set
    loader.set_epoch(np.int32(3))
    assert loader.epoch == 3 and type(loader.epoch) is int


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("epoch,exc", [(-1, ValueError), (1.5, TypeError), (False, TypeError)],
                         ids=["negative", "float", "bool"])
def test_dataloader_order_refuses_a_bad_epoch(shuffle, epoch, exc):
    loader = DataLoader((X,), batch_size=4, shuffle=shuffle, seed=0)
    with pytest.raises(exc, match=r"epoch must be an int >= 0"):
        loader.order(epoch)
    assert sorted(loader.order(np.int64(1)).tolist()) == list(range(len(X)))


# -- train_loader ---------------------------------------------------------------------------------
@pytest.mark.parametrize("loader", [
    "abc", b"abc", bytearray(b"ab"), {"x": X, "y": X}, X, np.stack([X, X], axis=1),
    za.from_numpy(X), za.constant(X),
], ids=["str", "bytes", "bytearray", "dict", "1-d array", "2-d array", "TRArray", "TRTensor"])
def test_train_loader_that_is_not_a_source_of_batches_is_refused_early(loader):
    model = RationalLayer(1, 1, seed=0)
    with pytest.raises(TypeError, match=r"train_loader must be a DataLoader, a TensorDataset, a "
                                        r"tuple of arrays \(x, y\) or a re-iterable of batches"):
        SCMTrainer(model, SGD(model.parameters(), lr=0.1), _loss, loader,
                   TrainingConfig(epochs=1, progress=False))


def test_a_list_train_loader_must_hold_batches_and_lists_of_batches_still_train():
    model = RationalLayer(1, 1, seed=0)
    cfg = TrainingConfig(epochs=1, progress=False)
    y = np.ones_like(X)
    with pytest.raises(TypeError, match=r"train_loader .* item 0 is ndarray"):
        SCMTrainer(model, SGD(model.parameters(), lr=0.1), _loss, [X, y], cfg)
    with pytest.raises(TypeError, match=r"train_loader .* item 1 is tuple"):
        SCMTrainer(model, SGD(model.parameters(), lr=0.1), _loss, [(X, y), (X,)], cfg)

    class Batches:  # a user's own re-iterable loader
        def __iter__(self):
            return iter([(X[:8], y[:8]), (X[8:], y[8:])])

    sources = [[(X, y)], [[X, y]], Batches(), ((X[:8], y[:8]) for _ in range(1)), (X, y),
               TensorDataset(X, y), DataLoader(TensorDataset(X, y), batch_size=4)]
    for source in sources:
        m = RationalLayer(1, 1, seed=0)
        t = SCMTrainer(m, SGD(m.parameters(), lr=0.1), _loss, source, cfg)
        assert len(t.fit()) == 1
    m = RationalLayer(1, 1, seed=0)  # batches (x, y_n, y_d): the targets reach loss_fn as a tuple
    t = SCMTrainer(m, SGD(m.parameters(), lr=0.1), lambda o, t: (o - t[0]) ** 2, [(X, y, y)], cfg)
    assert len(t.fit()) == 1
