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

Finite tuples whose squares leave the float range (``(1e160, 1)``: ``P²`` overflows, ∞/∞ = Φ;
``(1e-170, 1e-170)``: everything underflows, 0/0 = Φ) are evaluated on ``(P, Q)·2**a`` and
``(Y_n, Y_d)·2**b`` with ``gamma·2**(2(a+b))``: the same function of the inputs (powers of two are
exact), so the value is the formula's and the tape's chain rule through the constant factors
gives its gradient. ``a, b`` are chosen per element (both pairs normalised, the denominator
brought near 1; see ``_common.pow2_plan``), and only where the plain evaluation — forward or
backward, replayed on the values — would leave the normal range of the dtype: everywhere else
the result is the plain formula's, bit for bit.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import projective as _pj
from ..autodiff.tr_node import stop_gradient
from ..core._parse import check_bool
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
    >>> implicit_loss(1e160, 1.0, 1.0, 1.0)          # P² overflows: evaluated rescaled, exactly
    1.0
    >>> round(implicit_loss(1e-170, 1e-170, 1.0, 2.0, gamma=0.0), 15)   # 0/0 unscaled
    0.2

    Finite inputs whose squares (or the backward pass's ``loss/scale_sq``) would leave the
    float range are evaluated on inputs rescaled by powers of two (see the module docstring);
    ±∞, Φ and ⊥ inputs behave as the plain formula says.
    """
    kind = C.kind_of("implicit_loss", P=P, Q=Q, Y_n=Y_n, Y_d=Y_d)
    C.check_shapes("implicit_loss", P=P, Q=Q, Y_n=Y_n, Y_d=Y_d)
    gamma = _pj._check_gamma("implicit_loss", gamma)
    reduction = C.check_reduction("implicit_loss", reduction)
    detach_scale = check_bool("detach_scale", detach_scale)

    def core(p: Any, q: Any, yn: Any, yd: Any, g: Any) -> Any:
        cross = p * yd - q * yn
        scale_sq = q * q * (yd * yd) + p * p * (yn * yn) + g
        if detach_scale:
            scale_sq = stop_gradient(scale_sq)
        return cross * cross / scale_sq

    terms = C.elementwise_rescaled(kind, core, (P, Q, Y_n, Y_d), (0, 0, 1, 1), gamma, _plan)
    return C.reduce(kind, terms, reduction)


# ---- out-of-range elements (see the "rescaling" section of _common) -----------------------------
def _plan(vals: list, real: np.ndarray, gamma: float, dtype: Any) -> tuple:
    return C.choose_rescaling(_bounds, _quick, _replay, vals, real, gamma, dtype, _candidates)


def _bounds(w: int, g_lo: Any, g_hi: Any, mant: int) -> tuple:
    """Exponent bounds of every value of ``core`` and its backward pass for inputs with non-zero
    magnitudes in ``[2**-w, 2**w)`` and gamma 0 (``g_lo`` None) or in ``[2**-g_lo, 2**g_hi]``
    (see :func:`~._common.safe_window`): products ``≥ 2**-2w``, a non-zero cross product
    ``≥ 2**(-2w-mant)`` (a multiple of an ulp), a denominator in ``[2**-d1, 2**d2]``; the
    extremes are ``loss/den · Y_n² · P`` and ``cross/den · Y_d``."""
    d1 = 4 * w if g_lo is None else max(4 * w, g_lo)
    d2 = 4 * w + 2 if g_hi is None else max(4 * w + 1, g_hi) + 1
    lo = min(-4 * w, -4 * w - 2 * mant - 2 * d2 - 3 * w, -d2 - 3 * w - mant - 1)
    hi = max(4 * w + 2, d2, 4 * w + 2 + 2 * d1 + 3 * w, d1 + 3 * w + 1)
    return lo, hi


def _quick(vals: list, gamma: float, dtype: Any) -> np.ndarray:
    """The elements whose forward and backward values (the ops of ``core`` and of its backward
    pass for an upstream 1) all stay in range: nothing to rescale there."""
    p, q, yn, yd = vals
    zp, zq, zn, zd = p == 0, q == 0, yn == 0, yd == 0
    t1, t2 = p * yd, q * yn
    cross = t1 - t2
    fit = cross == 0
    qq, dd, pp, nn = q * q, yd * yd, p * p, yn * yn
    a, b = qq * dd, pp * nn
    s = a + b
    den = s + gamma
    # a pole (den = 0 from exact zeros: an underflow to 0 fails `s` below) or a loss beyond the
    # float range: the formula's value, no gradient — nothing to check after the denominator
    g_num = 1.0 / den
    loss = cross * cross * g_num
    skip = (den == 0) | np.isinf(loss)

    def bw(x: np.ndarray) -> np.ndarray:
        return np.where(skip, 1.0, x)

    g_den = loss * g_num
    g_c = g_num * cross
    gdn, gdd = g_den * nn, g_den * dd
    return C.in_range([
        (t1, zp | zd), (t2, zq | zn), (cross, True), (qq, zq), (dd, zd), (a, zq | zd),
        (pp, zp), (nn, zn), (b, zp | zn), (s, (zq | zd) & (zp | zn)), (cross * cross, fit),
        (bw(den), False), (bw(loss), fit), (bw(g_num), False), (bw(g_den), fit),
        (bw(g_c), fit), (bw(g_c * yd), fit | zd), (bw(g_c * yn), fit | zn),
        (bw(gdn), fit | zn), (bw(gdd), fit | zd), (bw(gdn * p), fit | zn | zp),
        (bw(gdd * q), fit | zd | zq),
    ], dtype)


def _replay(vals: list, ks: Any, g: Any, dtype: Any) -> np.ndarray:
    """The range-error score (:func:`~._common.range_score`) of the loss and of ∂/∂P, ∂/∂Q when
    ``core`` runs on ``(P, Q)·2**ks[0]``, ``(Y_n, Y_d)·2**ks[1]`` (unscaled for ``ks=None``)
    with gamma ``g``."""
    em, eb = C.RangeEmulator(dtype), C.RangeEmulator(dtype, C.GRAD_MARGIN)
    p, q, yn, yd = (em.value(v) for v in vals)
    ka = np.zeros(np.shape(p.val), dtype=np.int64)
    if ks is not None:
        ka = ks[0]
        p, q = em.scale(p, ks[0]), em.scale(q, ks[0])
        yn, yd = em.scale(yn, ks[1]), em.scale(yd, ks[1])
    cross = em.add(em.mul(p, yd), em.mul(q, yn), -1.0)
    num = em.mul(cross, cross)
    qq, dd, pp, nn = em.mul(q, q), em.mul(yd, yd), em.mul(p, p), em.mul(yn, yn)
    den = em.add(em.add(em.mul(qq, dd), em.mul(pp, nn)), em.value(g))
    loss = em.div(num, den)
    # backward for an upstream 1: 1/den and loss/den, carried to P and Q
    g_num = eb.div(eb.value(np.ones_like(den.val)), den)
    g_den = eb.div(loss, den)
    g_c = eb.mul(g_num, cross)
    g_p = eb.add(eb.mul(g_c, yd), eb.mul(eb.mul(g_den, nn), p), -1.0)
    g_q = eb.add(eb.mul(g_c, yn), eb.mul(eb.mul(g_den, dd), q))
    lfloor = np.log2(em.tiny) - ka                   # the gradient's normal floor, scaled units
    err = C.range_score(C.RangeEmulator.rel_error(loss, np.log2(em.tiny)),
                        np.maximum(C.RangeEmulator.rel_error(g_p, lfloor),
                                   C.RangeEmulator.rel_error(g_q, lfloor)))
    # a pole (den = 0 exactly: the exact formula's ∞ or Φ) or a loss beyond the float range:
    # the value is the formula's and the gradient is masked
    pole = (den.val == 0) & (den.lerr == -np.inf)
    over = (np.isinf(loss.val) & np.isfinite(num.val) & np.isfinite(den.val)
            & (C.RangeEmulator.rel_error(num) <= C.REL_TOL)
            & (C.RangeEmulator.rel_error(den) <= C.REL_TOL))
    return np.where(pole | over, -np.inf, err)


def _candidates(vals: list, gamma: float, dtype: Any) -> list:
    """Scalings to try, in order: both pairs normalised to ``[0.5, 1)`` and the denominator's
    root brought to ``[0.5, 1)`` by a shift of the predicted pair first
    (:func:`~._common.pow2_plan`); then the same total factor split differently between the two
    pairs (less of it on ``(P, Q)`` keeps their gradients, which the backward pass computes
    divided by their factor, away from underflow; more of it keeps the targets' squares in
    range)."""
    p, q, yn, yd = vals
    fi = np.finfo(dtype)
    lo, hi = int(fi.minexp), int(fi.maxexp) - 1
    ka, kb = C.pow2_normalizer(p, q), C.pow2_normalizer(yn, yd)
    w = np.ldexp(q, ka) * np.ldexp(yd, kb)          # the normalised Q·Y_d and P·Y_n
    z = np.ldexp(p, ka) * np.ldexp(yn, kb)
    r = np.maximum(C.pow2_exponent(w), C.pow2_exponent(z))
    if gamma > 0:
        r = np.maximum(r, C.pow2_exponent(np.sqrt(gamma)) + ka + kb)
    r = np.where(r == C.pow2_exponent(0.0), 0, r)   # Q·Y_d = P·Y_n = gamma = 0: a pole of the loss
    (ka1, kb1), g1 = C.pow2_plan([ka, kb], r, gamma, dtype)
    out = [([ka1, kb1], g1)]
    total = ka1 + kb1
    for k_a in (ka1 // 2, ka1 // 4, ka1 - ka1 // 4, np.zeros_like(ka1), total):
        k_a = np.clip(k_a, lo, hi)
        k_b = np.clip(total - k_a, lo, hi)
        out.append(([k_a, k_b], np.ldexp(np.float64(gamma), 2 * (k_a + k_b))))
    return out
