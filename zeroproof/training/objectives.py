"""Per-element regression losses on the batched tape for finite targets (the trainer averages
their REAL elements; see :class:`~zeroproof.training.SCMTrainer`).

``chordal_loss`` compares two values as points of the projective line: ``v ↦ (cos 2θ, sin 2θ)``
with ``θ = atan v``, i.e. ``((1 − v²)/(1 + v²), 2v/(1 + v²))``, and returns the squared chord
between the two points. It is bounded (≤ 4), smooth through ``v = ±∞`` (both ends map to
``(−1, 0)``), so a learned pole can move across the data without the loss jumping, and a
prediction of ``1e6`` against a target of ``1e6 + 1`` costs almost nothing. Elements whose
prediction or target is exactly ``±∞`` give Φ there (``∞/∞``) and drop out of the mean.
(Projective targets ``(y_n, y_d)`` and the implicit loss live in ``zeroproof.losses``.)

>>> import numpy as np
>>> from zeroproof.array import constant
>>> chordal_loss(constant([0.0, 1e8, 2.0]), np.array([0.0, -1e8, np.inf])).value
TRArray([0.0, 1.6000000000000002e-15, Φ], dtype=float64)
"""
from __future__ import annotations

from typing import Any

from ..array.tape import TRTensor, as_tensor

__all__ = ["chordal_loss", "squared_error"]


def _pair(func: str, pred: Any, target: Any) -> tuple[TRTensor, TRTensor]:
    """Both operands on the tape, with one shape (a 0-d one broadcasts): ``(B,)`` against
    ``(B, 1)`` would silently compare every pair."""
    p, t = as_tensor(pred, "pred"), as_tensor(target, "target")
    if p.shape and t.shape and p.shape != t.shape:
        raise ValueError(f"{func}: pred has shape {p.shape} but target has shape {t.shape}; "
                         f"they must have the same shape (squeeze or reshape one of them first: "
                         f"broadcasting would compare every pair)")
    return p, t


def _circle(v: TRTensor) -> tuple[TRTensor, TRTensor]:
    w = 1.0 / (1.0 + v * v)
    # v·w before the doubling: for |v| near the float range 2·v overflows (and ∞ · 0 = Φ) while
    # v·w is the tiny 1/v it should be
    return 2.0 * w - 1.0, 2.0 * (v * w)


def chordal_loss(pred: Any, target: Any) -> TRTensor:
    """Squared chordal distance between ``pred`` and ``target`` on the projective line, per
    element (see the module docstring).

    >>> import numpy as np
    >>> from zeroproof.array import constant
    >>> float(chordal_loss(constant([1.0]), np.array([-1.0])).numpy()[0])   # opposite points
    4.0
    """
    p, t = _pair("chordal_loss", pred, target)
    a1, a2 = _circle(p)
    b1, b2 = _circle(t)
    return (a1 - b1) ** 2 + (a2 - b2) ** 2


def squared_error(pred: Any, target: Any) -> TRTensor:
    """``(pred − target)²`` per element.

    >>> import numpy as np
    >>> from zeroproof.array import constant
    >>> squared_error(constant([1.0, 2.0]), np.array([0.0, 0.0])).value
    TRArray([1.0, 4.0], dtype=float64)
    """
    p, t = _pair("squared_error", pred, target)
    return (p - t) ** 2
