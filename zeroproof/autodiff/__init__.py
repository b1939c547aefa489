"""Scalar-tape transreal autodiff: ``TRNode``, lifted ops, backward, gradient modes, transforms.

>>> from zeroproof.autodiff import TRNode, tr_div
>>> x = TRNode.parameter(0.0)
>>> y = tr_div(1.0, x)          # +∞: a pole
>>> y.backward(); x.gradient    # Mask-REAL: no gradient through a non-REAL node
TRScalar(0.0, REAL)
"""

from typing import Any

from .._lazy import load_submodule
from .backward import backward_pass, grad, topological_sort
from .grad_funcs import GradientCheckResult, check_gradient, tr_grad, tr_value_and_grad
from .grad_mode import GradientMode, GradientModeConfig, gradient_mode, use_mask_real, use_saturating
from .gradient_tape import TRGradientTape, gradient_tape
from .hybrid_gradient import (
    HybridGradientContext, HybridGradientSchedule, ScheduleType, create_default_schedule,
)
from .tr_node import TRNode, enable_grad, is_grad_enabled, no_grad, stop_gradient
from .tr_ops_grad import (
    tr_abs, tr_add, tr_cos, tr_div, tr_exp, tr_log, tr_max, tr_mean, tr_min, tr_mul, tr_neg,
    tr_pow_int, tr_prod, tr_relu, tr_sign, tr_sin, tr_sqrt, tr_sub, tr_sum, tr_tanh,
)

__all__ = [
    "TRNode", "tr_add", "tr_sub", "tr_mul", "tr_div", "tr_neg", "tr_abs", "tr_sign", "tr_log",
    "tr_exp", "tr_sqrt", "tr_pow_int", "tr_relu", "tr_sin", "tr_cos", "tr_tanh",
    "tr_sum", "tr_mean", "tr_prod", "tr_min", "tr_max", "backward_pass", "topological_sort", "grad",
    "GradientMode", "GradientModeConfig", "gradient_mode", "use_mask_real", "use_saturating",
    "HybridGradientSchedule", "HybridGradientContext", "ScheduleType", "create_default_schedule",
    "tr_grad", "tr_value_and_grad", "check_gradient", "GradientCheckResult",
    "TRGradientTape", "gradient_tape", "no_grad", "enable_grad", "is_grad_enabled", "stop_gradient",
]


def __getattr__(name: str) -> Any:  # zeroproof.autodiff.projective, .saturating_ops on first use
    return load_submodule(__name__, name)
