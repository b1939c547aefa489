"""``AngularProjectiveHead``: predict an angle θ and emit the unit-circle tuple
``(P, Q) = (cos θ, sin θ)``.

The tuple has norm 1 by construction, so the projective scale gauge is gone
(``GaugePolicy.ANGULAR_UNIT_CIRCLE``): a threshold on ``|Q|`` is a threshold on the angle to the
pole direction ``θ ∈ {0, π}``, the same on both sides. The decoded value is ``cot θ``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core._parse import check_real, real_array

from ..array.tape import TRTensor
from ..autodiff.projective import GaugePolicy, angular_tuple
from ..autodiff.tr_node import TRNode
from ..inference.registry import register_model
from .base import Linear, Module, _dim, as_input

__all__ = ["AngularProjectiveHead"]


@register_model("zeroproof.AngularProjectiveHead")
class AngularProjectiveHead(Module):
    """``θ = theta_scale · (h @ W + b)``; returns ``(cos θ, sin θ)``, each ``(batch, output_dim)``.

    The bias starts near ``π / (2·theta_scale)`` (plus a tenth of the random Linear bias), so a
    fresh head sits near ``θ = π/2``: the tuple
    ``≈ (0, 1)``, well inside the finite chart (decoded ``≈ 0``), far from the poles.
    ``gauge`` is :attr:`GaugePolicy.ANGULAR_UNIT_CIRCLE` (metadata for bundles).

    >>> head = AngularProjectiveHead(input_dim=4, output_dim=1, seed=0)
    >>> P, Q = head(np.zeros((3, 4)))
    >>> P.shape, np.allclose(P.numpy() ** 2 + Q.numpy() ** 2, 1.0)
    ((3, 1), True)
    """

    gauge = GaugePolicy.ANGULAR_UNIT_CIRCLE

    def __init__(self, input_dim: int, output_dim: int = 1, theta_scale: float = 1.0,
                 seed: Any = None) -> None:
        super().__init__()
        _dim("input_dim", input_dim)
        _dim("output_dim", output_dim)
        self.theta_scale = check_real("theta_scale", theta_scale, "a finite non-zero number",
                                      lambda v: math.isfinite(v) and v != 0)
        self.linear = Linear(input_dim, output_dim, seed=seed)
        assert self.linear.bias is not None
        self.linear.bias.set_value(self.linear.bias.codes * 0.1 + math.pi / (2 * self.theta_scale))
        self.input_dim = self.linear.in_features
        self.output_dim = self.linear.out_features

    def theta(self, h: Any) -> TRTensor:
        """The predicted angle ``θ`` (batch, output_dim)."""
        if isinstance(h, TRNode) or (isinstance(h, (list, tuple))
                                     and any(isinstance(v, TRNode) for v in h)):
            raise TypeError(
                "AngularProjectiveHead: h holds scalar TRNodes, but the head's weights live on "
                "the batched tape; pass an array or a TRTensor, or on the scalar tape compute θ "
                "with your own TRNode parameters and call "
                "zeroproof.autodiff.projective.angular_tuple(theta)")
        t = self.linear(as_input(h, "h"))
        return t * self.theta_scale if self.theta_scale != 1.0 else t

    def forward(self, h: Any) -> tuple[TRTensor, TRTensor]:
        """``(cos θ, sin θ)`` with ``θ = theta(h)`` for ``h`` of shape (batch, input_dim): two
        TRTensors of shape (batch, output_dim)."""
        return angular_tuple(self.theta(h))

    def predict_pq(self, h: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(cos θ, sin θ)`` as NumPy arrays (the deployment-bundle view; no graph).

        >>> P, Q = AngularProjectiveHead(2, 1, seed=0).predict_pq(np.zeros((3, 2)))
        >>> P.shape, bool(np.allclose(P ** 2 + Q ** 2, 1.0))
        ((3, 1), True)
        """
        P, Q = self.forward(real_array("h", h) if not isinstance(h, TRTensor) else h.detach())
        return P.numpy(), Q.numpy()

    def example_inputs(self, n: int = 9) -> np.ndarray:
        """``n`` rows of inputs spread over [-1, 1] (reference inputs for a bundle)."""
        n = _dim("n", n)
        return np.linspace(-1.0, 1.0, n * self.input_dim).reshape(n, self.input_dim)

    def get_config(self) -> dict[str, Any]:
        """``input_dim``, ``output_dim``, ``theta_scale`` and ``gauge`` (the policy's string value;
        metadata, not a constructor argument), JSON-able; ``seed`` is not included.

        >>> AngularProjectiveHead(4, 2).get_config()
        {'input_dim': 4, 'output_dim': 2, 'theta_scale': 1.0, 'gauge': 'angular_unit_circle'}
        """
        return {"input_dim": self.input_dim, "output_dim": self.output_dim,
                "theta_scale": self.theta_scale, "gauge": self.gauge.value}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "AngularProjectiveHead":
        """A fresh head of the architecture in ``config`` (:meth:`get_config` output; ``gauge``,
        if present, must be the head's own policy).

        >>> AngularProjectiveHead.from_config(AngularProjectiveHead(4, 2).get_config()).output_dim
        2
        """
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        config = dict(config)
        gauge = config.pop("gauge", cls.gauge.value)
        if gauge != cls.gauge.value:
            raise ValueError(f"config['gauge'] must be {cls.gauge.value!r} for an "
                             f"AngularProjectiveHead, got {gauge!r}")
        allowed = {"input_dim", "output_dim", "theta_scale"}
        unknown = set(config) - allowed
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}; accepted: "
                             f"{sorted(allowed | {'gauge'})}")
        return cls(**config)
