"""Activations for small dense backbones on the batched tape (beyond ``ReLU`` in ``base``).

``tanh`` is built from ``exp`` so that it is total: ``tanh(x) = 1 − 2/(exp(2x) + 1)``; for large
``x`` ``exp(2x)`` overflows to ``+∞`` and the result is exactly 1, for ``x = −∞`` it is −1, Φ
stays Φ.

>>> import numpy as np
>>> Tanh()(np.array([0.0, 1e6, -np.inf])).value
TRArray([0.0, 1.0, -1.0], dtype=float64)
"""
from __future__ import annotations

from typing import Any

from ..array.tape import TRTensor, exp
from .base import Module, as_input

__all__ = ["Tanh", "tanh"]


def tanh(x: Any) -> TRTensor:
    """Transreal ``tanh`` on the batched tape, ``1 − 2/(exp(2x) + 1)``.

    >>> import numpy as np
    >>> round(float(tanh(np.array([0.5])).numpy()[0]), 12) == round(float(np.tanh(0.5)), 12)
    True
    """
    return 1.0 - 2.0 / (exp(as_input(x) * 2.0) + 1.0)


class Tanh(Module):
    """Hyperbolic tangent module (see :func:`tanh`)."""

    def forward(self, x: Any) -> TRTensor:
        """Elementwise :func:`tanh` of ``x`` (array-like or TRTensor), same shape."""
        return tanh(x)

    def get_config(self) -> dict[str, Any]:
        """``{}``: the layer has no hyper-parameters."""
        return {}
