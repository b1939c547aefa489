"""Sign consistency for signed-infinity targets: approach a pole from the correct side."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autodiff import projective as _pj
from ..core._parse import check_real
from . import _common as C

__all__ = ["sign_consistency_loss", "target_signs"]


def target_signs(target_sign: Any) -> np.ndarray:
    """The per-element signs ``+1`` (target ``+∞``), ``−1`` (``−∞``), ``0`` (anything else) from
    an array-like, or from lifted targets carrying a ``.signs`` attribute
    (:func:`zeroproof.training.targets.lift_targets`).

    >>> target_signs([1, 0, -1]).tolist()
    [1.0, 0.0, -1.0]
    """
    s = getattr(target_sign, "signs", target_sign)
    arr = np.asarray(C.codes(s) if not isinstance(s, np.ndarray) else s, dtype=np.float64)
    if not np.isin(arr, (-1.0, 0.0, 1.0)).all():
        raise ValueError("target_sign must hold only -1, 0 and +1 (the sign of a ±∞ target, 0 "
                         f"for other targets), got values {np.unique(arr)[:6].tolist()}")
    return arr


def sign_consistency_loss(P: Any, Q: Any, target_sign: Any, gamma: float = 1e-9,
                          margin: float = 0.0, reduction: str = "mean") -> Any:
    """For a target ``s·∞`` (``s = ±1``) the tuple must approach the pole from the side that
    decodes to ``s·∞``: ``sign(P/Q) = s``, i.e. ``s·P·Q > 0``. Loss per such element::

        relu(margin − s·P·Q / (P² + Q² + gamma))

    (the normalised product is ``sin(2φ)/2`` for the tuple angle φ, so the loss does not depend
    on the tuple scale), averaged over the elements with ``s ≠ 0`` (0 when there are none).
    Elements with a finite or ⊥ target (``s = 0``) are ignored. Keep ``margin`` at 0 unless
    the tuple is not meant to reach ``Q = 0`` (a positive margin opposes the implicit loss,
    which drives ``Q → 0`` on infinite targets). Gated by ``GradientPolicy.PROJECT``.

    >>> sign_consistency_loss([1.0, 1.0], [0.1, -0.1], [1, 1], gamma=0.0)   # second is on −∞'s side
    0.04950495049504951
    """
    kind = C.kind_of("sign_consistency_loss", P=P, Q=Q)
    shape = C.check_shapes("sign_consistency_loss", P=P, Q=Q)
    gamma = _pj._check_gamma("sign_consistency_loss", gamma)
    reduction = C.check_reduction("sign_consistency_loss", reduction)
    s = target_signs(target_sign)
    n = len(P) if kind == C.NODES else None
    want = (n,) if n is not None else shape
    if s.shape != want and s.ndim != 0:
        raise ValueError(f"sign_consistency_loss: target_sign has shape {s.shape} but P has "
                         f"shape {want}")
    s = np.broadcast_to(s, want)
    margin = check_real("sign_consistency_loss: margin", margin, "a finite number >= 0",
                        lambda v: 0 <= v < math.inf)
    if kind == C.NODES:
        s_arg: Any = [float(v) for v in s]
    elif kind in (_pj.NODE, _pj.SCALAR):
        s_arg = float(s)
    else:
        s_arg = _pj._tape().constant(np.asarray(s, dtype=C.float_dtype(P, Q)))

    def term(p: Any, q: Any, sg: Any) -> Any:
        p, q = _pj._policy_gate(p, q)
        align = sg * (p * q) / (p * p + q * q + gamma)
        return _pj._relu(float(margin) - align)

    terms = C.elementwise(kind, term, P, Q, s_arg)
    sel = s != 0
    count = int(np.count_nonzero(sel))
    return C.reduce(kind, terms, reduction, weights=sel,
                    count=count if reduction == "mean" else None)
