"""Op codes of the tape, shared by the scalar and the batched tape."""
from __future__ import annotations

(LEAF, ADD, SUB, MUL, DIV, NEG, ABS, SIGN, LOG, EXP, SQRT, POW, ID, SUM, MEAN, MATMUL, RELU, SIN,
 COS, RESHAPE, INDEX, ADDC, RADDC, SUBC, RSUBC, MULC, RMULC, TANH, CONCAT, WHERE) = range(30)
N_OPS = 30

OP_NAMES = {
    LEAF: "leaf", ADD: "add", SUB: "sub", MUL: "mul", DIV: "div", NEG: "neg", ABS: "abs",
    SIGN: "sign", LOG: "log", EXP: "exp", SQRT: "sqrt", POW: "pow_int", ID: "identity",
    SUM: "sum", MEAN: "mean", MATMUL: "matmul", RELU: "relu",
    SIN: "sin", COS: "cos", RESHAPE: "reshape", INDEX: "index",
    ADDC: "add", RADDC: "add", SUBC: "sub", RSUBC: "sub", MULC: "mul", RMULC: "mul",
    TANH: "tanh", CONCAT: "concatenate", WHERE: "where",
}
# SUM, MEAN, MATMUL, RESHAPE, INDEX, CONCAT and WHERE exist on the batched tape only (a scalar
# node has no axes).
BINARY_OPS = frozenset({ADD, SUB, MUL, DIV})
# Ops with a singular factor 1/u: the only ones whose saturating form differs from the exact one.
SINGULAR_OPS = frozenset({DIV, LOG, SQRT, POW})
# Scalar tape: `x ⊙ c` with a finite float constant `c` folded into the node (one input, `c` in
# the node's aux slot) instead of a constant leaf: x + c, c + x, x − c, c − x, x·c, c·x.
CONST_OPS = {ADD: (ADDC, RADDC), SUB: (SUBC, RSUBC), MUL: (MULC, RMULC)}
REFLECTED_CONST_OPS = frozenset({RADDC, RSUBC, RMULC})
