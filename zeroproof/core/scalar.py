"""Transreal values: the tag enum, the immutable :class:`TRScalar`, factories and predicates.

Internally every transreal value also has an *IEEE code*: a plain ``float`` in which
``+∞, −∞, Φ`` are ``inf, -inf, nan`` and ⊥ is the distinguished NaN object :data:`BOTTOM_CODE`
(recognised by identity, never produced by float arithmetic). The arithmetic kernels in
:mod:`zeroproof.core.kernels` and the scalar tape work on codes; ``TRScalar`` is the user-facing
view.
"""
from __future__ import annotations

import enum
import math
import re
import numbers
import operator
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import numpy as np
from ._parse import as_float, is_integer, is_real_number, short_repr

if TYPE_CHECKING:
    from typing import TypeAlias

    # what TRScalar's arithmetic operators accept (runtime: zeroproof.core.ops)
    _Number: TypeAlias = "float | np.integer[Any] | np.floating[Any]"
    _Operand: TypeAlias = "TRScalar | _Number"

__all__ = [
    "TRTag", "TRScalar", "real", "pinf", "ninf", "phi", "bottom",
    "is_real", "is_pinf", "is_ninf", "is_phi", "is_bottom", "is_finite", "is_infinite",
    "BOTTOM_CODE", "code_of", "scalar_from_code", "tag_of_code",
]


class TRTag(IntEnum):
    """Tag of a transreal value. The integer codes are the ``uint8`` tags of :class:`TRArray`.

    >>> TRTag.PHI, int(TRTag.PINF)
    (<TRTag.PHI: 3>, 1)
    """

    REAL = 0
    PINF = 1
    NINF = 2
    PHI = 3
    BOTTOM = 4

    def __str__(self) -> str:  # "REAL", not "TRTag.REAL"
        return self.name


REAL, PINF, NINF, PHI, BOTTOM = TRTag.REAL, TRTag.PINF, TRTag.NINF, TRTag.PHI, TRTag.BOTTOM
_INF = math.inf
_NAN = math.nan


class _BottomCode(float):
    """The IEEE code of ⊥: a NaN that is recognised by identity (``x is BOTTOM_CODE``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BOTTOM_CODE"

    def __reduce__(self) -> str:
        # pickle/copy by name, so the identity that marks ⊥ survives (a copied NaN would be Φ)
        return "BOTTOM_CODE"


BOTTOM_CODE: float = _BottomCode("nan")

_SYMBOL = {PINF: "+∞", NINF: "−∞", PHI: "Φ", BOTTOM: "⊥"}
_CODE_OF_TAG = {PINF: _INF, NINF: -_INF, PHI: _NAN, BOTTOM: BOTTOM_CODE}
_HASH_OF_TAG = {PINF: hash(_INF), NINF: hash(-_INF), PHI: hash("zeroproof.Φ"),
                BOTTOM: hash("zeroproof.⊥")}


class TRScalar:
    """An immutable transreal value: a tag and, for REAL, a finite ``float`` value.

    ``.value`` is NaN for every non-REAL tag. Both are read-only properties; instances have
    ``__slots__`` and no other attributes. Build values with :func:`real`, :func:`pinf`,
    :func:`ninf`, :func:`phi`, :func:`bottom` or :func:`zeroproof.from_ieee`.

    >>> real(1.5) / real(0.0)
    TRScalar(PINF)
    >>> str(real(0.0) / real(0.0))
    'Φ'
    """

    __slots__ = ("_value", "_tag")
    __array_ufunc__ = None  # NumPy scalars defer to our reflected operators

    def __init__(self, value: Any = None, tag: Any = REAL) -> None:
        """``TRScalar(1.5)`` / ``TRScalar(1.5, TRTag.REAL)`` is REAL 1.5; ``TRScalar(TRTag.PINF)``
        (what ``repr`` shows) or ``TRScalar(tag=TRTag.PHI)`` a non-REAL value. Prefer the
        factories (:func:`real`, :func:`pinf`, …).

        >>> TRScalar(TRTag.PINF), TRScalar(2.0)
        (TRScalar(PINF), TRScalar(2.0, REAL))
        """
        try:  # calling __init__ again on a built value would change it (and shared singletons)
            self._tag
        except AttributeError:
            pass
        else:
            raise TypeError("TRScalar is immutable: __init__ cannot be called again on a built "
                            "value; build a new one (real(x), pinf(), …)")
        if isinstance(value, TRTag) and tag is REAL:
            value, tag = None, value  # TRScalar(PINF), as repr writes it
        tag = _parse_tag(tag)
        if tag is REAL:
            if value is None:
                raise TypeError("TRScalar(value, tag): a REAL value needs value, a finite real "
                                "number (or use real(x))")
            self._value = _check_real(value, "value")
        else:
            if value is not None and not (isinstance(value, float) and value != value):
                raise ValueError(f"TRScalar(value, tag): a {tag.name} value has no value, got "
                                 f"value={short_repr(value, 40)}; omit it "
                                 f"(TRScalar(tag=TRTag.{tag.name}))")
            self._value = _NAN
        self._tag = tag

    # read-only public view -------------------------------------------------------------
    @property
    def value(self) -> float:
        """The float value for REAL; NaN for every other tag."""
        return self._value

    @property
    def tag(self) -> TRTag:
        """The :class:`TRTag` of this value."""
        return self._tag

    def __reduce__(self) -> tuple:
        return (scalar_from_code, (code_of(self),))

    def __copy__(self) -> "TRScalar":
        return self

    def __deepcopy__(self, memo: dict) -> "TRScalar":
        return self

    # printing ----------------------------------------------------------------------------
    def __repr__(self) -> str:
        if self._tag is REAL:
            return f"TRScalar({self._value!r}, REAL)"
        return f"TRScalar({self._tag.name})"

    def __str__(self) -> str:
        if self._tag is REAL:
            return str(self._value)
        return _SYMBOL[self._tag]

    def __format__(self, spec: str) -> str:
        """REAL: the float's format; other tags: the symbol (``+∞``, ``Φ``, …) with only the
        spec's fill, alignment and width applied (right-aligned by default, as numbers; a float
        spec's sign, precision and type mean nothing for a symbol), so ``f"{loss:+.4f}"`` never
        fails or truncates.

        >>> f"{real(1.5):.2f}|{pinf():.1f}|{phi():<6.3f}|{ninf():08.2f}"
        '1.50|+∞|Φ     |      −∞'
        """
        if self._tag is REAL:
            return format(self._value, spec)
        if not spec:
            return _SYMBOL[self._tag]
        format(0.0, spec)  # an invalid spec fails as it would for a REAL value
        m = _FORMAT_SPEC.match(spec)
        if m is None:  # a spec of a newer Python than this pattern knows: the bare symbol
            return _SYMBOL[self._tag]
        # right-aligned by default, as numbers are ('=' pads after a sign: also right)
        fill_align = (m.group("fill_align") or ">").replace("=", ">")
        return format(_SYMBOL[self._tag], fill_align + (m.group("width") or ""))

    # conversions -------------------------------------------------------------------------
    def __float__(self) -> float:
        tag = self._tag
        if tag is REAL:
            return self._value
        return _INF if tag is PINF else (-_INF if tag is NINF else _NAN)

    def item(self) -> float:
        """The value as a Python float, as ``float(x)`` (NumPy's and PyTorch's ``item()``):
        REAL → the value, ±∞ → ±inf, Φ and ⊥ → NaN.

        >>> real(2.5).item(), pinf().item()
        (2.5, inf)
        """
        return self.__float__()

    def __trunc__(self) -> int:
        """``math.trunc(x)``: as ``int(x)``."""
        return self.__int__()

    def __int__(self) -> int:
        """``int(x)``: a REAL value truncated, as ``int(float)``; ±∞ is an ``OverflowError`` and Φ,
        ⊥ a ``ValueError`` (no integer stands for them), as for IEEE inf and NaN.

        >>> int(real(-2.7)), round(real(2.5)), round(real(2.345), 2)
        (-2, 2, TRScalar(2.35, REAL))
        """
        if self._tag is REAL:
            return int(self._value)
        if self._tag is PINF or self._tag is NINF:
            raise OverflowError(f"cannot convert {_SYMBOL[self._tag]} to an int")
        raise ValueError(f"cannot convert {_SYMBOL[self._tag]} to an int")

    def __round__(self, ndigits: int | None = None) -> "int | TRScalar":
        """``round(x)`` is an int (as for a float; ±∞, Φ, ⊥ raise as ``int(x)``);
        ``round(x, n)`` is a TRScalar: REAL rounded as ``round(float, n)``, other tags kept."""
        if ndigits is None:
            return round(self._value) if self._tag is REAL else self.__int__()
        if self._tag is not REAL:
            return self
        try:
            return TRScalar(round(self._value, ndigits))
        except OverflowError:  # rounding up past the float range (1.7e308 to -308 digits): ±∞
            return scalar_from_code(_INF if self._value > 0 else -_INF)

    def __bool__(self) -> bool:
        tag = self._tag
        if tag is REAL:
            return self._value != 0.0
        return tag is PINF or tag is NINF

    # equality and order --------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        exact = _exact_number(other)
        if exact is not None:
            # exactly, as Python compares a float with an int or a Fraction (so hashes agree
            # with ==): real(2.0**53) != 2**53 + 1, real(0.1) != Fraction(1, 10), and no
            # integer equals an infinity
            return self._tag is REAL and self._value == exact
        o = _comparable(other)
        if o is None:
            if isinstance(other, np.ndarray):  # elementwise, as NumPy (and TRArray == x) does
                return _array_compare(self, other)
            return NotImplemented
        if o is False:
            return False
        return self._tag is o._tag and (self._tag is not REAL or self._value == o._value)

    def __ne__(self, other: object) -> bool:
        r = self.__eq__(other)
        if r is NotImplemented:
            return r
        return ~r if isinstance(r, np.ndarray) else not r

    def __hash__(self) -> int:
        if self._tag is REAL:
            return hash(self._value)
        return _HASH_OF_TAG[self._tag]

    def _order_key(self) -> float | None:
        tag = self._tag
        if tag is REAL:
            return self._value
        if tag is PINF:
            return _INF
        if tag is NINF:
            return -_INF
        return None  # Φ, ⊥: unordered

    def _cmp(self, other: object, op: Any) -> Any:
        exact = _exact_number(other)
        if exact is not None:
            # an int or a Fraction is compared exactly, as ``==`` does (Python's own rules)
            a = self._order_key()
            return False if a is None else _EXACT_OP[op](a, exact)
        o = _comparable(other)
        if o is None:
            if isinstance(other, np.ndarray):  # elementwise, as == is
                return _array_compare(self, other, _REFLECTED[op])
            return NotImplemented
        if o is False:
            return False
        a, b = self._order_key(), o._order_key()
        if a is None or b is None:
            return False
        return op(a, b)

    def __lt__(self, other: object) -> bool:
        return self._cmp(other, float.__lt__)

    def __le__(self, other: object) -> bool:
        return self._cmp(other, float.__le__)

    def __gt__(self, other: object) -> bool:
        return self._cmp(other, float.__gt__)

    def __ge__(self, other: object) -> bool:
        return self._cmp(other, float.__ge__)

    # arithmetic operators are attached by zeroproof.core.ops (one definition of semantics);
    # their signatures are declared here for type checkers only (nothing is defined at runtime)
    if TYPE_CHECKING:
        def __add__(self, other: _Operand) -> TRScalar: ...
        def __radd__(self, other: _Number) -> TRScalar: ...
        def __sub__(self, other: _Operand) -> TRScalar: ...
        def __rsub__(self, other: _Number) -> TRScalar: ...
        def __mul__(self, other: _Operand) -> TRScalar: ...
        def __rmul__(self, other: _Number) -> TRScalar: ...
        def __truediv__(self, other: _Operand) -> TRScalar: ...
        def __rtruediv__(self, other: _Number) -> TRScalar: ...
        def __pow__(self, k: int | np.integer[Any]) -> TRScalar: ...
        def __neg__(self) -> TRScalar: ...
        def __pos__(self) -> TRScalar: ...
        def __abs__(self) -> TRScalar: ...


# the format-spec mini-language: [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_FORMAT_SPEC = re.compile(r"(?P<fill_align>.?[<>=^])?[+\- ]?z?#?0?(?P<width>\d+)?[,_]?(\.\d+)?"
                          r"[a-zA-Z%]?\Z", re.DOTALL)


def _is_number(x: object) -> bool:
    """A real number we accept as a transreal operand (:func:`is_real_number`), except an Enum
    member: a TRTag is an int, but it names a tag."""
    if x.__class__ is float or x.__class__ is int:
        return True
    return not isinstance(x, enum.Enum) and is_real_number(x)


def _parse_tag(tag: Any) -> TRTag:
    """A :class:`TRTag` from a member, its code (0–4) or its name (``"PINF"``, any case)."""
    if isinstance(tag, TRTag):
        return tag
    names = [t.name for t in TRTag]
    if isinstance(tag, str):
        try:
            return TRTag[tag.strip().upper()]
        except KeyError:
            raise ValueError(f"tag must be a TRTag, one of {names} or a code 0–4, got {tag!r}") \
                from None
    if is_integer(tag):
        try:
            return TRTag(int(tag))
        except ValueError:
            raise ValueError(f"tag must be a TRTag, one of {names} or a code 0–4, got {tag!r}") \
                from None
    raise TypeError(f"tag must be a TRTag, one of {names} or a code 0–4, got "
                    f"{type(tag).__name__} {short_repr(tag, 40)}")


def _exact_number(other: object) -> Any:
    """``other`` as an exact Python number when it is an int, a NumPy integer or another
    ``numbers.Rational`` (a Fraction) — the numbers ``==`` and the order compare exactly —
    else None. Bools, floats and TRScalars are not (they take the ``real(number)`` path)."""
    cls = other.__class__
    if cls is int:
        return other
    if isinstance(other, np.integer):
        return None if isinstance(other, np.timedelta64) else int(other)
    if cls is not float and cls is not TRScalar and isinstance(other, numbers.Rational) \
            and not isinstance(other, (bool, np.bool_, enum.Enum)):
        return other
    return None


_EXACT_OP = {float.__lt__: operator.lt, float.__le__: operator.le, float.__gt__: operator.gt,
             float.__ge__: operator.ge}


# x < arr is arr > x: the TRArray method that answers a comparison of a TRScalar with an array
_REFLECTED = {float.__lt__: "__gt__", float.__le__: "__ge__", float.__gt__: "__lt__",
              float.__ge__: "__le__"}


def _array_compare(x: TRScalar, other: np.ndarray, method: str = "__eq__") -> Any:
    """``x == other`` (or the order ``method`` of ``other`` against ``x``) for a NumPy array: a
    bool array, elementwise, with the array read as ``TRArray`` reads it (NaN → Φ, ±inf → ±∞);
    NotImplemented for an array of no real dtype."""
    from ..array.trarray import asarray  # core must not import the array package at load time
    try:
        arr = asarray(other)
    except (TypeError, ValueError):
        return NotImplemented
    return getattr(arr, method)(x)


def _comparable(other: object) -> "TRScalar | None | bool":
    """Other side of a comparison as a TRScalar; None for unknown types; False for a NaN number."""
    if other.__class__ is TRScalar:
        return other  # type: ignore[return-value]
    if _is_number(other):
        f = as_float(other)  # an int beyond float64 compares like the infinity of its sign
        if f != f:
            return False  # a NaN float is not a transreal value: equal to nothing, unordered
        return scalar_from_code(f)
    return None


def _check_real(x: object, argname: str) -> float:
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{argname} must be a real number, got bool {x!r}; use 1.0 or 0.0")
    if not _is_number(x):
        raise TypeError(
            f"{argname} must be a real number (int, float or NumPy real scalar), "
            f"got {type(x).__name__} {short_repr(x, 60)}"
        )
    try:
        f = float(x)  # type: ignore[arg-type]
    except OverflowError:
        raise ValueError(
            f"{argname}={short_repr(x, 40)} does not fit in a float64; use from_ieee(float('inf')) "
            "or pinf()/ninf() for infinities"
        ) from None
    if f - f != 0.0:
        raise ValueError(
            f"{argname} must be finite for real(), got {f!r}; use from_ieee({f!r}) to map "
            "NaN to Φ and ±inf to ±∞"
        )
    return f


_new = object.__new__


def _make(value: float, tag: TRTag) -> TRScalar:
    """Hot-path constructor: no validation (callers guarantee a finite value for REAL)."""
    s = _new(TRScalar)
    s._value = value
    s._tag = tag
    return s


def real(x: float) -> TRScalar:
    """A REAL transreal value.

    Accepts int, float and NumPy real scalars. NaN or ±inf → ``ValueError`` (use
    :func:`from_ieee`); bool, str, None, complex, arrays → ``TypeError``.

    >>> real(2)
    TRScalar(2.0, REAL)
    """
    return _make(_check_real(x, "real(x): x"), REAL)


_PINF = _make(_NAN, PINF)
_NINF = _make(_NAN, NINF)
_PHI = _make(_NAN, PHI)
_BOTTOM = _make(_NAN, BOTTOM)


def pinf() -> TRScalar:
    """Positive infinity ``+∞``.

    >>> pinf() > real(1e308)
    True
    """
    return _PINF


def ninf() -> TRScalar:
    """Negative infinity ``−∞``.

    >>> ninf() < real(-1e308)
    True
    """
    return _NINF


def phi() -> TRScalar:
    """Nullity ``Φ`` (``0/0``); unlike NaN it equals itself.

    >>> phi() == phi()
    True
    """
    return _PHI


def bottom() -> TRScalar:
    """Bottom ``⊥`` (wheel-mode undefined value); absorbs every operation, even Φ.

    >>> str(bottom())
    '⊥'
    """
    return _BOTTOM


def code_of(x: TRScalar) -> float:
    """The IEEE code of a TRScalar (REAL → value, ±∞ → ±inf, Φ → nan, ⊥ → BOTTOM_CODE).

    >>> from zeroproof.core.scalar import code_of
    >>> code_of(real(2.0)), code_of(ninf()), code_of(phi())
    (2.0, -inf, nan)
    """
    tag = x._tag
    if tag is REAL:
        return x._value
    return _CODE_OF_TAG[tag]


def scalar_from_code(c: float) -> TRScalar:
    """The TRScalar of an IEEE code (inverse of :func:`code_of`).

    >>> from zeroproof.core.scalar import scalar_from_code
    >>> scalar_from_code(float("inf")), scalar_from_code(1.5)
    (TRScalar(PINF), TRScalar(1.5, REAL))
    """
    if c - c == 0.0:
        s = _new(TRScalar)
        s._value = c
        s._tag = REAL
        return s
    if c is BOTTOM_CODE:
        return _BOTTOM
    if c != c:
        return _PHI
    return _PINF if c > 0 else _NINF


def tag_of_code(c: float) -> TRTag:
    """The tag of an IEEE code.

    >>> from zeroproof.core.scalar import tag_of_code
    >>> tag_of_code(float("nan")), tag_of_code(float("-inf")), tag_of_code(0.0)
    (<TRTag.PHI: 3>, <TRTag.NINF: 2>, <TRTag.REAL: 0>)
    """
    if c - c == 0.0:
        return REAL
    if c is BOTTOM_CODE:
        return BOTTOM
    if c != c:
        return PHI
    return PINF if c > 0 else NINF


# predicates -------------------------------------------------------------------------------
def _tag(x: object) -> TRTag:
    t = getattr(x, "tag", None)
    if not isinstance(t, TRTag):
        raise TypeError(f"expected a TRScalar or TRNode, got {type(x).__name__} "
                        f"{short_repr(x, 60)}")
    return t


def is_real(x: TRScalar) -> bool:
    """True for a REAL value (or a node whose value is REAL).

    >>> is_real(real(1.0)), is_real(phi())
    (True, False)
    """
    return _tag(x) is REAL


def is_pinf(x: TRScalar) -> bool:
    """True for ``+∞``. ``is_pinf(pinf())`` → True.

    >>> from zeroproof.core.scalar import is_pinf
    >>> is_pinf(pinf()), is_pinf(ninf())
    (True, False)
    """
    return _tag(x) is PINF


def is_ninf(x: TRScalar) -> bool:
    """True for ``−∞``. ``is_ninf(ninf())`` → True.

    >>> from zeroproof.core.scalar import is_ninf
    >>> is_ninf(ninf()), is_ninf(pinf())
    (True, False)
    """
    return _tag(x) is NINF


def is_phi(x: TRScalar) -> bool:
    """True for nullity ``Φ``. ``is_phi(real(0) / real(0))`` → True.

    >>> from zeroproof.core.scalar import is_phi
    >>> is_phi(real(0) / real(0)), is_phi(real(0))
    (True, False)
    """
    return _tag(x) is PHI


def is_bottom(x: TRScalar) -> bool:
    """True for ``⊥``. ``is_bottom(bottom())`` → True.

    >>> from zeroproof.core.scalar import is_bottom
    >>> is_bottom(bottom()), is_bottom(phi())
    (True, False)
    """
    return _tag(x) is BOTTOM


def is_finite(x: TRScalar) -> bool:
    """True for a REAL value (the only finite tag). ``is_finite(pinf())`` → False.

    >>> from zeroproof.core.scalar import is_finite
    >>> is_finite(real(1.0)), is_finite(pinf())
    (True, False)
    """
    return _tag(x) is REAL


def is_infinite(x: TRScalar) -> bool:
    """True for ``+∞`` or ``−∞`` (not Φ). ``is_infinite(ninf())`` → True.

    >>> from zeroproof.core.scalar import is_infinite
    >>> is_infinite(ninf()), is_infinite(phi())
    (True, False)
    """
    t = _tag(x)
    return t is PINF or t is NINF
