"""Vectorized transreal arithmetic over NumPy: ``TRArray``, elementwise kernels, reductions and
a transreal matrix product, with results identical to the scalar ops of :mod:`zeroproof.core`
elementwise (see ``docs/vectorized.md``).

>>> import numpy as np
>>> import zeroproof.array as za
>>> x = za.array([2.0, 0.0, -1.0])
>>> za.log(x)
TRArray([0.6931471805599453, −∞, Φ], dtype=float64)
>>> (x / x).tag_counts()["PHI"]
1
"""
from . import kernels
from .trarray import (
    TRArray, abs, add, array, array_equal, array_identical, asarray, concatenate, div, exp,
    from_numpy, full, log, matmul, max, mean, min, mul, neg, ones, pow_int, prod, relu, sign, sin,
    cos, sqrt, stack, sub, sum, tanh, to_numpy, where, zeros,
)
from ..core.reductions import ReductionMode

__all__ = [
    "TRArray", "array", "asarray", "zeros", "ones", "full", "from_numpy", "to_numpy",
    "array_equal", "array_identical", "concatenate", "stack", "where",
    "add", "sub", "mul", "div", "neg", "abs", "sign", "log", "exp", "sqrt", "pow_int",
    "relu", "sin", "cos", "tanh",
    "sum", "mean", "prod", "min", "max", "matmul", "ReductionMode", "kernels",
]
from .tape import TRTensor, as_tensor, constant, grad, parameter  # noqa: E402

__all__ += ["TRTensor", "parameter", "constant", "as_tensor", "grad"]
