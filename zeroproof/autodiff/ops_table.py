"""Op codes of the tape, shared by the scalar and the batched tape."""
from __future__ import annotations

(LEAF, ADD, SUB, MUL, DIV, NEG, ABS, SIGN, LOG, EXP, SQRT, POW, ID, SUM, MEAN, MATMUL, RELU, SIN,
 COS, RESHAPE, INDEX) = range(21)
N_OPS = 21

OP_NAMES = {
    LEAF: "leaf", ADD: "add", SUB: "sub", MUL: "mul", DIV: "div", NEG: "neg", ABS: "abs",
    SIGN: "sign", LOG: "log", EXP: "exp", SQRT: "sqrt", POW: "pow_int", ID: "identity",
    SUM: "sum", MEAN: "mean", MATMUL: "matmul", RELU: "relu",
    SIN: "sin", COS: "cos", RESHAPE: "reshape", INDEX: "index",
}
# SUM, MEAN, MATMUL, RESHAPE and INDEX exist on the batched tape only (a scalar node has no axes).
BINARY_OPS = frozenset({ADD, SUB, MUL, DIV})
# Ops with a singular factor 1/u: the only ones whose saturating form differs from the exact one.
SINGULAR_OPS = frozenset({DIV, LOG, SQRT, POW})
