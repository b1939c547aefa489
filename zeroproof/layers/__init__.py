"""Layers on the batched tape (``Module``, ``Linear``, ``ReLU``, ``Sequential``; rational and
angular heads are added by their modules)."""
from .base import Linear, Module, ReLU, Sequential, as_input

__all__ = ["Module", "Linear", "ReLU", "Sequential", "as_input"]

from .dense import Tanh, tanh  # noqa: E402
from .rational import RationalLayer, basis_matrix  # noqa: E402

__all__ += ["Tanh", "tanh", "RationalLayer", "basis_matrix"]

from .angular_projective import AngularProjectiveHead  # noqa: E402

__all__ += ["AngularProjectiveHead"]

from .projective_head import ProjectiveRationalHead  # noqa: E402

__all__ += ["ProjectiveRationalHead"]
