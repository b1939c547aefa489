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
import io
import json
import math
import os
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..array.tape import TRTensor, as_tensor
from ..autodiff.grad_mode import gradient_mode
from ..core._parse import check_int
from ..autodiff.hybrid_gradient import HybridGradientContext
from .config import TrainingConfig
from .data import DataLoader, TensorDataset
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


class _Progress:
    def __init__(self, mode: str, total: int, start: int, log_every: int) -> None:
        self.bar = None
        self.log_every = log_every
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
            print(f"epoch {e + 1:>4}/{self.total}  loss {_fmt(rec['loss'])}  coverage "
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
        if isinstance(train_loader, tuple):
            train_loader = DataLoader(TensorDataset(*train_loader), batch_size=config.batch_size,
                                      shuffle=config.shuffle, seed=config.seed)
        elif isinstance(train_loader, TensorDataset):
            train_loader = DataLoader(train_loader, batch_size=config.batch_size,
                                      shuffle=config.shuffle, seed=config.seed)
        elif not isinstance(train_loader, Iterable):
            raise TypeError(f"train_loader must be a DataLoader, a tuple of arrays (x, y) or an "
                            f"iterable of batches, got {type(train_loader).__name__}")
        self.train_loader = train_loader
        self.history: list[dict[str, Any]] = []
        self.epoch = 0  # epochs completed

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
        """Run epoch ``epoch`` (0-based) and return its history record (not appended)."""
        cfg = self.config
        sched = cfg.schedule
        t0 = time.perf_counter()
        HybridGradientContext.reset_statistics()
        if sched is not None:
            ctx: Any = sched.apply(epoch)
            delta = sched.get_delta(epoch)
            mode = sched.get_mode_description(epoch)
        elif cfg.gradient_mode is not None:
            ctx = gradient_mode(cfg.gradient_mode)
            delta, mode = None, cfg.gradient_mode
        else:
            ctx, delta, mode = contextlib.nullcontext(), None, "current mode"
        loss_sum = 0.0
        n_loss = n_size = out_real = out_size = skipped = batches = 0
        scalar_weight = 0
        with ctx:
            for batch in self._batches(epoch):
                if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                    raise ValueError(f"each batch must be a tuple (x, y, ...), got "
                                     f"{type(batch).__name__}")
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

    def fit(self, epochs: int | None = None) -> list[dict[str, Any]]:
        """Train from the current epoch up to ``epochs`` (default ``config.epochs``) and return
        the whole history (a resumed trainer continues where its checkpoint stopped)."""
        self.config.__post_init__()  # fields may have been changed since construction: recheck
        total = self.config.epochs if epochs is None else check_int("epochs", epochs, 1)
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
            "schedule": None if sched is None else {
                "poles": list(getattr(sched, "_poles", [])),
                "poles_epoch": getattr(sched, "_poles_epoch", None)},
            "loader": {"seed": getattr(loader, "seed", None), "epoch": getattr(loader, "epoch", None),
                       "batch_size": getattr(loader, "batch_size", None),
                       "shuffle": getattr(loader, "shuffle", None)},
            "config": self.config.to_dict(),
            "history": self.history,
        }
        text = json.dumps(meta, allow_nan=False, sort_keys=True)
        out = Path(path)
        tmp = out.with_name(out.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for key in sorted(arrays):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
                zf.writestr(f"{key}.npy", buf.getvalue())
            zf.writestr(_META, text.encode("utf-8"))
        os.replace(tmp, out)
        return out

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` into this trainer; continuing
        with ``fit()`` then reproduces the uninterrupted run bit for bit. A checkpoint of a
        different architecture or optimizer raises ``ValueError`` naming the difference."""
        p = Path(path)
        try:
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
                if _META not in names:
                    raise ValueError(f"{str(p)!r} is not a zeroproof checkpoint (no {_META})")
                meta = json.loads(zf.read(_META).decode("utf-8"))
            with np.load(p, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files if k.startswith(("param/", "opt/"))}
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read checkpoint {str(p)!r}: {type(exc).__name__}: {exc}") from exc
        if meta.get("format") != CHECKPOINT_FORMAT or meta.get("version") != _CHECKPOINT_VERSION:
            raise ValueError(f"{str(p)!r}: unknown checkpoint format {meta.get('format')!r} version "
                             f"{meta.get('version')!r} (expected {CHECKPOINT_FORMAT!r} version "
                             f"{_CHECKPOINT_VERSION})")
        mine, theirs = self._model_spec(), meta["model"]
        if mine["parameters"] != theirs["parameters"] or (
                mine["config"] is not None and theirs["config"] is not None
                and mine["config"] != theirs["config"]) or mine["class"] != theirs["class"]:
            raise ValueError(
                f"checkpoint {str(p)!r} was saved from a different architecture: it holds "
                f"{theirs['class']} config {theirs['config']} parameters {theirs['parameters']}; this "
                f"trainer's model is {mine['class']} config {mine['config']} parameters "
                f"{mine['parameters']}")
        params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
        opt_state = dict(meta["optimizer"])
        opt_state["arrays"] = {k[len("opt/"):]: v for k, v in arrays.items() if k.startswith("opt/")}
        self.optimizer.load_state_dict(opt_state)  # checked first: raises before any change
        self.model.load_state_dict(params)
        sched = self.config.schedule
        info = meta.get("schedule")
        if sched is not None and info is not None and info.get("poles_epoch") is not None:
            sched.update_detected_poles(info["poles"], info["poles_epoch"])
        loader = self.train_loader
        if hasattr(loader, "epoch") and meta["loader"].get("epoch") is not None:
            loader.epoch = int(meta["loader"]["epoch"])
        if hasattr(loader, "seed") and meta["loader"].get("seed") is not None:
            loader.seed = int(meta["loader"]["seed"])  # the checkpoint's shuffle order wins
        self.epoch = int(meta["epoch"])
        self.history = list(meta["history"])
