"""Hybrid gradient schedule: saturate only near poles, with a per-epoch threshold δ(t).

A :class:`HybridGradientSchedule` says, for each epoch ``t``, the threshold ``δ(t)`` under which a
singular quantity ``|u|`` (a denominator, a log argument, …) counts as *near a pole*, and which
input regions are forced into saturation for exploration. ``with schedule.apply(epoch):`` turns on
HYBRID mode for a block. :class:`HybridGradientContext` holds the active schedule, the epoch and the
statistics (per thread / asyncio task, in ``contextvars``); each backward decision is counted once.
"""
from __future__ import annotations

import math
import random
import sys
import threading
from ..core._context import reusable_context
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterator, Sequence

import numpy as np

from ..core._parse import (
    as_float, check_bool, is_integer, is_iterable, is_real_number, parse_enum, short_repr,
)
from .grad_mode import BOUND, MODE, GradientMode, check_bound

__all__ = [
    "ScheduleType", "HybridGradientSchedule", "HybridGradientContext", "create_default_schedule",
    "HybridStatistics",
]


class ScheduleType(str, Enum):
    """How δ decays from ``delta_init`` to ``delta_final`` over the transition epochs.

    >>> from zeroproof.autodiff.hybrid_gradient import ScheduleType
    >>> ScheduleType("cosine"), str(ScheduleType.LINEAR)
    (<ScheduleType.COSINE: 'cosine'>, 'linear')
    """

    LINEAR = "linear"
    EXPONENTIAL = "exponential"
    COSINE = "cosine"

    def __str__(self) -> str:
        return self.value


_MAX_POLES = 256  # bounded memory for detected poles
_MAX_SCHEDULES = 16  # schedules with recorded poles kept per context (the most recent)


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    if not is_real_number(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} "
                        f"{short_repr(value, 40)}")
    v = as_float(value)
    ok = (v >= 0.0 if allow_zero else v > 0.0) and math.isfinite(v)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'≥' if allow_zero else '>'} 0, got "
                         f"{short_repr(value)}")
    return v


def _epochs(name: str, value: int) -> int:
    """An epoch number or count: an int ≥ 0 (NumPy integers too); a float, even ``1.0``, or a
    bool is a ``TypeError``, as everywhere epochs are taken."""
    if not is_integer(value):
        hint = ""
        if isinstance(value, (float, np.floating)):
            hint = "; epochs are whole numbers ≥ 0, a float is not accepted even when integral"
        raise TypeError(f"{name} must be an int, got {type(value).__name__} "
                        f"{short_repr(value, 40)}{hint}")
    if value < 0:
        raise ValueError(f"{name} must be ≥ 0, got {value}")
    return int(value)


# Every field of HybridGradientSchedule, with the check that validates and coerces it: run by the
# constructor and by every later assignment (``s.schedule_type = "linear"`` stores the member).
_FIELD_CHECKS: dict[str, Any] = {
    "warmup_epochs": lambda v: _epochs("warmup_epochs", v),
    "transition_epochs": lambda v: _epochs("transition_epochs", v),
    "delta_init": lambda v: _positive("delta_init", v),
    "delta_final": lambda v: _positive("delta_final", v),
    "schedule_type": lambda v: parse_enum(ScheduleType, v, "schedule_type"),
    "enable": lambda v: check_bool("enable", v),
    "saturating_bound": lambda v: check_bound(v, "saturating_bound"),
    "force_pole_exploration": lambda v: check_bool("force_pole_exploration", v),
    "pole_exploration_radius": lambda v: _positive("pole_exploration_radius", v, True),
    "pole_exploration_epochs": lambda v: _epochs("pole_exploration_epochs", v),
    "adaptive_delta": lambda v: check_bool("adaptive_delta", v),
    "min_delta": lambda v: _positive("min_delta", v, allow_zero=True),
}


@dataclass
class HybridGradientSchedule:
    """Per-epoch hybrid schedule (SPEC §4.4).

    >>> s = HybridGradientSchedule(warmup_epochs=2, transition_epochs=10)
    >>> s.get_delta(0) is None, s.get_delta(2), s.get_delta(12)
    (True, 0.01, 1e-06)
    """

    warmup_epochs: int = 0
    transition_epochs: int = 20
    delta_init: float = 1e-2
    delta_final: float = 1e-6
    schedule_type: ScheduleType = ScheduleType.EXPONENTIAL
    enable: bool = True
    saturating_bound: float = 1.0
    force_pole_exploration: bool = True
    pole_exploration_radius: float = 0.05
    pole_exploration_epochs: int = 5
    adaptive_delta: bool = True
    min_delta: float = 1e-8

    def __post_init__(self) -> None:
        # (the generated __init__ assigned every field through __setattr__, which checked it;
        # apply() calls this again to recheck fields written around __setattr__)
        for name, check in _FIELD_CHECKS.items():
            object.__setattr__(self, name, check(getattr(self, name)))
        self.__dict__.pop("_delta_cache", None)

    # δ(t) -------------------------------------------------------------------------------------
    def _progress(self, epoch: int) -> float:
        done = epoch - self.warmup_epochs  # ints: no float overflow for any epoch number
        if done <= 0:
            return 0.0 if self.transition_epochs else 1.0
        if done >= self.transition_epochs:
            return 1.0
        return done / self.transition_epochs

    def __setattr__(self, name: str, value: Any) -> None:
        """Fields are checked and coerced on every assignment, as by the constructor
        (``TypeError``/``ValueError`` naming the field; the field keeps its old value), and any
        change drops the cached δ."""
        check = _FIELD_CHECKS.get(name)
        if check is not None:
            value = check(value)
        if name != "_delta_cache":
            self.__dict__.pop("_delta_cache", None)  # any field change invalidates the cache
        object.__setattr__(self, name, value)

    def _scheduled_delta(self, epoch: int) -> float | None:
        """δ(t) before adaptation; cached for the last epoch asked (reset by any field change)."""
        if epoch.__class__ is not int or epoch < 0:  # checked before the cache is consulted
            epoch = _epochs("epoch", epoch)
        cache = self.__dict__.get("_delta_cache")
        if cache is not None and cache[0] == epoch:
            return cache[1]
        if not self.enable or epoch < self.warmup_epochs:
            delta = None
        else:
            p = self._progress(epoch)
            di, df = self.delta_init, self.delta_final
            if self.schedule_type is ScheduleType.LINEAR:
                delta = di + (df - di) * p
            elif self.schedule_type is ScheduleType.EXPONENTIAL:
                delta = di * (df / di) ** p
            else:
                delta = df + 0.5 * (di - df) * (1.0 + math.cos(math.pi * p))
        self.__dict__["_delta_cache"] = (epoch, delta)
        return delta

    def get_delta(self, epoch: int, stats: "HybridStatistics | None" = None) -> float | None:
        """δ at ``epoch``: None when disabled or in warm-up; else the decayed, adapted δ ≥ min_delta.

        Adaptive δ reads the smallest |u| of the last batch from ``stats`` (default: this
        context's statistics), and only when that batch was a backward pass of this schedule:
        a schedule never adapts to the passes of another one (nor do the statistics a finished
        ``apply`` block leaves behind for reading change a fresh schedule's δ).

        >>> s = HybridGradientSchedule()
        >>> s.get_delta(0), s.get_delta(20), s.get_delta(5, HybridStatistics())
        (0.01, 1e-06, 0.001)
        """
        if stats is not None and not isinstance(stats, HybridStatistics):
            raise TypeError(f"get_delta(epoch, stats): stats must be a HybridStatistics or None, "
                            f"got {type(stats).__name__} {short_repr(stats)}")
        delta = self._scheduled_delta(epoch)
        if delta is None:
            return None
        if self.adaptive_delta:
            st = HybridGradientContext._stats() if stats is None else stats
            q_min = st.q_min_batch if st.source is self else None
            if q_min is not None and q_min > 0.0:  # min(δ·max(1, 0.1/q_min), 2·δ_init), spelt
                widen = 0.1 / q_min                   # out: this runs once per backward pass
                if widen > 1.0:
                    delta *= widen
                cap = 2.0 * self.delta_init
                if cap < delta:
                    delta = cap
        return delta if delta > self.min_delta else self.min_delta

    def is_warmup(self, epoch: int) -> bool:
        """True while ``epoch < warmup_epochs`` (HYBRID is exactly MASK_REAL then)."""
        return _epochs("epoch", epoch) < self.warmup_epochs

    def is_transitioning(self, epoch: int) -> bool:
        """True after warm-up while δ is still decaying."""
        epoch = _epochs("epoch", epoch)
        return self.enable and self.warmup_epochs <= epoch < self.warmup_epochs + self.transition_epochs

    def get_mode_description(self, epoch: int) -> str:
        """A one-line human description of what HYBRID does at ``epoch``."""
        epoch = _epochs("epoch", epoch)  # checked as every epoch argument, also when disabled
        if not self.enable:
            return "hybrid disabled: Mask-REAL everywhere"
        if self.is_warmup(epoch):
            return f"warm-up ({epoch + 1}/{self.warmup_epochs}): Mask-REAL everywhere"
        delta = self.get_delta(epoch)
        phase = "transition" if self.is_transitioning(epoch) else "final"
        regions = self.get_exploration_regions(epoch)
        extra = f", {len(regions)} forced exploration region(s)" if regions else ""
        return f"{phase}: saturating where |u| ≤ δ = {delta:.3g}, exact elsewhere{extra}"

    # forced pole exploration ------------------------------------------------------------------
    def update_detected_poles(self, poles: Sequence[float], epoch: int) -> None:
        """Record pole locations found at ``epoch``; inputs within ``pole_exploration_radius`` of
        them are forced to saturate for ``pole_exploration_epochs`` epochs (at most 256 kept)."""
        epoch = _epochs("epoch", epoch)
        if not is_iterable(poles):
            raise TypeError(f"poles must be a sequence of real numbers (pole locations), got "
                            f"{type(poles).__name__} {short_repr(poles, 40)}")
        vals = []
        for p in poles:
            if not is_real_number(p):
                raise TypeError(f"poles must hold real numbers, got {type(p).__name__} "
                                f"{short_repr(p, 40)}")
            vals.append(as_float(p))  # an int beyond the float range: refused as not finite
        if any(not math.isfinite(p) for p in vals):
            raise ValueError(f"poles must be finite numbers, got {short_repr(list(poles), 80)}")
        # kept in a ContextVar, like every other piece of schedule state: a schedule shared by
        # two threads (or asyncio tasks) never steers the other's exploration
        entries = tuple(e for e in _POLES.get() if e[0] is not self)[-(_MAX_SCHEDULES - 1):]
        _POLES.set(entries + ((self, tuple(vals[-_MAX_POLES:]), int(epoch)),))

    @property
    def _poles(self) -> list[float]:
        """The poles recorded in this context (see :meth:`update_detected_poles`)."""
        entry = self._pole_entry()
        return [] if entry is None else list(entry[0])

    @property
    def _poles_epoch(self) -> int | None:
        entry = self._pole_entry()
        return None if entry is None else entry[1]

    def _pole_entry(self) -> tuple[tuple[float, ...], int] | None:
        """``(poles, epoch)`` recorded for this schedule in this context, or None."""
        for sched, poles, epoch in _POLES.get():
            if sched is self:
                return poles, epoch
        return None

    def get_exploration_regions(self, epoch: int) -> list[tuple[float, float]]:
        """Active ``(lo, hi)`` intervals of forced saturation at ``epoch`` (empty if none)."""
        return self._regions_at(_epochs("epoch", epoch))

    def _regions_at(self, epoch: int) -> list[tuple[float, float]]:
        """:meth:`get_exploration_regions` for a checked ``epoch`` (once per backward pass)."""
        entry = self._pole_entry() if self.enable and self.force_pole_exploration else None
        if entry is None or not entry[0] or not 0 <= epoch - entry[1] < self.pole_exploration_epochs:
            return []
        r = self.pole_exploration_radius
        return [(p - r, p + r) for p in entry[0]]

    @reusable_context(check=lambda self, epoch: _epochs("epoch", epoch))
    def apply(self, epoch: int) -> Iterator["HybridGradientSchedule"]:
        """Activate HYBRID with this schedule at ``epoch`` for a block; restores the previous
        mode, bound, schedule and epoch on exit. Statistics are kept, to be read after the block;
        a block nested in another epoch's block gives that epoch's statistics back on exit."""
        self.__post_init__()  # fields may have been changed since construction: recheck them
        epoch = _epochs("epoch", epoch)
        stats = HybridGradientContext._stats()
        saved = None
        if stats.current_epoch != epoch:
            if _IN_APPLY.get():  # nested in another epoch's block: give its statistics back
                saved = stats.snapshot()
            stats.new_epoch(epoch)
        tokens = (MODE.set(GradientMode.HYBRID), BOUND.set(self.saturating_bound),
                  _SCHEDULE.set(self), _EPOCH.set(epoch), _IN_APPLY.set(True))
        try:
            yield self
        finally:
            _IN_APPLY.reset(tokens[4])
            _EPOCH.reset(tokens[3])
            _SCHEDULE.reset(tokens[2])
            BOUND.reset(tokens[1])
            MODE.reset(tokens[0])
            if saved is not None:
                stats.restore(saved)


def create_default_schedule(aggressive: bool = False, warmup_epochs: int = 0,
                            force_exploration: bool = True) -> HybridGradientSchedule:
    """The default schedule (δ 1e-2 → 1e-6), or the aggressive one (δ 1e-1 → 1e-8, bound 0.1,
    radius 0.1, 10 exploration epochs, min_delta 1e-10).

    >>> create_default_schedule(aggressive=True).delta_final
    1e-08
    """
    aggressive = check_bool("aggressive", aggressive)
    force_exploration = check_bool("force_exploration", force_exploration)
    if aggressive:
        return HybridGradientSchedule(
            warmup_epochs=warmup_epochs, delta_init=1e-1, delta_final=1e-8, saturating_bound=0.1,
            force_pole_exploration=force_exploration, pole_exploration_radius=0.1,
            pole_exploration_epochs=10, min_delta=1e-10,
        )
    return HybridGradientSchedule(warmup_epochs=warmup_epochs, force_pole_exploration=force_exploration)


# ---- statistics ---------------------------------------------------------------------------------
_SAMPLE_CAP = 2048  # |u| values kept per batch for quantiles (exact below this count)
_SAMPLE_SEED = 0x5EED  # the reservoir's generator, reseeded per batch: quantiles are reproducible


def _context_owner() -> tuple:
    """The thread and the asyncio task (if any) running now.

    asyncio tasks (and ``asyncio.to_thread``) start from a *copy* of their creator's context, so
    a statistics object found in a ContextVar may be the creator's; it is only used by its owner.
    """
    aio = _modules.get("asyncio")  # no asyncio imported: no tasks
    if aio is not None and aio._get_running_loop() is not None:  # no exception when no loop
        return _get_ident(), aio.current_task()
    return _get_ident(), None


_modules = sys.modules
_get_ident = threading.get_ident


class HybridStatistics:
    """Streaming statistics of hybrid decisions, with memory bounded by ``_SAMPLE_CAP``.

    A *batch* is one backward pass; an *epoch* runs from one ``apply(epoch)``/``update_epoch`` with
    a new epoch number to the next. Counters are per epoch.

    >>> from zeroproof.autodiff.hybrid_gradient import HybridStatistics
    >>> s = HybridStatistics(); s.record(0.5, True, False); s.record(2.0, False, False)
    >>> s.calls, s.saturating, s.q_min_batch
    (2, 1, 0.5)
    """

    __slots__ = ("current_epoch", "local_threshold", "calls", "saturating", "near", "q_min_epoch",
                 "q_min_batch", "_b_sum", "_b_sample", "_b_seen", "_batch_open", "_rng", "regions",
                 "source", "manual", "owner")

    def __init__(self) -> None:
        self.owner = _context_owner()
        self.clear()

    def clear(self) -> None:
        """Forget everything recorded (the owner stays)."""
        self.current_epoch: int | None = None
        self.local_threshold: float | None = None
        self.regions: list[tuple[float, float]] = []  # the exploration regions of the last pass
        self.source: "HybridGradientSchedule | None" = None  # the schedule of the last pass
        # (decider, schedule, epoch) of the batch that should_use_saturating calls add to; a
        # backward pass, a reset or a new epoch ends it
        self.manual: tuple | None = None
        self.reset_epoch()
        self.q_min_batch: float | None = None
        self._clear_batch()

    def _clear_batch(self) -> None:
        self._b_sum = 0.0
        self._b_sample: list[float] = []
        self._b_seen = 0
        self._batch_open = False
        self._rng: random.Random | None = None

    def reset_epoch(self) -> None:
        self.calls = 0
        self.saturating = 0
        self.near = 0
        self.q_min_epoch: float | None = None

    def new_epoch(self, epoch: int) -> None:
        self.current_epoch = epoch
        self.manual = None
        self.reset_epoch()

    def snapshot(self) -> tuple:
        """Everything but the owner, copied (the batch sample is a list, the reservoir's
        generator is kept as its state)."""
        def copied(v: Any) -> Any:
            if isinstance(v, list):
                return list(v)
            return ("rng", v.getstate()) if isinstance(v, random.Random) else v

        return tuple(copied(getattr(self, k)) for k in self.__slots__ if k != "owner")

    def restore(self, state: tuple) -> None:
        for k, v in zip((k for k in self.__slots__ if k != "owner"), state):
            if isinstance(v, tuple) and len(v) == 2 and v[0] == "rng":
                rng = random.Random()
                rng.setstate(v[1])
                v = rng
            setattr(self, k, v)

    def begin_batch(self, delta: float | None,
                    regions: list[tuple[float, float]] | None = None,
                    source: "HybridGradientSchedule | None" = None) -> None:
        """A backward pass of schedule ``source`` starts with threshold ``delta`` and exploration
        ``regions``: until its first decision the batch values read None (a pass that decides
        nothing leaves nothing for adaptive δ to widen on)."""
        self.source = source
        self.local_threshold = delta
        self.regions = [] if regions is None else regions
        self._batch_open = True
        self.q_min_batch = None
        self.manual = None

    def _open(self) -> None:
        if self._batch_open:  # first decision of a new backward pass: start the batch afresh
            self._clear_batch()
            self.q_min_batch = None

    def record(self, q: float, saturate: bool, near: bool) -> None:
        if self._batch_open:  # _open(), inlined: this runs once per scalar decision
            self._b_sum = 0.0
            self._b_sample = [q] if q == q else []
            self._b_seen = 0
            self._batch_open = False
            self._rng = None
            self.q_min_batch = None
        else:
            if q == q and len(self._b_sample) < _SAMPLE_CAP:
                self._b_sample.append(q)
            elif q == q:  # reservoir sampling (uniform over the batch's decisions, in any
                rng = self._rng  # order), from a generator seeded per batch: deterministic
                if rng is None:
                    rng = self._rng = random.Random(_SAMPLE_SEED)
                j = int(rng.random() * (self._b_seen + 1))
                if j < _SAMPLE_CAP:
                    self._b_sample[j] = q
        self.calls += 1
        self.saturating += saturate
        self.near += near
        if q == q:
            if self.q_min_batch is None or q < self.q_min_batch:
                self.q_min_batch = q
            if self.q_min_epoch is None or q < self.q_min_epoch:
                self.q_min_epoch = q
            self._b_sum += q
            self._b_seen += 1

    def record_array(self, q: np.ndarray, saturate: np.ndarray, near: np.ndarray) -> None:
        self._open()
        n = int(q.size)
        self.calls += n
        self.saturating += int(np.count_nonzero(saturate))
        self.near += int(np.count_nonzero(near))
        qv = q[q == q].ravel()
        if qv.size == 0:
            return
        qmin = float(qv.min())
        if self.q_min_batch is None or qmin < self.q_min_batch:
            self.q_min_batch = qmin
        if self.q_min_epoch is None or qmin < self.q_min_epoch:
            self.q_min_epoch = qmin
        self._b_sum += float(qv.sum())
        room = _SAMPLE_CAP - len(self._b_sample)
        if qv.size <= room:
            self._b_sample.extend(qv.tolist())
        else:  # the same reservoir for a whole array at once: the i-th value seen replaces
            # slot ⌊u·i⌋ when that is < cap (u uniform), later values winning (NumPy assigns
            # repeated indices in order); the generator is seeded by the count: reproducible
            room = max(room, 0)
            self._b_sample.extend(qv[:room].tolist())
            rest = qv[room:]
            seen = self._b_seen + room + 1 + np.arange(rest.size)
            u = np.random.default_rng([_SAMPLE_SEED, self._b_seen]).random(rest.size)
            j = (u * seen).astype(np.int64)
            keep = j < _SAMPLE_CAP
            sample = np.asarray(self._b_sample, dtype=np.float64)
            sample[j[keep]] = rest[keep]
            self._b_sample = sample.tolist()
        self._b_seen += int(qv.size)

    def as_dict(self, regions: list[tuple[float, float]]) -> dict[str, Any]:
        total = self.calls
        # a batch opened by the last pass but given no decision holds nothing yet
        sample = np.asarray([] if self._batch_open else self._b_sample, dtype=np.float64)
        finite = sample[np.isfinite(sample)]

        def pct(p: float) -> float | None:
            return float(np.percentile(finite, p)) if finite.size else None

        return {
            "current_epoch": self.current_epoch,
            "local_threshold": self.local_threshold,
            "total_gradient_calls": total,
            "saturating_activations": self.saturating,
            "mask_real_activations": total - self.saturating,
            "saturating_ratio": (self.saturating / total) if total else None,
            "near_pole_ratio": (self.near / total) if total else None,
            "q_min_batch": self.q_min_batch,
            "q_min_epoch": self.q_min_epoch,
            "q_mean_batch": (self._b_sum / self._b_seen) if self._b_seen and not self._batch_open
            else None,
            "q_median_batch": pct(50),
            "q_p10": pct(10),
            "q_p50": pct(50),
            "q_p90": pct(90),
            "exploration_regions": regions or None,
        }


_SCHEDULE: ContextVar[HybridGradientSchedule | None] = ContextVar("zeroproof_hybrid_schedule", default=None)
# Poles recorded by update_detected_poles, per schedule: ((schedule, poles, epoch), ...); a new
# tuple on every update, so a copied context (an asyncio task) never sees its sibling's updates.
_POLES: ContextVar[tuple] = ContextVar("zeroproof_hybrid_poles", default=())
_EPOCH: ContextVar[int | None] = ContextVar("zeroproof_hybrid_epoch", default=None)
_STATS: ContextVar[HybridStatistics | None] = ContextVar("zeroproof_hybrid_stats", default=None)
# Inside a ``schedule.apply(epoch)`` block (an epoch set by ``update_epoch`` is not a block: a
# later top-level ``apply`` keeps its statistics rather than give them back as a nested one).
_IN_APPLY: ContextVar[bool] = ContextVar("zeroproof_hybrid_in_apply", default=False)


class _ActivePass(threading.local):
    """``ACTIVE_PASS.decider``: the decider of the hybrid backward pass running in this thread
    (None outside one), set by the sweep and read by the rules that decide. A pass runs to its end
    in the thread that started it and never awaits, so per thread is per pass; a pass started
    within another in the same thread saves and restores it. A thread-local rather than a
    ``ContextVar``: setting and resetting a context variable copies part of the context, about
    three times the cost, once per pass. ``frame``: the batched tape's per-pass frame (the
    output shape and live mask of the node whose rule is deciding), kept the same way."""

    decider: "HybridDecider | None" = None
    frame: "list | None" = None


ACTIVE_PASS = _ActivePass()


class HybridDecider:
    """Per-backward-pass hybrid decision: saturate where ``|u| ≤ δ`` or the node's attached input
    lies in an exploration region. Reads the context once, when the pass starts."""

    __slots__ = ("delta", "regions", "stats")

    def __init__(self, delta: float, regions: list[tuple[float, float]], stats: HybridStatistics,
                 source: "HybridGradientSchedule | None" = None) -> None:
        self.delta = delta
        self.regions = regions
        self.stats = stats
        stats.begin_batch(delta, regions, source)  # (δ above already read the previous batch)

    def __call__(self, u: Any, x: Any) -> Any:
        if u.__class__ is not float:
            if isinstance(u, np.ndarray):
                return self.array(u, x)
            u = u._v  # a node (create_graph): decide on its value
        q = abs(u)
        near = q <= self.delta
        sat = near
        if not near and x is not None and self.regions:
            sat = any(lo <= x <= hi for lo, hi in self.regions)
        self.stats.record(q, sat, near)
        return sat

    def array(self, u: np.ndarray, x: Any) -> np.ndarray:
        # compared in float64, as the scalar tape compares: a float32 |u| just above δ is not
        # near because δ rounded to float32 happens to equal it
        q = np.abs(u, dtype=np.float64)
        near = q <= self.delta
        sat = near
        if x is not None and self.regions:
            xb = np.broadcast_to(np.asarray(x, dtype=np.float64), q.shape)
            inside = np.zeros(q.shape, dtype=bool)
            for lo, hi in self.regions:
                inside |= (xb >= lo) & (xb <= hi)
            sat = near | inside
        self.stats.record_array(q, sat, near)
        return sat


class HybridGradientContext:
    """The active hybrid schedule, epoch and statistics of this thread/task (class-level API).

    >>> HybridGradientContext.reset()
    >>> sorted(HybridGradientContext.get_statistics())[:3]
    ['current_epoch', 'exploration_regions', 'local_threshold']
    """

    @staticmethod
    def _stats() -> HybridStatistics:
        s = _STATS.get()
        if s is not None and s.owner[0] == _get_ident():  # fast path: this thread's, no task
            aio = _modules.get("asyncio")
            if s.owner[1] is None and (aio is None or aio._get_running_loop() is None):
                return s
        if s is None or s.owner != _context_owner():  # none yet, or inherited from the creator
            inherited = s
            s = HybridStatistics()
            if inherited is not None:
                # a task (a Jupyter cell runs as one) goes on from a copy of what its creator
                # recorded, as a copied context gives it every other value; its own decisions
                # never reach the creator's object
                s.restore(inherited.snapshot())
            _STATS.set(s)
        return s

    @staticmethod
    def set_schedule(schedule: HybridGradientSchedule | None) -> None:
        """Make ``schedule`` the active schedule of this thread/task (``None`` clears it;
        ``TypeError`` otherwise). The gradient mode is not changed: backward passes consult the
        schedule only in HYBRID mode (``schedule.apply(epoch)`` sets both). Nor is the saturation
        bound: the saturated rules use the mode's bound (``GradientModeConfig``, default 1.0);
        ``schedule.apply`` sets it to ``schedule.saturating_bound`` for its block, so with
        ``set_mode``/``set_schedule`` call ``GradientModeConfig.set_saturation_bound`` too.

        >>> s = HybridGradientSchedule(warmup_epochs=2)
        >>> HybridGradientContext.set_schedule(s)
        >>> HybridGradientContext.get_schedule() is s
        True
        >>> HybridGradientContext.set_schedule(None)
        """
        if schedule is not None and not isinstance(schedule, HybridGradientSchedule):
            raise TypeError(f"schedule must be a HybridGradientSchedule or None, got "
                            f"{type(schedule).__name__} {short_repr(schedule, 40)}")
        _SCHEDULE.set(schedule)

    @staticmethod
    def get_schedule() -> HybridGradientSchedule | None:
        """The active schedule of this thread/task, or ``None``."""
        return _SCHEDULE.get()

    @staticmethod
    def update_epoch(epoch: int) -> None:
        """Set the current epoch; a new epoch number starts fresh per-epoch counters."""
        epoch = _epochs("epoch", epoch)
        _EPOCH.set(epoch)
        s = HybridGradientContext._stats()
        if s.current_epoch != epoch:
            s.new_epoch(epoch)

    @staticmethod
    def current_delta() -> float | None:
        """δ of the active schedule at the current epoch (None: no schedule or warm-up)."""
        sched = _SCHEDULE.get()
        if sched is None:
            return None
        epoch = _EPOCH.get()
        return sched.get_delta(0 if epoch is None else epoch)

    @staticmethod
    def decider() -> HybridDecider | None:
        """A decider for one backward pass, or None when HYBRID is exactly MASK_REAL now.

        A pass under a schedule that gives no δ (warm-up, disabled) still starts a batch in the
        statistics, one that decides nothing: ``local_threshold`` and the batch values read None
        after it, not the values of an earlier pass."""
        sched = _SCHEDULE.get()
        if sched is None:
            return None
        epoch = _EPOCH.get() or 0
        stats = HybridGradientContext._stats()
        delta = sched.get_delta(epoch, stats)
        if delta is None:
            stats.begin_batch(None, None, sched)
            return None
        return HybridDecider(delta, sched._regions_at(epoch) if _POLES.get() else [], stats, sched)

    @staticmethod
    def should_use_saturating(abs_q: float, x_value: float | None = None) -> bool:
        """Decide (and count) one singular quantity: True to saturate. False without a δ.

        ``abs_q``: a real number ``>= 0`` (NaN allowed: never near; a negative one is a
        ``ValueError``); ``x_value``: a real number or None. Consecutive calls form one batch,
        as the decisions of one backward pass do: δ is read at the first call (adaptive δ from
        the previous batch), and the batch values (``q_min_batch``, quantiles) cover every call,
        until a backward pass, a statistics reset or a new epoch starts the next batch.

        >>> from zeroproof.autodiff import HybridGradientContext, HybridGradientSchedule
        >>> with HybridGradientSchedule(delta_init=1e-3, delta_final=1e-3).apply(0):
        ...     HybridGradientContext.should_use_saturating(1e-4)
        True
        >>> HybridGradientContext.reset()  # (the decision above stays in the statistics)
        """
        for name, v in (("abs_q", abs_q), ("x_value", x_value)):
            if v is None and name == "x_value":
                continue
            if not is_real_number(v):
                raise TypeError(f"should_use_saturating: {name} must be a real number"
                                f"{' or None' if name == 'x_value' else ''}, got "
                                f"{type(v).__name__} {short_repr(v, 40)}")
        q = as_float(abs_q)  # an int beyond the float range: an infinite magnitude
        if x_value is not None:
            x_value = as_float(x_value)
        if q < 0.0:
            raise ValueError(f"should_use_saturating: abs_q must be >= 0 (a magnitude |q|), got "
                             f"{short_repr(abs_q, 40)}")
        stats = HybridGradientContext._stats()
        key = (_SCHEDULE.get(), _EPOCH.get())
        manual = stats.manual
        if manual is not None and manual[1] is key[0] and manual[2] == key[1]:
            d = manual[0]
        else:
            d = HybridGradientContext.decider()
            if d is None:
                return False
            stats.manual = (d, *key)
        return bool(d(q, x_value))

    @staticmethod
    def get_statistics() -> dict[str, Any]:
        """Counters, ratios and |u| quantiles; every key of SPEC §4.4 is present (None if unknown)."""
        s = HybridGradientContext._stats()
        sched = _SCHEDULE.get()
        epoch = _EPOCH.get()
        e = s.current_epoch if epoch is None else epoch
        if sched is not None and e is not None:
            # none while the schedule is off or warming up: HYBRID is exactly MASK_REAL then
            active = sched.enable and not sched.is_warmup(e)
            regions = sched.get_exploration_regions(e) if active else []
        else:  # after the schedule's block: the regions its last pass explored
            regions = s.regions
        return s.as_dict(regions)

    @staticmethod
    def reset_statistics() -> None:
        """Forget every statistic of this thread/task. Inside ``schedule.apply(epoch)`` (or after
        ``update_epoch(epoch)``) ``current_epoch`` stays that epoch; the counters start at 0.

        >>> from zeroproof.autodiff import HybridGradientContext, HybridGradientSchedule
        >>> with HybridGradientSchedule().apply(3):
        ...     HybridGradientContext.reset_statistics()
        ...     HybridGradientContext.get_statistics()["current_epoch"]
        3
        """
        s = HybridGradientContext._stats()
        s.clear()  # in place: an enclosing block keeps this object
        s.current_epoch = _EPOCH.get()

    @staticmethod
    def reset_epoch_statistics() -> None:
        """Reset the per-epoch counters and q_min_epoch (batch values are kept)."""
        HybridGradientContext._stats().reset_epoch()

    @staticmethod
    def reset() -> None:
        """No schedule, no epoch, fresh statistics."""
        _SCHEDULE.set(None)
        _EPOCH.set(None)
        _STATS.set(HybridStatistics())
