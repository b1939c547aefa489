"""``SCMTrainer``: epochs, mini-batches, hybrid schedules, history, progress and checkpoints.

One epoch::

    reset this thread's hybrid statistics
    with schedule.apply(epoch):               # when a schedule is configured
        for x, y in loader (order of epoch e):
            out = model(x); loss = loss_fn(out, targets)
            backward; optimizer.step()         # non-REAL gradient elements are skipped
        read HybridGradientContext.get_statistics()
    schedule.update_detected_poles(poles of the model's rational layers, epoch)
    append a history record; show progress

``loss_fn(outputs, targets)`` returns a TRTensor: either one element (backward as usual; a
non-REAL loss gives zero gradients under Mask-REAL) or **one loss per sample/element**, which the
trainer averages over its REAL elements only — an input on a pole, a NaN input (Φ) or an infinite
target drops out of that batch's mean instead of turning the whole loss into Φ. The share of
REAL loss elements is recorded as ``loss_coverage``.
"""
from __future__ import annotations

import contextlib
import functools
import io
import inspect
import json
import math
import os
import time
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np

from ..array.tape import TRTensor, as_tensor
from ..array.trarray import TRArray
from ..autodiff.grad_mode import GradientModeConfig, gradient_mode
from ..core._parse import as_float, check_int, check_path, is_integer, short_repr
from ..autodiff.hybrid_gradient import HybridGradientContext
from .config import TrainingConfig
from .data import DataLoader, TensorDataset, shuffle_seed
from .optim import Optimizer

__all__ = ["SCMTrainer", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "zeroproof-checkpoint"
_CHECKPOINT_VERSION = 1
_META = "__meta__.json"
_STAT_KEYS = ("total_gradient_calls", "saturating_activations", "mask_real_activations",
              "saturating_ratio", "near_pole_ratio", "q_min_epoch", "q_min_batch",
              "q_p10", "q_p50", "q_p90", "local_threshold", "exploration_regions")


def _jsonable(v: Any) -> Any:
    """Floats that are not finite → None; tuples → lists; NumPy scalars → Python."""
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _real_share(out: Any) -> tuple[int, int]:
    """(REAL elements, elements) of a model output (a tensor, or P/Q of a pair)."""
    if isinstance(out, (tuple, list)) and len(out) == 2:
        p, q = (_codes(o) for o in out)
        with np.errstate(all="ignore"):
            v = p / q
    else:
        v = _codes(out)
    return int(np.count_nonzero(np.isfinite(v))), int(np.size(v))


def _codes(o: Any) -> np.ndarray:
    if isinstance(o, TRTensor):
        return o.numpy()
    if hasattr(o, "to_numpy"):
        return o.to_numpy()
    return np.asarray(o, dtype=np.float64)


def _modules_with_poles(model: Any) -> list[Any]:
    inner = getattr(model, "model", None) if not hasattr(model, "modules") else None
    root = inner if inner is not None and hasattr(inner, "modules") else model
    if callable(getattr(root, "modules", None)):
        return [m for m in root.modules() if callable(getattr(m, "find_poles", None))]
    return [root] if callable(getattr(root, "find_poles", None)) else []


_LOADER_ACCEPTED = ("a DataLoader, a TensorDataset, a tuple of arrays (x, y) or a re-iterable of "
                    "batches (x, y, ...) such as a list of tuples")


def _one_shot(loader: Any) -> bool:
    """Whether ``loader`` is an iterator that can be read only once: a generator, or one of
    Python's built-in iterators (``iter(list)``, ``map``, ``zip``, ``itertools``…). A class of
    your own whose ``__iter__`` resets it and returns ``self`` is re-iterable and passes."""
    return isinstance(loader, Iterator) and (
        inspect.isgenerator(loader) or type(loader).__module__ in ("builtins", "itertools"))


def _check_batches(loader: Any) -> None:
    """Refuse, at construction, a ``train_loader`` that can only fail inside ``fit()``: a string,
    bytes, a mapping, an array (its rows would be taken for batches), a non-iterable, or a list
    holding something other than batches ``(x, y, ...)``. (A one-shot iterator is refused by
    ``fit()`` when it would have to run more than one epoch.)"""
    given = f"{type(loader).__name__} {short_repr(loader, 40)}"
    if isinstance(loader, (np.ndarray, TRArray, TRTensor)):
        raise TypeError(f"train_loader must be {_LOADER_ACCEPTED}, got an array ({given}); pass "
                        f"the inputs and targets as a tuple (x, y)")
    if isinstance(loader, (str, bytes, bytearray, memoryview, Mapping)) or not isinstance(
            loader, Iterable):
        raise TypeError(f"train_loader must be {_LOADER_ACCEPTED}, got {given}")
    if isinstance(loader, list):  # cheap to check in full: its items are the batches
        for i, batch in enumerate(loader):
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                raise TypeError(
                    f"train_loader must be {_LOADER_ACCEPTED}; a list is read as a list of "
                    f"batches, but item {i} is {type(batch).__name__} {short_repr(batch, 40)}, "
                    f"not a batch (x, y, ...) (for arrays x and y pass the tuple (x, y))")


# -- checkpoint validation ------------------------------------------------------------------------
_REQUIRED_FIELDS = ("epoch", "model", "optimizer", "loader", "history")


def _is_count(value: Any, minimum: int = 0) -> bool:
    return is_integer(value) and value >= minimum


def _is_finite_real(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(as_float(value)))  # an int beyond the float range is not finite


def _bad_field(where: str, field: str, accepted: str, value: Any) -> ValueError:
    return ValueError(f"{where} is malformed: field {field!r} must be {accepted}, got "
                      f"{type(value).__name__} {short_repr(value, 60)}")


class _Progress:
    def __init__(self, mode: str, total: int, start: int, log_every: Optional[int]) -> None:
        self.bar = None
        self.log_every = max(1, total // 10) if log_every is None else log_every  # ~10 lines
        self.total = total
        if mode in ("auto", "tqdm"):
            try:
                from tqdm.auto import tqdm
            except ImportError:
                if mode == "tqdm":
                    raise ImportError("progress='tqdm' needs tqdm: pip install 'zeroproof[progress]' "
                                      "(or use progress='print')") from None
                mode = "print"
            else:
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self.bar = tqdm(total=total, initial=start, desc="train", unit="epoch")
        self.mode = mode

    def update(self, rec: dict[str, Any]) -> None:
        if self.mode == "none":
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=_fmt(rec["loss"]), cov=f"{rec['coverage']:.3f}",
                                 delta=_fmt(rec["delta"]), refresh=False)
            return
        e = rec["epoch"]
        if (e + 1) % self.log_every == 0 or e + 1 == self.total:
            sat = (rec.get("hybrid") or {}).get("saturating_ratio")
            # the epoch index is the one of the history and the schedule (0-based); the bracket
            # counts epochs done
            print(f"epoch {e:>4} [{e + 1}/{self.total}]  loss {_fmt(rec['loss'])}  coverage "
                  f"{rec['coverage']:.4f}  delta {_fmt(rec['delta'])}  sat {_fmt(sat)}  "
                  f"poles {_fmt_poles(rec.get('poles'))}  {rec['time']:.3f}s", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3e}"


def _fmt_poles(p: Any) -> str:
    if not p:
        return "-"
    return "[" + ", ".join(f"{x:.4f}" for x in p[:4]) + (", ...]" if len(p) > 4 else "]")


class SCMTrainer:
    """Train ``model`` with ``optimizer`` on ``loss_fn``; ``fit()`` returns the history.

    ``train_loader`` is a :class:`~zeroproof.training.DataLoader`, a tuple of arrays ``(x, y)``
    (batched with the config's ``batch_size``, ``shuffle`` and ``seed``), or any re-iterable of
    ``(x, y)`` batches. ``x`` goes to ``model(x)`` as given (NumPy: NaN → Φ, ±inf → ±∞); ``y``
    goes to ``loss_fn`` as a batched constant (or lifted, see ``TrainingConfig.lift_targets``).

    Each history record holds ``epoch, loss, loss_coverage, coverage, delta, mode,
    hybrid`` (the statistics of SPEC §4.4 for the epoch, or None), ``poles``,
    ``skipped_updates``, ``batches``, ``time``.

    >>> import numpy as np
    >>> from zeroproof.layers import RationalLayer
    >>> from zeroproof.training import SGD, SCMTrainer, TrainingConfig
    >>> x = np.linspace(-1, 1, 64); y = 2 * x + 1
    >>> model = RationalLayer(1, 0, seed=0)
    >>> trainer = SCMTrainer(model, SGD(model.parameters(), lr=0.5), lambda out, t: (out - t) ** 2,
    ...                      (x, y), TrainingConfig(epochs=30, batch_size=16, progress=False))
    >>> history = trainer.fit()
    >>> len(history), np.round(model.p_coefficients().ravel(), 3).tolist()
    (30, [1.0, 2.0])
    """

    def __init__(self, model: Any, optimizer: Optimizer, loss_fn: Callable[[Any, Any], TRTensor],
                 train_loader: Any, config: TrainingConfig | None = None) -> None:
        if not callable(model):
            raise TypeError(f"model must be callable, got {type(model).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a zeroproof.training optimizer (SGD, Adam, AdamW), "
                            f"got {type(optimizer).__name__}")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable (outputs, targets) -> TRTensor, got "
                            f"{type(loss_fn).__name__}")
        if config is None:
            config = TrainingConfig()
        if not isinstance(config, TrainingConfig):
            raise TypeError(f"config must be a TrainingConfig or None, got {type(config).__name__}")
        model_params = getattr(model, "parameters", None)
        if callable(model_params):
            mine = {id(p) for p in model_params()}
            if mine and not any(id(p) in mine for p in optimizer.params):
                raise ValueError(
                    "optimizer holds none of the model's parameters, so training would change "
                    "nothing: build it from this model, e.g. Adam(model.parameters())")
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.config = config
        # the batching fields the loader was built from (None: the caller's own loader, which
        # the config's batch_size, shuffle and seed do not touch)
        self._batching: Optional[tuple[Any, ...]] = None
        arrays = train_loader.arrays if isinstance(train_loader, TensorDataset) else train_loader
        if isinstance(train_loader, (tuple, TensorDataset)) and len(arrays) < 2:
            raise TypeError(f"train_loader must be {_LOADER_ACCEPTED}; a tuple or TensorDataset "
                            f"holds the arrays (x, y, ...), but this one holds {len(arrays)} "
                            f"array(s): pass the targets too, (x, y)")
        if isinstance(train_loader, tuple):
            train_loader = DataLoader(TensorDataset(*train_loader), batch_size=config.batch_size,
                                      shuffle=config.shuffle, seed=config.seed)
            self._batching = (train_loader, config.batch_size, config.shuffle, config.seed)
        elif isinstance(train_loader, TensorDataset):
            train_loader = DataLoader(train_loader, batch_size=config.batch_size,
                                      shuffle=config.shuffle, seed=config.seed)
            self._batching = (train_loader, config.batch_size, config.shuffle, config.seed)
        else:
            _check_batches(train_loader)
        self.train_loader = train_loader
        self.history: list[dict[str, Any]] = []
        self.epoch = 0  # epochs completed
        # (schedule, poles, epoch): what this trainer last fed to update_detected_poles. The
        # schedule keeps its poles per thread / asyncio task; the trainer keeps its own record so
        # a run continued (or checkpointed) from another thread still has them.
        self._poles_fed: tuple[Any, tuple[float, ...], int] | None = None

    # -- one batch ---------------------------------------------------------------------------
    def _targets(self, y: Any, out: Any) -> Any:
        mode = self.config.lift_targets
        is_pair = isinstance(out, (tuple, list)) and len(out) == 2
        if isinstance(y, tuple) or mode is False or (mode == "auto" and not is_pair):
            return tuple(as_tensor(t, "targets") for t in y) if isinstance(y, tuple) else \
                as_tensor(y, "targets")
        try:
            from .targets import LiftedTargets, lift_targets  # imported on first use
        except ImportError as exc:
            raise ImportError(
                "lifting targets needs zeroproof.training.targets.lift_targets, which could not be "
                f"imported ({exc}); pass TrainingConfig(lift_targets=False) and lift them in "
                "loss_fn") from exc
        lifted = lift_targets(y)
        if isinstance(lifted, LiftedTargets):  # keep kinds/signs/finite_mask for the loss
            y_n, y_d = (as_tensor(t, "lifted targets") if isinstance(t, np.ndarray) else t
                        for t in lifted)
            return LiftedTargets(y_n, y_d, lifted.kinds)
        if isinstance(lifted, (tuple, list)):
            return tuple(as_tensor(t, "lifted targets") if isinstance(t, np.ndarray) else t
                         for t in lifted)
        return lifted

    def train_step(self, x: Any, y: Any) -> dict[str, Any]:
        """Forward, loss, backward and one optimizer step on a batch; returns its numbers."""
        self.optimizer.zero_grad()
        out = self.model(x)
        loss = self.loss_fn(out, self._targets(y, out))
        if not isinstance(loss, TRTensor):
            raise TypeError(f"loss_fn must return a TRTensor (a scalar or one loss per element), "
                            f"got {type(loss).__name__}")
        if not loss.requires_grad:
            raise ValueError(
                "loss_fn returned a loss that depends on no parameter (loss.requires_grad is "
                "False): this step would change nothing. Build the loss from the model's output "
                "(and not under no_grad()); the model must have parameters that require grad")
        codes = loss.numpy()
        real = np.isfinite(codes)
        n_real = int(np.count_nonzero(real))
        if loss.size == 1:
            loss.backward()
            total = float(codes.ravel()[0]) if n_real else 0.0
        elif n_real:
            loss.backward(np.where(real, 1.0 / n_real, 0.0))
            total = float(codes[real].sum())
        else:
            total = 0.0
        skipped = self.optimizer.step()
        ok, n_out = _real_share(out)
        return {"loss_sum": total, "loss_real": n_real, "loss_size": int(loss.size),
                "out_real": ok, "out_size": n_out, "skipped": skipped}

    # -- one epoch ---------------------------------------------------------------------------
    def _batches(self, epoch: int) -> Iterable[Any]:
        loader = self.train_loader
        if callable(getattr(loader, "set_epoch", None)):
            loader.set_epoch(epoch)
        return loader

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """Run epoch ``epoch`` (0-based, an int >= 0) and return its history record (not
        appended)."""
        epoch = check_int("epoch", epoch, 0)
        cfg = self.config
        sched = cfg.schedule
        t0 = time.perf_counter()
        HybridGradientContext.reset_statistics()
        if sched is not None:
            self._install_poles(sched)
            ctx: Any = sched.apply(epoch)
            delta = sched.get_delta(epoch)
            mode = sched.get_mode_description(epoch)
        elif cfg.gradient_mode is not None:
            ctx = gradient_mode(cfg.gradient_mode)
            delta, mode = None, cfg.gradient_mode
        else:
            # the mode in force around fit() (GradientModeConfig / an enclosing gradient_mode)
            ctx, delta = contextlib.nullcontext(), None
            mode = f"current mode: {GradientModeConfig.get_mode()}"
        loss_sum = 0.0
        n_loss = n_size = out_real = out_size = skipped = batches = 0
        scalar_weight = 0
        with ctx:
            for batch in self._batches(epoch):
                if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                    held = (f"a {type(batch).__name__} of {len(batch)} item(s)"
                            if isinstance(batch, (tuple, list)) else type(batch).__name__)
                    raise ValueError(f"each batch must be a tuple (x, y, ...) of at least two "
                                     f"items, got {held}")
                x = batch[0]
                y = batch[1] if len(batch) == 2 else tuple(batch[1:])
                r = self.train_step(x, y)
                batches += 1
                if r["loss_size"] == 1:
                    w = len(x) if hasattr(x, "__len__") else 1
                    if r["loss_real"]:
                        loss_sum += r["loss_sum"] * w
                        scalar_weight += w
                else:
                    loss_sum += r["loss_sum"]
                    scalar_weight += r["loss_real"]
                n_loss += r["loss_real"]
                n_size += r["loss_size"]
                out_real += r["out_real"]
                out_size += r["out_size"]
                skipped += r["skipped"]
            stats = HybridGradientContext.get_statistics() if sched is not None else None
        if batches == 0:
            raise ValueError(
                f"epoch {epoch} saw no batches: train_loader is empty, or an iterator that an "
                f"earlier epoch used up (a generator can be iterated once); pass arrays (x, y), a "
                f"DataLoader or a list of batches")
        poles: list[float] = []
        if sched is not None and cfg.detect_poles:
            for m in _modules_with_poles(self.model):
                try:
                    poles.extend(float(p) for p in m.find_poles(domain=cfg.pole_domain)
                                 if math.isfinite(p))
                except ValueError:
                    pass
            # poles found after epoch e steer epochs e+1 … e+pole_exploration_epochs
            sched.update_detected_poles(poles, epoch + 1)
            self._poles_fed = (sched, tuple(sched._poles), epoch + 1)
        rec = {
            "epoch": epoch,
            "loss": (loss_sum / scalar_weight) if scalar_weight else None,
            "loss_coverage": (n_loss / n_size) if n_size else None,
            "coverage": (out_real / out_size) if out_size else 0.0,
            "delta": delta,
            "mode": mode,
            "hybrid": None if stats is None else {k: stats[k] for k in _STAT_KEYS},
            "poles": poles,
            "skipped_updates": skipped,
            "batches": batches,
            "time": time.perf_counter() - t0,
        }
        return _jsonable(rec)

    def _poles_record(self, sched: Any) -> tuple[list[float], int | None]:
        """``(poles, epoch)`` of this run for ``sched``: the trainer's own record when this
        thread's (or task's) context holds none for the schedule or an older one (``fit`` ran in
        another thread), otherwise the context's."""
        here = (sched._poles, sched._poles_epoch)
        fed = self._poles_fed
        if fed is not None and fed[0] is sched and (here[1] is None or here[1] < fed[2]):
            return list(fed[1]), fed[2]
        return here

    def _install_poles(self, sched: Any) -> None:
        poles, epoch = self._poles_record(sched)
        if epoch is not None and epoch != sched._poles_epoch:
            sched.update_detected_poles(poles, epoch)

    def _sync_batching(self) -> None:
        """Apply edits of ``config.batch_size``/``shuffle``/``seed`` (made between ``fit`` calls)
        to the loader the trainer built from arrays; a changed field takes effect from the next
        epoch, an unchanged one keeps the loader's state (a seed drawn for ``seed=None`` or
        restored from a checkpoint)."""
        if self._batching is None or self._batching[0] is not self.train_loader:
            return  # the caller's own loader (passed in, or assigned to train_loader since)
        cfg, loader = self.config, self.train_loader
        _, size, shuffle, seed = self._batching
        if cfg.batch_size != size:
            loader.batch_size = cfg.batch_size
        if cfg.shuffle != shuffle:
            loader.shuffle = cfg.shuffle
        if cfg.seed != seed or (loader.shuffle and loader.seed is None):
            loader.seed = shuffle_seed(loader.shuffle, cfg.seed)
        self._batching = (loader, cfg.batch_size, cfg.shuffle, cfg.seed)

    def fit(self, epochs: int | None = None) -> list[dict[str, Any]]:
        """Train from the current epoch up to ``epochs`` (default ``config.epochs``) and return
        the whole history (a resumed trainer continues where its checkpoint stopped)."""
        self.config.__post_init__()  # fields may have been changed since construction: recheck
        self._sync_batching()
        total = self.config.epochs if epochs is None else check_int("epochs", epochs, 1)
        if self.epoch >= total:  # a re-run notebook cell must not look like a finished run
            warnings.warn(
                f"fit() has nothing to do: {self.epoch} epoch(s) are done and fit trains up to "
                f"epoch {total} ({'config.epochs' if epochs is None else 'epochs'}); pass "
                f"epochs=N > {self.epoch} or raise config.epochs to train more",
                UserWarning, stacklevel=2)
        if _one_shot(self.train_loader) and total - self.epoch > 1:
            raise TypeError(
                f"train_loader is a one-shot iterator ({type(self.train_loader).__name__}): only "
                f"one epoch can read it, and fit() would train {total - self.epoch} (epochs "
                f"{self.epoch} to {total - 1}); pass list(...) of its batches, or a DataLoader")
        if self.epoch < total:
            self._warn_non_real_parameters()
        train = getattr(self.model, "train", None)
        if callable(train):
            train()
        progress = _Progress(self.config.progress, total, self.epoch, self.config.log_every)
        try:
            while self.epoch < total:
                rec = self.train_epoch(self.epoch)
                self.history.append(rec)
                self.epoch += 1
                progress.update(rec)
        finally:
            progress.close()
        return self.history

    def _warn_non_real_parameters(self) -> None:
        """Warn about parameter entries that are not REAL: no optimizer updates them (they can
        only come from the user, e.g. NaN read as Φ), so they would never train."""
        named = getattr(self.model, "named_parameters", None)
        pairs = list(named()) if callable(named) else [
            (f"optimizer.params[{i}]", p) for i, p in enumerate(getattr(self.optimizer, "params",
                                                                        ()))]
        for name, p in pairs:
            if not hasattr(p, "codes"):  # (not a batched-tape parameter: not ours to judge)
                continue
            codes = np.asarray(p.codes)
            bad = int(codes.size - np.count_nonzero(np.isfinite(codes)))
            if bad:
                warnings.warn(
                    f"parameter {name!r} holds {bad} of {codes.size} entries that are not REAL "
                    f"(Φ, ±∞ or ⊥; a NaN given to a parameter reads as Φ): no optimizer updates "
                    f"them and the loss elements they reach drop out of the mean, so they never "
                    f"train; set finite values (set_value / load_state_dict) before fit()",
                    RuntimeWarning, stacklevel=3)

    # -- checkpoints ---------------------------------------------------------------------------
    def _model_spec(self) -> dict[str, Any]:
        state = self.model.state_dict()
        cls = type(getattr(self.model, "model", self.model)) if not hasattr(
            type(self.model), "state_dict") else type(self.model)
        get_config = getattr(self.model, "get_config", None)
        cfg = get_config() if callable(get_config) else None
        return {"class": f"{cls.__module__}:{cls.__qualname__}", "config": _jsonable(cfg),
                "parameters": {k: list(np.shape(v)) for k, v in sorted(state.items())}}

    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        """Write parameters, optimizer state, schedule poles, loader position, epoch and history
        to one ``.npz`` file (plain ``.npy`` members and one JSON member; no pickle).

        >>> import numpy as np, tempfile, os
        >>> from zeroproof.layers import RationalLayer
        >>> from zeroproof.training import SGD, SCMTrainer, TrainingConfig
        >>> m = RationalLayer(1, 1, seed=0)
        >>> t = SCMTrainer(m, SGD(m.parameters(), lr=0.1), lambda o, y: (o - y) ** 2,
        ...                (np.zeros(4), np.ones(4)), TrainingConfig(epochs=2, progress=False))
        >>> _ = t.fit(); p = t.save_checkpoint(os.path.join(tempfile.mkdtemp(), "ck.npz"))
        >>> t2 = SCMTrainer(m, SGD(m.parameters(), lr=0.1), lambda o, y: (o - y) ** 2,
        ...                 (np.zeros(4), np.ones(4)), TrainingConfig(epochs=2, progress=False))
        >>> t2.load_checkpoint(p); t2.epoch
        2
        """
        arrays: dict[str, np.ndarray] = {}
        for k, v in self.model.state_dict().items():
            arrays[f"param/{k}"] = np.asarray(v)
        opt = self.optimizer.state_dict()
        for k, v in opt.pop("arrays").items():
            arrays[f"opt/{k}"] = np.asarray(v)
        sched = self.config.schedule
        loader = self.train_loader
        meta = {
            "format": CHECKPOINT_FORMAT, "version": _CHECKPOINT_VERSION, "epoch": self.epoch,
            "model": self._model_spec(), "optimizer": _jsonable(opt),
            "schedule": None if sched is None else dict(
                zip(("poles", "poles_epoch"), self._poles_record(sched))),
            "loader": {"seed": getattr(loader, "seed", None), "epoch": getattr(loader, "epoch", None),
                       "batch_size": getattr(loader, "batch_size", None),
                       "shuffle": getattr(loader, "shuffle", None)},
            "config": self.config.to_dict(),
            "history": self.history,
        }
        text = json.dumps(meta, allow_nan=False, sort_keys=True)
        out = check_path("path", path, "the checkpoint file to write")
        if out.is_dir():
            raise ValueError(f"path={str(path)!r} is a directory; give the checkpoint file to "
                             f"write, e.g. {str(out / 'checkpoint.npz')!r}")
        if not out.parent.is_dir():
            raise ValueError(f"path={str(path)!r}: the directory {str(out.parent)!r} does not "
                             f"exist; create it first")
        tmp = out.with_name(out.name + ".tmp")  # written whole, then moved over `out`
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                for key in sorted(arrays):
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]),
                                              allow_pickle=False)
                    zf.writestr(f"{key}.npy", buf.getvalue())
                zf.writestr(_META, text.encode("utf-8"))
            os.replace(tmp, out)
        finally:
            if tmp.exists():  # a failed write leaves nothing behind
                tmp.unlink()
        return out

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` into this trainer; continuing
        with ``fit()`` then reproduces the uninterrupted run bit for bit.

        All or nothing: the whole checkpoint is checked first (parameter arrays against the
        model's own names and shapes, the optimizer state by the optimizer's
        ``load_state_dict``, the loader position, ``epoch`` an int >= 0, ``history`` a list of
        records), so a checkpoint of a different architecture or optimizer, or a malformed one,
        raises ``ValueError`` naming the file and the field, and leaves the model, the optimizer,
        the loader, the schedule, ``epoch`` and ``history`` as they were."""
        p = check_path("path", path, "a checkpoint file written by save_checkpoint")
        where = f"checkpoint {str(p)!r}"
        meta, arrays = _read_checkpoint(p)
        plan = self._check_checkpoint(where, meta, arrays)
        self._apply_checkpoint(where, plan)

    def _check_checkpoint(self, where: str, meta: Any, arrays: dict[str, np.ndarray]
                          ) -> dict[str, Any]:
        """Every field of a checkpoint checked against this trainer, changing nothing; returns
        what :meth:`_apply_checkpoint` writes."""
        if not isinstance(meta, dict):
            raise ValueError(f"{where} is malformed: {_META} must be a JSON object with the fields "
                             f"{list(_REQUIRED_FIELDS)}, got {type(meta).__name__} "
                             f"{short_repr(meta, 60)}")
        if meta.get("format") != CHECKPOINT_FORMAT or meta.get("version") != _CHECKPOINT_VERSION:
            raise ValueError(f"{where}: unknown checkpoint format "
                             f"{short_repr(meta.get('format'), 60)} version "
                             f"{short_repr(meta.get('version'), 20)} (expected "
                             f"{CHECKPOINT_FORMAT!r} version {_CHECKPOINT_VERSION})")
        missing = [k for k in _REQUIRED_FIELDS if k not in meta]
        if missing:
            raise ValueError(f"{where} is malformed: {_META} has no field {missing[0]!r} (missing: "
                             f"{missing}); a checkpoint needs {list(_REQUIRED_FIELDS)}")
        epoch, history = meta["epoch"], meta["history"]
        if not _is_count(epoch):
            raise _bad_field(where, "epoch", "an int >= 0 (epochs completed)", epoch)
        if not isinstance(history, list):
            raise _bad_field(where, "history", "a list of epoch records (dicts)", history)
        for i, rec in enumerate(history):
            if not isinstance(rec, dict):
                raise _bad_field(where, f"history[{i}]", "an epoch record (a dict)", rec)

        # the model: architecture, then the parameter arrays against the model's own state
        theirs = meta["model"]
        spec_form = "an object {'class': str, 'config': ..., 'parameters': {name: shape}}"
        if not isinstance(theirs, dict):
            raise _bad_field(where, "model", spec_form, theirs)
        for key in ("class", "config", "parameters"):
            if key not in theirs:
                raise ValueError(f"{where} is malformed: field 'model' has no {key!r}; it must be "
                                 f"{spec_form}")
        if not isinstance(theirs["class"], str):
            raise _bad_field(where, "model.class", "a string 'module:QualName'", theirs["class"])
        if not isinstance(theirs["parameters"], dict):
            raise _bad_field(where, "model.parameters", "an object {name: shape}",
                             theirs["parameters"])
        mine = self._model_spec()
        if mine["parameters"] != theirs["parameters"] or (
                mine["config"] is not None and theirs["config"] is not None
                and mine["config"] != theirs["config"]) or mine["class"] != theirs["class"]:
            raise ValueError(
                f"{where} was saved from a different architecture: it holds "
                f"{theirs['class']} config {short_repr(theirs['config'], 300)} parameters "
                f"{short_repr(theirs['parameters'], 300)}; this trainer's model is {mine['class']} "
                f"config {mine['config']} parameters {mine['parameters']}")
        current = self.model.state_dict()
        params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
        absent = sorted(set(current) - set(params))
        extra = sorted(set(params) - set(current))
        if absent or extra:
            raise ValueError(f"{where} is malformed: its parameter arrays (param/<name>.npy) do not "
                             f"match the model's parameters {sorted(current)}: missing {absent}, "
                             f"unexpected {extra}")
        for name, value in current.items():
            arr = params[name]
            if arr.dtype.kind not in "fiu":
                raise ValueError(f"{where} is malformed: parameter array 'param/{name}' must hold "
                                 f"real numbers, got dtype {arr.dtype}")
            if arr.shape != np.shape(value):
                raise ValueError(f"{where} is malformed: parameter array 'param/{name}' has shape "
                                 f"{arr.shape}, the model's parameter has {np.shape(value)}")

        # the optimizer: its own load_state_dict checks the rest (and changes nothing unless the
        # whole state is valid); the counters it converts with int() are checked here
        opt = meta["optimizer"]
        if not isinstance(opt, dict):
            raise _bad_field(where, "optimizer", "an object from Optimizer.state_dict() "
                             "{'type', 'config', 'step_count', 'total_skipped'}", opt)
        for key in ("step_count", "total_skipped"):
            if key not in opt:
                raise ValueError(f"{where} is malformed: field 'optimizer' has no {key!r} (an int "
                                 f">= 0)")
            if not _is_count(opt[key]):
                raise _bad_field(where, f"optimizer.{key}", "an int >= 0", opt[key])
        opt_state = dict(opt)
        opt_state["arrays"] = {k[len("opt/"):]: v for k, v in arrays.items() if k.startswith("opt/")}

        loader = meta["loader"]
        if not isinstance(loader, dict):
            raise _bad_field(where, "loader", "an object {'seed', 'epoch', 'batch_size', "
                             "'shuffle'}", loader)
        for key, low in (("seed", 0), ("epoch", 0), ("batch_size", 1)):
            v = loader.get(key)
            if v is not None and not _is_count(v, low):
                raise _bad_field(where, f"loader.{key}", f"an int >= {low} or null", v)
        if loader.get("shuffle") is not None and not isinstance(loader["shuffle"], bool):
            raise _bad_field(where, "loader.shuffle", "true, false or null", loader["shuffle"])

        sched = meta.get("schedule")
        poles, poles_epoch = None, None
        if sched is not None:
            form = "null or an object {'poles': [finite numbers], 'poles_epoch': int >= 0 or null}"
            if not isinstance(sched, dict):
                raise _bad_field(where, "schedule", form, sched)
            poles, poles_epoch = sched.get("poles"), sched.get("poles_epoch")
            if not isinstance(poles, list) or not all(_is_finite_real(x) for x in poles):
                raise _bad_field(where, "schedule.poles", "a list of finite numbers", poles)
            if poles_epoch is not None and not _is_count(poles_epoch):
                raise _bad_field(where, "schedule.poles_epoch", "an int >= 0 or null", poles_epoch)
        return {"epoch": int(epoch), "history": [dict(r) for r in history], "params": params,
                "optimizer": opt_state, "loader_epoch": loader.get("epoch"),
                "loader_seed": loader.get("seed"), "poles": poles, "poles_epoch": poles_epoch}

    def _apply_checkpoint(self, where: str, plan: dict[str, Any]) -> None:
        """Write a checked checkpoint; if a step still fails, what was written is put back."""
        loader = self.train_loader
        loader_before = {k: getattr(loader, k) for k in ("epoch", "seed") if hasattr(loader, k)}
        opt_before = self.optimizer.state_dict()
        model_before = self.model.state_dict()
        undo: list[Callable[[], None]] = []
        try:
            try:  # all or nothing by the optimizer's own contract: the first change made
                self.optimizer.load_state_dict(plan["optimizer"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: field 'optimizer' does not fit this trainer's "
                                 f"optimizer: {exc}") from exc
            undo.append(lambda: self.optimizer.load_state_dict(opt_before))
            undo.append(lambda: self.model.load_state_dict(model_before))
            self.model.load_state_dict(plan["params"])
            # the checkpoint's shuffle seed wins (so a run started with seed=None
            # resumes in the same order)
            for key in ("epoch", "seed"):
                value = plan[f"loader_{key}"]
                if key in loader_before and value is not None:
                    undo.append(functools.partial(setattr, loader, key, loader_before[key]))
                    setattr(loader, key, int(value))
            sched = self.config.schedule
            if sched is not None and plan["poles_epoch"] is not None:  # last: checks, then sets
                sched.update_detected_poles(plan["poles"], plan["poles_epoch"])
        except BaseException as exc:
            for step in reversed(undo):  # every step, even when an earlier one fails
                try:
                    step()
                except Exception as again:  # noqa: BLE001 - reported on the original error
                    exc.add_note(f"load_checkpoint could not undo a step: "
                                 f"{type(again).__name__}: {again}")
            raise
        self.epoch = plan["epoch"]
        self.history = plan["history"]
        sched = self.config.schedule
        if sched is not None and plan["poles_epoch"] is not None:
            self._poles_fed = (sched, tuple(sched._poles), plan["poles_epoch"])


def _read_checkpoint(p: Path) -> tuple[Any, dict[str, np.ndarray]]:
    """The JSON member (parsed, not yet checked) and the ``param/``/``opt/`` arrays of a
    checkpoint file; a file that cannot be read as one is a ``ValueError`` naming it."""
    try:
        with zipfile.ZipFile(p) as zf:
            raw = zf.read(_META) if _META in zf.namelist() else None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"cannot read checkpoint {str(p)!r}: {type(exc).__name__}: {exc}") from exc
    if raw is None:
        raise ValueError(f"{str(p)!r} is not a zeroproof checkpoint (no {_META})")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"cannot read checkpoint {str(p)!r}: its {_META} is not JSON: "
                         f"{type(exc).__name__}: {exc}") from exc
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k.startswith(("param/", "opt/"))}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ValueError(f"cannot read checkpoint {str(p)!r}: {type(exc).__name__}: {exc}") from exc
    return meta, arrays
