"""Lifted (graph-building) transreal ops: the same names as :mod:`zeroproof.core`, on nodes.

Each op accepts any mix of :class:`TRNode`, :class:`~zeroproof.core.TRScalar`, int and float and
returns a :class:`TRNode`. The forward value is computed by the very kernel that
:mod:`zeroproof.core` uses; the local derivatives live in :mod:`zeroproof.autodiff.rules`.
"""
from __future__ import annotations

from typing import Any

from ..core import kernels as K
from .ops_table import ABS, ADD, COS, DIV, EXP, LOG, MUL, NEG, RELU, SIGN, SIN, SQRT, SUB, TANH
from .tr_node import TRNode, _binary, _unary, pow_node

__all__ = [
    "tr_add", "tr_sub", "tr_mul", "tr_div", "tr_neg", "tr_abs", "tr_sign",
    "tr_log", "tr_exp", "tr_sqrt", "tr_pow_int", "tr_relu", "tr_sin", "tr_cos", "tr_tanh",
]


def tr_add(a: Any, b: Any) -> TRNode:
    """``a + b`` as a graph node.

    >>> tr_add(TRNode.parameter(1.0), 2.0).value
    TRScalar(3.0, REAL)
    """
    return _binary(ADD, K.f_add, a, b)


def tr_sub(a: Any, b: Any) -> TRNode:
    """``a − b`` as a graph node. ``tr_sub(TRNode.constant(pinf()), pinf()).tag`` is PHI.

    >>> from zeroproof.autodiff.tr_ops_grad import tr_sub
    >>> tr_sub(TRNode.constant(pinf()), pinf()).tag
    <TRTag.PHI: 3>
    """
    return _binary(SUB, K.f_sub, a, b)


def tr_mul(a: Any, b: Any) -> TRNode:
    """``a × b`` as a graph node.

    >>> tr_mul(TRNode.parameter(0.0), pinf()).tag
    <TRTag.PHI: 3>
    """
    return _binary(MUL, K.f_mul, a, b)


def tr_div(a: Any, b: Any) -> TRNode:
    """``a ÷ b`` as a graph node (``r/0 = ±∞``, ``0/0 = Φ``).

    >>> x = TRNode.parameter(0.0)
    >>> y = tr_div(real(1.0), x); y.backward()
    >>> y.value, x.gradient
    (TRScalar(PINF), TRScalar(0.0, REAL))
    """
    return _binary(DIV, K.f_div, a, b)


def tr_neg(a: Any) -> TRNode:
    """``−a`` as a graph node. ``tr_neg(TRNode.constant(1.0)).value`` is ``R(-1)``.

    >>> from zeroproof.autodiff.tr_ops_grad import tr_neg
    >>> tr_neg(TRNode.constant(1.0)).value
    TRScalar(-1.0, REAL)
    """
    return _unary(NEG, K.f_neg, a)


def tr_abs(a: Any) -> TRNode:
    """``|a|`` as a graph node (derivative ``sign(a)``, 0 at 0).

    >>> from zeroproof.autodiff.tr_ops_grad import tr_abs
    >>> x = TRNode.parameter(-2.0); y = tr_abs(x); y.backward()
    >>> y.value, x.gradient
    (TRScalar(2.0, REAL), TRScalar(-1.0, REAL))
    """
    return _unary(ABS, K.f_abs, a)


def tr_sign(a: Any) -> TRNode:
    """``sign(a)`` as a graph node (derivative 0).

    >>> from zeroproof.autodiff.tr_ops_grad import tr_sign
    >>> tr_sign(TRNode.constant(ninf())).value
    TRScalar(-1.0, REAL)
    """
    return _unary(SIGN, K.f_sign, a)


def tr_log(a: Any) -> TRNode:
    """``log a`` as a graph node (``log 0 = −∞``).

    >>> tr_log(TRNode.parameter(1.0)).value
    TRScalar(0.0, REAL)
    """
    return _unary(LOG, K.f_log, a)


def tr_exp(a: Any) -> TRNode:
    """``exp a`` as a graph node.

    >>> from zeroproof.autodiff.tr_ops_grad import tr_exp
    >>> x = TRNode.parameter(0.0); y = tr_exp(x); y.backward(); x.gradient
    TRScalar(1.0, REAL)
    """
    return _unary(EXP, K.f_exp, a)


def tr_sqrt(a: Any) -> TRNode:
    """``√a`` as a graph node (derivative ``1/(2√a)``; at 0 it is ``+∞``, a TR value).

    >>> from zeroproof.autodiff.tr_ops_grad import tr_sqrt
    >>> x = TRNode.parameter(0.0); y = tr_sqrt(x); y.backward(); x.gradient
    TRScalar(PINF)
    """
    return _unary(SQRT, K.f_sqrt, a)


def tr_relu(a: Any) -> TRNode:
    """``max(a, 0)`` as a graph node (derivative 1 where a > 0, else 0, as a selection).

    >>> x = TRNode.parameter(-1.0); y = tr_relu(x); y.backward(); x.gradient
    TRScalar(0.0, REAL)
    """
    return _unary(RELU, K.f_relu, a)


def tr_sin(a: Any) -> TRNode:
    """``sin a`` as a graph node (derivative ``cos a``).

    >>> from zeroproof.autodiff.tr_ops_grad import tr_sin
    >>> x = TRNode.parameter(0.0); y = tr_sin(x); y.backward(); x.gradient
    TRScalar(1.0, REAL)
    """
    return _unary(SIN, K.f_sin, a)


def tr_cos(a: Any) -> TRNode:
    """``cos a`` as a graph node (derivative ``−sin a``).

    >>> x = TRNode.parameter(0.0); y = tr_cos(x); y.backward(); x.gradient
    TRScalar(-0.0, REAL)
    """
    return _unary(COS, K.f_cos, a)


def tr_tanh(a: Any) -> TRNode:
    """``tanh a`` as a graph node (derivative ``1 − tanh² a``).

    >>> x = TRNode.parameter(0.0); y = tr_tanh(x); y.backward(); x.gradient
    TRScalar(1.0, REAL)
    """
    return _unary(TANH, K.f_tanh, a)


def tr_pow_int(x: Any, k: int) -> TRNode:
    """``x**k`` (int ``k``) as a graph node.

    >>> x = TRNode.parameter(2.0)
    >>> y = tr_pow_int(x, 3); y.backward(); x.gradient
    TRScalar(12.0, REAL)
    """
    return pow_node(x, k)
