"""Margin loss: keep the predicted denominator away from the ⊥ band on finite targets."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import projective as _pj
from ..core._parse import check_seed
from . import _common as C

__all__ = ["margin_loss", "sample_tau"]


def sample_tau(tau_train: Any, shape: tuple, rng: Any = None) -> Any:
    """``tau_train`` as a float, or — for a pair ``(tau_min, tau_max)`` — thresholds drawn
    uniformly per element (the stochastic training thresholds of the gap-region discussion).

    >>> sample_tau(1e-3, (2,))
    0.001
    >>> t = sample_tau((1e-4, 1e-3), (3,), rng=0); t.shape, bool(((t >= 1e-4) & (t <= 1e-3)).all())
    ((3,), True)
    """
    if isinstance(tau_train, (tuple, list)):
        if len(tau_train) != 2:
            raise ValueError(f"tau_train must be a number or a pair (tau_min, tau_max), got {tau_train!r}")
        lo = _pj._check_tau("margin_loss", tau_train[0], "tau_train[0]")
        hi = _pj._check_tau("margin_loss", tau_train[1], "tau_train[1]")
        if hi < lo:
            raise ValueError(f"tau_train must satisfy tau_min <= tau_max, got {tau_train!r}")
        rng = check_seed("margin_loss: rng", rng)
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return gen.uniform(lo, hi, size=shape)
    return _pj._check_tau("margin_loss", tau_train, "tau_train")


def margin_loss(Q: Any, Y_d: Any, tau_train: Any = 1e-4, rng: Any = None,
                reduction: str = "mean") -> Any:
    """Squared hinge ``relu(tau_train − |Q|)²`` averaged over the elements with a *finite*
    target (``Y_d ≠ 0``); 0 when there is none. Elements with a ±∞/⊥ target (``Y_d == 0``)
    are left to the implicit and sign-consistency losses.

    Use it on a normalised tuple (after ``renormalize`` or a unit-norm gauge), so that
    ``tau_train`` is measured on the same scale as the inference threshold. ``tau_train`` may be
    a pair ``(tau_min, tau_max)``: thresholds are then drawn uniformly per element (``rng``: a
    seed or ``np.random.Generator``), which avoids a brittle boundary at one exact value. This
    loss is not gated by ``GradientPolicy.PROJECT``: moving tuples off the ⊥ set is its job.

    >>> loss = margin_loss([0.5, 1e-5, 0.0], [1.0, 1.0, 0.0], tau_train=1e-4)
    >>> round(loss, 15)              # only 1e-5 is inside the band: (1e-4 − 1e-5)² / 2
    4.05e-09
    """
    rng = check_seed("margin_loss: rng", rng)
    kind = C.kind_of("margin_loss", Q=Q, Y_d=Y_d)
    shape = C.check_shapes("margin_loss", Q=Q, Y_d=Y_d)
    reduction = C.check_reduction("margin_loss", reduction)
    finite = C.codes(Y_d) != 0
    finite = np.broadcast_to(finite, shape if kind != C.NODES else (len(Q),)) if np.ndim(finite) == 0 else finite
    tau = sample_tau(tau_train, np.shape(finite), rng)
    if kind in (_pj.NODE, _pj.SCALAR) or kind == C.NODES:
        taus = np.broadcast_to(np.asarray(tau, dtype=np.float64), np.shape(finite))
        taus_list: Any = [float(t) for t in np.ravel(taus)] if kind == C.NODES else float(taus)
    else:
        dt = C.float_dtype(Q)  # float32 Q: tau rounded to float32, as strict_inference compares
        with np.errstate(all="ignore"):  # (a cast: beyond float32's range inf, below it 0)
            tau32 = np.asarray(tau, dtype=dt)
        taus_list = _pj._tape().constant(np.broadcast_to(tau32, np.shape(finite)))

    def term(q: Any, t: Any) -> Any:
        h = _pj._relu(t - C.magnitude(q))
        return h * h

    terms = C.elementwise(kind, term, Q, taus_list)
    count = int(np.count_nonzero(finite))
    if reduction == "none":
        return C.reduce(kind, terms, "none", weights=finite)
    return C.reduce(kind, terms, reduction, weights=finite,
                    count=count if reduction == "mean" else None)
