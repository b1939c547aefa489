"""Lifted (graph-building) transreal ops: the same names as :mod:`zeroproof.core`, on nodes.

Each op accepts any mix of :class:`TRNode`, :class:`~zeroproof.core.TRScalar`, int and float and
returns a :class:`TRNode`. The forward value is computed by the very kernel that
:mod:`zeroproof.core` uses; the local derivatives live in :mod:`zeroproof.autodiff.rules`.
"""
from __future__ import annotations

from typing import Any

import math
from typing import Iterable

from ..core import kernels as K
from ..core._parse import is_iterable
from ..core.reductions import (
    ReductionMode, max_codes, mean_codes, min_codes, prod_codes, sum_codes,
)
from ..core.reductions import _mode as _reduction_mode
from .ops_table import (
    ABS, ADD, COS, DIV, EXP, ID, LOG, MEAN, MUL, NEG, RELU, SIGN, SIN, SQRT, SUB, TANH,
)
from .tr_node import TRNode, _binary, _leaf, _record, _unary, as_node, pow_node

__all__ = [
    "tr_add", "tr_sub", "tr_mul", "tr_div", "tr_neg", "tr_abs", "tr_sign",
    "tr_log", "tr_exp", "tr_sqrt", "tr_pow_int", "tr_relu", "tr_sin", "tr_cos", "tr_tanh",
    "tr_sum", "tr_mean", "tr_prod", "tr_min", "tr_max",
]


def tr_add(a: Any, b: Any) -> TRNode:
    """``a + b`` as a graph node.

    >>> tr_add(TRNode.parameter(1.0), 2.0).value
    TRScalar(3.0, REAL)
    """
    return _binary(ADD, K.f_add, a, b)


def tr_sub(a: Any, b: Any) -> TRNode:
    """``a − b`` as a graph node. ``tr_sub(TRNode.constant(pinf()), pinf()).tag`` is PHI.

    >>> from zeroproof import pinf
    >>> from zeroproof.autodiff.tr_ops_grad import tr_sub
    >>> tr_sub(TRNode.constant(pinf()), pinf()).tag
    <TRTag.PHI: 3>
    """
    return _binary(SUB, K.f_sub, a, b)


def tr_mul(a: Any, b: Any) -> TRNode:
    """``a × b`` as a graph node.

    >>> from zeroproof import pinf
    >>> tr_mul(TRNode.parameter(0.0), pinf()).tag
    <TRTag.PHI: 3>
    """
    return _binary(MUL, K.f_mul, a, b)


def tr_div(a: Any, b: Any) -> TRNode:
    """``a ÷ b`` as a graph node (``r/0 = ±∞``, ``0/0 = Φ``).

    >>> from zeroproof import real
    >>> x = TRNode.parameter(0.0)
    >>> y = tr_div(real(1.0), x); y.backward()
    >>> y.value, x.gradient
    (TRScalar(PINF), TRScalar(0.0, REAL))
    """
    return _binary(DIV, K.f_div, a, b)


def tr_neg(x: Any) -> TRNode:
    """``−x`` as a graph node. ``tr_neg(TRNode.constant(1.0)).value`` is ``R(-1)``.

    >>> from zeroproof.autodiff.tr_ops_grad import tr_neg
    >>> tr_neg(TRNode.constant(1.0)).value
    TRScalar(-1.0, REAL)
    """
    return _unary(NEG, K.f_neg, x)


def tr_abs(x: Any) -> TRNode:
    """``|x|`` as a graph node (derivative ``sign(x)``, 0 at 0).

    >>> from zeroproof.autodiff.tr_ops_grad import tr_abs
    >>> x = TRNode.parameter(-2.0); y = tr_abs(x); y.backward()
    >>> y.value, x.gradient
    (TRScalar(2.0, REAL), TRScalar(-1.0, REAL))
    """
    return _unary(ABS, K.f_abs, x)


def tr_sign(x: Any) -> TRNode:
    """``sign(x)`` as a graph node (derivative 0).

    >>> from zeroproof import ninf
    >>> from zeroproof.autodiff.tr_ops_grad import tr_sign
    >>> tr_sign(TRNode.constant(ninf())).value
    TRScalar(-1.0, REAL)
    """
    return _unary(SIGN, K.f_sign, x)


def tr_log(x: Any) -> TRNode:
    """``log x`` as a graph node (``log 0 = −∞``).

    >>> tr_log(TRNode.parameter(1.0)).value
    TRScalar(0.0, REAL)
    """
    return _unary(LOG, K.f_log, x)


def tr_exp(x: Any) -> TRNode:
    """``exp x`` as a graph node.

    >>> from zeroproof.autodiff.tr_ops_grad import tr_exp
    >>> x = TRNode.parameter(0.0); y = tr_exp(x); y.backward(); x.gradient
    TRScalar(1.0, REAL)
    """
    return _unary(EXP, K.f_exp, x)


def tr_sqrt(x: Any) -> TRNode:
    """``√x`` as a graph node (derivative ``1/(2√x)``; at 0 it is ``+∞``, a TR value).

    >>> from zeroproof.autodiff.tr_ops_grad import tr_sqrt
    >>> x = TRNode.parameter(0.0); y = tr_sqrt(x); y.backward(); x.gradient
    TRScalar(PINF)
    """
    return _unary(SQRT, K.f_sqrt, x)


def tr_relu(x: Any) -> TRNode:
    """``max(x, 0)`` as a graph node (derivative 1 where x > 0, else 0, as a selection).

    >>> x = TRNode.parameter(-1.0); y = tr_relu(x); y.backward(); x.gradient
    TRScalar(0.0, REAL)
    """
    return _unary(RELU, K.f_relu, x)


def tr_sin(x: Any) -> TRNode:
    """``sin x`` as a graph node (derivative ``cos x``).

    >>> from zeroproof.autodiff.tr_ops_grad import tr_sin
    >>> x = TRNode.parameter(0.0); y = tr_sin(x); y.backward(); x.gradient
    TRScalar(1.0, REAL)
    """
    return _unary(SIN, K.f_sin, x)


def tr_cos(x: Any) -> TRNode:
    """``cos x`` as a graph node (derivative ``−sin x``).

    >>> x = TRNode.parameter(0.0); y = tr_cos(x); y.backward(); x.gradient
    TRScalar(-0.0, REAL)
    """
    return _unary(COS, K.f_cos, x)


def tr_tanh(x: Any) -> TRNode:
    """``tanh x`` as a graph node (derivative ``1 − tanh² x``).

    >>> x = TRNode.parameter(0.0); y = tr_tanh(x); y.backward(); x.gradient
    TRScalar(1.0, REAL)
    """
    return _unary(TANH, K.f_tanh, x)


def tr_pow_int(x: Any, k: int) -> TRNode:
    """``x**k`` (int ``k``) as a graph node.

    >>> x = TRNode.parameter(2.0)
    >>> y = tr_pow_int(x, 3); y.backward(); x.gradient
    TRScalar(12.0, REAL)
    """
    return pow_node(x, k)


# ---- reductions over a list of nodes ----------------------------------------------------------
# The forward value is the core reduction's (``sum_codes`` …: exactly rounded, STRICT or
# DROP_NULL), computed once over all the values. The graph under it only routes the gradient: a
# chain of ``add`` nodes that each hold the reduction's result (the add rule hands ``g`` to both
# inputs whatever the values, and Mask-REAL then follows the result's tag, not a rounded or
# overflowing partial sum). Entries DROP_NULL ignores (Φ) are not part of the graph.


def _reduction_inputs(values: Iterable[Any], mode: Any, fname: str
                      ) -> tuple[list[TRNode], list[TRNode], ReductionMode]:
    if isinstance(values, TRNode) or not is_iterable(values):
        raise TypeError(f"{fname}(values): values must be a list of TRNode, TRScalar or real "
                        f"numbers, got {type(values).__name__}")
    nodes = [as_node(v, f"{fname}(values): values[{i}]") for i, v in enumerate(values)]
    m = _reduction_mode(mode)
    kept = nodes if m is ReductionMode.STRICT else [n for n in nodes if n._v == n._v]
    return nodes, kept, m


def _fan_in(code: float, kept: list[TRNode]) -> TRNode:
    """A node with value ``code`` that hands its gradient unchanged to every node of ``kept``."""
    if not kept:
        return _leaf(code, False)
    top = kept[0]
    if len(kept) == 1:
        return _record(code, ID, top, None, None, top._rg)
    for x in kept[1:]:
        top = _record(code, ADD, top, x, None, top._rg or x._rg)
    return top


def _reach(top: TRNode, code: float, others: list[TRNode]) -> TRNode:
    """``top`` (value ``code``) with ``others`` in its graph but no gradient to them: each one
    that requires grad is the input of a Φ-valued node, through which Mask-REAL never passes.
    Reached without a contribution, they get ``R(0)`` (SPEC §4.2), as every input of a
    reduction does: the entries a minimum does not select, the Φ entries DROP_NULL ignores."""
    for x in others:
        if x._rg:
            top = _record(code, ADD, top, _record(K.NAN, ID, x, None, None, True), None, True)
    return top


def _dropped(nodes: list[TRNode], kept: list[TRNode]) -> list[TRNode]:
    """The entries DROP_NULL left out (none in STRICT mode)."""
    return [] if len(kept) == len(nodes) else [n for n in nodes if n._v != n._v]


def tr_sum(values: Iterable[Any], mode: "ReductionMode | str" = ReductionMode.STRICT) -> TRNode:
    """The transreal sum of a list of nodes (or TRScalars, numbers) as a node: the value of
    :func:`zeroproof.tr_sum` (exactly rounded); every entry it adds up gets ``g``.

    >>> from zeroproof.autodiff.tr_ops_grad import tr_sum
    >>> x, y = TRNode.parameter(1e16), TRNode.parameter(1.0)
    >>> s = tr_sum([x, y, -1e16]); s.backward()
    >>> s.value, x.gradient, y.gradient
    (TRScalar(1.0, REAL), TRScalar(1.0, REAL), TRScalar(1.0, REAL))
    """
    nodes, kept, m = _reduction_inputs(values, mode, "tr_sum")
    code = sum_codes([n._v for n in nodes], m)
    return _reach(_fan_in(code, kept), code, _dropped(nodes, kept))


def tr_mean(values: Iterable[Any], mode: "ReductionMode | str" = ReductionMode.STRICT) -> TRNode:
    """The transreal mean of a list of nodes as a node (value of :func:`zeroproof.tr_mean`);
    each of the ``n`` entries it averages gets ``g / n``.

    >>> from zeroproof import phi
    >>> from zeroproof.autodiff.tr_ops_grad import tr_mean
    >>> x = TRNode.parameter(1.0)
    >>> m = tr_mean([x, 2.0, phi()], mode="drop_null"); m.backward()
    >>> m.value, x.gradient
    (TRScalar(1.5, REAL), TRScalar(0.5, REAL))
    """
    nodes, kept, m = _reduction_inputs(values, mode, "tr_mean")
    code = mean_codes([n._v for n in nodes], m)
    inner = _fan_in(code, kept)
    if len(kept) >= 2:
        inner = _record(code, MEAN, inner, None, (None, None, None, len(kept)), inner._rg)
    return _reach(inner, code, _dropped(nodes, kept))


def tr_prod(values: Iterable[Any], mode: "ReductionMode | str" = ReductionMode.STRICT) -> TRNode:
    """The transreal product of a list of nodes as a node (value of :func:`zeroproof.tr_prod`,
    exactly rounded); recorded as a chain of products, so each entry gets ``g`` times the
    product of the others. When the product is REAL, the chain multiplies the entries in an
    order that keeps the partial products in range, forwards and backwards
    (``[1e200, 1e200, 1e-200]`` gives each entry its true gradient, where ``x1 * x2 * x3``
    would overflow on the way and mask the first two); a non-REAL product masks every entry.

    >>> from zeroproof.autodiff.tr_ops_grad import tr_prod
    >>> x = TRNode.parameter(3.0)
    >>> p = tr_prod([x, 2.0, 5.0]); p.backward()
    >>> p.value, x.gradient
    (TRScalar(30.0, REAL), TRScalar(10.0, REAL))
    """
    nodes, kept, m = _reduction_inputs(values, mode, "tr_prod")
    code = prod_codes([n._v for n in nodes], m)
    return _reach(_prod_graph(kept, code, m), code, _dropped(nodes, kept))


def _prod_graph(kept: list[TRNode], code: float, m: ReductionMode) -> TRNode:
    if len(kept) < 2:
        return _fan_in(code, kept)
    if code - code == 0.0:  # a REAL product: every kept entry is REAL
        zeros = [n for n in kept if n._v == 0.0]
        if zeros and len(zeros) < len(kept):
            # (product of the non-zero entries) × (product of the zeros): the zeros' 0 reaches
            # the other entries as one exact 0 factor, never as 0 times a suffix product that
            # overflowed (0·∞ = Φ); a lone zero gets the others' product, ±∞ if it overflows
            rest = _in_range_order([n for n in kept if n._v != 0.0])
            p = _product_chain(rest, prod_codes([n._v for n in rest], m))
            z = _product_chain(zeros, prod_codes([n._v for n in zeros], m))
            return _record(code, MUL, p, z, None, p._rg or z._rg)
        kept = _in_range_order(kept)
    return _product_chain(kept, code)


def _product_chain(kept: list[TRNode], code: float) -> TRNode:
    """``kept[0] · kept[1] · …`` recorded as a chain of products whose last value is ``code``."""
    top = kept[0]
    last = len(kept) - 1
    for i, x in enumerate(kept[1:], 1):
        v = code if i == last else K.f_mul(top._v, x._v)
        top = _record(v, MUL, top, x, None, top._rg or x._rg)
    return top


def _in_range_order(kept: list[TRNode]) -> list[TRNode]:
    """REAL factors in an order whose partial products stay in range, forwards and backwards.

    The chain's backward pass multiplies ``g`` by the suffix products (``x_n``, ``x_n·x_(n−1)``,
    …) and then by a prefix product, so both must stay in range for an entry to get the product
    of the others. With ``e_i = log2|x_i|`` and ``E = Σ e_i``, a prefix has exponent ``S`` and
    its suffix ``E − S``; both are safe while ``S`` lies in the window
    ``[max(−1000, E − 1000), min(1000, E + 1000)]``. Each step takes the factor that pulls ``S``
    back towards ``E/2`` (the most negative one at or above it, the most positive one below) —
    or, when that one would leave the window and the other extreme would not, the other one.
    A given order that already stays in the window is kept.

    >>> ns = [TRNode.parameter(v) for v in (1e200, 1e200, 1e-200)]
    >>> [n.value.value for n in _in_range_order(ns)]
    [1e+200, 1e-200, 1e+200]
    """
    exps = [math.log2(abs(n._v)) if n._v else 0.0 for n in kept]  # (a zero makes the product 0)
    total = sum(exps)
    lo_s, hi_s = max(-1000.0, total - 1000.0), min(1000.0, total + 1000.0)
    run = 0.0
    for e in exps:
        run += e
        if not lo_s <= run <= hi_s:
            break
    else:
        return kept
    half = total / 2
    order = sorted(range(len(kept)), key=exps.__getitem__)
    lo, hi = 0, len(order) - 1
    out = []
    run = 0.0
    while lo <= hi:
        down, up = run + exps[order[lo]], run + exps[order[hi]]
        if run >= half:
            take_up = down < lo_s and up <= hi_s
        else:
            take_up = not (up > hi_s and down >= lo_s)
        if take_up:
            i, hi = order[hi], hi - 1
        else:
            i, lo = order[lo], lo + 1
        run += exps[i]
        out.append(kept[i])
    return out


def _extreme(values: Iterable[Any], mode: Any, fname: str, codes_fn: Any) -> TRNode:
    nodes, kept, m = _reduction_inputs(values, mode, fname)
    code = codes_fn([n._v for n in nodes], m)
    dropped = _dropped(nodes, kept)
    for i, x in enumerate(kept):  # the first entry that attains the result (same value and
        v = x._v                  # zero sign) gets the gradient; the others are reached: R(0)
        if v == code and math.copysign(1.0, v) == math.copysign(1.0, code):
            top = _record(code, ID, x, None, None, x._rg)
            return _reach(top, code, kept[:i] + kept[i + 1:] + dropped)
    # Φ / ⊥ (or nothing kept): not REAL, so nothing flows, and every entry is reached: R(0)
    return _reach(_fan_in(code, kept), code, dropped)


def tr_min(values: Iterable[Any], mode: "ReductionMode | str" = ReductionMode.STRICT) -> TRNode:
    """The transreal minimum of a list of nodes as a node (value of :func:`zeroproof.tr_min`);
    the gradient goes to the first entry that attains it, the others get ``R(0)``.

    >>> from zeroproof.autodiff.tr_ops_grad import tr_min
    >>> x, y = TRNode.parameter(2.0), TRNode.parameter(1.0)
    >>> r = tr_min([x, y]); r.backward()
    >>> r.value, x.gradient, y.gradient
    (TRScalar(1.0, REAL), TRScalar(0.0, REAL), TRScalar(1.0, REAL))
    """
    return _extreme(values, mode, "tr_min", min_codes)


def tr_max(values: Iterable[Any], mode: "ReductionMode | str" = ReductionMode.STRICT) -> TRNode:
    """The transreal maximum of a list of nodes as a node (value of :func:`zeroproof.tr_max`);
    the gradient goes to the first entry that attains it, the others get ``R(0)``.

    >>> from zeroproof import ninf
    >>> from zeroproof.autodiff.tr_ops_grad import tr_max
    >>> x = TRNode.parameter(2.0)
    >>> r = tr_max([x, 1.0, ninf()]); r.backward()
    >>> r.value, x.gradient
    (TRScalar(2.0, REAL), TRScalar(1.0, REAL))
    """
    return _extreme(values, mode, "tr_max", max_codes)
