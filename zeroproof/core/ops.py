"""Transreal scalar operations on :class:`TRScalar` (and plain numbers).

Each ``tr_*`` function is the kernel of :mod:`zeroproof.core.kernels` applied to IEEE codes.
Operands of other types that implement the dispatch protocol (a ``__tr_dispatch__(name, args)``
class attribute, as :class:`~zeroproof.autodiff.TRNode` and ``TRArray`` do) take over, so
``tr_div(real(1.0), node)`` builds a graph node and ``tr_div(1.0, array)`` runs the vectorized
kernel. Nothing here ever raises on a transreal value.
"""
from __future__ import annotations

import enum
from typing import Any, Callable

from . import kernels as K
from ._parse import is_integer, no_modulus, short_repr
from .scalar import _CODE_OF_TAG, REAL, TRScalar, _check_real, _is_number, scalar_from_code

__all__ = [
    "tr_add", "tr_sub", "tr_mul", "tr_div", "tr_neg", "tr_abs", "tr_sign",
    "tr_log", "tr_exp", "tr_sqrt", "tr_pow_int", "tr_relu", "tr_sin", "tr_cos", "tr_tanh", "to_code",
]

_from_code = scalar_from_code


def to_code(x: Any, argname: str) -> float:
    """IEEE code of a TRScalar or a finite real number; ``TypeError``/``ValueError`` otherwise.

    >>> from zeroproof import real, pinf
    >>> from zeroproof.core.ops import to_code
    >>> to_code(real(2.5), "x"), to_code(pinf(), "x"), to_code(3, "x")
    (2.5, inf, 3.0)
    """
    if x.__class__ is TRScalar:
        return x._value if x._tag is REAL else _CODE_OF_TAG[x._tag]
    if _is_number(x):
        return _check_real(x, argname)
    if isinstance(x, TRScalar):
        return x._value if x._tag is REAL else _CODE_OF_TAG[x._tag]
    raise TypeError(
        f"{argname} must be a TRScalar or a real number (int, float), got "
        f"{type(x).__name__} {short_repr(x, 60)}"
        + ("; for arrays use zeroproof.array.TRArray" if hasattr(x, "shape") else "")
    )


def _dispatcher(args: tuple) -> Any:
    for a in args:
        d = getattr(type(a), "__tr_dispatch__", None)
        if d is not None:
            return d
    return None


def _unary(kernel: Callable[[float], float], name: str, doc: str) -> Callable[[Any], Any]:
    def op(x: Any) -> Any:
        if x.__class__ is TRScalar:
            return _from_code(kernel(x._value if x._tag is REAL else _CODE_OF_TAG[x._tag]))
        d = _dispatcher((x,))
        if d is not None:
            return d(name, (x,))
        return _from_code(kernel(to_code(x, f"{name}(x): x")))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _binary(kernel: Callable[[float, float], float], name: str, doc: str) -> Callable[[Any, Any], Any]:
    def op(a: Any, b: Any) -> Any:
        if a.__class__ is TRScalar and b.__class__ is TRScalar:
            return _from_code(kernel(a._value if a._tag is REAL else _CODE_OF_TAG[a._tag],
                                     b._value if b._tag is REAL else _CODE_OF_TAG[b._tag]))
        d = _dispatcher((a, b))
        if d is not None:
            return d(name, (a, b))
        return _from_code(kernel(to_code(a, f"{name}(a, b): a"), to_code(b, f"{name}(a, b): b")))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


tr_add = _binary(K.f_add, "tr_add", """Transreal addition: ``∞ + ∞ = ∞``, ``+∞ + −∞ = Φ``, ``∞ + r = ∞``.

    >>> from zeroproof import tr_add, real, pinf, ninf
    >>> tr_add(real(1.0), real(2.0))
    TRScalar(3.0, REAL)
    >>> tr_add(pinf(), ninf())
    TRScalar(PHI)
    """)
tr_sub = _binary(K.f_sub, "tr_sub", """Transreal subtraction ``a + (−b)``.

    >>> from zeroproof import tr_sub, pinf
    >>> tr_sub(pinf(), pinf())
    TRScalar(PHI)
    """)
tr_mul = _binary(K.f_mul, "tr_mul", """Transreal multiplication: ``0 × ±∞ = Φ``, infinities by sign.

    >>> from zeroproof import tr_mul, real, pinf
    >>> tr_mul(real(-2.0), pinf())
    TRScalar(NINF)
    """)
tr_div = _binary(K.f_div, "tr_div", """Transreal division: ``r/±0 = ±∞`` by signs, ``0/0 = Φ``, ``r/±∞ = 0``.

    >>> from zeroproof import tr_div, real
    >>> tr_div(real(1.0), real(-0.0))
    TRScalar(NINF)
    >>> tr_div(real(0.0), real(0.0))
    TRScalar(PHI)
    """)
tr_neg = _unary(K.f_neg, "tr_neg", """Negation. ``tr_neg(pinf())`` → ``TRScalar(NINF)``.

    >>> from zeroproof import tr_neg, real
    >>> tr_neg(real(2.0))
    TRScalar(-2.0, REAL)
    """)
tr_abs = _unary(K.f_abs, "tr_abs", """Absolute value; ``|±∞| = +∞``, ``|Φ| = Φ``.

    >>> from zeroproof import tr_abs, ninf
    >>> tr_abs(ninf())
    TRScalar(PINF)
    """)
tr_sign = _unary(K.f_sign, "tr_sign", """Sign as a REAL −1, 0 or 1; ``±∞ → ±1``; ``Φ → Φ``.

    >>> from zeroproof import tr_sign, ninf
    >>> tr_sign(ninf())
    TRScalar(-1.0, REAL)
    """)
tr_log = _unary(K.f_log, "tr_log", """Natural log: ``log(±0) = −∞``, ``log(x<0) = Φ``, ``log(+∞) = +∞``, ``log(−∞) = Φ``.

    >>> from zeroproof import tr_log, real
    >>> tr_log(real(0.0))
    TRScalar(NINF)
    """)
tr_exp = _unary(K.f_exp, "tr_exp", """Exponential: ``exp(+∞) = +∞``, ``exp(−∞) = 0``, overflow → ``+∞``.

    >>> from zeroproof import tr_exp, ninf
    >>> tr_exp(ninf())
    TRScalar(0.0, REAL)
    """)
tr_sqrt = _unary(K.f_sqrt, "tr_sqrt", """Square root: ``√x`` for x ≥ 0 (``√−0 = −0``), ``Φ`` for x < 0 and ``−∞``.

    >>> from zeroproof import tr_sqrt, real
    >>> tr_sqrt(real(-1.0))
    TRScalar(PHI)
    """)

tr_relu = _unary(K.f_relu, "tr_relu", """Rectifier ``max(x, 0)``: ``+∞ → +∞``, ``−∞ → 0``, ``Φ → Φ``.

    >>> from zeroproof import tr_relu, real, pinf
    >>> tr_relu(real(-2.0)), tr_relu(pinf())
    (TRScalar(0.0, REAL), TRScalar(PINF))
    """)

tr_sin = _unary(K.f_sin, "tr_sin", """Sine; ``sin(±∞) = Φ``.

    >>> from zeroproof import tr_sin, real, pinf
    >>> tr_sin(real(0.0)), tr_sin(pinf())
    (TRScalar(0.0, REAL), TRScalar(PHI))
    """)
tr_cos = _unary(K.f_cos, "tr_cos", """Cosine; ``cos(±∞) = Φ``.

    >>> from zeroproof import tr_cos, real
    >>> tr_cos(real(0.0))
    TRScalar(1.0, REAL)
    """)
tr_tanh = _unary(K.f_tanh, "tr_tanh", """Hyperbolic tangent; ``tanh(±∞) = ±1``.

    >>> from zeroproof import tr_tanh, real, ninf
    >>> tr_tanh(real(0.0)), tr_tanh(ninf())
    (TRScalar(0.0, REAL), TRScalar(-1.0, REAL))
    """)


def tr_pow_int(x: Any, k: int) -> Any:
    """``x**k`` for an ``int`` exponent (bool and float exponents raise ``TypeError``).

    ``x^0 = 1`` for finite ``x ≠ 0``; ``0^0 = (±∞)^0 = Φ``; ``x^-k = 1/x^k`` with the division
    rules; overflow → ±∞ with the sign of the exact result.

    >>> from zeroproof import tr_pow_int, real
    >>> tr_pow_int(real(-2.0), 3)
    TRScalar(-8.0, REAL)
    >>> tr_pow_int(real(0.0), -1)
    TRScalar(PINF)
    """
    k = check_int_exponent(k)
    if x.__class__ is TRScalar:
        return _from_code(K.f_pow_int(x._value if x._tag is REAL else _CODE_OF_TAG[x._tag], k))
    d = _dispatcher((x,))
    if d is not None:
        return d("tr_pow_int", (x, k))
    return _from_code(K.f_pow_int(to_code(x, "tr_pow_int(x, k): x"), k))


def check_int_exponent(k: Any) -> int:
    """``k`` as an int; ``TypeError`` for bool, float and everything that is not an integer."""
    if k.__class__ is int:
        return k
    if isinstance(k, enum.Enum) or not is_integer(k):  # (a bool, a TRTag, a NumPy duration)
        raise TypeError(
            f"exponent k must be an int, got {type(k).__name__} {short_repr(k, 40)}; "
            "tr_pow_int takes integer exponents only (use tr_exp(k * tr_log(x)) for real powers)"
        )
    return int(k)


# --- operators on TRScalar ------------------------------------------------------------------
def _operand_ok(x: Any) -> bool:
    return x.__class__ is TRScalar or isinstance(x, TRScalar) or _is_number(x)


# built-in types that never take part in TRScalar arithmetic (none has a reflected operator for
# it): refused with a TypeError that says what is accepted, instead of Python's bare message
_NEVER_OPERANDS = (str, bytes, bytearray, complex, type(None), bool, list, tuple, dict, set,
                   frozenset)


def _is_foreign_array(x: Any) -> bool:
    """A NumPy array or array-like that does not speak the dispatch protocol (TRArray, TRTensor
    and TRNode do, and take over through their reflected operators), or a built-in value that
    is never an operand (a str, None, a bool, a complex, a list …)."""
    t = type(x)
    if t in _NEVER_OPERANDS:
        return True
    if getattr(t, "__tr_dispatch__", None) is not None:
        return False
    return hasattr(t, "__array__") or hasattr(t, "__array_interface__") or hasattr(x, "shape")


def _array_operand_error(symbol: str, left: Any, right: Any) -> TypeError:
    """The TypeError for ``TRScalar ⊙ array`` / ``array ⊙ TRScalar`` (NumPy's own message would
    be about ufuncs or concatenation) and ``TRScalar ⊙ np.bool_(...)`` and the like."""
    import numpy as np

    other = right if isinstance(left, TRScalar) else left
    head = (f"unsupported operand types for {symbol}: {type(left).__name__!r} and "
            f"{type(right).__name__!r}; ")
    if isinstance(other, np.generic) or type(other) in _NEVER_OPERANDS:
        # a NumPy scalar that is not a real number (bool_, complex128, str_ …), a str, None …
        return TypeError(head + "TRScalar arithmetic takes a TRScalar, a TRNode or a real number "
                                "(int, float, NumPy integer/floating scalar; not bool or complex)")
    return TypeError(
        head + "a TRScalar is a single transreal value and does not combine with arrays: use "
        f"`import zeroproof.array as za` and za.array(values) {symbol} x (or the batched tape's "
        "za.parameter/za.constant for gradients), or combine element by element with numbers"
    )


def _binop(fn: Callable[[Any, Any], Any], reflected: bool,
           symbol: str) -> Callable[[Any, Any], Any]:
    if reflected:
        def method(self: TRScalar, other: Any) -> Any:
            if _operand_ok(other):
                return fn(other, self)
            if _is_foreign_array(other):
                raise _array_operand_error(symbol, other, self)
            return NotImplemented
    else:
        def method(self: TRScalar, other: Any) -> Any:
            if _operand_ok(other):
                return fn(self, other)
            if _is_foreign_array(other):
                raise _array_operand_error(symbol, self, other)
            return NotImplemented
    return method


def _pow_method(self: TRScalar, k: Any, modulo: Any = None) -> Any:
    if modulo is not None:
        no_modulus("TRScalar", modulo)
    if isinstance(k, (float, bool, TRScalar)) or (not isinstance(k, int) and _is_number(k)):
        check_int_exponent(k)  # raises a TypeError with the remedy
    try:
        k = check_int_exponent(k)
    except TypeError:
        if _is_foreign_array(k):
            raise _array_operand_error("**", self, k) from None
        return NotImplemented
    return tr_pow_int(self, k)


for _name, _fn, _sym in (("add", tr_add, "+"), ("sub", tr_sub, "-"), ("mul", tr_mul, "*"),
                         ("truediv", tr_div, "/")):
    setattr(TRScalar, f"__{_name}__", _binop(_fn, False, _sym))
    setattr(TRScalar, f"__r{_name}__", _binop(_fn, True, _sym))
TRScalar.__neg__ = tr_neg  # type: ignore[method-assign,assignment]
TRScalar.__abs__ = tr_abs  # type: ignore[method-assign,assignment]
TRScalar.__pos__ = lambda self: self  # type: ignore[method-assign]
TRScalar.__pow__ = _pow_method  # type: ignore[method-assign]


def _rpow_method(self: TRScalar, base: Any) -> Any:
    raise TypeError(f"{type(base).__name__} ** TRScalar is not supported: exponents must be "
                    f"Python ints (x ** 3, tr_pow_int(x, k)); for a real power use "
                    f"tr_exp(y * tr_log(x))")


TRScalar.__rpow__ = _rpow_method  # type: ignore[method-assign,attr-defined]
