"""Transreal values and total scalar arithmetic (no autodiff, no arrays)."""
from . import ops as _ops  # noqa: F401  (attaches TRScalar operators)
from .ops import (
    tr_abs, tr_add, tr_div, tr_exp, tr_log, tr_mul, tr_neg, tr_pow_int, tr_relu, tr_sign, tr_sqrt,
    tr_sub, tr_sin, tr_cos, tr_tanh,
)
from .reductions import ReductionMode, tr_max, tr_mean, tr_min, tr_prod, tr_sum
from .scalar import (
    TRScalar, TRTag, bottom, is_bottom, is_finite, is_infinite, is_ninf, is_phi, is_pinf,
    is_real, ninf, phi, pinf, real,
)
from .wheel import ArithmeticMode, arithmetic_mode, get_arithmetic_mode, wheel_mode

__all__ = [
    "TRTag", "TRScalar", "real", "pinf", "ninf", "phi", "bottom",
    "is_real", "is_pinf", "is_ninf", "is_phi", "is_bottom", "is_finite", "is_infinite",
    "tr_add", "tr_sub", "tr_mul", "tr_div", "tr_neg", "tr_abs", "tr_sign",
    "tr_log", "tr_exp", "tr_sqrt", "tr_pow_int", "tr_relu", "tr_sin", "tr_cos", "tr_tanh",
    "tr_sum", "tr_mean", "tr_prod", "tr_min", "tr_max", "ReductionMode",
    "ArithmeticMode", "wheel_mode", "arithmetic_mode", "get_arithmetic_mode",
]
