"""Sign consistency for signed-infinity targets: approach a pole from the correct side."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autodiff import projective as _pj
from ..core._parse import check_real, real_array
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
    arr = real_array("target_sign", C.codes(s, "target_sign") if not isinstance(s, np.ndarray)
                     else s)
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
    >>> sign_consistency_loss(1e200, -1e200, 1, gamma=0.0)   # P² overflows: rescaled, exactly
    0.5

    A finite tuple whose squares (or the backward pass's ``align/den``) would leave the float
    range is evaluated as ``(P, Q)·2**k`` with ``gamma·2**(2k)`` — the same function, exact in
    value and gradient — as in :func:`~zeroproof.losses.implicit_loss`; other elements are the
    plain formula's, bit for bit.
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

    def core(p: Any, q: Any, sg: Any, g: Any) -> Any:
        align = sg * (p * q) / (p * p + q * q + g)
        return _pj._relu(float(margin) - align)

    terms = C.elementwise_rescaled(kind, core, (P, Q, s_arg), (0, 0, None), gamma, _plan)
    sel = s != 0
    count = int(np.count_nonzero(sel))
    return C.reduce(kind, terms, reduction, weights=sel,
                    count=count if reduction == "mean" else None)


# ---- out-of-range elements (see the "rescaling" section of _common) -----------------------------
def _plan(vals: list, real: np.ndarray, gamma: float, dtype: Any) -> tuple:
    return C.choose_rescaling(_bounds, _quick, _replay, vals[:2] + [np.abs(vals[2])], real,
                              gamma, dtype, _candidates)


def _bounds(w: int, g_lo: Any, g_hi: Any, mant: int) -> tuple:
    """Exponent bounds of every value of ``core`` and its backward pass for ``|P|, |Q|`` in
    ``[2**-w, 2**w)`` or 0 and gamma 0 (``g_lo`` None) or in ``[2**-g_lo, 2**g_hi]`` (see
    :func:`~._common.safe_window`)."""
    d1 = 2 * w if g_lo is None else max(2 * w, g_lo)
    d2 = 2 * w + 2 if g_hi is None else max(2 * w + 1, g_hi) + 1
    lo = min(-2 * w, -3 * w - 2 * d2 - 1, -d2 - w - 1)
    hi = max(2 * w + 1, d2, 3 * w + 2 * d1 + 1, d1 + w + 1)
    return lo, hi


def _quick(vals: list, gamma: float, dtype: Any) -> np.ndarray:
    """The elements whose forward and backward values all stay in range (or that are ignored:
    sign 0): nothing to rescale there."""
    p, q, sg = vals
    zp, zq = p == 0, q == 0
    pq, pp, qq = p * q, p * p, q * q
    s = pp + qq
    den = s + gamma
    pole = den == 0                  # (0, 0) with gamma = 0: the formula's 0/0
    g_num = np.where(pole, 1.0, 1.0 / den)
    align = pq * g_num
    g_den = align * g_num
    ok = C.in_range([
        (pq, zp | zq), (pp, zp), (qq, zq), (s, zp & zq), (np.where(pole, 1.0, den), False),
        (g_num, False), (align, zp | zq), (g_den, zp | zq), (g_num * p, zp), (g_num * q, zq),
        (g_den * p, zp | zq), (g_den * q, zp | zq),
    ], dtype)
    return ok | (sg == 0)


def _replay(vals: list, ks: Any, g: Any, dtype: Any) -> np.ndarray:
    """The range-error score (:func:`~._common.range_score`) of the alignment and of its ∂/∂P,
    ∂/∂Q when ``core`` runs on ``(P, Q)·2**ks[0]`` (unscaled for ``ks=None``) with gamma ``g``."""
    em, eb = C.RangeEmulator(dtype), C.RangeEmulator(dtype, C.GRAD_MARGIN)
    p, q = em.value(vals[0]), em.value(vals[1])
    k = np.zeros(np.shape(p.val), dtype=np.int64)
    if ks is not None:
        k = ks[0]
        p, q = em.scale(p, k), em.scale(q, k)
    num = em.mul(p, q)
    den = em.add(em.add(em.mul(p, p), em.mul(q, q)), em.value(g))
    align = em.div(num, den)
    g_num = eb.div(eb.value(np.ones_like(den.val)), den)
    g_den = eb.div(align, den)
    g_p = eb.add(eb.mul(g_num, q), eb.mul(g_den, p), -2.0)
    g_q = eb.add(eb.mul(g_num, p), eb.mul(g_den, q), -2.0)
    lfloor = np.log2(em.tiny) - k
    err = C.range_score(C.RangeEmulator.rel_error(align, np.log2(em.tiny)),
                        np.maximum(C.RangeEmulator.rel_error(g_p, lfloor),
                                   C.RangeEmulator.rel_error(g_q, lfloor)))
    pole = (den.val == 0) & (den.lerr == -np.inf)     # (0, 0) with gamma = 0: the formula's Φ
    return np.where(pole | (vals[2] == 0), -np.inf, err)   # sign 0: the element is ignored


def _candidates(vals: list, gamma: float, dtype: Any) -> list:
    """Scalings to try: ``(P, Q)`` normalised to ``[0.5, 1)``, then shifted down so that the
    scaled gamma is at most 1 (:func:`~._common.pow2_plan`); the normalisation alone."""
    k = C.pow2_normalizer(vals[0], vals[1])
    r = np.zeros_like(k)                                # the normalised P² + Q² is in [0.25, 2)
    if gamma > 0:
        r = np.maximum(r, C.pow2_exponent(np.sqrt(gamma)) + k)
    fi = np.finfo(dtype)
    k0 = np.clip(k, int(fi.minexp), int(fi.maxexp) - 1)
    return [C.pow2_plan([k], r, gamma, dtype), ([k0], np.ldexp(np.float64(gamma), 2 * k0))]
