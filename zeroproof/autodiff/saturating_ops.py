"""The saturating forms of SPEC §4.2 as user-facing functions on transreal values.

The backward pass uses the same formulas from :mod:`zeroproof.autodiff.rules` (``sat`` and
``inv_sq_sat``); these wrappers bind them to plain transreal scalars for plotting and inspection.
"""
from __future__ import annotations

import types
from typing import Any

from ..core.kernels import BOT
from ..core.scalar import TRScalar, bottom, scalar_from_code
from . import rules
from .grad_mode import BOUND, check_bound
from .tr_node import _leaf_code

__all__ = ["saturating_reciprocal", "saturating_inverse_square"]


def _apply(fn: Any, bound: float, u: Any) -> TRScalar:
    """``fn`` of the rule table on ``u``'s code with the bound ``B = bound``; ⊥ absorbs (the
    backward pass only ever applies these formulas to REAL values)."""
    from .backward import FLOAT_VOCAB

    code = _leaf_code(u, "u")
    if code is BOT:
        return bottom()
    ns = {"__builtins__": __builtins__, **FLOAT_VOCAB, "B": bound}
    return scalar_from_code(types.FunctionType(fn.__code__, ns, fn.__name__)(code))


def saturating_reciprocal(u: Any, bound: float | None = None) -> TRScalar:
    """``sat(u) = sign(u)/√(u² + b²)``, the bounded stand-in for ``1/u`` (``|sat(u)| ≤ 1/b``).

    ``bound`` defaults to the active saturation bound.

    >>> saturating_reciprocal(0.0), saturating_reciprocal(2.0, bound=1e-12)
    (TRScalar(0.0, REAL), TRScalar(0.5, REAL))
    """
    b = BOUND.get() if bound is None else check_bound(bound, "bound")
    return _apply(rules.sat, b, u)


def saturating_inverse_square(u: Any, bound: float | None = None) -> TRScalar:
    """``1/(u² + b²)``, the bounded stand-in for ``1/u²`` (at most ``1/b²``).

    >>> saturating_inverse_square(0.0, bound=0.5)
    TRScalar(4.0, REAL)
    """
    b = BOUND.get() if bound is None else check_bound(bound, "bound")
    return _apply(rules.inv_sq_sat, b, u)
