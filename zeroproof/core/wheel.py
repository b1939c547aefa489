"""Arithmetic mode: transreal (default) or wheel, held in a ``contextvars`` variable.

In wheel mode the indeterminate forms ``0 × ±∞``, ``∞ + ∞``, ``+∞ + −∞``, ``∞ / ∞`` and ``0 / 0``
give ⊥ instead of Φ. The mode is per thread and per asyncio task.
"""
from __future__ import annotations

from ._context import reusable_context
from contextlib import AbstractContextManager
from contextvars import ContextVar
from enum import Enum
from typing import Iterator

from ._parse import parse_enum

__all__ = ["ArithmeticMode", "wheel_mode", "arithmetic_mode", "get_arithmetic_mode"]


class ArithmeticMode(str, Enum):
    """``TRANSREAL`` (default: indeterminate forms give Φ) or ``WHEEL`` (they give ⊥).

    >>> from zeroproof.core.wheel import ArithmeticMode
    >>> ArithmeticMode("wheel"), str(ArithmeticMode.TRANSREAL)
    (<ArithmeticMode.WHEEL: 'wheel'>, 'transreal')
    """

    TRANSREAL = "transreal"
    WHEEL = "wheel"

    def __str__(self) -> str:
        return self.value


# True while wheel mode is active in this context; read by the kernels on their slow paths only.
WHEEL: ContextVar[bool] = ContextVar("zeroproof_wheel_mode", default=False)


def get_arithmetic_mode() -> ArithmeticMode:
    """The arithmetic mode active in this thread/task.

    >>> get_arithmetic_mode()
    <ArithmeticMode.TRANSREAL: 'transreal'>
    """
    return ArithmeticMode.WHEEL if WHEEL.get() else ArithmeticMode.TRANSREAL


def _parse_mode(mode: "ArithmeticMode | str") -> ArithmeticMode:
    return parse_enum(ArithmeticMode, mode)


@reusable_context(check=lambda mode: _parse_mode(mode))
def arithmetic_mode(mode: "ArithmeticMode | str") -> Iterator[ArithmeticMode]:
    """Run a block under the given arithmetic mode; the previous mode is restored on exit.

    >>> from zeroproof import real, pinf, tr_mul
    >>> with arithmetic_mode("wheel"):
    ...     print(tr_mul(real(0.0), pinf()))
    ⊥
    """
    m = _parse_mode(mode)
    token = WHEEL.set(m is ArithmeticMode.WHEEL)
    try:
        yield m
    finally:
        WHEEL.reset(token)


def wheel_mode() -> AbstractContextManager[ArithmeticMode]:
    """Context manager for wheel arithmetic (``0 × ∞ = ⊥``, ``∞ + ∞ = ⊥``, ``0/0 = ⊥`` …).

    >>> from zeroproof import real, tr_div
    >>> with wheel_mode():
    ...     print(tr_div(real(0.0), real(0.0)))
    ⊥
    """
    return arithmetic_mode(ArithmeticMode.WHEEL)
