"""Op codes of the tape, shared by the scalar and the batched tape."""
from __future__ import annotations

LEAF, ADD, SUB, MUL, DIV, NEG, ABS, SIGN, LOG, EXP, SQRT, POW, ID = range(13)

OP_NAMES = {
    LEAF: "leaf", ADD: "add", SUB: "sub", MUL: "mul", DIV: "div", NEG: "neg", ABS: "abs",
    SIGN: "sign", LOG: "log", EXP: "exp", SQRT: "sqrt", POW: "pow_int", ID: "identity",
}
BINARY_OPS = frozenset({ADD, SUB, MUL, DIV})
# Ops with a singular factor 1/u: the only ones whose saturating form differs from the exact one.
SINGULAR_OPS = frozenset({DIV, LOG, SQRT, POW})
