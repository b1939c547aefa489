"""The backward sweep: iterative, Mask-REAL in one place, one rule table per pass.

:func:`topological_sort` orders the requires-grad part of a graph without recursion.
:func:`backward_pass` accumulates into ``.gradient`` (``node.backward()``); :func:`grad` returns
gradients for chosen sources without touching ``.gradient``, optionally as new graph nodes
(``create_graph=True``) so that gradients can be differentiated again.

The sweep asks the mode policy which table to use *once per pass* (exact, saturating with the
bound ``b``, or hybrid with the pass's decider) and then only indexes the table by op code.

Per-pass scratch state lives in each node's ``_g`` slot, and graphs built in different threads
may share nodes, so passes are serialised process-wide by :data:`PASS_LOCK` (re-entrant).
"""
from __future__ import annotations

from collections.abc import Mapping

import math
import textwrap
from fractions import Fraction
import threading

from typing import Any, Callable, Iterable, Sequence

from ..core import kernels as K
from ..core.scalar import BOTTOM_CODE, ninf, pinf
from ..core.wheel import WHEEL
from .grad_mode import BOUND, MODE, GradientMode
from .hybrid_gradient import ACTIVE_PASS, HybridGradientContext
from .ops_table import (
    ADD, ADDC, DIV, EXP, ID, LOG, MUL, MULC, NEG, RADDC, RMULC, RSUBC, SUB, SUBC, TANH,
)
from .rules import INLINE_CALLS, bind_split_table, bind_table, choice_forms, inline_forms
from . import tr_node as _tr_node
from .tr_node import TRNode, _leaf, _leaf_code, finite_src, inputs_of, next_pending
from ..core._parse import as_float, short_repr

__all__ = ["backward_pass", "topological_sort", "grad", "compute_input_gradients", "rule_table",
           "rule_tables_with_split"]


_NONE = object()  # "reached, but no contribution": the node keeps (or gets) R(0)


def _dfs_order(root: TRNode, extra: frozenset | set = frozenset()) -> list[TRNode]:
    """Post-order of the requires-grad subgraph under ``root`` (iterative, no recursion)."""
    state: dict[TRNode, bool] = {}
    order: list[TRNode] = []
    stack = [root]
    while stack:
        node = stack[-1]
        s = state.get(node)
        if s is None:
            state[node] = False
            for p in inputs_of(node):
                if (p._rg or p in extra) and p not in state:
                    stack.append(p)
        else:
            stack.pop()
            if s is False:
                state[node] = True
                order.append(node)
    return order


def topological_sort(root: TRNode, sources: Iterable[TRNode] = ()) -> list[TRNode]:
    """The requires-grad nodes that ``root`` depends on (and ``root``), inputs before outputs.

    Iterative depth-first post-order: no recursion, so graphs of any depth work. Nodes in
    ``sources`` are included even when they do not require grad (watched constants). For
    inspection; the backward sweep itself needs no sort (see ``_SWEEP_TEMPLATE``).

    >>> x = TRNode.parameter(1.0); y = x * x + x
    >>> [n.op for n in topological_sort(y)]
    ['leaf', 'mul', 'add']
    """
    if not isinstance(root, TRNode):
        raise TypeError(f"topological_sort(root): root must be a TRNode, got "
                        f"{type(root).__name__} {short_repr(root, 60)}")
    return _dfs_order(root, set(_node_list("topological_sort", "sources", sources)))


def _node_list(func: str, name: str, nodes: Any) -> list[TRNode]:
    """``nodes`` (one TRNode or an iterable of them) as a list; TypeError naming ``name``."""
    if isinstance(nodes, TRNode):
        return [nodes]
    if isinstance(nodes, (str, bytes)):  # iterable, but of characters
        raise TypeError(f"{func}({name}): {name} must be a TRNode or a sequence of TRNodes, got "
                        f"{type(nodes).__name__} {short_repr(nodes, 60)}")
    try:
        out = list(nodes)
    except TypeError:
        raise TypeError(f"{func}({name}): {name} must be a TRNode or a sequence of TRNodes, got "
                        f"{type(nodes).__name__} {short_repr(nodes, 60)}") from None
    for i, n in enumerate(out):
        if not isinstance(n, TRNode):
            raise TypeError(f"{func}({name}): {name}[{i}] must be a TRNode, got "
                            f"{type(n).__name__} {short_repr(n, 60)}")
    return out


def compute_input_gradients(node: TRNode, grad_output: Any = None) -> tuple[Any, ...]:
    """One local step of :func:`backward_pass`: what ``node`` hands to each of its inputs for the
    upstream gradient ``grad_output`` (default ``R(1)``), under the active gradient mode.

    One entry per element of ``node.inputs``, in that order: a ``TRScalar``, or ``None`` for an
    input that requires no gradient (a constant receives nothing). **Mask-REAL**, in every mode: a node whose
    value is not REAL hands ``R(0)`` to every input (a skip, never ``g × 0``). Otherwise the
    node's rule: exact (MASK_REAL, or HYBRID away from a pole) or saturating. Only the direct
    contribution is returned (inputs that depend on each other are not chained), the graph is
    not modified and no ``.gradient`` changes; a HYBRID decision made here is counted like any
    other. A leaf (no inputs) gives ``()``.

    >>> x = TRNode.parameter(2.0); y = TRNode.parameter(-4.0)
    >>> compute_input_gradients(x / y)                    # (1/y, -x/y²)
    (TRScalar(-0.25, REAL), TRScalar(-0.125, REAL))
    >>> compute_input_gradients(x / (y - y))              # x/0 = +∞ is not REAL: Mask-REAL
    (TRScalar(0.0, REAL), TRScalar(0.0, REAL))
    """
    if not isinstance(node, TRNode):
        raise TypeError(f"compute_input_gradients(node): node must be a TRNode, got "
                        f"{type(node).__name__} {short_repr(node, 60)}")
    recorded = inputs_of(node)
    if not recorded:
        return ()
    # the node's op applied afresh to parameter copies of its recorded inputs: their gradients
    # are exactly the local contributions
    copies = [_leaf(i._v, True) for i in recorded]
    with _tr_node.enable_grad():  # (recorded also inside no_grad(): the twin must have inputs)
        twin = _tr_node._record(node._v, node._op, copies[0],
                                copies[1] if len(copies) > 1 else None,
                                getattr(node, "_k", None), True)
    got = dict(zip(map(id, recorded), (g.value for g in grad(twin, copies, grad_output))))
    return tuple(got.get(id(i)) if i._rg else None for i in node.inputs)


# ---- vocabularies (one per backend) -----------------------------------------------------------
def _near_float(u: Any, x: Any) -> Any:
    return ACTIVE_PASS.decider(u, x)  # type: ignore[misc]


def _choose_scalar(m: Any, sat_form: Callable, exact_form: Callable, args: tuple) -> Any:
    return sat_form(*args) if m else exact_form(*args)


def _normal(d: float) -> bool:
    """Whether a sum of squares ``d`` kept full precision (no overflow, no underflow)."""
    return K.SMALLEST_NORMAL <= d < math.inf


def _times_pow2(v: float, k: int) -> float:
    """``v·2^k`` rounded once; ``±∞`` beyond the range (``math.ldexp`` would raise)."""
    try:
        return math.ldexp(v, k)
    except OverflowError:
        return math.copysign(math.inf, v)


def _hypot_float(u: float, b: float) -> float:
    """``sqrt(u*u + b*b)``; where that sum over- or underflows, the same formula on ``u`` and
    ``b`` scaled by ``2^-e`` (exact), so the root is the literal one as if the exponent range
    were unbounded. The node and array backends compute the same bits."""
    d = u * u + b * b
    if _normal(d):
        return math.sqrt(d)
    m = max(abs(u), abs(b))
    if m == 0.0 or m == math.inf:
        return m
    e = math.frexp(m)[1]
    r, t = math.ldexp(u, -e), math.ldexp(b, -e)
    return _times_pow2(math.sqrt(r * r + t * t), e)


def _over_sq_float(x: float, u: float, b: float) -> float:
    d = u * u + b * b
    if _normal(d):
        return K.f_div(x, d)
    h = _hypot_float(u, b)
    return K.f_div(K.f_div(x, h), h)


def _neg_over_sq_float(g: float, x: float, u: float, c: float,
                       tiny: float = K.SMALLEST_NORMAL, inf: float = math.inf) -> float:
    n = -g * x
    d = u * u + c * c
    if tiny <= d < inf and (tiny <= abs(n) < inf or n == 0.0 and (g == 0.0 or x == 0.0)):
        return n / d  # the formula as written (d a normal float; n normal, or an exact 0)
    # the same formula on g, x, u, c scaled by powers of two (exact) and the quotient scaled
    # back once: its value with an unbounded exponent range, so nothing is lost on the way
    mg, eg = math.frexp(g)
    mx, ex = math.frexp(x)
    e = math.frexp(max(abs(u), abs(c)))[1]
    r, t = math.ldexp(u, -e), math.ldexp(c, -e)
    return _times_pow2(K.f_div(-(mg * mx), r * r + t * t), eg + ex - 2 * e)


# Algebraically equal groupings of ``g·x/h²`` (``h = √(u² + c²)``; the caller negates), written
# once over a product ``m`` and a quotient ``d``: with the lifted ops they build the node
# backend's graph, with :func:`_pick_grouping`'s recording float ops they simulate it (forward
# values and a second backward pass), so the choice is made on the very values the graph gets.
_GROUPINGS: tuple[Callable[[Any, Any, Any, Any, Callable, Callable], Any], ...] = (
    lambda g, x, h, one, m, d: d(m(g, d(x, h)), h),  # (g·(x/h))/h
    lambda g, x, h, one, m, d: d(m(d(g, h), x), h),  # ((g/h)·x)/h
    lambda g, x, h, one, m, d: m(d(g, h), d(x, h)),  # (g/h)·(x/h)
    lambda g, x, h, one, m, d: d(d(m(g, x), h), h),  # ((g·x)/h)/h
    lambda g, x, h, one, m, d: m(d(d(g, h), h), x),  # ((g/h)/h)·x
    lambda g, x, h, one, m, d: m(g, d(d(x, h), h)),  # g·((x/h)/h)
    lambda g, x, h, one, m, d: m(m(x, d(d(one, h), h)), g),  # (x·((1/h)/h))·g
    lambda g, x, h, one, m, d: m(m(g, d(d(one, h), h)), x),  # (g·((1/h)/h))·x
    lambda g, x, h, one, m, d: m(g, d(x, m(h, h))),  # g·(x/(h·h))
    lambda g, x, h, one, m, d: m(x, d(g, m(h, h))),  # x·(g/(h·h))
)


def _shift_exact(have: float, value: float) -> bool:
    """Whether adding the constant ``value − have`` turns ``have`` into ``value`` exactly (for
    finite values; non-finite ones must already have the same tag and sign)."""
    if have - have != 0.0 or value - value != 0.0:
        return have == value or (have != have and value != value)
    return have == value or have + (value - have) == value


def _close(have: float, want: Fraction) -> bool:
    """Whether ``have`` is within a few ulps of the exact ``want`` (±∞ where ``want`` is beyond
    the float range: then ``have`` must be that infinity)."""
    try:
        w = float(want)
    except OverflowError:
        w = math.inf if want > 0 else -math.inf
    if w - w != 0.0:
        return have == w
    return abs(have - w) <= 8.0 * math.ulp(w)


def _pick_grouping(g: float, x: float, h: float, scale: float, value: float) -> int:
    """Which of :data:`_GROUPINGS` the node backend builds for ``−(g·x/h²)·scale`` (``scale`` a
    power of two), decided on the float values known at backward time.

    Only groupings whose result can be shifted exactly to ``value`` (the float backend's bits,
    or its tag when that is not REAL) qualify. Among those, each grouping's second backward
    pass (seed 1, the float rules) is simulated on the same values, and the first whose partial
    derivatives in ``g``, ``x`` and ``h`` are all within a few ulps of the exact ones is taken
    (otherwise the first with the most such): a second derivative through the graph then does
    not pass through an intermediate that overflowed, underflowed or lost digits on the
    subnormal grid where the true derivative is a representable number.
    """
    finite = g - g == 0.0 and x - x == 0.0 and h - h == 0.0
    if finite:
        G, X, H, S = Fraction(g), Fraction(x), Fraction(h), Fraction(scale)
        exact = {0: -X * S / (H * H), 1: -G * S / (H * H), 2: 2 * G * X * S / (H * H * H)}
    best, best_score = 0, -1
    for i, grouping in enumerate(_GROUPINGS):
        vals = [g, x, h, 1.0]  # the leaves, then one value per operation, referred to by index
        ops: list[tuple[bool, int, int]] = []

        def mul(a: int, b: int) -> int:
            ops.append((True, a, b))
            vals.append(vals[a] * vals[b])
            return len(vals) - 1

        def div(a: int, b: int) -> int:
            ops.append((False, a, b))
            vals.append(K.f_div(vals[a], vals[b]))
            return len(vals) - 1

        top = grouping(0, 1, 2, 3, mul, div)
        if not _shift_exact(-vals[top] * scale, value):
            continue
        if not finite:
            return i  # a non-REAL gradient: only its tag matters
        adj = [0.0] * len(vals)
        adj[top] = -scale
        for n in range(top, 3, -1):  # the exact rules of mul and div, as the float pass runs them
            is_mul, a, b = ops[n - 4]
            t = adj[n]
            if is_mul:
                adj[a] += t * vals[b]
                adj[b] += t * vals[a]
            else:
                adj[a] += K.f_div(t, vals[b])
                adj[b] += _neg_over_sq_float(t, vals[a], vals[b], 0.0)
        score = sum(_close(adj[k], want) for k, want in exact.items())
        if score == 3:
            return i
        if score > best_score:
            best, best_score = i, score
    return best


def _scale_float(g: float, k: int, x: float) -> float:
    t = g * as_float(k)
    if t - t == 0.0:
        return t * x
    if (x == 0.0 or g == 0.0) and g - g == 0.0 and x - x == 0.0:
        # an exponent beyond the float range times a zero upstream gradient, or times a power
        # that underflowed (far below the range): a signed 0, not 0·∞
        return (g * x) * (1.0 if k > 0 else -1.0)
    return g * (as_float(k) * x)


def _pow_neg_float(g: float, a: float, k: int, out: float) -> float:
    p = K.f_pow_int(a, k - 1)
    if _normal(abs(p)):
        return _scale_float(g, k, p)
    return K.f_div(_scale_float(g, k, out), a)


def _pow_neg_sat_float(g: float, a: float, k: int, out: float, b: float) -> float:
    w = K.f_pow_int(a, 1 - k)
    if w - w == 0.0:
        return _scale_float(g, k, K.f_div(K.f_pow_int(K.f_sign(a), 1 - k), _hypot_float(w, b)))
    t = b * K.f_pow_int(abs(a), k - 1)  # b/|w| < b/MAX: no overflow (it may underflow to 0)
    return _pow_neg_float(g, a, k, out) / math.sqrt(1.0 + t * t)


FLOAT_VOCAB: dict[str, Any] = {
    "choose": _choose_scalar,
    "div": K.f_div, "sign": K.f_sign, "powi": K.f_pow_int, "sqrt": K.f_sqrt,
    "hypot": _hypot_float, "over_sq": _over_sq_float, "neg_over_sq": _neg_over_sq_float,
    "scale": _scale_float, "pow_neg": _pow_neg_float, "pow_neg_sat": _pow_neg_sat_float,
    "select": lambda c, x, y: x if c else y, "zeros_like": lambda g: 0.0, "near": _near_float,
    "positive": lambda a: a > 0.0, "sin": K.f_sin, "cos": K.f_cos,
    "unreduce": lambda g, k: g,  # the scalar tape's MEAN node (``tr_mean`` of nodes): one value
}


def _node_vocab() -> dict[str, Any]:
    from . import tr_ops_grad as T

    # The fallbacks below build a graph whose intermediate values stay in range in the forward
    # pass *and* in a later backward pass through it (a chain of 2^±k scalings would underflow
    # there: the derivative of an x scaled up by 2^1073 and back down by 2^-1073 passes through
    # 2^-1073 first), then give the node the float backend's bits: the two values differ by a few
    # ulps at most, so their difference is exact (Sterbenz) and adding it changes no derivative.
    def matched(node: Any, value: float) -> Any:
        have = node._v
        if have == value or have - have != 0.0 or value - value != 0.0:
            return node
        return node + (value - have)

    def hypot(u: Any, b: float, literal: bool = True) -> Any:
        """``√(u² + b²)`` of a node, differentiable in ``u``, with the float backend's value.

        Where ``u² + b²`` is not a normal float (or ``literal`` is False): ``|u|`` for
        ``b = 0``, ``|u|·√(1 + (b/u)²)`` for ``|u| ≥ b`` and ``b·√((u/b)² + 1)`` otherwise, so
        that in a second backward pass ``∂/∂u`` goes through factors of size about 1 and the
        value of the node being differentiated, not through ``1/(2h)`` or a huge or tiny scale
        (``2·((m/2)·√(…))`` where the product rounds past the largest float but the float
        backend's root does not)."""
        bb = b * b
        d = u * u + bb if literal and _normal(bb) else None  # b² may overflow (a bound of 1e200)
        if d is not None and _normal(d._v):
            return T.tr_sqrt(d)
        m = max(abs(u._v), abs(b))
        if m == 0.0 or m == math.inf:
            return T.tr_abs(u)
        value = _hypot_float(u._v, b)
        if b == 0.0:  # √(u²) = |u|
            return matched(T.tr_abs(u), value)
        big: Any  # the larger of |u| (a node) and b (a constant)
        if abs(u._v) >= b:
            q = T.tr_div(b, u)
            big, root = T.tr_abs(u), T.tr_sqrt(q * q + 1.0)
        else:
            r = u / b
            big, root = b, T.tr_sqrt(r * r + 1.0)
        out = root * big
        if out._v == math.inf and value < math.inf:  # rounded past the largest float
            return matched(root * (big * 0.5), value * 0.5) * 2.0  # (halving, doubling: exact)
        return matched(out, value)

    def over_sq(x: Any, u: Any, b: float) -> Any:
        bb = b * b
        d = u * u + bb if _normal(bb) else None
        if d is not None and _normal(d._v):
            return T.tr_div(x, d)
        h = hypot(u, b)
        return T.tr_div(T.tr_div(x, h), h)

    def neg_over_sq(g: Any, x: Any, u: Any, c: float) -> Any:
        n = -g * x
        cc = c * c
        d = u * u + cc if cc - cc == 0.0 else None  # c² itself may overflow (a bound of 1e200)
        if d is not None and _normal(d._v) and (_normal(abs(n._v))
                              or n._v == 0.0 and (g._v == 0.0 or x._v == 0.0)):
            # the formula as written (the float backend's bits), while a second backward pass
            # through d = u² + c² stays in range: its ∂/∂d = −n/d² must be a normal float (or
            # 0), or ∂/∂u = −2u·n/d² would be ±∞ or a flushed 0 on the way
            if n._v == 0.0 or _normal(abs(n._v) / d._v / d._v):
                return T.tr_div(n, d)
        # −g·x/h² in a grouping whose intermediate values stay in range (chosen from the float
        # magnitudes); where h = √(u² + c²) itself overflows (a huge bound), −g·x/(h/2)² · ¼
        value = _neg_over_sq_float(g._v, x._v, u._v, c)
        scale, hv = 1.0, _hypot_float(u._v, c)
        if hv == math.inf:
            u, c, scale = u * 0.5, c * 0.5, 0.25
            hv = _hypot_float(u._v, c)
        # h's own graph: √(u² + c²) while ∂h/∂u = u/h is reached through 1/(2h) in range
        # (the upstream gradient there is about 2·value/h), else the scaled forms
        h = hypot(u, c, literal=abs(u._v) < c and _normal(abs(value) / hv / hv))
        grouping = _GROUPINGS[_pick_grouping(g._v, x._v, h._v, scale, value)]
        out = -grouping(g, x, h, 1.0, T.tr_mul, T.tr_div)
        return matched(out if scale == 1.0 else out * scale, value)

    def factor(k: int) -> Any:  # k as a constant operand (±∞ beyond the float range)
        kf = as_float(k)
        return kf if kf - kf == 0.0 else (pinf() if kf > 0 else ninf())

    def scale(g: Any, k: int, x: Any) -> Any:
        t = g * factor(k)
        if t._v - t._v == 0.0:
            return t * x
        if (x._v == 0.0 or g._v == 0.0) and g._v - g._v == 0.0 and x._v - x._v == 0.0:
            return (g * x) * (1.0 if k > 0 else -1.0)
        return g * (factor(k) * x)

    def pow_neg(g: Any, a: Any, k: int, out: Any) -> Any:
        p = T.tr_pow_int(a, k - 1)
        if _normal(abs(p._v)):
            return scale(g, k, p)
        return T.tr_div(scale(g, k, out), a)

    def pow_neg_sat(g: Any, a: Any, k: int, out: Any, b: float) -> Any:
        w = T.tr_pow_int(a, 1 - k)
        if w._v - w._v == 0.0:
            return scale(g, k, T.tr_div(T.tr_pow_int(T.tr_sign(a), 1 - k), hypot(w, b)))
        t = T.tr_pow_int(T.tr_abs(a), k - 1) * b
        return T.tr_div(pow_neg(g, a, k, out), T.tr_sqrt(t * t + 1.0))

    return {
        "div": T.tr_div, "sign": T.tr_sign, "powi": T.tr_pow_int, "sqrt": T.tr_sqrt,
        "hypot": hypot, "over_sq": over_sq, "neg_over_sq": neg_over_sq, "scale": scale,
        "pow_neg": pow_neg, "pow_neg_sat": pow_neg_sat,
        "select": lambda c, x, y: x if c else y, "zeros_like": lambda g: _leaf(0.0, False),
        "choose": _choose_scalar,
        "near": _near_float, "positive": lambda a: a._v > 0.0, "sin": T.tr_sin, "cos": T.tr_cos,
        "unreduce": lambda g, k: g,
    }


_TABLES: dict[tuple, list] = {}


def _mode_key(backend: str) -> tuple[tuple, Any]:
    """(table key, hybrid decider or None) for the mode of this context; read once per pass."""
    mode = MODE.get()
    if mode is _MASK_REAL:
        return (backend, "exact", None), None
    if mode is _SATURATING:
        return (backend, "saturating", BOUND.get()), None
    decider = _decider()
    if decider is None:  # no δ (warm-up, no schedule): HYBRID is exactly MASK_REAL
        return (backend, "exact", None), None
    return (backend, "hybrid", BOUND.get()), decider


def _cached(key: tuple, vocab_factory: Callable[[], dict[str, Any]] | None, binder: Callable) -> Any:
    table = _TABLES.get(key)
    if table is None:
        backend = key[0]
        if vocab_factory is None:
            if backend not in ("float", "node"):
                raise ValueError(f"backend must be 'float' or 'node' (or another name with its "
                                 f"vocab_factory), got {short_repr(backend, 40)}")
            vocab_factory = (lambda: FLOAT_VOCAB) if backend == "float" else _node_vocab
        vocab = dict(vocab_factory())
        vocab["B"] = key[2] if key[2] is not None else 1.0
        table = binder(key[1], vocab)
        if len(_TABLES) > 64:
            _TABLES.clear()
        _TABLES[key] = table
    return table


def rule_table(backend: str, vocab_factory: Callable[[], dict[str, Any]] | None = None
               ) -> tuple[list, Any]:
    """The rule table for the current mode (read once), and the hybrid decider (or None).

    ``backend`` names the vocabulary ("float", "node", or another registered by the batched tape
    via ``vocab_factory``). Tables are cached per (backend, table, bound).

    >>> from zeroproof.autodiff.backward import rule_table
    >>> from zeroproof.autodiff.ops_table import DIV
    >>> table, decider = rule_table("float")
    >>> table[DIV](1.0, 2.0, 4.0, 0.5, None), decider  # (g, a, b, out, k) -> (∂/∂a, ∂/∂b)
    ((0.25, -0.125), None)
    """
    key, decider = _mode_key(backend)
    return _cached(key, vocab_factory, bind_table), decider


def rule_tables_with_split(backend: str, vocab_factory: Callable[[], dict[str, Any]] | None = None
                           ) -> tuple[list, list, Any]:
    """Like :func:`rule_table`, plus the per-input split of the binary rules (see
    :func:`zeroproof.autodiff.rules.bind_split_table`) for the same mode.

    >>> from zeroproof.autodiff.backward import rule_tables_with_split
    >>> from zeroproof.autodiff.ops_table import DIV
    >>> table, split, decider = rule_tables_with_split("float")
    >>> split[DIV][1](1.0, 2.0, 4.0, 0.5, None)  # the ∂/∂b half of the div rule
    -0.125
    """
    table, split, decider, _ = rule_tables_for_pass(backend, vocab_factory)
    return table, split, decider


def rule_tables_for_pass(backend: str, vocab_factory: Callable[[], dict[str, Any]] | None = None
                         ) -> tuple[list, list, Any, str]:
    """:func:`rule_tables_with_split` plus the table's name ("exact", "saturating", "hybrid")."""
    key, decider = _mode_key(backend)
    return (_cached(key, vocab_factory, bind_table),
            _cached(key + ("split",), vocab_factory, bind_split_table), decider, key[1])


_MASK_REAL = GradientMode.MASK_REAL
_SATURATING = GradientMode.SATURATING
_decider = HybridGradientContext.decider


# The sweep loop, written once and specialised (by ``_make_sweep``) for float or graph values and
# for accumulating into ``.gradient`` or collecting gradients of chosen sources.
# Serialises backward passes over scalar nodes (see ``_make_sweep``). An ``RLock``: a pass
# started within another in the same thread (a signal handler) is not blocked.
PASS_LOCK = threading.RLock()

_SWEEP_TEMPLATE = """
    leaves = []
    pending = {{}}
    zero = {zero}
    try:
        root._g = seed
        if root._op:
            nxt = root  # the first node visited
            s = root._seq
        else:
            nxt = None
            leaves.append(root)
        while True:
            if nxt is not None:  # the next number's node, handed on by the last one: complete
                node = nxt
                nxt = None
            elif pending:
                node = pending.pop(s, None)
                if node is None:
                    s = next_pending(pending, s)
                    continue
            else:
                break
            s -= 1
            g = node._g
            node._g = None
            if g is _NONE:
                g = zero
                out = NAN
            else:
                out = node._v
            {finish}
            if not {out_finite}:  # not REAL: Mask-REAL (or nothing received): its inputs
                # are reached and get no contribution
                for a in (node._a, getattr(node, "_b", None)):  # (unset: a folded constant)
                    if a is not None and a._rg and a._g is None:
                        a._g = _NONE
                        if a._op:
                            pending[a._seq] = a
                        else:
                            leaves.append(a)
                continue
            op = node._op
{dispatch}
        for node in leaves:
            g = node._g
            node._g = None
            if g is _NONE:
                g = zero
            {finish}
    except BaseException:  # any exception, even an interrupt between two statements: scrub
        _clear_scratch(root)  # every running sum, so the graph can be differentiated again
        raise
"""
# Hand a contribution ``{v}`` to input ``{x}`` (inlined: this runs once per edge of the graph).
# An input whose creation number is the next one to visit (a chain: ``y = y * a + b``) has
# received everything once this node is done (every later node is visited): it becomes the next
# node directly, without a trip through ``pending``.
_GIVE = """cur = {x}._g
if cur is None:
    {x}._g = {v}
    if {x}._op:
        if {x}._seq == s:
            nxt = {x}
        else:
            pending[{x}._seq] = {x}
    else:
        leaves.append({x})
else:
    {x}._g = {v} if cur is _NONE else cur + {v}"""


def _clear_scratch(root: TRNode) -> None:
    """Reset the per-pass slot ``_g`` of every node reachable from ``root`` (iterative)."""
    seen = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        node._g = None
        stack.extend(inputs_of(node))


def _indent(code: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in code.splitlines())


# (a ⊥ gradient, left by an earlier ⊥-seeded or wheel pass, absorbs what is added to it: IEEE
# ``cur + g`` would turn the ⊥ code into a plain NaN, i.e. Φ)
_FINISH_ACCUMULATE = """cur = node._grad
            node._grad = g if cur is None else cur + g if cur.__class__ is float else _acc(cur, g)"""


def _acc(cur: Any, g: Any) -> Any:
    """``cur + g`` for an accumulated gradient that is not a plain float code: ⊥ (absorbs) or a
    node from ``backward(create_graph=True)`` (stays a node; ``g`` a code or a node)."""
    if cur is BOTTOM_CODE:
        return cur
    return cur + (g if isinstance(g, TRNode) else _leaf(g, False))
_FINISH_COLLECT = """if id(node) in collect:
                collect[id(node)] = g"""


# The op order of the generated dispatch chains: the most frequent ops first.
_INLINE_ORDER = (MUL, ADD, MULC, RMULC, ADDC, RADDC, SUB, SUBC, RSUBC, DIV, NEG, EXP, LOG, ID,
                 TANH)
# (a hybrid table inlines its choices for DIV and LOG at the same places in the chain)


def _dispatch(forms: dict[int, tuple[str, ...]], choices: dict[int, tuple[str, str, tuple]],
              graph: bool, indent: int) -> str:
    """Code that computes and hands on the contributions of ``node`` (op code in ``op``): pure
    rules (see :func:`~zeroproof.autodiff.rules.inline_forms`) inlined, one contribution per
    input that requires grad, in a chain of op tests (most frequent first); hybrid choices
    (:func:`~zeroproof.autodiff.rules.choice_forms`) decided in place, with the exact form
    inlined and the saturating rule called from ``sat_table``; every other op calls its rule
    from ``table``."""
    out_val = "node" if graph else "out"
    lines: list[str] = []

    def call(names: str, tab: str, pad: str) -> None:
        vals = ", ".join(x if graph else f"{x}._v" for x in names) + (
            ", None" if len(names) == 1 else "")
        targets = ", ".join(f"g{x}" for x in names) + ("," if len(names) == 1 else "")
        lines.append(f"{pad}{targets} = {tab}[op](g, {vals}, {out_val}, "
                     f"getattr(node, '_k', None))")
        for x in names:
            lines.append(f"{pad}if {x}._rg:")
            lines.append(_indent(_GIVE.format(x=x, v=f"g{x}"), len(pad) + 4))

    def inline(names: str, exprs: tuple, pad: str) -> None:
        for x, expr in zip(names, exprs):
            lines.append(f"{pad}if {x}._rg:")
            if expr.isidentifier():  # the contribution is a name already (``g``): hand it on
                v = expr
            else:
                v = f"g{x}"
                lines.append(f"{pad}    {v} = {expr}")
            lines.append(_indent(_GIVE.format(x=x, v=v), len(pad) + 4))

    for op in _INLINE_ORDER:
        form, choice = forms.get(op), choices.get(op)
        if form is None and choice is None:
            continue
        names = "ab"[:len(form if form is not None else choice[2])]
        lines.append(f"{'if' if not lines else 'elif'} op == {op}:")
        lines.append("    a = node._a\n    b = node._b" if len(names) == 2 else "    a = node._a")
        if form is not None:
            inline(names, form, "    ")
        else:
            u, x, exact = choice
            lines.append(f"    if decide({u}, {x}):")
            call(names, "sat_table", "        ")
            lines.append("    else:")
            inline(names, exact, "        ")
    lines.append("else:" if lines else "if True:")
    lines.append("    a = node._a")
    lines.append("    b = getattr(node, '_b', None)")  # (unset: a folded constant)
    lines.append("    if b is not None:")
    call("ab", "table", "        ")
    lines.append("    else:")
    call("a", "table", "        ")
    return _indent("\n".join(lines), indent)


_SWEEP_HEADER = "def sweep(root, seed, table, collect, sat_table=None, decide=None):"
# ``TRNode.backward`` in its common case (no ``grad_output``, a REAL or recorded root, IEEE sums)
# is the float accumulating MASK_REAL sweep itself with this header in front (two calls fewer per
# pass, ~0.15 µs: several per cent of the backward of a small graph), or in the other modes goes
# straight to their sweep; everything else is ``backward_pass``'s.
_BACKWARD_HEADER = """def backward(self, grad_output=None, create_graph=False):
    root = self
    if (root.__class__ is not TRNode or grad_output is not None or root._g is not None
            or not root._rg or wheel_get() or create_graph is not False
            or not (root._op or {root_finite})):
        return backward_pass(root, grad_output, create_graph)
    seed = 1.0
    if mode_get() is not MASK_REAL:
        return float_pass(root, seed)"""


def _make_sweep(graph: bool, accumulate: bool, table_name: str, header: str = _SWEEP_HEADER,
                scope: dict[str, Any] | None = None) -> Callable:
    """Compile the sweep for these choices; ``header`` (the ``def`` line and any prologue) and
    the names in ``scope`` default to the plain ``sweep`` function's."""
    rename = {"k": "node._k"}
    rename.update({"out": "node"} if graph else {"a": "a._v", "b": "b._v"})
    forms = inline_forms(table_name, rename)
    choices = choice_forms(table_name, rename)
    body = _SWEEP_TEMPLATE.format(
        out_finite=finite_src("out"),
        zero="_leaf(0.0, False)" if graph else "0.0",
        finish=_FINISH_ACCUMULATE if accumulate else _FINISH_COLLECT,
        dispatch=_dispatch(forms, choices, graph, 12),
    )
    # one pass at a time in the process: the running sums live in the nodes, and graphs built in
    # different threads may share nodes (a model's parameters); re-entrant for the one thread
    src = (header.format(root_finite=finite_src("root._v")) + "\n    with _PASS_LOCK:"
           + textwrap.indent(body, "    "))
    ns: dict[str, Any] = {"_NONE": _NONE, "_leaf": _leaf, "NAN": float("nan"), "BOT": BOTTOM_CODE,
                          "_clear_scratch": _clear_scratch, "next_pending": next_pending,
                          "_acc": _acc, "_PASS_LOCK": PASS_LOCK}
    vocab = _node_vocab() if graph else FLOAT_VOCAB  # what the inlined forms may call
    ns.update({name: vocab[name] for name in INLINE_CALLS})
    ns.update(scope or {})
    name = header.split("(", 1)[0].split()[-1]
    exec(compile(src, f"<{name} graph={graph} accumulate={accumulate} {table_name}>", "exec"),
         ns)
    return ns[name]


def _install_backward_method(table: list) -> None:
    """Make ``TRNode.backward`` the MASK_REAL sweep with ``_BACKWARD_HEADER`` (``table``: the
    exact rule table, for ops the sweep does not inline); its name, docstring and annotations
    stay those of the method defined in :mod:`~zeroproof.autodiff.tr_node`."""
    original = TRNode.__dict__["backward"]
    method = _make_sweep(False, True, "exact", _BACKWARD_HEADER, {
        "table": table, "mode_get": MODE.get, "MASK_REAL": _MASK_REAL, "wheel_get": WHEEL.get,
        "backward_pass": backward_pass, "float_pass": _float_pass, "TRNode": TRNode})
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(method, attr, getattr(original, attr))
    method.__annotations__ = dict(original.__annotations__)
    method.__wrapped__ = original  # what inspect.signature and help show
    TRNode.backward = method


_SWEEPS: dict[tuple[bool, bool, str], Callable] = {}


def _sweep_for(graph: bool, accumulate: bool, table_name: str) -> Callable:
    """The generated sweep for float/graph values, accumulate/collect and one rule table."""
    sweep = _SWEEPS.get((graph, accumulate, table_name))
    if sweep is None:
        sweep = _SWEEPS[graph, accumulate, table_name] = _make_sweep(graph, accumulate,
                                                                     table_name)
    return sweep


# One pass, no topological sort: recorded nodes carry a creation number ``_seq`` and inputs are
# always older than the nodes built from them, so visiting the *pending* interior nodes in
# decreasing ``_seq`` completes each node's gradient before it is used (``pending`` maps ``_seq``
# to node; an empty stretch of numbers is skipped with ``next_pending``). During a pass ``_g``
# holds the gradient so far (``_NONE``: reached, nothing received) and is reset to None after.
# Float variants work on IEEE codes, where transreal + − × are IEEE (the rules use ``div``
# wherever a divisor can be zero); graph variants pass the nodes themselves and build new nodes.
def _seed(grad_output: Any, graph: bool) -> Any:
    if grad_output is None:
        return _leaf(1.0, False) if graph else 1.0
    if isinstance(grad_output, TRNode):
        return grad_output if graph else grad_output._v
    code = _leaf_code(grad_output, "grad_output")
    return _leaf(code, False) if graph else code


def backward_pass(root: TRNode, grad_output: Any = None, create_graph: bool = False) -> None:
    """Accumulate ``d root / d n`` into ``n.gradient`` for every requires-grad node ``n`` reached
    (with ``create_graph=True`` also as graph nodes, read by ``n.grad_node``).

    >>> x = TRNode.parameter(2.0); y = x * x
    >>> backward_pass(y); backward_pass(y); x.gradient   # accumulates, like PyTorch
    TRScalar(8.0, REAL)
    """
    if root.__class__ is not TRNode and not isinstance(root, TRNode):
        raise TypeError(
            f"backward_pass(root): root must be a TRNode, got {type(root).__name__} "
            f"{short_repr(root, 60)}"
            + ("; batched nodes have their own .backward()" if hasattr(root, "shape") else "")
        )
    if create_graph is not False and create_graph is not True:  # (no truthiness)
        from ..core._parse import check_bool

        create_graph = check_bool("backward(create_graph): create_graph", create_graph)
    with PASS_LOCK:  # (another thread's pass over these nodes ends first)
        _backward_pass_locked(root, grad_output, create_graph)


def _backward_pass_locked(root: TRNode, grad_output: Any, create_graph: bool) -> None:
    if root._g is not None:
        raise RuntimeError("this graph is already being differentiated (backward re-entered)")
    seed = 1.0 if grad_output is None else _seed(grad_output, False)
    if not root._rg:
        return  # a constant (or a result built under no_grad): no node to give a gradient to
    if create_graph:
        _backward_create_graph(root, grad_output)
        return
    if seed is BOTTOM_CODE or WHEEL.get():
        _backward_through_nodes(root, grad_output)
        return
    if not root._op and root._v - root._v != 0.0:
        seed = 0.0  # a non-REAL root passes nothing on, not even to itself as a parameter
    _float_pass(root, seed)


def _float_pass(root: TRNode, seed: float) -> None:
    """The float accumulating pass of ``backward_pass`` in the current mode (the arguments
    checked, ``seed`` a float code). MASK_REAL's entry is memoised; SATURATING and HYBRID each
    remember the entry of their last bound, so a pass builds no table key."""
    mode = MODE.get()
    decider = None
    if mode is _MASK_REAL or (mode is not _SATURATING and (decider := _decider()) is None):
        # (HYBRID without a δ — warm-up, no schedule — is exactly MASK_REAL)
        sweep, table, _ = _MASK_REAL_PASS or _mask_real_pass()
        sweep(root, seed, table, None)
        return
    name = "saturating" if decider is None else "hybrid"
    bound = BOUND.get()
    last = _LAST_ENTRY.get(name)
    if last is None or last[0] != bound:
        last = _LAST_ENTRY[name] = (bound, _pass_entry(False, True, ("float", name, bound)))
    sweep, table, twin = last[1]
    if decider is None:
        sweep(root, seed, table, None)
        return
    outer = ACTIVE_PASS.decider
    ACTIVE_PASS.decider = decider
    try:
        sweep(root, seed, table, None, twin, decider)
    finally:
        ACTIVE_PASS.decider = outer


# (sweep, rule table, saturating twin or None) of a scalar-tape pass, per table key, one dict for
# accumulating passes and one for collecting: finding them costs a pass over a small graph a good
# part of its time otherwise.
_PASSES: dict[bool, dict[tuple, tuple[Callable, list, list | None]]] = {True: {}, False: {}}
_MASK_REAL_PASS: tuple[Callable, list, None] | None = None  # backward_pass's entry in MASK_REAL
# ``_float_pass``'s memo: the (bound, entry) of the last SATURATING and the last HYBRID pass.
_LAST_ENTRY: dict[str, tuple[float, tuple[Callable, list, list | None]]] = {}


def _scalar_pass(graph: bool, accumulate: bool) -> tuple[tuple[Callable, list, list | None], Any]:
    """The (sweep, table, saturating twin) of a pass in the current mode — float values or graph
    nodes, accumulating into ``.gradient`` or collecting — and the pass's hybrid decider."""
    key, decider = _mode_key("node" if graph else "float")
    return _pass_entry(graph, accumulate, key), decider


def _pass_entry(graph: bool, accumulate: bool, key: tuple) -> tuple[Callable, list, list | None]:
    """The (sweep, table, saturating twin) for a table ``key`` (see :func:`_mode_key`)."""
    passes = _PASSES[accumulate]
    entry = passes.get(key)
    if entry is None:
        backend, name, bound = key
        twin = (_cached((backend, "saturating", bound), None, bind_table)
                if name == "hybrid" else None)
        entry = (_sweep_for(graph, accumulate, name), _cached(key, None, bind_table), twin)
        if len(passes) > 64:  # a sweep over many bounds must not grow this without end
            passes.clear()
        passes[key] = entry
    return entry


def _mask_real_pass() -> tuple[Callable, list, None]:
    """The float accumulating pass entry of the exact table, memoised (MASK_REAL, and HYBRID
    without a δ); the first call also installs the fast ``TRNode.backward``."""
    global _MASK_REAL_PASS
    _MASK_REAL_PASS = _pass_entry(False, True, ("float", "exact", None))  # type: ignore[assignment]
    _install_backward_method(_MASK_REAL_PASS[1])  # type: ignore[index]
    return _MASK_REAL_PASS  # type: ignore[return-value]


def _backward_through_nodes(root: TRNode, grad_output: Any) -> None:
    """``backward_pass`` where IEEE arithmetic on codes is not transreal arithmetic: in wheel
    mode (∞ + ∞ and 0·∞ are ⊥ there) and for a ⊥ ``grad_output`` (⊥ absorbs, an IEEE NaN would
    read as Φ). The gradients are built as graph nodes with the lifted ops, which follow the
    kernels, then accumulated into ``.gradient`` with transreal addition."""
    nodes = topological_sort(root)
    for node, g in zip(nodes, _grad(root, nodes, grad_output, True)):
        cur = node._grad
        node._grad = (g._v if cur is None else K.f_add(cur, g._v) if cur.__class__ is float
                      else _acc(cur, g._v))


def _backward_create_graph(root: TRNode, grad_output: Any) -> None:
    """``backward(create_graph=True)``: the gradients of every requires-grad node reached, built
    as graph nodes by one pass and accumulated, as nodes, into ``_grad`` (read back by
    ``.gradient`` as values and by ``.grad_node`` as nodes)."""
    nodes = [n for n in topological_sort(root) if n._rg]
    for node, g in zip(nodes, _grad(root, nodes, grad_output, True)):
        cur = node._grad
        node._grad = g if cur is None else _acc(_leaf(cur, False) if cur.__class__ is float
                                                else cur, g)


def grad(output: TRNode, sources: TRNode | Sequence[TRNode], grad_output: Any = None,
         create_graph: bool = False) -> list[TRNode]:
    """Gradients of ``output`` w.r.t. each of ``sources`` (a TRNode or a sequence of them) as a
    list of TRNodes (a dict of nodes gives a dict with the same keys); ``.gradient`` is
    untouched.

    With ``create_graph=True`` the gradients are graph nodes (differentiable again); otherwise
    constant nodes. A source that receives no contribution gets ``R(0)``.

    >>> x = TRNode.parameter(3.0)
    >>> (dx,) = grad(x * x * x, [x], create_graph=True)
    >>> (d2x,) = grad(dx, [x]); d2x.value
    TRScalar(18.0, REAL)
    """
    if isinstance(sources, Mapping):  # a dict of sources: a dict of gradients, same keys
        keys = list(sources)
        return dict(zip(keys, grad(output, [sources[k] for k in keys], grad_output,
                                   create_graph)))  # type: ignore[return-value]
    if not isinstance(output, TRNode):
        raise TypeError(f"grad(output): output must be a TRNode, got {type(output).__name__} "
                        f"{short_repr(output, 60)}")
    srcs = _node_list("grad", "sources", sources)
    for i, src in enumerate(srcs):
        if not src._rg:  # as PyTorch's autograd.grad and the batched za.grad
            raise ValueError(
                f"grad(sources): sources[{i}] does not require grad (a constant, or built under "
                f"no_grad), so no gradient can reach it; create it with TRNode.parameter() or set "
                f"requires_grad = True on the leaf before building the graph (gradient_tape's "
                f"watch() differentiates with respect to a constant)"
            )
    return _grad(output, srcs, grad_output, create_graph)


def _grad(output: TRNode, srcs: list[TRNode], grad_output: Any, create_graph: bool
          ) -> list[TRNode]:
    """:func:`grad` for validated arguments; sources that do not require grad (constants a
    gradient tape watches) receive contributions during this pass only."""
    if create_graph is not False and create_graph is not True:  # (no truthiness: "no" is no bool)
        from ..core._parse import check_bool

        create_graph = check_bool("grad(create_graph): create_graph", create_graph)
    seed = _seed(grad_output, create_graph)
    if not create_graph and (seed is BOTTOM_CODE or WHEEL.get()):
        # transreal (not IEEE) sums of contributions: see _backward_through_nodes
        return [_leaf(g._v, False) for g in _grad(output, srcs, grad_output, True)]
    watched = [src for src in srcs if not src._rg]
    (sweep, table, twin), decider = _scalar_pass(create_graph, False)
    collect: dict[int, Any] = {id(src): None for src in srcs}
    outer = ACTIVE_PASS.decider
    ACTIVE_PASS.decider = decider
    with PASS_LOCK:  # (the watched constants require grad only inside this pass)
        for src in watched:  # a watched constant receives contributions during this pass only
            src._rg = True
        try:
            if not output._op and output._v - output._v != 0.0:
                seed = _leaf(0.0, False) if create_graph else 0.0  # as in backward_pass
            sweep(output, seed, table, collect, twin, decider)
        finally:
            ACTIVE_PASS.decider = outer
            for src in watched:
                src._rg = False
    result = []
    for src in srcs:
        g = collect[id(src)]
        if g is None:
            result.append(_leaf(0.0, False))
        elif create_graph:
            result.append(g if isinstance(g, TRNode) else _leaf(g, False))
        else:
            result.append(_leaf(g, False))
    return result


_tr_node._backward_pass = backward_pass
