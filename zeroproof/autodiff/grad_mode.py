"""Gradient modes: MASK_REAL (default), SATURATING and HYBRID.

All state lives in ``contextvars``: a mode set in one thread or asyncio task is invisible to
another, a new thread starts in MASK_REAL, and every ``with`` block restores what it changed, also
when the block raises. The backward sweep reads the mode and bound once per pass.
"""
from __future__ import annotations

import math
from ..core._context import reusable_context
from contextlib import AbstractContextManager
from contextvars import ContextVar
from enum import Enum
from typing import Any, Iterator

from ..core._parse import as_float, is_real_number, parse_enum, short_repr

__all__ = [
    "GradientMode", "GradientModeConfig", "gradient_mode", "use_mask_real", "use_saturating",
]


class GradientMode(str, Enum):
    """How the backward pass treats singular factors (``1/u``) of div, log, sqrt and ``x^-k``.

    >>> str(GradientMode.HYBRID)
    'hybrid'
    """

    MASK_REAL = "mask-real"
    SATURATING = "saturating"
    HYBRID = "hybrid"

    def __str__(self) -> str:
        return self.value


MODE: ContextVar[GradientMode] = ContextVar("zeroproof_gradient_mode", default=GradientMode.MASK_REAL)
BOUND: ContextVar[float] = ContextVar("zeroproof_saturation_bound", default=1.0)
DEFAULT_BOUND = 1.0


def parse_mode(mode: "GradientMode | str") -> GradientMode:
    """``mode`` as a :class:`GradientMode` (``TypeError``/``ValueError`` listing the modes)."""
    return parse_enum(GradientMode, mode)


def check_bound(bound: object, argname: str = "saturation_bound") -> float:
    """``bound`` as a float > 0 (finite); ``ValueError``/``TypeError`` otherwise. Any real
    number is accepted (int, float, NumPy real scalar, ``Fraction``), as for the schedule's δs.

    >>> check_bound(0.5), check_bound(2)
    (0.5, 2.0)
    """
    if not is_real_number(bound):
        raise TypeError(
            f"{argname} must be a positive real number, got {type(bound).__name__} "
            f"{short_repr(bound, 40)}"
        )
    b = as_float(bound)
    if not (b > 0.0) or math.isinf(b):
        raise ValueError(f"{argname} must be a finite number > 0, got {short_repr(bound, 40)}")
    return b


class GradientModeConfig:
    """Get and set the gradient mode of the current thread/task (prefer :func:`gradient_mode`).

    >>> GradientModeConfig.get_mode()
    <GradientMode.MASK_REAL: 'mask-real'>
    """

    @staticmethod
    def set_mode(mode: "GradientMode | str") -> None:
        """Set the mode for the rest of this thread/task (``ValueError`` for unknown modes)."""
        MODE.set(parse_mode(mode))

    @staticmethod
    def get_mode() -> GradientMode:
        """The gradient mode of this thread/task (``MASK_REAL`` unless set).

        >>> with gradient_mode("hybrid"):
        ...     GradientModeConfig.get_mode()
        <GradientMode.HYBRID: 'hybrid'>
        """
        return MODE.get()

    @staticmethod
    def set_saturation_bound(bound: float) -> None:
        """Set the saturation bound ``b`` (``ValueError`` unless finite and > 0)."""
        BOUND.set(check_bound(bound, "bound"))

    @staticmethod
    def get_saturation_bound() -> float:
        """The saturation bound ``b`` of this thread/task (1.0 unless set)."""
        return BOUND.get()

    @staticmethod
    def is_mask_real() -> bool:
        """True if the mode of this thread/task is ``MASK_REAL``."""
        return MODE.get() is GradientMode.MASK_REAL

    @staticmethod
    def is_saturating() -> bool:
        """True if the mode of this thread/task is ``SATURATING``."""
        return MODE.get() is GradientMode.SATURATING

    @staticmethod
    def is_hybrid() -> bool:
        """True if the mode of this thread/task is ``HYBRID``."""
        return MODE.get() is GradientMode.HYBRID

    @staticmethod
    def reset() -> None:
        """Back to MASK_REAL with bound 1.0 in this thread/task."""
        MODE.set(GradientMode.MASK_REAL)
        BOUND.set(DEFAULT_BOUND)


def _check_gradient_mode(mode: Any, saturation_bound: Any = None) -> None:
    parse_mode(mode)
    if saturation_bound is not None:
        check_bound(saturation_bound)


@reusable_context(check=_check_gradient_mode)
def gradient_mode(mode: "GradientMode | str", saturation_bound: float | None = None) -> Iterator[GradientMode]:
    """Run a block in a gradient mode; mode and bound are restored on exit (also on exception).

    >>> from zeroproof.autodiff import TRNode
    >>> x = TRNode.parameter(0.0)
    >>> with gradient_mode("saturating", saturation_bound=0.5):
    ...     y = 1 / (x + 1e-300); y.backward()
    >>> x.gradient
    TRScalar(-4.0, REAL)
    """
    m = parse_mode(mode)
    b = None if saturation_bound is None else check_bound(saturation_bound)
    t_mode = MODE.set(m)
    t_bound = BOUND.set(BOUND.get() if b is None else b)  # restored even if set inside the block
    try:
        yield m
    finally:
        BOUND.reset(t_bound)
        MODE.reset(t_mode)


def use_mask_real() -> AbstractContextManager[GradientMode]:
    """``with use_mask_real():`` — shorthand for ``gradient_mode(GradientMode.MASK_REAL)``.

    >>> from zeroproof.autodiff.grad_mode import GradientModeConfig, use_mask_real
    >>> with use_mask_real():
    ...     GradientModeConfig.is_mask_real()
    True
    """
    return gradient_mode(GradientMode.MASK_REAL)


def use_saturating(bound: float | None = None) -> AbstractContextManager[GradientMode]:
    """``with use_saturating(bound):`` — shorthand for ``gradient_mode(SATURATING, bound)``.

    >>> from zeroproof.autodiff.grad_mode import GradientModeConfig, use_saturating
    >>> with use_saturating(0.5):
    ...     GradientModeConfig.is_saturating(), GradientModeConfig.get_saturation_bound()
    (True, 0.5)
    """
    # (checked here so that an error names this function's argument, ``bound``)
    return gradient_mode(GradientMode.SATURATING,
                         None if bound is None else check_bound(bound, "bound"))
