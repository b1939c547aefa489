"""Shared plumbing of the losses: input kinds, lifting onto a tape, reductions."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..autodiff import projective as _pj
from ..autodiff.tr_node import TRNode
from ..array.trarray import TRArray
from ..core.scalar import TRScalar, TRTag

NODES = "nodes"  # sequences of scalar nodes (a batch on the scalar tape)
REDUCTIONS = ("mean", "sum", "none")


def is_node_seq(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and any(isinstance(e, TRNode) for e in x)


def kind_of(func: str, **args: Any) -> str:
    """``node``/``tensor``/``array``/``scalar`` as in :mod:`~zeroproof.autodiff.projective`, or
    ``nodes`` when any argument is a list/tuple of TRNodes (the others: same-length sequences of
    numbers/nodes, or numbers)."""
    if any(is_node_seq(v) for v in args.values()):
        n = None
        for name, v in args.items():
            if isinstance(v, np.ndarray) and v.ndim == 1:  # e.g. lift_targets(...) output
                v = v.tolist()
            if isinstance(v, (list, tuple)):
                if n is None:
                    n = len(v)
                elif len(v) != n:
                    raise ValueError(f"{func}: {name} has length {len(v)}, expected {n} like the "
                                     "other sequences")
            elif isinstance(v, np.ndarray) or _pj._is_tensor(v) or _pj._is_trarray(v):
                raise TypeError(
                    f"{func}: {name} is a {type(v).__name__} of shape {np.shape(_pj._codes(v)[0])}"
                    f" next to a list of TRNodes; give a list or a 1-D NumPy array of one number "
                    f"per node, or put every argument on the batched tape (zeroproof.array)")
        return NODES
    return _pj._kind(func, **args)


def check_shapes(func: str, **args: Any) -> tuple:
    """All array-like arguments must have one shape (0-d numbers broadcast); ValueError names
    the first argument that differs."""
    ref_name, ref = None, None
    for name, v in args.items():
        if isinstance(v, (int, float, TRScalar, TRNode)) or is_node_seq(v):
            continue
        shp = np.shape(_pj._codes(v)[0])
        if shp == ():
            continue
        if ref is None:
            ref_name, ref = name, shp
        elif shp != ref:
            raise ValueError(
                f"{func}: {name} has shape {shp} but {ref_name} has shape {ref}; predictions and "
                "targets must have the same shape (squeeze trailing axes of size 1 first — "
                "broadcasting (B,) against (B, 1) would silently compare every pair)")
    return ref if ref is not None else ()


def check_reduction(func: str, reduction: Any) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{func}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def lift(x: Any, kind: str) -> Any:
    """Put an argument on the tape used for ``kind`` (arrays → batched constants, numbers →
    scalar constants); nodes and tensors pass through."""
    if kind in (_pj.TENSOR, _pj.ARRAY):
        return _pj._tape().as_tensor(x)
    if kind == _pj.SCALAR or kind == _pj.NODE:
        return x if isinstance(x, TRNode) else TRNode.constant(x)
    return x


def magnitude(q: Any) -> Any:
    """``|q|`` for the band losses, as ``q · s`` with the constant ``s = ±1`` taken from the sign
    bit of ``q``: the same value, but the derivative at ``q = ±0`` is ``±1``, not
    ``sign(0) = 0`` — a denominator sitting exactly at 0 is pushed out of the ⊥ band like one
    next to it, instead of getting no gradient at all.

    >>> from zeroproof.autodiff import TRNode
    >>> q = TRNode.parameter(-0.0); m = magnitude(q); m.backward(); (m.value, q.gradient)
    (TRScalar(0.0, REAL), TRScalar(-1.0, REAL))
    """
    if isinstance(q, TRNode):
        return q * (-1.0 if np.signbit(float(q.value)) else 1.0)
    if isinstance(q, (int, float)):
        return abs(q)
    codes = _pj._codes(q)[0]
    if np.ndim(codes) == 0 and not hasattr(q, "backward"):
        return abs(q)
    return q * _pj._tape().constant(np.copysign(1.0, codes))


def elementwise(kind: str, term: Callable[..., Any], *args: Any) -> Any:
    """Apply ``term`` elementwise: directly on tapes, per element for node sequences."""
    if kind != NODES:
        return term(*[lift(a, kind) for a in args])
    args = tuple(a.tolist() if isinstance(a, np.ndarray) and a.ndim == 1 else a for a in args)
    n = next(len(a) for a in args if isinstance(a, (list, tuple)))
    cols = [a if isinstance(a, (list, tuple)) else [a] * n for a in args]
    return [term(*[lift(c[i], _pj.NODE) for c in cols]) for i in range(n)]


def select(kind: str, terms: Any, keep: Any) -> Any:
    """``terms`` where ``keep``, a REAL zero elsewhere that sends no gradient back.

    A skip, never a multiplication by 0 (``0 × ∞`` would be Φ, and one dropped element whose
    term is not finite would poison the whole loss): a dropped REAL term stays in the graph as
    ``term × 0`` (its inputs are reached and get ``R(0)``, as before), a dropped ±∞/Φ/⊥ term is
    replaced by 0 outright (on the batched tape by gathering another element's ``term × 0``).

    >>> from zeroproof import pinf
    >>> from zeroproof.autodiff import TRNode
    >>> [t.value for t in select(NODES, [TRNode.constant(pinf()), TRNode.constant(2.0)],
    ...                          [False, True])]
    [TRScalar(0.0, REAL), TRScalar(2.0, REAL)]
    """
    if kind == NODES:
        return [_select_node(t, bool(k)) for t, k in zip(terms, np.ravel(keep))]
    if kind in (_pj.NODE, _pj.SCALAR):
        return _select_node(terms, bool(np.asarray(keep)))
    codes, bot = _pj._codes(terms)
    keep = np.broadcast_to(np.asarray(keep, dtype=bool), codes.shape)
    if keep.all():
        return terms
    tp = _pj._tape()
    realm = _pj._real_mask(codes, bot)
    drop_nonreal = (~keep & ~realm).ravel()
    scale = tp.constant(keep.astype(codes.dtype))
    if not drop_nonreal.any():
        return terms * scale
    donors = np.flatnonzero(realm)
    flat = terms.reshape(-1)
    if donors.size:  # a dropped non-REAL element takes a REAL element's term, times 0
        index = np.where(drop_nonreal, donors[0], np.arange(drop_nonreal.size))
        return (flat[index] * scale.reshape(-1)).reshape(codes.shape)
    # no REAL term at all, so no element can pass a gradient: the kept values as a constant,
    # plus the (zero) sum of an empty selection that keeps ``terms`` in the graph
    zeros = np.zeros_like(codes)
    base = TRArray.from_codes(np.where(keep, codes, zeros),
                              None if bot is None else np.broadcast_to(bot, codes.shape) & keep)
    return tp.constant(base) + flat[np.zeros(0, dtype=np.intp)].sum()


def _select_node(t: Any, keep: bool) -> Any:
    if keep:
        return t
    return t * 0.0 if t.value.tag is TRTag.REAL else TRNode.constant(0.0)


def reduce(kind: str, terms: Any, reduction: str, weights: Any = None, count: Any = None) -> Any:
    """``mean``/``sum``/``none`` of ``terms``; with ``weights`` (0/1) only the selected elements
    count (see :func:`select`) and the mean is over the ``count`` selected elements (0 when
    nothing is selected)."""
    if weights is not None:
        terms = select(kind, terms, np.asarray(weights) != 0)
    if reduction == "none":
        out = terms
    elif kind == NODES:
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        denom = len(terms) if count is None else max(int(count), 1)
        out = total if reduction == "sum" else total / float(denom)
    elif kind in (_pj.NODE, _pj.SCALAR):
        denom = 1 if count is None else max(int(count), 1)
        out = terms if reduction == "sum" or denom == 1 else terms / float(denom)
    else:
        if reduction == "sum":
            out = terms.sum()
        elif count is None:
            out = terms.mean()
        else:
            out = terms.sum() / float(max(int(count), 1))
    return finish(kind, out)


def finish(kind: str, out: Any) -> Any:
    """Plain inputs get plain outputs: a float (or a NumPy array for ``reduction='none'``)."""
    if kind == _pj.SCALAR:
        return float(out.value)
    if kind == _pj.ARRAY:
        arr = out.value.to_numpy()
        return float(arr) if arr.ndim == 0 else arr
    return out


def codes(x: Any) -> np.ndarray:
    """Values of any argument as a float array (no graph; node sequences elementwise)."""
    if is_node_seq(x):
        return np.array([float(e.value) if isinstance(e, TRNode) else float(e) for e in x])
    return np.asarray(_pj._codes(_pj._values(x))[0], dtype=np.float64)


def float_dtype(*xs: Any) -> np.dtype:
    """The floating dtype a loss over ``xs`` computes in: float32 when every array argument is
    float32 (the batched tape keeps float32), float64 otherwise (numbers, nodes, integers).

    >>> float_dtype(np.zeros(2, np.float32), np.ones(2, np.float32)), float_dtype([1.0], 2)
    (dtype('float32'), dtype('float64'))
    """
    kinds = []
    for x in xs:
        if isinstance(x, (np.ndarray, TRArray)) or _pj._is_tensor(x):
            kinds.append(_pj._codes(_pj._values(x))[0].dtype)
        else:
            kinds.append(np.dtype(np.float64))
    dt = np.result_type(*kinds) if kinds else np.dtype(np.float64)
    return dt if dt == np.float32 else np.dtype(np.float64)


def scalar_const(kind: str, value: Any) -> Any:
    """A zero-gradient constant loss of ``kind`` (e.g. when nothing is selected)."""
    if kind in (_pj.TENSOR,):
        return _pj._tape().constant(np.asarray(value, dtype=np.float64))
    if kind in (NODES, _pj.NODE):
        return TRNode.constant(float(value))
    return float(value)
