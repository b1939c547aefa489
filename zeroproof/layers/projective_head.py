"""``ProjectiveRationalHead``: a multi-input rational head that emits the projective pair ``(P, Q)``.

For an input ``x`` of shape ``(batch, in_features)`` let ``Φ_d(x)`` hold every monomial of total
degree ``<= d`` of the inputs (graded order ``1, x0, x1, …, x0², x0·x1, …``, as in
:func:`zeroproof.inference.reference_models.monomial_exponents`). Then::

    P = Φ_p(x) · A                        A: (n_p, out_features)
    Q = 1 + Φ_q(x)[:, 1:] · B             anchor=True  (default; B: (n_q − 1, k))
    Q = Φ_q(x) · B                        anchor=False (B: (n_q, k), fresh B = e_0)

with ``k = 1`` when the denominator is shared by all outputs (``shared_q=True``) and
``k = out_features`` otherwise. A fresh head has ``Q ≡ 1`` and small random numerator
coefficients. Anchoring fixes the projective scale ``(P, Q) ~ (αP, αQ)`` by pinning the constant
term of ``Q`` to 1, as recommended for finite-target regression; it also means ``Q`` cannot be a
polynomial without constant term (``Q = x0`` for a pole on the hyperplane ``x0 = 0``). With
``anchor=False`` the constant term is a parameter too and the scale is left to a scale-invariant
loss such as :func:`zeroproof.losses.implicit_loss`.

``forward(x)`` returns ``(P, Q)`` as batched-tape tensors of shape ``(batch, out_features)`` (a
shared ``Q`` is broadcast), so the pair can go straight into ``implicit_loss`` and the
:class:`~zeroproof.training.SCMTrainer` (which lifts the targets for pair outputs).
``predict_pq(x)`` returns them as NumPy arrays — the deployment-bundle view; the class is
registered as ``"zeroproof.ProjectiveRationalHead"``.

Inputs may be NumPy arrays (NaN → Φ, ±inf → ±∞), TRArrays, or tape tensors from a backbone
(``Sequential(Linear(3, 8), Tanh(), ProjectiveRationalHead(8, 1))``); gradients then flow into
the backbone.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core._parse import check_bool, check_real, check_seed, real_array

from ..array.tape import TRTensor, as_tensor
from ..inference.reference_models import check_dim, head_sizes, monomial_exponents
from ..inference.registry import register_model
from .base import Module, _rng

__all__ = ["ProjectiveRationalHead"]


def _numpy_features(a: np.ndarray, exps: list[tuple[int, ...]]) -> np.ndarray:
    """Monomial columns of ``a`` (batch, n) for the exponent tuples ``exps`` (IEEE products)."""
    cols: dict[tuple[int, ...], np.ndarray] = {(): np.ones(a.shape[0], dtype=a.dtype)}
    out = np.empty((a.shape[0], len(exps)), dtype=a.dtype)
    with np.errstate(all="ignore"):
        for j, e in enumerate(exps):
            if e not in cols:
                cols[e] = cols[e[:-1]] * a[:, e[-1]]
            out[:, j] = cols[e]
    return out


@register_model("zeroproof.ProjectiveRationalHead")
class ProjectiveRationalHead(Module):
    """Rational head over polynomial features of a multi-dimensional input (module docstring).

    >>> import numpy as np
    >>> head = ProjectiveRationalHead(in_features=2, out_features=1, degree_p=1, degree_q=1,
    ...                               anchor=False, seed=0)
    >>> head.load_state_dict({"numerator": np.array([[1.0], [0.0], [0.0]]),
    ...                       "denominator": np.array([[0.0], [1.0], [0.0]])})   # 1 / x0
    >>> P, Q = head(np.array([[2.0, 5.0], [0.0, 1.0]]))
    >>> P.value, Q.value
    (TRArray([[1.0], [1.0]], dtype=float64), TRArray([[2.0], [0.0]], dtype=float64))
    >>> head.predict_pq(np.array([[4.0, 0.0]]))
    (array([[1.]]), array([[4.]]))
    """

    def __init__(self, in_features: int, out_features: int = 1, degree_p: int = 2,
                 degree_q: int = 1, shared_q: bool = False, anchor: bool = True,
                 init_scale: float = 0.1, seed: Any = None) -> None:
        super().__init__()
        self.shared_q = check_bool("shared_q", shared_q)
        self.in_features, self.out_features, self.degree_p, self.degree_q = head_sizes(
            in_features, out_features, degree_p, degree_q,
            q_columns=1 if self.shared_q else None)
        self.anchor = check_bool("anchor", anchor)
        self.init_scale = check_real("init_scale", init_scale, "a finite number >= 0",
                                     lambda v: math.isfinite(v) and v >= 0)
        if self.anchor and self.degree_q == 0:
            raise ValueError("anchor=True with degree_q=0 leaves Q ≡ 1 with no parameters; use "
                             "degree_q >= 1 or anchor=False")
        self._exp = monomial_exponents(self.in_features, max(self.degree_p, self.degree_q))
        self._n_p = len(monomial_exponents(self.in_features, self.degree_p))
        self._n_q = len(monomial_exponents(self.in_features, self.degree_q))
        k = 1 if self.shared_q else self.out_features
        rng = _rng(seed)
        a = rng.uniform(-self.init_scale, self.init_scale, (self._n_p, self.out_features))
        b = np.zeros((self._n_q - 1 if self.anchor else self._n_q, k))
        if not self.anchor:
            b[0] = 1.0
        self.numerator = TRTensor.parameter(a, name="numerator")
        self.denominator = TRTensor.parameter(b, name="denominator")

    # -- features ------------------------------------------------------------------------------
    @property
    def n_features_p(self) -> int:
        """Number of numerator monomials ``n_p``."""
        return self._n_p

    @property
    def n_features_q(self) -> int:
        """Number of denominator monomials ``n_q`` (including the constant)."""
        return self._n_q

    def features(self, x: Any) -> np.ndarray:
        """``Φ(x)`` up to ``max(degree_p, degree_q)`` as a NumPy array ``(batch, n)`` (IEEE).

        >>> import numpy as np
        >>> ProjectiveRationalHead(2, degree_p=2).features(np.array([[2.0, 3.0]])).tolist()
        [[1.0, 2.0, 3.0, 4.0, 6.0, 9.0]]
        """
        a = self._check_array(real_array("x", x) if not isinstance(x, TRTensor) else x.numpy())
        return _numpy_features(a, self._exp)

    def _check_array(self, a: np.ndarray) -> np.ndarray:
        if a.ndim != 2 or a.shape[1] != self.in_features:
            raise ValueError(f"ProjectiveRationalHead: x must have shape (batch, "
                             f"{self.in_features}), got {a.shape}")
        return a

    def _denominator_matrix(self) -> TRTensor:
        """The coefficients that multiply the Q features, as ``(rows, out_features)``."""
        b = self.denominator
        if self.shared_q and self.out_features > 1:
            b = b @ np.ones((1, self.out_features))
        return b

    # -- forward -------------------------------------------------------------------------------
    def forward(self, x: Any) -> tuple[TRTensor, TRTensor]:
        """``(P, Q)`` as tape tensors of shape ``(batch, out_features)``.

        >>> import numpy as np
        >>> P, Q = ProjectiveRationalHead(3, 2, shared_q=True, seed=0)(np.zeros((4, 3)))
        >>> P.shape, Q.shape, bool((Q.numpy() == 1).all())
        ((4, 2), (4, 2), True)
        """
        t = as_tensor(x, "x")
        if t.ndim != 2 or t.shape[1] != self.in_features:
            raise ValueError(f"ProjectiveRationalHead: x must have shape (batch, "
                             f"{self.in_features}), got {t.shape}")
        b = self._denominator_matrix()
        q_from = 1 if self.anchor else 0
        if not t.requires_grad and t.value.bottom is None:
            # Constant input: one feature matrix, one matmul per output pair.
            phi = _numpy_features(np.asarray(t.codes, dtype=np.float64), self._exp)
            P = as_tensor(phi[:, : self._n_p]) @ self.numerator
            Q = as_tensor(phi[:, q_from: self._n_q]) @ b
        else:
            # Input on the tape (a backbone): monomials as tape products, coefficient rows
            # picked by one-hot matmuls (REAL coefficients, so 0 · a_k is an exact 0).
            cols: dict[tuple[int, ...], TRTensor] = {}
            P = Q = None
            for j, e in enumerate(self._exp[: max(self._n_p, self._n_q)]):
                if e == ():
                    f: Any = as_tensor(np.ones((t.shape[0], 1)))
                else:
                    col = t[:, e[-1]: e[-1] + 1]
                    f = col if len(e) == 1 else cols[e[:-1]] * col
                    cols[e] = f
                if j < self._n_p:
                    term = f * (np.eye(1, self._n_p, j) @ self.numerator)
                    P = term if P is None else P + term
                if q_from <= j < self._n_q:
                    sel = np.eye(1, self._n_q - q_from, j - q_from)
                    term = f * (sel @ b)
                    Q = term if Q is None else Q + term
            if Q is None:  # anchored with no free terms is rejected in __init__
                raise AssertionError("unreachable")
        if self.anchor:
            Q = Q + 1.0
        return P, Q

    def predict_pq(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(P, Q)`` as NumPy arrays of shape ``(batch, out_features)``, computed without the tape
        (what a deployment bundle records and strict inference decodes).

        >>> import numpy as np
        >>> P, Q = ProjectiveRationalHead(2, 3, seed=0).predict_pq(np.ones((5, 2)))
        >>> P.shape == Q.shape == (5, 3)
        True
        """
        a = self._check_array(x.numpy() if isinstance(x, TRTensor) else real_array("x", x))
        phi = _numpy_features(a.astype(np.float64, copy=False), self._exp)
        A = np.asarray(self.numerator.codes)
        B = np.asarray(self.denominator.codes)
        if self.shared_q and self.out_features > 1:
            B = B @ np.ones((1, self.out_features))
        with np.errstate(all="ignore"):
            P = phi[:, : self._n_p] @ A
            if self.anchor:
                Q = phi[:, 1: self._n_q] @ B + 1.0
            else:
                Q = phi[:, : self._n_q] @ B
        return P, Q

    # -- serialization -------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON-able data (no parameters).

        >>> ProjectiveRationalHead(6, 2, degree_p=3, shared_q=True).get_config()["shared_q"]
        True
        """
        return {"in_features": self.in_features, "out_features": self.out_features,
                "degree_p": self.degree_p, "degree_q": self.degree_q,
                "shared_q": self.shared_q, "anchor": self.anchor, "init_scale": self.init_scale}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ProjectiveRationalHead":
        """A fresh head of the architecture in ``config`` (seed 0 for the initial numerator).

        >>> h = ProjectiveRationalHead.from_config({"in_features": 2, "anchor": False})
        >>> h.anchor, h.denominator.shape
        (False, (3, 1))
        """
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        allowed = {"in_features", "out_features", "degree_p", "degree_q", "shared_q", "anchor",
                   "init_scale"}
        unknown = set(config) - allowed
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}; accepted: "
                             f"{sorted(allowed)}")
        return cls(**config, seed=0)

    def example_inputs(self, n: int = 8, seed: int = 0) -> np.ndarray:
        """Deterministic standard-normal inputs ``(n, in_features)`` (bundle reference run).

        >>> ProjectiveRationalHead(3).example_inputs(4).shape
        (4, 3)
        """
        rng = np.random.default_rng(check_seed("seed", seed))
        return rng.standard_normal((check_dim("n", n), self.in_features))
