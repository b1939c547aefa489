"""``TrainingConfig``: what :class:`~zeroproof.training.SCMTrainer` does each epoch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


from ..core._parse import check_bool, check_int, parse_enum, real_pair, short_repr

from ..autodiff.grad_mode import GradientMode
from ..autodiff.hybrid_gradient import HybridGradientSchedule

__all__ = ["TrainingConfig"]

_PROGRESS = ("auto", "tqdm", "print", "none")


_int = check_int


@dataclass
class TrainingConfig:
    """Settings of a training run (validated on construction).

    * ``epochs``: total number of epochs ``fit()`` runs to (a resumed run continues to it).
    * ``batch_size``, ``shuffle``, ``seed``: used when the trainer is given arrays ``(x, y)``
      instead of a :class:`~zeroproof.training.DataLoader` (``batch_size=None``: full batch).
    * ``schedule``: a :class:`~zeroproof.autodiff.HybridGradientSchedule`; each epoch runs inside
      ``schedule.apply(epoch)``. None: the gradient mode in force (``gradient_mode`` if given).
    * ``gradient_mode``: ``"mask-real"`` or ``"saturating"`` for runs without a schedule.
    * ``lift_targets``: ``"auto"`` lifts a single target array with
      ``zeroproof.training.targets.lift_targets`` when the model returns a pair ``(P, Q)``;
      True always lifts; False never does.
    * ``detect_poles``: after each epoch, feed the real roots of every layer's ``find_poles()``
      (inside ``pole_domain`` when given) to ``schedule.update_detected_poles``.
    * ``log_every``, ``progress``: ``"auto"`` (tqdm if installed, else printed lines), ``"tqdm"``,
      ``"print"``, ``"none"`` (True = ``"auto"``, False = ``"none"``). Printed lines come every
      ``log_every`` epochs; ``None`` (the default) prints about ten per run
      (every ``max(1, epochs // 10)`` epochs) and the last one.

    >>> TrainingConfig(epochs=5, batch_size=64).epochs
    5
    >>> TrainingConfig(epochs=0)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an int >= 1, got 0
    """

    epochs: int = 100
    batch_size: int | None = 32
    shuffle: bool = True
    seed: int | None = 0
    schedule: HybridGradientSchedule | None = None
    gradient_mode: str | None = None
    lift_targets: Any = "auto"
    detect_poles: bool = True
    pole_domain: tuple[float, float] | None = None
    log_every: int | None = None
    progress: Any = "auto"

    def __post_init__(self) -> None:
        self.epochs = _int("epochs", self.epochs, 1)
        self.batch_size = _int("batch_size", self.batch_size, 1, allow_none=True)
        self.seed = _int("seed", self.seed, 0, allow_none=True)
        self.log_every = _int("log_every", self.log_every, 1, allow_none=True)
        for name in ("shuffle", "detect_poles"):
            setattr(self, name, check_bool(name, getattr(self, name)))
        if self.schedule is not None and not isinstance(self.schedule, HybridGradientSchedule):
            raise TypeError(f"schedule must be a HybridGradientSchedule or None, got "
                            f"{type(self.schedule).__name__} {short_repr(self.schedule, 40)}")
        if self.gradient_mode is not None:
            if self.schedule is not None:
                raise ValueError(
                    f"pass either schedule (hybrid, per epoch) or gradient_mode, not both: got "
                    f"schedule={short_repr(self.schedule, 60)} and "
                    f"gradient_mode={self.gradient_mode!r}")
            mode = parse_enum(GradientMode, self.gradient_mode, "gradient_mode")
            if mode is GradientMode.HYBRID:
                raise ValueError("gradient_mode='hybrid' needs a schedule: pass "
                                 "schedule=create_default_schedule() instead")
            self.gradient_mode = mode.value
        if not (isinstance(self.lift_targets, bool) or isinstance(self.lift_targets, str)):
            raise TypeError(f"lift_targets must be 'auto', True or False, got "
                            f"{type(self.lift_targets).__name__} "
                            f"{short_repr(self.lift_targets, 40)}")
        if self.lift_targets not in ("auto", True, False):
            raise ValueError(f"lift_targets must be 'auto', True or False, got {self.lift_targets!r}")
        if self.progress is True:
            self.progress = "auto"
        elif self.progress is False or self.progress is None:
            self.progress = "none"
        if not isinstance(self.progress, str):
            raise TypeError(f"progress must be one of {list(_PROGRESS)} or a bool, got "
                            f"{type(self.progress).__name__} {short_repr(self.progress, 40)}")
        if self.progress not in _PROGRESS:
            raise ValueError(f"progress must be one of {list(_PROGRESS)} or a bool, got {self.progress!r}")
        if self.pole_domain is not None:
            self.pole_domain = real_pair("pole_domain", self.pole_domain)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the schedule as its field values)."""
        out = {k: getattr(self, k) for k in ("epochs", "batch_size", "shuffle", "seed",
                                              "gradient_mode", "lift_targets", "detect_poles",
                                              "log_every", "progress")}
        out["pole_domain"] = None if self.pole_domain is None else list(self.pole_domain)
        s = self.schedule
        out["schedule"] = None if s is None else {
            k: (v.value if hasattr(v, "value") else v) for k, v in vars(s).items()
            if not k.startswith("_")}
        return out
