"""Activations for small dense backbones on the batched tape (beyond ``ReLU`` in ``base``).

``tanh`` is the tape's transreal ``tanh`` (NumPy's ``np.tanh``, accurate to the last bit near 0;
``tanh(±∞) = ±1``, Φ stays Φ; derivative ``1 − tanh²``).

>>> import numpy as np
>>> Tanh()(np.array([0.0, 1e6, -np.inf])).value
TRArray([0.0, 1.0, -1.0], dtype=float64)
"""
from __future__ import annotations

from typing import Any

from ..array.tape import TRTensor
from ..array.tape import tanh as _tape_tanh
from .base import Module

__all__ = ["Tanh", "tanh"]


def tanh(x: Any) -> TRTensor:
    """Transreal ``tanh`` on the batched tape (:func:`zeroproof.array.tape.tanh`).

    >>> import numpy as np
    >>> round(float(tanh(np.array([0.5])).numpy()[0]), 12) == round(float(np.tanh(0.5)), 12)
    True
    """
    return _tape_tanh(x)  # takes array-likes and tensors itself


class Tanh(Module):
    """Hyperbolic tangent module (see :func:`tanh`).

    >>> import numpy as np
    >>> from zeroproof.layers.dense import Tanh
    >>> Tanh()(np.array([0.0, -np.inf])).value
    TRArray([0.0, -1.0], dtype=float64)
    """

    def forward(self, x: Any) -> TRTensor:
        """Elementwise :func:`tanh` of ``x`` (array-like or TRTensor), same shape."""
        return tanh(x)

    def get_config(self) -> dict[str, Any]:
        """``{}``: the layer has no hyper-parameters."""
        return {}
