"""Shared plumbing of the losses: input kinds, lifting onto a tape, reductions."""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np

from ..autodiff import projective as _pj
from ..autodiff.tr_node import TRNode
from ..autodiff.tr_ops_grad import tr_mean, tr_sum
from ..array.trarray import TRArray
from ..core._parse import short_repr
from ..core.scalar import TRScalar, TRTag
from ..utils.ieee_bridge import from_ieee

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
                for i, e in enumerate(v):  # a number among the nodes, as _kind reads a number
                    if not isinstance(e, TRNode):
                        _pj._kind(func, **{f"{name}[{i}]": e})
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
            else:  # a number broadcast to every node: refused by _kind with its name if wrong
                _pj._kind(func, **{name: v})
        return NODES
    return _pj._kind(func, **args)


def check_shapes(func: str, **args: Any) -> tuple:
    """All array-like arguments must have one shape (0-d numbers broadcast); ValueError names
    the first argument that differs."""
    ref_name, ref = None, None
    for name, v in args.items():
        if isinstance(v, (int, float, TRScalar, TRNode)) or is_node_seq(v):
            continue
        shp = np.shape(_pj._codes(v, f"{func}: {name}")[0])
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
    if not isinstance(reduction, str):
        raise TypeError(f"{func}: reduction must be one of {REDUCTIONS}, got "
                        f"{type(reduction).__name__} {short_repr(reduction, 40)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{func}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def lift(x: Any, kind: str) -> Any:
    """Put an argument on the tape used for ``kind`` (arrays → batched constants, numbers →
    scalar constants); nodes and tensors pass through."""
    if kind in (_pj.TENSOR, _pj.ARRAY):
        if isinstance(x, (float, np.floating)) and not math.isfinite(x):
            # a plain NaN/±inf next to arrays is read as IEEE too (NaN → Φ, ±inf → ±∞): a NumPy
            # float32/float64 keeps its dtype as a 0-d array, another float is a weak TRScalar
            x = np.asarray(x) if isinstance(x, (np.float32, np.float64)) else from_ieee(float(x))
        return _pj._tape().as_tensor(x)
    if kind == _pj.SCALAR or kind == _pj.NODE:
        if isinstance(x, TRNode):
            return x
        if isinstance(x, (float, np.floating)):  # read as IEEE, as arrays and lists are
            x = from_ieee(float(x))            # (NaN → Φ, ±inf → ±∞)
        return TRNode.constant(x)
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
    elif kind == NODES:  # the exactly rounded reductions, as for arrays (bit for bit)
        if reduction == "sum":
            out = tr_sum(terms)
        elif count is None:
            out = tr_mean(terms)
        else:
            out = tr_sum(terms) / float(max(int(count), 1))
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


def codes(x: Any, name: str = "the input") -> np.ndarray:
    """Values of any argument as a float array (no graph; node sequences elementwise)."""
    if is_node_seq(x):
        return np.array([float(e.value) if isinstance(e, TRNode) else float(e) for e in x])
    return np.asarray(_pj._codes(_pj._values(x), name)[0], dtype=np.float64)


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


# ---- exact power-of-two rescaling of the scale-invariant losses ---------------------------------
# ``implicit_loss`` and ``sign_consistency_loss`` are ratios of squares: a finite tuple such as
# ``(1e160, 1)`` overflows ``P²`` (∞/∞ = Φ), ``(1e-170, 1e-170)`` underflows it (0/0 = Φ), and
# elsewhere an overflowing denominator or an underflowing ``loss/denominator`` in the backward
# pass silently gives a wrong 0. The helpers below find the elements whose evaluation leaves the
# float range and evaluate those on inputs multiplied by powers of two — exact, so the formula is
# the same function of the inputs (``gamma`` is scaled to match) and the tape's chain rule
# through the constant factors gives the exact gradient. Elements that stay in range are
# computed exactly as before (scaling by powers of two commutes with rounding in the normal
# range, so even a rescaled in-range element would give the same bits).

class RangeEmulator:
    """Replays a loss's arithmetic in float64 on value arrays and bounds, per element, the
    absolute error that leaving ``dtype``'s normal range causes: an underflowing product or
    quotient of non-zero operands is off by up to the subnormal spacing (then propagated through
    the later ops), an overflow makes the error infinite. Ordinary roundings are not counted
    (rescaling by powers of two does not change them). Errors are kept as ``log2`` (they are far
    below the float range). ``margin`` narrows the range on both sides (the backward pass is
    replayed for an upstream gradient of 1, but the real one may be smaller or larger).

    >>> em = RangeEmulator(np.dtype(np.float64))
    >>> x = em.value(np.array([1e-200, 1e-100, 1e200]))
    >>> with np.errstate(all="ignore"):          # log2 of the error: underflow, exact, overflow
    ...     em.mul(x, x).lerr.tolist()
    [-1074.0, -inf, inf]
    """

    class V:
        __slots__ = ("val", "lerr")

        def __init__(self, val: np.ndarray, lerr: np.ndarray) -> None:
            self.val, self.lerr = val, lerr

    def __init__(self, dtype: Any, margin: float = 1.0) -> None:
        fi = np.finfo(dtype)
        m = margin * (1.0 if np.dtype(dtype) == np.float64 else 4.0)  # float32: its roundings
        self.tiny = float(fi.tiny) * m
        self.big = float(fi.max) / m
        self.lsub = math.log2(float(fi.tiny) * float(fi.eps) * m)  # log2 subnormal spacing

    def value(self, x: Any) -> "RangeEmulator.V":
        x = np.asarray(x, dtype=np.float64)
        return self.V(x, np.full(np.shape(x), -np.inf))

    def _out(self, z: np.ndarray, lerr: np.ndarray, nonzero: Any) -> "RangeEmulator.V":
        az = np.abs(z)
        lerr = np.where((az < self.tiny) & nonzero, np.logaddexp2(lerr, self.lsub), lerr)
        lerr = np.where((az <= self.big) & ~np.isnan(lerr), lerr, np.inf)
        return self.V(z, lerr)

    def mul(self, x: "RangeEmulator.V", y: "RangeEmulator.V") -> "RangeEmulator.V":
        lx, ly = np.log2(np.abs(x.val)), np.log2(np.abs(y.val))
        lerr = np.logaddexp2(np.logaddexp2(lx + y.lerr, ly + x.lerr), x.lerr + y.lerr)
        return self._out(x.val * y.val, lerr, (x.val != 0) & (y.val != 0))

    def add(self, x: "RangeEmulator.V", y: "RangeEmulator.V",
            sign: float = 1.0) -> "RangeEmulator.V":
        return self._out(x.val + sign * y.val, np.logaddexp2(x.lerr, y.lerr), False)

    def div(self, x: "RangeEmulator.V", y: "RangeEmulator.V") -> "RangeEmulator.V":
        z = x.val / y.val
        ly = np.log2(np.abs(y.val))
        lerr = np.logaddexp2(x.lerr, np.log2(np.abs(z)) + y.lerr) - ly
        return self._out(z, np.where(ly > y.lerr, lerr, np.inf), x.val != 0)

    def scale(self, x: "RangeEmulator.V", k: np.ndarray) -> "RangeEmulator.V":
        """``x · 2**k`` (an exact power of two unless the result leaves the range)."""
        return self.mul(x, self.value(np.ldexp(1.0, k)))

    @staticmethod
    def rel_error(out: "RangeEmulator.V", lfloor: Any = -np.inf) -> np.ndarray:
        """``log2`` of the error relative to ``max(|out|, 2**lfloor)`` (inf for an infinite
        error, -inf for none)."""
        rel = out.lerr - np.maximum(np.log2(np.abs(out.val)), lfloor)
        return np.where(np.isnan(rel), np.where(out.lerr == -np.inf, -np.inf, np.inf), rel)


_CHUNK = 8192  # elements per pass of the cheap checks

GRAD_MARGIN = 2.0 ** 20
"""How far inside the float range the backward pass's values must stay (it is replayed for an
upstream gradient of 1; a mean over up to ~10**6 elements scales it by 1/n)."""

REL_TOL = -50.0
"""An element whose replay bounds a result's range error above ``2**REL_TOL`` (relative, a few
ulps of float64) is rescaled."""


def range_score(value_err: np.ndarray, grad_err: np.ndarray) -> np.ndarray:
    """One number per element from the replayed ``log2`` relative errors of a loss's value and
    of its gradient: the worse of the two while both are finite; a usable value with an unusable
    gradient ranks below any usable pair but above an unusable value (a finite loss whose
    gradient overflows is still worth having)."""
    both = np.maximum(value_err, grad_err)
    return np.where(np.isfinite(both) | (both == -np.inf), both,
                    np.where(np.isfinite(value_err) | (value_err == -np.inf),
                             1e6 + np.maximum(value_err, REL_TOL), np.inf))


def in_range(checks: list, dtype: Any) -> np.ndarray:
    """Per element: every ``(value, zero_ok)`` of ``checks`` is a normal number of ``dtype``
    (within :data:`GRAD_MARGIN` of neither end), or exactly 0 where ``zero_ok`` (a structural
    zero, not an underflow). The second pass of :func:`choose_rescaling`: it replays the values
    of a loss's forward and backward ops without error bounds.

    >>> ok = in_range([(np.array([1.0, 1e-310, 0.0, 0.0]), np.array([0, 0, 1, 0], bool))],
    ...               np.dtype(np.float64))
    >>> ok.tolist()
    [True, False, True, False]
    """
    em = RangeEmulator(dtype, GRAD_MARGIN)
    shape = np.shape(checks[0][0])
    # |x| in [tiny, big] as one unsigned comparison of the float64 bit patterns (monotonic for
    # x ≥ 0; NaN lies above +inf, and 0 wraps around below tiny)
    lo = np.uint64(np.float64(em.tiny).view(np.uint64))
    span = np.uint64(np.float64(em.big).view(np.uint64)) - lo
    mag = np.uint64(0x7FFFFFFFFFFFFFFF)
    worst = np.zeros(shape, dtype=np.uint64)
    zero_possible = np.zeros(shape, dtype=bool)
    for v, zero_ok in checks:
        bits = np.ascontiguousarray(np.broadcast_to(v, shape), dtype=np.float64).view(np.uint64)
        worst = np.maximum(worst, (bits & mag) - lo)
        if zero_ok is not False:
            zero_possible |= zero_ok
    ok = worst <= span
    if zero_possible.any():  # elements with a structural zero somewhere: check one by one
        idx = np.flatnonzero(zero_possible & ~ok)
        if idx.size:
            good = np.ones(idx.size, dtype=bool)
            for v, zero_ok in checks:
                a = np.abs(np.broadcast_to(v, shape).reshape(-1)[idx])
                z = np.broadcast_to(zero_ok, shape).reshape(-1)[idx]
                good &= ((a >= em.tiny) & (a <= em.big)) | ((a == 0) & z)
            flat = ok.reshape(-1)
            flat[idx] = good
            ok = flat.reshape(shape)
    return ok


@functools.lru_cache(maxsize=64)
def safe_window(bounds: Callable[..., Any], dtype: Any, gamma: float) -> int:
    """The largest ``W`` such that inputs whose non-zero magnitudes lie in ``[2**-W, 2**W)``
    keep every forward and backward value of a loss in range, whatever their combination.

    ``bounds(W, g_lo, g_hi, mant)`` gives ``(lo, hi)``, exponents bounding all intermediates for
    such inputs, ``gamma`` in ``[2**-g_lo, 2**g_hi]`` (``g_lo = None``: gamma is 0) and
    ``mant`` mantissa bits. Inside the window the loss is computed as before without looking
    further (the first, cheap pass of :func:`choose_rescaling`)."""
    em = RangeEmulator(dtype, GRAD_MARGIN)
    e_lo, e_hi = math.log2(em.tiny), math.log2(em.big)
    g_lo = g_hi = None
    if gamma > 0:
        e = math.frexp(gamma)[1]
        g_lo, g_hi = 1 - e, e
    mant = int(np.finfo(dtype).nmant) + 1
    w = 0
    while w < 1100:
        lo, hi = bounds(w + 1, g_lo, g_hi, mant)
        if lo < e_lo or hi > e_hi:
            break
        w += 1
    return w


def choose_rescaling(window: Callable[..., Any], quick: Callable[..., Any],
                     replay: Callable[..., Any], vals: list, real: np.ndarray, gamma: float,
                     dtype: Any, candidates: Callable[..., Any]) -> tuple:
    """The ``plan`` of :func:`elementwise_rescaled` from a loss's checks, cheapest first.

    Elements whose non-zero inputs lie in the :func:`safe_window` of ``window`` (the loss's
    exponent ``bounds``), and elements whose replayed values ``quick(vals, gamma, dtype)`` finds
    in range (:func:`in_range`), are computed as before. ``replay(vals, ks, g, dtype)``
    replays the loss on the other elements' values (scaled by ``2**ks[i]`` per group when ``ks``
    is given, with ``g`` for gamma) and scores the range errors of its results per element
    (:func:`range_score`). Those that replay within :data:`REL_TOL` unscaled are computed as
    before too; the rest try each ``(ks, g)`` of ``candidates(vals, gamma, dtype)`` and take the
    first that replays within the tolerance, or the best-scoring one (today's computation if
    nothing beats it). Returns ``(flags, ks, g)`` of the shape of ``real``."""
    shape = np.shape(real)
    nothing = (np.zeros(shape, dtype=bool), None, None)
    with np.errstate(all="ignore"):
        w = safe_window(window, np.dtype(dtype), float(gamma))
        lo, hi = math.ldexp(1.0, -w), math.ldexp(1.0, w)
        flat = [np.broadcast_to(v, shape).reshape(-1) for v in vals]
        real_flat = np.broadcast_to(real, shape).reshape(-1)
        outside = []
        for start in range(0, real_flat.size, _CHUNK):  # chunks: small temporaries, in cache
            part = [v[start:start + _CHUNK] for v in flat]
            todo = real_flat[start:start + _CHUNK].copy()
            inside = np.ones(todo.shape, dtype=bool)
            for v in part:
                a = np.abs(v)
                inside &= ((a >= lo) & (a < hi)) | (a == 0)
            todo &= ~inside
            if todo.any():
                outside.append(start + np.flatnonzero(todo))
        if not outside:
            return nothing
        idx = np.concatenate(outside)
        idx = idx[~quick([v[idx] for v in flat], gamma, dtype)]  # one replay for all of them
        if not idx.size:
            return nothing
        sub = [v[idx] for v in flat]
        err0 = replay(sub, None, gamma, dtype)
        flags = err0 > REL_TOL
        if not flags.any():
            return nothing
        best = err0.copy()
        choice_ks: list = []
        choice_g = np.full(np.shape(err0), float(gamma))
        for ks, g in candidates(sub, gamma, dtype):
            err = replay(sub, ks, g, dtype)
            better = flags & (err < best) & (best > REL_TOL)
            if not choice_ks:
                choice_ks = [np.zeros(np.shape(err0), dtype=np.int64) for _ in ks]
            for i, k in enumerate(ks):
                choice_ks[i] = np.where(better, k, choice_ks[i])
            choice_g = np.where(better, g, choice_g)
            best = np.where(better, err, best)
        flags = flags & (best < err0)
    full_flags = np.zeros(np.size(real), dtype=bool)
    full_flags[idx] = flags
    full_ks = []
    for k in choice_ks:
        fk = np.zeros(np.size(real), dtype=np.int64)
        fk[idx] = k
        full_ks.append(fk.reshape(shape))
    full_g = np.full(np.size(real), float(gamma))
    full_g[idx] = choice_g
    return full_flags.reshape(shape), full_ks, full_g.reshape(shape)


_NO_EXP = -(1 << 20)  # "exponent" of 0 in pow2_exponent (below any real one)


def pow2_exponent(x: Any) -> np.ndarray:
    """``e`` with ``|x| = f·2**e``, ``f`` in ``[0.5, 1)`` (``frexp``), elementwise; a very negative
    sentinel where ``x`` is 0.

    >>> pow2_exponent(np.array([1.0, 0.75, 1e300, 0.0]))[:3].tolist()
    [1, 0, 997]
    """
    x = np.asarray(x, dtype=np.float64)
    return np.where(x == 0, _NO_EXP, np.frexp(x)[1].astype(np.int64))


def pow2_normalizer(*xs: Any) -> np.ndarray:
    """The exponent ``k`` that brings ``max(|x|, ...)`` into ``[0.5, 1)`` (0 where all are 0)."""
    m = np.abs(np.asarray(xs[0], dtype=np.float64))
    for x in xs[1:]:
        m = np.maximum(m, np.abs(x))
    return np.where(m == 0, 0, -np.frexp(m)[1].astype(np.int64))


def pow2_plan(ks0: list, r: Any, gamma: float, dtype: Any) -> tuple[list, np.ndarray]:
    """Per-element power-of-two exponents ``k_i`` (group ``i`` of inputs is multiplied by
    ``2**k_i``) and the matching ``gamma·2**(2·Σk_i)`` (float64).

    ``ks0[i]`` brings group ``i`` to magnitude ``[0.5, 1)`` (:func:`pow2_normalizer`); ``r`` is
    the exponent of the root of the loss denominator after that (``√(Q²Y_d² + P²Y_n² + γ)`` of
    the normalised inputs, ``√(P² + Q² + γ)`` for one pair). The groups are then shifted by
    ``2**-r`` in all, so that the denominator is about 1 and neither it, the loss, nor the
    backward pass's ``1/denominator`` and ``loss/denominator`` leave the float range needlessly.
    The shift goes to the first group (the predicted tuple) as far as its values stay normal
    (down) or their squares finite (up), the rest to the next group. The exponents keep ``2**k``
    a normal number of ``dtype``.
    """
    fi = np.finfo(dtype)
    lo, hi = int(fi.minexp), int(fi.maxexp) - 1
    down_max, up_max = -int(fi.minexp) - 2, int(fi.maxexp) // 2 - 1
    shift = -np.asarray(r, dtype=np.int64)              # > 0: scale up, < 0: scale down
    ks = []
    for k0 in ks0:
        k0 = np.clip(np.asarray(k0, dtype=np.int64), lo, hi)
        k = np.clip(k0 + np.clip(shift, -down_max, up_max), lo, hi)
        shift = shift - (k - k0)
        ks.append(k)
    with np.errstate(all="ignore"):
        g = np.ldexp(np.float64(gamma), 2 * sum(ks))
    return ks, np.asarray(g, dtype=np.float64)


def _pow2(k: np.ndarray, dtype: Any) -> np.ndarray:
    return np.ldexp(np.ones(np.shape(k)), k).astype(dtype)


def _as_dtype(x: np.ndarray, dtype: Any) -> np.ndarray:
    with np.errstate(all="ignore"):  # a float32 gamma·2**k may round to 0 or ∞ (negligible/huge)
        return np.asarray(x, dtype=np.float64).astype(dtype)


def elementwise_rescaled(kind: str, core: Callable[..., Any], args: tuple, groups: tuple,
                         gamma: float, plan: Callable[..., Any]) -> Any:
    """``core(*args, gamma)`` elementwise like :func:`elementwise` (after the ``PROJECT`` gate on
    ``args[0], args[1]``, the predicted tuple), except on the elements whose evaluation leaves
    the float range.

    ``plan(values, real, gamma, dtype)`` gets the float64 values of the (gated) arguments
    broadcast to the result's shape, the mask of elements whose arguments are all REAL, ``gamma``
    and the dtype the tape computed in; it returns ``(flags, exponents, gamma_scaled)``. On the
    flagged elements ``core`` is evaluated on ``args[j] · 2**exponents[groups[j]]`` (``groups[j]``
    None: unscaled) and ``gamma_scaled``; the factors are constants on the tape, so gradients
    follow by the chain rule. The other elements are computed as before (a batch with nothing
    flagged is exactly the plain :func:`elementwise` graph; in a mixed batch they are kept by
    :func:`select`, value and gradient unchanged, but for the sign of a gradient that is exactly
    zero: the two selected branches are summed, and ``-0.0 + 0.0`` is ``+0.0``).
    """
    if kind in (_pj.TENSOR, _pj.ARRAY):
        return _rescaled_batched(core, [lift(a, kind) for a in args], groups, gamma, plan)
    if kind != NODES:
        return _rescaled_nodes(core, [[lift(a, _pj.NODE) for a in args]], groups, gamma, plan)[0]
    args = tuple(a.tolist() if isinstance(a, np.ndarray) and a.ndim == 1 else a for a in args)
    n = next(len(a) for a in args if isinstance(a, (list, tuple)))
    cols = [a if isinstance(a, (list, tuple)) else [a] * n for a in args]
    rows = [[lift(c[i], _pj.NODE) for c in cols] for i in range(n)]
    return _rescaled_nodes(core, rows, groups, gamma, plan)


def _rescaled_nodes(core: Callable[..., Any], rows: list, groups: tuple, gamma: float,
                    plan: Callable[..., Any]) -> list:
    for r in rows:
        r[0], r[1] = _pj._policy_gate(r[0], r[1])
    cols = list(zip(*rows))
    vals = [np.array([float(x.value) for x in col]) for col in cols]
    real = np.ones(len(rows), dtype=bool)
    for col in cols:
        real &= np.array([x.value.tag is TRTag.REAL for x in col])
    flags, ks, g = plan(vals, real, gamma, np.dtype(np.float64))
    out = []
    for i, r in enumerate(rows):
        if not flags[i]:
            out.append(core(*r, gamma))
            continue
        scaled = [x if grp is None else x * float(np.ldexp(1.0, int(ks[grp][i])))
                  for x, grp in zip(r, groups)]
        out.append(core(*scaled, float(g[i])))
    return out


def _rescaled_batched(core: Callable[..., Any], xs: list, groups: tuple, gamma: float,
                      plan: Callable[..., Any]) -> Any:
    xs[0], xs[1] = _pj._policy_gate(xs[0], xs[1])
    old = core(*xs, gamma)
    out_dtype = _pj._codes(old)[0].dtype
    if out_dtype.kind != "f":
        return old
    shape = old.shape
    vals, real = [], np.ones(shape, dtype=bool)
    narrow = out_dtype
    for x in xs:
        c, bot = _pj._codes(x)
        if c.dtype == np.float32:  # float32 parts of a float64 result: their range counts
            narrow = c.dtype
        c = np.broadcast_to(np.asarray(c, dtype=np.float64), shape)
        vals.append(c)
        real &= _pj._real_mask(c, None if bot is None else np.broadcast_to(bot, shape))
    flags, ks, g = plan(vals, real, gamma, narrow)
    if not flags.any():
        return old
    tp = _pj._tape()
    everything = bool(flags.all())
    idx = np.flatnonzero(flags)

    def pick(x: Any) -> Any:  # the flagged elements of an argument (0-d ones broadcast)
        return x if everything or x.ndim == 0 else x.reshape(-1)[idx]

    def part(a: np.ndarray) -> np.ndarray:
        return a if everything else a.reshape(-1)[idx]

    def evaluate(dtype: Any) -> Any:
        scaled = [pick(x) if grp is None else pick(x) * tp.constant(_pow2(part(ks[grp]), dtype))
                  for x, grp in zip(xs, groups)]
        return core(*scaled, tp.constant(_as_dtype(part(g), dtype)))

    new = evaluate(narrow)
    if _pj._codes(new)[0].dtype != out_dtype:
        # float32 factors turned a Python-number operand (weak in NumPy's promotion) into a
        # float32 array: in float64, the result has the dtype the unscaled formula gives
        new = evaluate(out_dtype)
    if everything:
        return new
    pos = np.zeros(flags.size, dtype=np.intp)
    pos[idx] = np.arange(idx.size)
    full = new[pos].reshape(shape)
    return select(_pj.TENSOR, old, ~flags) + select(_pj.TENSOR, full, flags)
