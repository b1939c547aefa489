"""Named deployment presets: which rows to reject and what to do with the rest.

An operating point is a *policy*, not a pair of numbers. It never chooses ``tau_infer`` or
``tau_train`` for you: set those from a post-hoc sweep (:func:`zeroproof.metrics.
tau_infer_sweep_from_q_abs`) or a held-out calibration set, then pick the policy.

* ``safety_first``: reject bottom **and** gap rows (they get a sentinel, NaN by default) — fewest
  unsafe accepts, most rejections. Needs ``tau_train`` to be useful.
* ``direction_aware``: reject bottom rows but report a censoring direction for them (0 = below,
  2 = above) from a direction head or ``sign(P)``; gap rows are accepted.
* ``accuracy_first``: reject bottom rows only; gap rows are accepted and just monitored —
  highest coverage, most exposure near the training–inference gap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

import numpy as np

from .mode import (InferenceConfig, _resolve_config, decode_strict_censored_3way, safe_sentinel,
                   strict_inference)

__all__ = ["OperatingPoint", "OperatingPointResult", "OPERATING_POINTS", "get_operating_point",
           "safety_first", "direction_aware", "accuracy_first"]


class OperatingPointResult(NamedTuple):
    """Outcome of :meth:`OperatingPoint.apply`.

    >>> from zeroproof.inference.operating_points import get_operating_point
    >>> res = get_operating_point("accuracy_first").apply(np.ones(2), np.array([0.5, 0.0]))
    >>> res.decoded, res.accept_mask, res.class_id
    (array([ 2., nan]), array([ True, False]), None)
    """

    decoded: np.ndarray      #: P/Q at accepted rows, ``sentinel`` at rejected rows
    accept_mask: np.ndarray  #: rows whose ``decoded`` may be used
    bottom_mask: np.ndarray  #: strict bottom (|Q| < tau_infer or P/Q not finite)
    gap_mask: np.ndarray     #: tau_infer <= |Q| < tau_train, not bottom
    class_id: Optional[np.ndarray]  #: 0 below / 1 in range / 2 above (direction_aware only)


@dataclass(frozen=True)
class OperatingPoint:
    """A named policy over the strict decoder's masks (see the module docstring).

    >>> import numpy as np
    >>> from zeroproof.inference import InferenceConfig, get_operating_point
    >>> op = get_operating_point("safety_first")
    >>> op.rejects_gap, op.rejects_bottom
    (True, True)
    >>> res = op.apply(np.array([1.0, 1.0, 1.0]), np.array([1.0, 5e-4, 0.0]),
    ...                InferenceConfig(tau_infer=1e-4, tau_train=1e-3))
    >>> res.decoded, res.accept_mask
    (array([ 1., nan, nan]), array([ True, False, False]))
    """

    name: str
    goal: str
    tradeoff: str
    rejects_bottom: bool
    rejects_gap: bool
    uses_direction: bool

    def apply(self, P: Any, Q: Any, config: Optional[InferenceConfig] = None,
              direction_logits: Any = None, sentinel: float = float("nan")
              ) -> OperatingPointResult:
        """Decode ``(P, Q)`` strictly and apply this policy.

        ``direction_logits`` (shape ``P.shape + (2,)``) is used by ``direction_aware`` only; the
        other presets reject it with a ``ValueError`` so that a forgotten head is not silently
        ignored.
        """
        cfg = _resolve_config(config)
        if direction_logits is not None and not self.uses_direction:
            raise ValueError(f"direction_logits is only used by the 'direction_aware' operating "
                             f"point, got it for {self.name!r}")
        decoded, bottom, gap = strict_inference(P, Q, cfg)
        class_id = None
        if self.uses_direction:
            _, _, class_id = decode_strict_censored_3way(P, Q, cfg.tau_infer, direction_logits)
        reject = bottom | gap if self.rejects_gap else bottom.copy()
        # safe_sentinel checks ``sentinel`` (a real number that fits the dtype and cannot be read
        # as a decoded value) and fills a copy
        out = safe_sentinel(decoded, reject, sentinel)
        return OperatingPointResult(out, ~reject, bottom, gap, class_id)


OPERATING_POINTS: dict[str, OperatingPoint] = {
    op.name: op for op in (
        OperatingPoint(
            name="safety_first",
            goal="minimise unsafe accepts: reject strict-bottom and gap-region rows",
            tradeoff="fewest finite outputs on censored/singular inputs, at the cost of more "
                     "rejections and more false censoring",
            rejects_bottom=True, rejects_gap=True, uses_direction=False),
        OperatingPoint(
            name="direction_aware",
            goal="keep the censored direction meaningful at bottom rows (below / above) using a "
                 "direction head, or sign(P) without one",
            tradeoff="an extra head and more evaluation work, but actionable outputs on "
                     "censored/singular inputs",
            rejects_bottom=True, rejects_gap=False, uses_direction=True),
        OperatingPoint(
            name="accuracy_first",
            goal="maximise coverage: reject strict-bottom rows only and monitor the gap region",
            tradeoff="highest coverage when the model is well behaved, more risk exposure near "
                     "the training-inference gap unless the gap rate is watched",
            rejects_bottom=True, rejects_gap=False, uses_direction=False),
    )
}

#: The presets by name, as the deployment guide names them (``from zeroproof.inference import
#: safety_first``); the same objects as ``OPERATING_POINTS[name]``.
safety_first: OperatingPoint = OPERATING_POINTS["safety_first"]
direction_aware: OperatingPoint = OPERATING_POINTS["direction_aware"]
accuracy_first: OperatingPoint = OPERATING_POINTS["accuracy_first"]


def get_operating_point(name: str) -> OperatingPoint:
    """The preset called ``name`` (``safety_first``, ``direction_aware``, ``accuracy_first``).

    >>> from zeroproof.inference import get_operating_point
    >>> get_operating_point("accuracy_first").rejects_gap
    False
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    try:
        return OPERATING_POINTS[name]
    except KeyError:
        raise ValueError(f"unknown operating point {name!r}; accepted: "
                         f"{sorted(OPERATING_POINTS)}") from None
