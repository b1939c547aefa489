"""A small, real rational model that satisfies the bundle protocol.

``PolynomialRationalHead`` is linear in its parameters over polynomial features of the input:

    P(x) = Φ_p(x) · A,   Q(x) = Φ_q(x) · B

where ``Φ_d(x)`` holds every monomial of total degree ``<= d`` of the ``in_features`` inputs
(graded order: 1, x0, x1, ..., x0², x0·x1, ...). ``A`` has shape ``(n_p, out_features)`` and ``B``
``(n_q, out_features)``; the fresh model is ``P = 0, Q = 1``. Calling it on ``x`` of shape
``(batch, in_features)`` gives ``P`` and ``Q`` of shape ``(batch, out_features)``.

Being linear in ``(A, B)``, it can be fitted by linear algebra on the projective residual
``P·y_d − Q·y_n`` (see ``scripts/reference_robotics_deployment.py``); it is used by the tests and
the reference deployment, and it is registered as ``"zeroproof.PolynomialRationalHead"``.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Optional

import numpy as np

from .registry import register_model
from ..core._parse import check_int, check_seed, rectangular, short_repr

__all__ = ["PolynomialRationalHead", "monomial_exponents", "monomial_count", "head_sizes",
           "check_dim"]


MAX_DIM = 2**31 - 1  # a layer or head dimension: beyond any array this machine could hold
MAX_MONOMIALS = 1 << 20  # features per row a head may have
MAX_EXPONENT_ENTRIES = 1 << 24  # variable factors over all monomials (the exponent tuples' memory)
MAX_PARAMETERS = 1 << 28  # coefficients of a polynomial-feature head (2 GiB in float64)


def check_dim(name: str, value: Any) -> int:
    """A layer dimension: an int in ``[1, MAX_DIM]`` (``TypeError``/``ValueError`` naming
    ``name``, by :func:`~zeroproof.core._parse.check_int`).

    >>> check_dim("out_features", 3)
    3
    """
    return check_int(name, value, 1, maximum=MAX_DIM)


def monomial_count(n_vars: int, degree: int, what: str = "") -> int:
    """The number of monomials of total degree ``<= degree`` in ``n_vars`` variables; a
    ``ValueError`` when it exceeds :data:`MAX_MONOMIALS`, or when their exponent tuples would
    hold more than :data:`MAX_EXPONENT_ENTRIES` variable factors in all (a high degree: the
    tuples alone would take gigabytes). ``what`` names the sizes in the message.

    >>> monomial_count(2, 2)
    6
    """
    what = what or f"{short_repr(n_vars)} input(s) at degree {short_repr(degree)}"
    count = math.comb(n_vars + degree, degree)
    if count > MAX_MONOMIALS:
        raise ValueError(f"{what} give {short_repr(count)} monomials, more than the "
                         f"{MAX_MONOMIALS} supported; use a lower degree")
    entries = n_vars * math.comb(n_vars + degree, degree - 1) if degree else 0
    if entries > MAX_EXPONENT_ENTRIES:
        raise ValueError(f"{what} give {count} monomials with {entries} variable factors in all, "
                         f"more than the {MAX_EXPONENT_ENTRIES} supported; use a lower degree")
    return count


def head_sizes(in_features: Any, out_features: Any, degree_p: Any, degree_q: Any,
               q_columns: Optional[int] = None) -> tuple[int, int, int, int]:
    """The checked sizes of a polynomial-feature head (:class:`PolynomialRationalHead`,
    :class:`~zeroproof.layers.ProjectiveRationalHead`): dimensions ints in ``[1, MAX_DIM]``,
    degrees ints ``>= 0`` within :func:`monomial_count`'s limits, and at most
    :data:`MAX_PARAMETERS` coefficients (``n_p·out_features + n_q·q_columns``; ``q_columns``
    defaults to ``out_features``). Each error names the argument(s).

    >>> head_sizes(2, 1, 2, 1)
    (2, 1, 2, 1)
    """
    in_features = check_dim("in_features", in_features)
    out_features = check_dim("out_features", out_features)
    degree_p = check_int("degree_p", degree_p, 0)
    degree_q = check_int("degree_q", degree_q, 0)
    n_p = monomial_count(in_features, degree_p,
                         f"in_features={in_features} and degree_p={short_repr(degree_p)}")
    n_q = monomial_count(in_features, degree_q,
                         f"in_features={in_features} and degree_q={short_repr(degree_q)}")
    total = n_p * out_features + n_q * (out_features if q_columns is None else q_columns)
    if total > MAX_PARAMETERS:
        raise ValueError(f"in_features={in_features}, out_features={out_features}, degree_p="
                         f"{degree_p} and degree_q={degree_q} give {total} coefficients, more "
                         f"than the {MAX_PARAMETERS} supported; use fewer outputs or lower "
                         f"degrees")
    return in_features, out_features, degree_p, degree_q


def monomial_exponents(n_vars: int, degree: int) -> list[tuple[int, ...]]:
    """Monomials of total degree ``<= degree`` as sorted variable-index tuples (graded order);
    more than :func:`monomial_count` allows is a ``ValueError``.

    >>> from zeroproof.inference.reference_models import monomial_exponents
    >>> monomial_exponents(2, 2)
    [(), (0,), (1,), (0, 0), (0, 1), (1, 1)]
    """
    monomial_count(n_vars, degree)
    out: list[tuple[int, ...]] = []
    for d in range(degree + 1):
        out.extend(itertools.combinations_with_replacement(range(n_vars), d))
    return out


def _float_dtype_name(dtype: Any) -> str:
    """``'float32'`` or ``'float64'`` from a name, a NumPy type or a dtype (``np.float32``,
    ``np.dtype('f8')``); another dtype is a ``ValueError``, a non-dtype a ``TypeError``."""
    accepted = "'float32' or 'float64' (a name, np.float32/np.float64 or a np.dtype)"
    if isinstance(dtype, (bool, np.bool_)) or not isinstance(dtype, (str, type, np.dtype)):
        raise TypeError(f"dtype must be {accepted}, got {type(dtype).__name__} "
                        f"{short_repr(dtype, 40)}")
    try:
        name = np.dtype(dtype).name
    except TypeError:  # an unknown name is a bad value; another type, a bad type
        raise (ValueError if isinstance(dtype, str) else TypeError)(
            f"dtype must be {accepted}, got {dtype!r}") from None
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be {accepted}, got {dtype!r}")
    return name


@register_model("zeroproof.PolynomialRationalHead")
class PolynomialRationalHead:
    """Rational head ``P/Q`` with polynomial features (see the module docstring).

    >>> import numpy as np
    >>> from zeroproof.inference.reference_models import PolynomialRationalHead
    >>> m = PolynomialRationalHead(in_features=1, degree_p=1, degree_q=1)
    >>> m.load_state_dict({"numerator": np.array([[1.0], [0.0]]),
    ...                    "denominator": np.array([[0.0], [1.0]])})   # 1 / x
    >>> P, Q = m(np.array([[2.0], [4.0]]))
    >>> (P / Q).ravel().tolist()
    [0.5, 0.25]
    """

    def __init__(self, in_features: int, out_features: int = 1, degree_p: int = 2,
                 degree_q: int = 1, dtype: str = "float64") -> None:
        self.in_features, self.out_features, self.degree_p, self.degree_q = head_sizes(
            in_features, out_features, degree_p, degree_q)
        self.dtype = _float_dtype_name(dtype)
        self._exp_p = monomial_exponents(self.in_features, self.degree_p)
        self._exp_q = monomial_exponents(self.in_features, self.degree_q)
        self.numerator = np.zeros((len(self._exp_p), self.out_features), dtype=dtype)
        self.denominator = np.zeros((len(self._exp_q), self.out_features), dtype=dtype)
        self.denominator[0] = 1.0

    # -- features -------------------------------------------------------------------------
    @property
    def n_features_p(self) -> int:
        """Number of numerator features."""
        return len(self._exp_p)

    @property
    def n_features_q(self) -> int:
        """Number of denominator features."""
        return len(self._exp_q)

    def _check_x(self, x: Any) -> np.ndarray:
        a = rectangular("x", x)
        if a.dtype.kind not in "fiu":
            raise TypeError(f"x must be a real array, got dtype {a.dtype}")
        if a.ndim != 2 or a.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (batch, {self.in_features}), got {a.shape}")
        return a.astype(self.dtype, copy=False)

    def features(self, x: Any, degree: int) -> np.ndarray:
        """Monomial features ``Φ_degree(x)``, shape ``(batch, n_monomials)``.

        >>> import numpy as np
        >>> from zeroproof.inference.reference_models import PolynomialRationalHead
        >>> PolynomialRationalHead(2, degree_p=2).features(np.array([[2.0, 3.0]]), 2).tolist()
        [[1.0, 2.0, 3.0, 4.0, 6.0, 9.0]]
        """
        a = self._check_x(x)
        exps = monomial_exponents(self.in_features, check_int("degree", degree, 0))
        cols: dict[tuple[int, ...], np.ndarray] = {(): np.ones(a.shape[0], dtype=a.dtype)}
        out = np.empty((a.shape[0], len(exps)), dtype=a.dtype)
        with np.errstate(all="ignore"):  # IEEE: overflow → ±inf, as the decoder then reads it
            for j, e in enumerate(exps):
                if e not in cols:
                    cols[e] = cols[e[:-1]] * a[:, e[-1]]
                out[:, j] = cols[e]
        return out

    def __call__(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(P, Q)``, each of shape ``(batch, out_features)``."""
        phi = self.features(x, max(self.degree_p, self.degree_q))
        with np.errstate(all="ignore"):  # inf · 0 → NaN, overflow → ±inf: the decoder's ⊥
            P = phi[:, : self.n_features_p] @ self.numerator
            Q = phi[:, : self.n_features_q] @ self.denominator
        return P, Q

    # -- bundle protocol --------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Architecture (JSON-able)."""
        return {"in_features": self.in_features, "out_features": self.out_features,
                "degree_p": self.degree_p, "degree_q": self.degree_q, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "PolynomialRationalHead":
        """A fresh model (``P = 0, Q = 1``) of the architecture in ``config``."""
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        allowed = {"in_features", "out_features", "degree_p", "degree_q", "dtype"}
        unknown = set(config) - allowed
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}; accepted: "
                             f"{sorted(allowed)}")
        return cls(**config)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters: ``numerator`` and ``denominator``."""
        return {"numerator": self.numerator.copy(), "denominator": self.denominator.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load ``numerator``/``denominator``; shapes must match, no other keys allowed."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        expected = {"numerator": self.numerator.shape, "denominator": self.denominator.shape}
        if set(state) != set(expected):
            raise ValueError(f"state keys must be {sorted(expected)}, got {sorted(state)}")
        new = {}
        for key, shape in expected.items():
            arr = np.asarray(state[key])
            if arr.dtype.kind not in "fiu":
                raise TypeError(f"state[{key!r}] must be a real array, got dtype {arr.dtype}")
            if arr.shape != shape:
                raise ValueError(f"state[{key!r}] must have shape {shape} for this architecture, "
                                 f"got {arr.shape}")
            with np.errstate(all="ignore"):  # beyond float32's range ±inf, below it ±0: a cast
                new[key] = arr.astype(self.dtype, copy=True)
        self.numerator, self.denominator = new["numerator"], new["denominator"]

    def parameters(self) -> list[np.ndarray]:
        """The parameter arrays themselves (not copies)."""
        return [self.numerator, self.denominator]

    def example_inputs(self, n: int = 8, seed: Optional[int] = 0) -> np.ndarray:
        """Deterministic standard-normal inputs of shape ``(n, in_features)``."""
        rng = np.random.default_rng(check_seed("seed", seed))
        return rng.standard_normal((check_dim("n", n), self.in_features)).astype(self.dtype)

    def __repr__(self) -> str:
        return (f"PolynomialRationalHead(in_features={self.in_features}, out_features="
                f"{self.out_features}, degree_p={self.degree_p}, degree_q={self.degree_q}, "
                f"dtype={self.dtype!r})")
