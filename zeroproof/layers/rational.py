"""Rational layer ``y = P(x) / Q(x)`` on the batched tape, with an anchored denominator.

``RationalLayer(degree_p, degree_q, out_features=1, basis="monomial" | "chebyshev")`` maps a
scalar input per sample to ``out_features`` outputs::

    P_j(x) = Σ_{k=0..degree_p} a[k, j] · φ_k(t)        (one numerator per output)
    Q(x)   = 1 + Σ_{k=1..degree_q} b[k-1] · φ_k(t)     (one denominator, shared by all outputs)

where ``φ_k`` is the monomial ``t**k`` or the Chebyshev polynomial ``T_k(t)``, and ``t = x`` for
the monomial basis, ``t = (2x − lo − hi)/(hi − lo)`` for the Chebyshev basis on ``domain=(lo,
hi)``. The denominator is *anchored*: its constant term is the fixed 1 (``Q = 1 + δQ``, ``δQ`` has
no constant term), so a fresh layer has ``Q ≡ 1`` and the projective scale ``(P, Q) ~ (αP, αQ)``
is fixed. Where ``Q(x) = 0`` the output is ``±∞`` (or Φ when ``P`` vanishes too), never an error;
Mask-REAL then sends those elements no gradient.

The division node carries the input ``x`` (``node.x_value``) so that a hybrid schedule's forced
exploration regions around detected poles (:meth:`RationalLayer.find_poles`) apply to it.

Inputs: shape ``(batch,)`` or ``(batch, 1)`` (NumPy arrays, TRArrays, or TRTensors from a
backbone); NaN inputs are Φ and give Φ outputs, ``±inf`` are ``±∞``. Outputs: ``(batch,)`` for a
1-D input and ``out_features == 1``, else ``(batch, out_features)``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..core._parse import check_int, check_real, real_array, real_pair, short_repr

from ..array.tape import TRTensor, as_tensor
from ..array.trarray import TRArray
from ..inference.registry import register_model
from .base import Module, _dim, _rng

__all__ = ["RationalLayer", "BASES", "basis_matrix"]

BASES = ("monomial", "chebyshev")


# A polynomial degree beyond this is numerically meaningless in any basis here (and would only
# build a huge graph); refused early, naming the argument.
MAX_DEGREE = 10_000


def _degree(name: str, value: Any, minimum: int) -> int:
    return check_int(name, value, minimum, maximum=MAX_DEGREE)


def _check_basis(basis: Any) -> str:
    if not isinstance(basis, str):
        raise TypeError(f"basis must be one of {list(BASES)}, got {type(basis).__name__} "
                        f"{short_repr(basis, 40)}")
    if basis not in BASES:
        raise ValueError(f"basis must be one of {list(BASES)}, got {basis!r}")
    return basis


def _check_domain(domain: Any) -> tuple[float, float]:
    return real_pair("domain", domain)


def _features(t: TRTensor, degree: int, basis: str) -> list[TRTensor]:
    """``[φ_1(t), …, φ_degree(t)]`` as tape tensors (φ_0 = 1 is handled by the caller)."""
    feats: list[TRTensor] = []
    if degree >= 1:
        feats.append(t)
    if basis == "monomial":
        for _ in range(2, degree + 1):
            feats.append(feats[-1] * t)
    else:
        prev: Any = 1.0
        for _ in range(2, degree + 1):
            nxt = 2.0 * t * feats[-1] - prev
            prev = feats[-1]
            feats.append(nxt)
    return feats


def basis_matrix(x: Any, degree: int, basis: str = "monomial",
                 domain: Sequence[float] = (-1.0, 1.0)) -> np.ndarray:
    """The basis functions ``φ_0..φ_degree`` at the points ``x`` as an IEEE array of shape
    ``(len(x), degree + 1)`` (computed with transreal arithmetic; Φ → NaN).

    >>> basis_matrix(np.array([0.5]), 3, "chebyshev").tolist()   # T0..T3 at 0.5
    [[1.0, 0.5, -0.5, -1.0]]
    """
    basis = _check_basis(basis)
    lo, hi = _check_domain(domain)
    degree = _degree("degree", degree, 0)
    x = as_tensor(x, "basis_matrix(x): x")  # read like every layer input (no str, None, …)
    if x.requires_grad:
        raise TypeError("basis_matrix(x): x must be constant data (an array or TRArray), got a "
                        "TRTensor that requires grad; pass x.value")
    t = as_tensor(x.value.astype(np.float64).reshape(-1))
    if basis == "chebyshev" and (lo, hi) != (-1.0, 1.0):
        t = (t * 2.0 - (lo + hi)) / (hi - lo)
    cols = [np.ones(t.shape)] + [f.numpy() for f in _features(t, degree, basis)]
    return np.stack(cols, axis=1)


@register_model("zeroproof.RationalLayer")
class RationalLayer(Module):
    """Rational function ``P/Q`` of one input with an anchored, shared denominator.

    ``forward(x)`` (and calling the layer) returns ``y = P/Q``; :meth:`forward_pq` returns
    ``(P, Q)``; :meth:`predict_pq` returns them as NumPy arrays (the deployment-bundle view).
    A fresh layer has small random numerator coefficients and ``δQ = 0`` (``Q ≡ 1``).

    >>> layer = RationalLayer(degree_p=0, degree_q=1, seed=0)
    >>> layer.load_state_dict({"numerator": np.array([[-2.0]]), "denominator": np.array([[-2.0]])})
    >>> layer(np.array([0.0, 0.25, 0.5])).value      # -2 / (1 - 2x) = 1/(x - 0.5)
    TRArray([-2.0, -4.0, −∞], dtype=float64)
    >>> layer.find_poles()
    array([0.5])
    """

    def __init__(self, degree_p: int = 2, degree_q: int = 2, out_features: int = 1,
                 basis: str = "monomial", domain: Sequence[float] = (-1.0, 1.0),
                 init_scale: float = 0.1, seed: Any = None) -> None:
        super().__init__()
        self.degree_p = _degree("degree_p", degree_p, 0)
        self.degree_q = _degree("degree_q", degree_q, 0)
        self.out_features = _dim("out_features", out_features)
        self.basis = _check_basis(basis)
        self.domain = _check_domain(domain)
        self.init_scale = check_real("init_scale", init_scale, "a finite number >= 0",
                                     lambda v: 0 <= v < math.inf)
        rng = _rng(seed)
        a = rng.uniform(-self.init_scale, self.init_scale, (self.degree_p + 1, self.out_features))
        self.numerator = TRTensor.parameter(a, name="numerator")
        self.denominator = (TRTensor.parameter(np.zeros((self.degree_q, 1)), name="denominator")
                            if self.degree_q > 0 else None)

    # -- input -------------------------------------------------------------------------------
    def _input(self, x: Any) -> tuple[TRTensor, bool]:
        """``x`` as a (batch, 1) tensor, and whether the input was 1-D."""
        t = as_tensor(x, "x")
        if t.ndim == 2 and t.shape[1] == 1:
            return t, False
        if t.ndim == 1:
            if t.requires_grad:
                raise ValueError(
                    f"RationalLayer: a tensor that requires grad must have shape (batch, 1), got "
                    f"{t.shape} (1-D inputs are accepted for constant data only)")
            return as_tensor(t.value.reshape(-1, 1)), True
        raise ValueError(
            f"RationalLayer: x must have shape (batch,) or (batch, 1) (one input feature per "
            f"sample), got shape {t.shape}; put a Linear(n, 1) in front for n input features")

    def _t(self, x: TRTensor) -> TRTensor:
        if self.basis == "chebyshev" and self.domain != (-1.0, 1.0):
            lo, hi = self.domain
            return (x * 2.0 - (lo + hi)) / (hi - lo)
        return x

    def _combine(self, ones: TRTensor, feats: list[TRTensor], coef: TRTensor,
                 with_const: bool) -> TRTensor:
        """``Σ_k φ_k · coef[k]`` with φ_0 = 1 when ``with_const`` (feats: (batch, 1) each)."""
        cols = ([ones] if with_const else []) + feats
        if not any(f.requires_grad for f in cols):
            # Constant input: one feature matrix, one matmul node.
            vals = [f.value for f in cols]
            codes = np.concatenate([v.codes for v in vals], axis=1)
            bots = [v.bottom for v in vals]
            if any(b is not None for b in bots):
                bot = np.concatenate([np.zeros(v.shape, bool) if b is None else b
                                      for v, b in zip(vals, bots)], axis=1)
                return as_tensor(TRArray.from_codes(codes, bot)) @ coef
            return as_tensor(codes) @ coef
        # Features on the tape (input from a backbone): pick coefficient rows with one-hot
        # matmuls (the coefficients are REAL, so 0 · a_k is an exact 0).
        total: Any = None
        n = len(cols)
        for k, f in enumerate(cols):  # the one-hot row is made when needed (not d² at __init__)
            term = f * (np.eye(1, n, k) @ coef)
            total = term if total is None else total + term
        return total

    # -- forward -----------------------------------------------------------------------------
    def forward_pq(self, x: Any) -> tuple[TRTensor, TRTensor]:
        """``(P, Q)`` as tape tensors; ``Q`` is shared: shape ``(batch, 1)`` (``(batch,)`` for a
        1-D input), ``P`` has the output shape.

        >>> P, Q = RationalLayer(1, 1, seed=0).forward_pq(np.array([0.0, 1.0]))
        >>> Q.value    # anchored: Q = 1 + 0·x for a fresh layer
        TRArray([1.0, 1.0], dtype=float64)
        """
        P, Q, _, flat = self._pq(x)
        if flat:
            Q = _flatten(Q)
            if self.out_features == 1:
                P = _flatten(P)
        return P, Q

    def _pq(self, x: Any) -> tuple[TRTensor, TRTensor, TRTensor, bool]:
        xt, flat = self._input(x)
        t = self._t(xt)
        feats = _features(t, max(self.degree_p, self.degree_q), self.basis)
        ones = as_tensor(np.ones(xt.shape))
        P = self._combine(ones, feats[: self.degree_p], self.numerator, True)
        if self.denominator is None:
            Q = ones
        else:
            Q = self._combine(ones, feats[: self.degree_q], self.denominator, False) + 1.0
        return P, Q, xt, flat

    def forward(self, x: Any) -> TRTensor:
        """``y = P/Q`` (transreal division; the division node carries ``x`` for hybrid
        exploration).

        >>> RationalLayer(0, 0, seed=0)(np.zeros(3)).shape
        (3,)
        """
        P, Q, xt, flat = self._pq(x)
        y = P / Q
        if y.requires_grad and not y.is_leaf:
            y.x_value = xt.codes
        if flat and self.out_features == 1:
            y = _flatten(y)
        return y

    def predict_pq(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(P, Q)`` as NumPy arrays of the same shape (``Q`` broadcast to every output): what a
        deployment bundle records and :func:`~zeroproof.inference.strict_inference` decodes.

        >>> P, Q = RationalLayer(1, 1, out_features=2, seed=0).predict_pq(np.zeros((4, 1)))
        >>> P.shape == Q.shape == (4, 2)
        True
        """
        P, Q = self.forward_pq(real_array("x", x) if not isinstance(x, TRTensor) else x.detach())
        p, q = P.numpy(), Q.numpy()
        if q.shape != p.shape:
            q = np.broadcast_to(q.reshape(q.shape[0], -1), p.shape).copy()
        return p, q

    # -- poles and coefficients -------------------------------------------------------------
    def p_coefficients(self) -> np.ndarray:
        """Numerator coefficients in the layer's basis, shape ``(degree_p + 1, out_features)``."""
        return np.array(self.numerator.codes, copy=True)

    def q_coefficients(self) -> np.ndarray:
        """Denominator coefficients in the layer's basis, including the anchored constant 1:
        shape ``(degree_q + 1,)``.

        >>> RationalLayer(1, 2, seed=0).q_coefficients().tolist()
        [1.0, 0.0, 0.0]
        """
        rest = np.zeros(0) if self.denominator is None else np.asarray(self.denominator.codes).ravel()
        return np.concatenate([[1.0], rest])

    def find_poles(self, domain: Sequence[float] | None = None, imag_tol: float = 1e-9) -> np.ndarray:
        """Real roots of the learned ``Q`` (companion-matrix eigenvalues in the layer's basis),
        sorted; with ``domain=(lo, hi)`` only those inside it. Roots whose imaginary part exceeds
        ``imag_tol · max(1, |root|)`` are complex and left out.

        >>> layer = RationalLayer(0, 2, seed=0)
        >>> layer.load_state_dict({"numerator": np.ones((1, 1)),
        ...                        "denominator": np.array([[0.0], [-4.0]])})   # 1 - 4x²
        >>> layer.find_poles().tolist()
        [-0.5, 0.5]
        """
        if domain is not None:
            domain = _check_domain(domain)
        imag_tol = check_real("find_poles: imag_tol", imag_tol, "a finite real number >= 0",
                              lambda v: 0 <= v < math.inf)
        c = self.q_coefficients()
        if not np.all(np.isfinite(c)):
            raise ValueError("find_poles: the denominator has non-finite coefficients")
        nz = np.flatnonzero(c)
        c = c[: nz[-1] + 1]
        if c.size <= 1:
            return np.zeros(0)
        P = np.polynomial.Polynomial if self.basis == "monomial" else np.polynomial.Chebyshev
        q = P(c)
        with np.errstate(all="ignore"):  # a root beyond the float range comes out as ±inf
            roots = np.atleast_1d(q.roots())
        real = np.abs(np.imag(roots)) <= imag_tol * np.maximum(1.0, np.abs(roots))
        t = np.real(roots[real])
        dq = q.deriv()
        with np.errstate(all="ignore"):  # one Newton step polishes the eigenvalue roots
            step = q(t) / dq(t)
        t = np.where(np.isfinite(step) & (np.abs(step) <= 1e-6 * np.maximum(1.0, np.abs(t))),
                     t - step, t)
        if self.basis == "chebyshev":
            lo, hi = self.domain
            t = t * (hi - lo) / 2.0 + (lo + hi) / 2.0
        out = np.sort(t[np.isfinite(t)])  # a root beyond the float range is no pole of the data
        if domain is not None:
            lo, hi = domain
            out = out[(out >= lo) & (out <= hi)]
        return out

    # -- serialization -------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON-able data (no parameters).

        >>> RationalLayer(3, 2, basis="chebyshev", seed=0).get_config()["basis"]
        'chebyshev'
        """
        return {"degree_p": self.degree_p, "degree_q": self.degree_q,
                "out_features": self.out_features, "basis": self.basis,
                "domain": [self.domain[0], self.domain[1]], "init_scale": self.init_scale}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RationalLayer":
        """A fresh layer of the architecture in ``config`` (seed 0 for the initial numerator).

        >>> RationalLayer.from_config({"degree_p": 2, "degree_q": 1}).degree_q
        1
        """
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        allowed = {"degree_p", "degree_q", "out_features", "basis", "domain", "init_scale"}
        unknown = set(config) - allowed
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}; accepted: {sorted(allowed)}")
        return cls(**config, seed=0)

    def example_inputs(self, n: int = 9) -> np.ndarray:
        """``n`` evenly spaced inputs over the domain, shape ``(n, 1)`` (bundle reference run)."""
        lo, hi = self.domain
        return np.linspace(lo, hi, _dim("n", n)).reshape(-1, 1)


def _flatten(t: TRTensor) -> TRTensor:
    """(batch, 1) → (batch,) (on the tape: a differentiable reshape)."""
    if t.requires_grad:
        return t.reshape(-1)
    return as_tensor(t.value.reshape(-1))
