"""The implicit (cross-product) fit loss on projective tuples.

For a predicted tuple ``(P, Q)`` and a lifted target ``(Y_n, Y_d)``::

    cross    = P * Y_d - Q * Y_n
    scale_sq = Q**2 * Y_d**2 + P**2 * Y_n**2 + gamma
    loss     = mean(cross**2 / scale_sq)

``cross`` is zero exactly when the two tuples name the same projective point (``P/Q = Y_n/Y_d``,
including the pole ``Q = 0`` for a target ``(±1, 0)``), so the loss never divides by the
predicted denominator. Numerator and scale are both homogeneous of degree 2 in ``(P, Q)``: with
the default ``detach_scale=False`` the loss is invariant under ``(P, Q) → α(P, Q)`` up to
``gamma``, so its radial derivative is ~0. ``detach_scale=True`` stops the gradient through the
scale (an ablation): the loss then grows like ``α²`` along the ray and gradient descent shrinks
the tuple. See ``docs/projective.md`` for the derivation.
"""
from __future__ import annotations

from typing import Any

from ..autodiff import projective as _pj
from ..autodiff.tr_node import stop_gradient
from . import _common as C

__all__ = ["implicit_loss", "implicit_residual"]


def implicit_residual(P: Any, Q: Any, Y_n: Any, Y_d: Any) -> Any:
    """``cross = P·Y_d − Q·Y_n`` elementwise (0 iff the tuples are projectively equal).

    >>> implicit_residual(2.0, 1.0, 4.0, 2.0)
    0.0
    """
    kind = C.kind_of("implicit_residual", P=P, Q=Q, Y_n=Y_n, Y_d=Y_d)
    C.check_shapes("implicit_residual", P=P, Q=Q, Y_n=Y_n, Y_d=Y_d)
    out = C.elementwise(kind, lambda p, q, yn, yd: p * yd - q * yn, P, Q, Y_n, Y_d)
    return out if kind == C.NODES else C.finish(kind, out)


def implicit_loss(P: Any, Q: Any, Y_n: Any, Y_d: Any, gamma: float = 1e-9,
                  detach_scale: bool = False, reduction: str = "mean") -> Any:
    """Implicit fit of ``(P, Q)`` to targets ``(Y_n, Y_d)``: ``mean(cross² / scale_sq)`` with
    ``cross = P·Y_d − Q·Y_n`` and ``scale_sq = Q²·Y_d² + P²·Y_n² + gamma``.

    ``P, Q, Y_n, Y_d``: TRTensors/arrays (one shape, numbers broadcast), scalar TRNodes/numbers,
    or equal-length lists of TRNodes (a batch on the scalar tape). ``gamma ≥ 0``
    (``ValueError`` otherwise). ``detach_scale=True`` applies ``stop_gradient`` to ``scale_sq``.
    ``reduction``: ``"mean"`` (default), ``"sum"`` or ``"none"``. Under
    ``gradient_policy(GradientPolicy.PROJECT)`` elements whose predicted tuple decodes to ⊥
    send no gradient. Returns a loss of the inputs' kind (tensor, node, or float for plain
    values).

    >>> implicit_loss(2.0, 1.0, 4.0, 2.0)            # (2, 1) ~ (4, 2): zero loss
    0.0
    >>> round(implicit_loss(1.0, 1.0, 2.0, 1.0, gamma=0.0), 6)   # 1/1 vs 2/1: (1-2)²/(1+4)
    0.2
    >>> from zeroproof.autodiff import TRNode
    >>> p = TRNode.parameter(1.0); q = TRNode.parameter(0.0)
    >>> implicit_loss(p, q, 1.0, 0.0).value          # the pole (1, 0) fits the target +∞ = (1, 0)
    TRScalar(0.0, REAL)
    """
    kind = C.kind_of("implicit_loss", P=P, Q=Q, Y_n=Y_n, Y_d=Y_d)
    C.check_shapes("implicit_loss", P=P, Q=Q, Y_n=Y_n, Y_d=Y_d)
    gamma = _pj._check_gamma("implicit_loss", gamma)
    reduction = C.check_reduction("implicit_loss", reduction)
    if not isinstance(detach_scale, bool):
        raise TypeError(f"implicit_loss: detach_scale must be a bool, got {type(detach_scale).__name__}")

    def term(p: Any, q: Any, yn: Any, yd: Any) -> Any:
        p, q = _pj._policy_gate(p, q)
        cross = p * yd - q * yn
        scale_sq = q * q * (yd * yd) + p * p * (yn * yn) + gamma
        if detach_scale:
            scale_sq = stop_gradient(scale_sq)
        return cross * cross / scale_sq

    return C.reduce(kind, C.elementwise(kind, term, P, Q, Y_n, Y_d), reduction)
