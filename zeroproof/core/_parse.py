"""Parsing of the library's mode enums, in one place (one set of rules, one error wording)."""
from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

E = TypeVar("E", bound=Enum)


def parse_enum(cls: type[E], value: Any, argname: str = "mode") -> E:
    """``value`` as a member of ``cls``: a member, or a string equal to a member's value or name
    (case, ``_`` and ``-`` do not matter). Another type is a ``TypeError``, an unknown string a
    ``ValueError``; both name the argument and list what is accepted.

    >>> from zeroproof.core import ReductionMode
    >>> parse_enum(ReductionMode, "DROP-NULL")
    <ReductionMode.DROP_NULL: 'drop_null'>
    """
    if isinstance(value, cls):
        return value
    accepted = f"one of {[m.value for m in cls]} (or a member of {cls.__name__})"
    if not isinstance(value, str):
        raise TypeError(f"{argname} must be {accepted}, got {type(value).__name__} {value!r:.40}")
    key = value.strip().lower().replace("_", "-")
    for m in cls:
        if key in (str(m.value).lower().replace("_", "-"), m.name.lower().replace("_", "-")):
            return m
    raise ValueError(f"{argname} must be {accepted}, got {value!r}")
