"""Coverage and rejection, measured after decoding.

``coverage`` is the share of decoded outputs that are not ⊥ — the number the inference safety
checklist asks for on a held-out set. ``rejection_loss`` and ``coverage_loss`` are the training
counterparts: they look at which tuples decode to ⊥ under a threshold ``tau`` and push the
denominators of those (finite-target) elements out of the ⊥ band.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import projective as _pj
from ..core._parse import bool_mask, check_real, rectangular
from ..autodiff.tr_node import TRNode
from ..core.scalar import TRScalar, TRTag
from . import _common as C

__all__ = ["coverage", "coverage_loss", "rejection_loss", "bottom_mask_of"]


def bottom_mask_of(decoded: Any) -> np.ndarray:
    """Where decoded outputs are ⊥: TRArray/TRTensor/TRScalar/TRNode tags, lists of them, or
    IEEE floats (NaN ⇒ ⊥, the bridge encoding of ⊥).

    >>> bottom_mask_of([1.0, float("nan")]).tolist()
    [False, True]
    """
    if isinstance(decoded, (TRNode, TRScalar)):
        v = decoded.value if isinstance(decoded, TRNode) else decoded
        return np.asarray(v.tag is TRTag.BOTTOM)
    if _pj._is_tensor(decoded) or _pj._is_trarray(decoded):
        arr = decoded.value if _pj._is_tensor(decoded) else decoded
        return np.zeros(arr.shape, dtype=bool) if arr.bottom is None else np.array(arr.bottom)
    if isinstance(decoded, (list, tuple)) and any(isinstance(e, (TRNode, TRScalar)) for e in decoded):
        return np.array([bool(bottom_mask_of(e)) for e in decoded])
    arr = rectangular("coverage: decoded", decoded)
    if arr.dtype == bool:
        raise TypeError("coverage: got a boolean array; pass it as bottom_mask=... (True = ⊥)")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"coverage: decoded values must be numbers or transreal values, got dtype {arr.dtype}")
    return np.isnan(arr.astype(np.float64))


def coverage(outputs: Any = None, D: Any = None, tau: float = 0.0,
             bottom_mask: Any = None) -> float:
    """Share of non-⊥ decodes, in ``[0, 1]``.

    * ``coverage(decoded)`` — decoded outputs (TRArray, tensor, node(s), or IEEE floats where
      NaN stands for ⊥, as ``strict_inference`` returns them);
    * ``coverage(N, D, tau=...)`` — a tuple, decoded with :func:`~zeroproof.autodiff.projective.decode`
      (⊥ where ``D == 0`` or ``|D| < tau``); for IEEE numbers (NumPy arrays, floats) with the
      rule of :func:`~zeroproof.inference.strict_inference` (⊥ also where ``N/D`` is not finite),
      so a held-out check measures what deployment delivers;
    * ``coverage(bottom_mask=mask)`` — a boolean ⊥ mask (e.g. from ``strict_inference``).

    Empty input → ``ValueError``.

    >>> coverage([1.0, 2.0, 0.5, 4.0], [1.0, 0.0, 1e-9, 2.0], tau=1e-6)
    0.5
    >>> coverage(bottom_mask=[False, True, False, False])
    0.75
    """
    tau = _pj._check_tau("coverage", tau)  # checked even where it is not used
    if bottom_mask is not None:
        if outputs is not None or D is not None:
            raise ValueError("coverage: pass either outputs (and D) or bottom_mask, not both")
        m = bool_mask("coverage: bottom_mask", bottom_mask)
    elif outputs is None:
        raise ValueError("coverage: give decoded outputs, the tuple's N and D (coverage(N, D, "
                         "tau=...)), or bottom_mask" + ("; D was given without N" if D is not None
                                                       else ""))
    elif D is not None:
        if C.is_node_seq(outputs) or C.is_node_seq(D):
            m = np.array([bool(bottom_mask_of(_pj.decode(_pj._values(n), _pj._values(d), tau)))
                          for n, d in zip(outputs, D)])
        elif _is_ieee(outputs) and _is_ieee(D):
            # IEEE numbers (what a deployed head emits): the strict decoder's rule (SPEC §6),
            # ⊥ also where N/D is not finite (NaN or infinite N, NaN D, overflow), so the
            # checklist number is the coverage strict_inference delivers
            from ..inference.mode import InferenceConfig, strict_inference

            _pj._kind("coverage", N=outputs, D=D)  # TypeError naming N or D for a bool, str, ...
            _pj._check_pair("coverage", ("N", "D"), outputs, D)
            m = strict_inference(outputs, D, InferenceConfig(tau_infer=tau))[1]
        else:
            m = _pj._bottom_of_tuple(_pj._values(D), _pj._check_tau("coverage", tau))
            _pj._check_pair("coverage", ("N", "D"), outputs, D)
    else:
        m = bottom_mask_of(outputs)
    if m.size == 0:
        raise ValueError("coverage: empty input (no outputs to measure)")
    # count/total, as StrictInferenceMonitor's non_bottom_rate (1 - nb/n can differ in the last bit)
    return (m.size - int(np.count_nonzero(m))) / m.size


def _is_ieee(x: Any) -> bool:
    """A plain number or NumPy array/list of numbers (no transreal type, no graph node)."""
    return not (isinstance(x, (TRScalar, TRNode)) or _pj._is_trarray(x) or _pj._is_tensor(x))


def _check_tau_pos(func: str, tau: Any) -> float:
    t = _pj._check_tau(func, tau)
    if t <= 0:
        raise ValueError(f"{func}: tau must be > 0 (the ⊥ band |Q| < tau), got {tau!r}")
    return t


def _finite_weights(func: str, Y_d: Any, shape: tuple, n: int | None) -> np.ndarray:
    want = (n,) if n is not None else shape
    if Y_d is None:
        return np.ones(want, dtype=bool)
    f = C.codes(Y_d, f"{func}: Y_d") != 0
    if f.ndim == 0:
        return np.broadcast_to(f, want)
    if f.shape != want:
        raise ValueError(f"Y_d has shape {f.shape} but Q has shape {want}; give one target "
                         f"denominator per element of Q")
    return f


def _batch_size(kind: str, P: Any, Q: Any) -> int | None:
    """The number of nodes of a scalar-tape batch (``P`` or ``Q`` may be a single number that
    every node shares), None on the other kinds."""
    if kind != C.NODES:
        return None
    return next(len(v) for v in (P, Q) if isinstance(v, (list, tuple, np.ndarray)))


def _broadcast_q(kind: str, Q: Any, shape: tuple, n: int | None) -> Any:
    """``Q`` with one element per element of the tuple: a single number (or 0-d array) next to
    an array ``P`` is shared by every element, as numbers broadcast in the other losses."""
    if kind == C.NODES and not isinstance(Q, (list, tuple, np.ndarray)):
        return [Q] * (n or 0)
    return Q


def _broadcast_terms(kind: str, terms: Any, shape: tuple) -> Any:
    """Terms of a shared (0-d) ``Q`` repeated to ``shape``: times a constant 1 (exact: the
    value, its sign and a non-REAL term are kept; each copy passes its gradient back to Q)."""
    if kind not in (_pj.TENSOR, _pj.ARRAY) or terms.shape == shape:
        return terms
    return terms * _pj._tape().constant(np.ones(shape, dtype=terms.dtype))


def rejection_loss(P: Any, Q: Any, Y_d: Any = None, tau: float = 1e-4,
                   reduction: str = "mean") -> Any:
    """Soft rejection rate: for each element whose tuple decodes to ⊥ under ``tau``
    (``|Q| < tau``) although its target is finite (``Y_d ≠ 0``; all elements when ``Y_d`` is
    None), the penalty ``relu(1 − |Q|/tau)`` ∈ (0, 1]; averaged over the finite-target
    elements. It is 1 at ``Q = 0``, falls to 0 at the edge of the band, and never exceeds the
    hard rejection rate.

    ``P`` fixes the shape and kind of the tuple but its values are not read (the ⊥ band of the
    decode is a condition on ``Q`` alone): it is checked like any argument (a str, bool or
    None is a ``TypeError``, an int beyond float64 a ``ValueError``), and a NaN or ±inf in it
    is an ordinary IEEE value (Φ, ±∞) that changes nothing. A single number ``Q`` (or ``P``) is
    shared by every element of the other, as numbers broadcast in the other losses.

    >>> rejection_loss([1.0, 1.0, 1.0, 1.0], [0.0, 5e-5, 0.5, 0.0], Y_d=[1.0, 1.0, 1.0, 0.0])
    0.5
    >>> rejection_loss([1.0, 1.0, 1.0, 1.0], 0.0, Y_d=[1.0, 1.0, 1.0, 0.0])
    1.0
    """
    kind = C.kind_of("rejection_loss", P=P, Q=Q)
    shape = C.check_shapes("rejection_loss", P=P, Q=Q)
    tau = _check_tau_pos("rejection_loss", tau)
    reduction = C.check_reduction("rejection_loss", reduction)
    n = _batch_size(kind, P, Q)
    finite = _finite_weights("rejection_loss", Y_d, shape, n)
    Q = _broadcast_q(kind, Q, shape, n)
    q_vals = C.codes(Q)
    with np.errstate(invalid="ignore"):
        rejected = np.isfinite(q_vals) & ((q_vals == 0) | (np.abs(q_vals) < tau))
    weights = (finite & rejected).astype(np.float64)

    def term(q: Any) -> Any:
        return _pj._relu(1.0 - C.magnitude(q) / tau)

    terms = _broadcast_terms(kind, C.elementwise(kind, term, Q), shape)
    count = int(np.count_nonzero(finite))
    return C.reduce(kind, terms, reduction, weights=weights,
                    count=count if reduction == "mean" else None)


def coverage_loss(P: Any, Q: Any, Y_d: Any = None, target_coverage: float = 0.95,
                  tau: float = 1e-4) -> Any:
    """Coverage shortfall times the soft rejection: ``max(0, target_coverage − c) ·
    rejection_loss(P, Q, Y_d, tau)``, where ``c`` is the hard coverage after decoding on the
    finite-target elements. Zero (with no gradient) once the coverage target is met; below it,
    the gradient pushes the rejected elements' denominators out of the ⊥ band. As in
    :func:`rejection_loss`, ``P`` fixes the shape and kind but its values are not read, and a
    single number ``Q`` is shared by every element of ``P``.

    >>> coverage_loss([1.0, 1.0], [0.0, 1.0], target_coverage=0.9, tau=1e-3)   # c = 0.5
    0.2
    """
    target_coverage = check_real("coverage_loss: target_coverage", target_coverage,
                                 "a number in [0, 1]", lambda v: 0.0 <= v <= 1.0)
    kind = C.kind_of("coverage_loss", P=P, Q=Q)
    shape = C.check_shapes("coverage_loss", P=P, Q=Q)
    tau = _check_tau_pos("coverage_loss", tau)
    n = _batch_size(kind, P, Q)
    finite = _finite_weights("coverage_loss", Y_d, shape, n)
    q_vals = C.codes(_broadcast_q(kind, Q, shape, n))
    with np.errstate(invalid="ignore"):
        rejected = np.isfinite(q_vals) & ((q_vals == 0) | (np.abs(q_vals) < tau))
    n_fin = int(np.count_nonzero(finite))
    c = 1.0 if n_fin == 0 else 1.0 - np.count_nonzero(rejected & finite) / n_fin
    deficit = float(max(0.0, float(target_coverage) - float(c)))
    rej = rejection_loss(P, Q, Y_d, tau)
    return rej * deficit
