"""The derivative table: every local derivative rule of the library, written once.

A rule maps the upstream gradient ``g``, the input values ``a`` (and ``b`` for binary ops), the
output value ``out`` and the op's auxiliary datum ``k`` (the exponent of ``pow_int``) to the
contributions for each input. Rules are written with operators and a small vocabulary of free
names that each backend binds to its own implementation (see :func:`bind_table`):

========== ====================================== =================================
name       scalar tape (floats / IEEE codes)      nodes (``create_graph``) / arrays
========== ====================================== =================================
``div``    transreal division ``f_div``           lifted ``tr_div`` / ``np.divide``
``sign``   ``f_sign``                             lifted ``tr_sign`` / ``np.sign``
``powi``   ``f_pow_int``                          lifted ``tr_pow_int`` / array kernel
``sqrt``   ``f_sqrt``                             lifted ``tr_sqrt`` / ``np.sqrt``
``hypot``  ``√(u² + b²)``: literally ``sqrt(u*u + b*b)`` while that sum is a normal float, else
           the same formula on ``u``, ``b`` scaled by ``2^-e`` (exact) and the root by ``2^e``:
           every backend gives the same bits
``over_sq`` ``x / (u² + b²)``: literally ``x / (u*u + b*b)`` while that sum is a normal float,
           else ``(x / h) / h`` with ``h = hypot(u, b)``
``neg_over_sq`` ``−g·x / (u² + c²)``: literally ``(-g * x) / (u*u + c*c)`` while numerator and
           denominator are normal floats (or the numerator 0), else the same formula on ``g``,
           ``x``, ``u``, ``c`` scaled by powers of two and the quotient scaled back once (its value
           with an unbounded exponent range; every backend gives the same bits)
``scale``  ``g·k·x``: literally ``(g * k) * x`` while ``g * k`` is finite, else ``g * (k * x)``
``pow_neg`` ``g·k·a^(k−1)`` for ``k < 0``: literally ``(g * k) * powi(a, k - 1)`` while that power
           is a normal float, else ``div(scale(g, k, out), a)`` (no ``a^(k−1)`` to under/overflow)
``pow_neg_sat`` ``g·k·sat(a^(1−k))`` for ``k < 0`` (sign from ``a``): literally
           ``scale(g, k, div(powi(sign(a), 1 - k), hypot(powi(a, 1 - k), b)))`` while ``a^(1−k)``
           is finite, else ``pow_neg(g, a, k, out) / √(1 + (b·|a|^(k−1))²)`` (the same value,
           ``sat(w) = (1/w)/√(1 + (b/w)²)``, without the power that overflowed)
``B``      the saturation bound ``b`` of the active mode (bound per backward pass)
``near``   hybrid decision ``|u| ≤ δ`` or forced exploration (counts the decision once)
``select`` ``x if cond else y`` / ``np.where``
``zeros_like`` ``0.0`` / a constant ``R(0)`` node / ``np.zeros_like``
``choose``     hybrid: the saturating or the exact form (scalars: only the chosen one runs;
               arrays: both run and ``np.where`` selects per element)
``positive``   ``a > 0`` (a bool, or a bool array)
``sin, cos``   the backend's sine and cosine
``reshape_back`` (batched only) ``g`` reshaped to the input's shape (``k``)
``scatter``    (batched only) ``g`` added into zeros of the input's shape at the index (``k``)
``split_back`` (batched only) ``g`` cut into the joined operands' pieces (``k`` = axis, ends)
``unreduce``   (batched only) ``g`` of a reduction spread back over the reduced axes (``k``)
``matmul``     (batched only) transreal matrix product; ``swap`` transposes the last two axes
========== ====================================== =================================

Plain ``/`` appears only where the op's forward value being REAL guarantees a non-zero divisor
(``a / b`` REAL ⇒ ``b ≠ 0``; ``log a`` REAL ⇒ ``a > 0``); elsewhere the rule uses ``div``.
Rules are only ever called for nodes whose forward value is REAL (Mask-REAL is applied by the
sweep, in one place, before any rule runs).

Saturating forms (SPEC §4.2): every singular factor ``1/u`` becomes ``sat(u) = sign(u)/√(u²+b²)``
and ``1/u²`` becomes ``1/(u² + b²)``; ``|sat(u)| ≤ 1/b``. The sums ``u² + b²`` go through
``hypot``/``over_sq`` so that a square that over- or underflows (``u = 1e200``, ``b = 1e-200``)
cannot turn a representable result into 0, ±∞ or Φ; in the normal range they are the literal
formulas, bit for bit.
"""
from __future__ import annotations

import ast
import builtins
import copy
import functools
import inspect
import textwrap
import types
from typing import Any, Callable

from ..core._parse import is_integer, short_repr
from .ops_table import (
    ABS, ADD, DIV, EXP, ID, LOG, MATMUL, MEAN, MUL, N_OPS, NEG, POW, RELU, SIGN, SQRT, SUB, SUM,
    SIN, COS, RESHAPE, INDEX, ADDC, RADDC, SUBC, RSUBC, MULC, RMULC, TANH, CONCAT, WHERE,
)

# The module's API (what the sweeps, the batched tape and ``saturating_ops`` use). The ``*_rule``
# functions are internal table entries: their free names are bound per backend by ``bind_table``.
__all__ = [
    "TABLES", "EXACT", "SATURATING", "HYBRID", "bind_table", "bind_split_table", "needed_values",
    "inline_forms", "choice_forms", "inplace_forms",
]

# Free names bound per backend; declared here only so linters know they exist.
div: Any = None
sign: Any = None
powi: Any = None
sqrt: Any = None
hypot: Any = None
over_sq: Any = None
neg_over_sq: Any = None
scale: Any = None
pow_neg: Any = None
pow_neg_sat: Any = None
B: Any = None
near: Any = None
select: Any = None
zeros_like: Any = None
choose: Any = None
unreduce: Any = None
matmul: Any = None
swap: Any = None
positive: Any = None
sin: Any = None
cos: Any = None
reshape_back: Any = None
scatter: Any = None
split_back: Any = None


def sat(u: Any) -> Any:
    """``sign(u) / sqrt(u² + b²)``: the bounded stand-in for ``1/u`` (the root by ``hypot``, which
    is the literal ``sqrt(u*u + b*b)`` unless that sum leaves the normal range)."""
    return div(sign(u), hypot(u, B))


def inv_sq_sat(u: Any) -> Any:
    """``1 / (u² + b²)``: the bounded stand-in for ``1/u²``."""
    return over_sq(1.0, u, B)


# ---- exact rules -------------------------------------------------------------------------
def add_rule(g, a, b, out, k):
    return g, g


def sub_rule(g, a, b, out, k):
    return g, -g


def mul_rule(g, a, b, out, k):
    return g * b, g * a


def div_rule(g, a, b, out, k):
    # ∂(a/b)/∂b = −g·a/b², as written while −g·a and b² are normal floats; else without forming
    # b² (which could under/overflow): see neg_over_sq.
    return g / b, neg_over_sq(g, a, b, 0.0)


def addc_rule(g, a, b, out, k):  # x + c, c + x, x − c (k = c, a finite float)
    return (g,)


def rsubc_rule(g, a, b, out, k):  # c − x
    return (-g,)


def mulc_rule(g, a, b, out, k):  # x·c, c·x
    return (g * k,)


def neg_rule(g, a, b, out, k):
    return (-g,)


def abs_rule(g, a, b, out, k):
    return (g * sign(a),)


def relu_rule(g, a, b, out, k):
    return (select(positive(a), g, zeros_like(g)),)  # a selection, never g·0


def sin_rule(g, a, b, out, k):
    return (g * cos(a),)


def cos_rule(g, a, b, out, k):
    return (-(g * sin(a)),)


def tanh_rule(g, a, b, out, k):
    return (g * (1.0 - out * out),)  # tanh' = 1 − tanh²; 0 at ±∞, where tanh = ±1 is REAL


def sign_rule(g, a, b, out, k):
    return (zeros_like(g),)  # not g·0, which would be Φ for an infinite g


def log_rule(g, a, b, out, k):
    return (g / a,)


def exp_rule(g, a, b, out, k):
    return (g * out,)


def sqrt_rule(g, a, b, out, k):
    return (div(g, 2.0 * out),)  # √ at 0: g/0 = ±∞ (or Φ), passed on as a TR value


def pow_rule(g, a, b, out, k):
    if k == 1:
        return (g,)
    if k == 0:  # x^0 = 1 is constant: 0, not g·0 (Φ for an infinite g, or 0·x^-1 at a tiny x)
        return (zeros_like(g),)
    if k < 0:  # g·k·x^(k−1); as (g·k·x^k)/x where x^(k−1) alone would under/overflow (x = 1e200)
        return (pow_neg(g, a, k, out),)
    return (scale(g, k, powi(a, k - 1)),)


def id_rule(g, a, b, out, k):
    return (g,)


def sum_rule(g, a, b, out, k):
    return (unreduce(g, k),)  # k = (axes, keepdims, input shape, count)


def mean_rule(g, a, b, out, k):
    return (unreduce(g, k) / k[3],)  # k[3] = number of elements averaged


def reshape_rule(g, a, b, out, k):
    return (reshape_back(g, k),)  # k = the input's shape


def index_rule(g, a, b, out, k):
    return (scatter(g, k),)  # k = (index, input shape); repeated indices accumulate


def matmul_rule(g, a, b, out, k):
    return matmul(g, swap(b)), matmul(swap(a), g)


def concat_rule(g, a, b, out, k):
    return split_back(g, k)  # k = (axis, where each input ends); one contribution per input


def where_rule(g, a, b, out, k):
    # k = the condition (broadcastable to the output); −0.0, the identity of +, where the
    # element is not taken from this operand (the sweep marks it as receiving nothing)
    return select(k, g, -0.0), select(k, -0.0, g)


# ---- saturating rules (SPEC §4.2) ----------------------------------------------------------
def div_sat_rule(g, a, b, out, k):
    return g * sat(b), neg_over_sq(g, a, b, B)


def log_sat_rule(g, a, b, out, k):
    return (g * sat(a),)


def sqrt_sat_rule(g, a, b, out, k):
    return (g * sat(2.0 * out),)


def pow_sat_rule(g, a, b, out, k):
    if k >= 0:
        return pow_rule(g, a, b, out, k)
    # sat(a^(1−k)) with the sign taken from a (≠ 0 at a REAL node): a^(1−k) may underflow to 0
    # next to the pole, where sign(0) = 0 would zero the very gradient saturation is there for,
    # or overflow far from it, where the saturated value is still a representable g·k·a^(k−1)
    return (pow_neg_sat(g, a, k, out, B),)


# ---- hybrid: saturating form near a pole, exact form elsewhere -----------------------------
# ``choose(m, sat_form, exact_form, args)`` evaluates only the chosen form for a scalar decision
# and selects elementwise (np.where on each contribution) for an array of decisions.
def div_hybrid_rule(g, a, b, out, k):
    return choose(near(b, k), div_sat_rule, div_rule, (g, a, b, out, k))


def log_hybrid_rule(g, a, b, out, k):
    return choose(near(a, k), log_sat_rule, log_rule, (g, a, b, out, k))


def sqrt_hybrid_rule(g, a, b, out, k):
    return choose(near(2.0 * out, k), sqrt_sat_rule, sqrt_rule, (g, a, b, out, k))


def pow_hybrid_rule(g, a, b, out, k):
    if k >= 0:
        return pow_rule(g, a, b, out, k)
    return choose(near(powi(a, 1 - k), None), pow_sat_rule, pow_rule, (g, a, b, out, k))


EXACT: dict[int, Callable] = {
    ADD: add_rule, SUB: sub_rule, MUL: mul_rule, DIV: div_rule, NEG: neg_rule, ABS: abs_rule,
    SIGN: sign_rule, LOG: log_rule, EXP: exp_rule, SQRT: sqrt_rule, POW: pow_rule, ID: id_rule,
    SUM: sum_rule, MEAN: mean_rule, MATMUL: matmul_rule, RELU: relu_rule,
    SIN: sin_rule, COS: cos_rule, RESHAPE: reshape_rule, INDEX: index_rule,
    ADDC: addc_rule, RADDC: addc_rule, SUBC: addc_rule, RSUBC: rsubc_rule, MULC: mulc_rule,
    RMULC: mulc_rule, TANH: tanh_rule, CONCAT: concat_rule, WHERE: where_rule,
}
SATURATING: dict[int, Callable] = {
    **EXACT, DIV: div_sat_rule, LOG: log_sat_rule, SQRT: sqrt_sat_rule, POW: pow_sat_rule,
}
HYBRID: dict[int, Callable] = {
    **EXACT, DIV: div_hybrid_rule, LOG: log_hybrid_rule, SQRT: sqrt_hybrid_rule,
    POW: pow_hybrid_rule,
}
TABLES = {"exact": EXACT, "saturating": SATURATING, "hybrid": HYBRID}

_RULE_FUNCS = {name: obj for name, obj in dict(globals()).items()
               if isinstance(obj, types.FunctionType) and obj.__module__ == __name__
               and name not in ("bind_table", "bind_split_table", "_split", "_split_cached",
                                "needed_values", "_names_used", "inline_forms", "_rule_ast",
                                "inplace_forms", "choice_forms", "_pure_forms")}


def _split(fn: Callable) -> tuple[types.CodeType, types.CodeType] | None:
    """Per-input versions of a binary rule ``... return contribution_a, contribution_b``.

    Derived mechanically from the rule's own source, so that a backend can skip the contribution
    of an input that needs no gradient (a whole array product on the batched tape). Rules with a
    hybrid decision (``near``) are not split: a decision must be made, and counted, once."""
    f = _rule_ast(fn)
    if f is None:  # no source available: use the combined rule
        return None
    last = f.body[-1]
    if not (isinstance(last, ast.Return) and isinstance(last.value, ast.Tuple)
            and len(last.value.elts) == 2):
        return None
    if any(isinstance(n, ast.Return) for stmt in f.body[:-1] for n in ast.walk(stmt)):
        return None
    if any(isinstance(n, ast.Name) and n.id == "near" for n in ast.walk(f)):
        return None
    codes = []
    for i in (0, 1):
        part = ast.FunctionDef(name=f"{f.name}_{'ab'[i]}", args=f.args, body=f.body[:-1] + [
            ast.Return(value=last.value.elts[i])], decorator_list=[], returns=None, type_comment=None)
        mod = ast.fix_missing_locations(ast.Module(body=[part], type_ignores=[]))
        code = compile(mod, inspect.getsourcefile(fn) or "<rules>", "exec")
        codes.append(next(c for c in code.co_consts if isinstance(c, types.CodeType)))
    return codes[0], codes[1]


_SPLIT: dict[str, tuple[types.CodeType, types.CodeType] | None] = {}


def _split_cached(fn: Callable) -> tuple[types.CodeType, types.CodeType] | None:
    if fn.__name__ not in _SPLIT:
        _SPLIT[fn.__name__] = _split(fn)
    return _SPLIT[fn.__name__]


def bind_split_table(table: str, vocabulary: dict[str, Any], size: int = N_OPS
                     ) -> list[tuple[Callable, Callable] | None]:
    """For each binary op of ``table``: its rule split per input (``(rule_a, rule_b)``, each
    returning one contribution), bound to ``vocabulary``; None where a rule cannot be split."""
    ns: dict[str, Any] = {"__builtins__": builtins, **vocabulary}
    for name, fn in _RULE_FUNCS.items():
        ns[name] = types.FunctionType(fn.__code__, ns, name, fn.__defaults__, fn.__closure__)
    out: list[tuple[Callable, Callable] | None] = [None] * size
    for op, fn in TABLES[table].items():
        parts = _split_cached(fn)
        if parts is not None:
            out[op] = (types.FunctionType(parts[0], ns), types.FunctionType(parts[1], ns))
    return out


_VALUE_NAMES = ("a", "b", "out")


def _names_used(nodes: list) -> frozenset[str]:
    return frozenset(n.id for node in nodes for n in ast.walk(node)
                     if isinstance(n, ast.Name) and n.id in _VALUE_NAMES)


def needed_values(op: int, need_a: bool, need_b: bool) -> frozenset[str]:
    """Which of the values ``a``, ``b``, ``out`` the rules of ``op`` read (in any mode) when only
    the inputs flagged ``need_*`` want a gradient: what a tape must keep for the backward pass.

    >>> sorted(needed_values(MUL, True, False))   # d(a·b)/da = b: only b is kept
    ['b']
    """
    key = (op, need_a, need_b)
    hit = _NEEDED.get(key)
    if hit is not None:
        return hit
    if not (is_integer(op) and 0 <= op < N_OPS):
        raise ValueError(f"needed_values(op, ...): op must be an op code 0 … {N_OPS - 1} (see "
                         f"zeroproof.autodiff.ops_table), got {short_repr(op, 40)}")
    names: set[str] = set()
    for table in TABLES.values():
        fn = table.get(op)
        if fn is None:
            continue
        f = _rule_ast(fn)
        if f is None:  # no source: keep everything
            names.update(_VALUE_NAMES)
            continue
        last = f.body[-1]
        splittable = _split_cached(fn) is not None
        if splittable and need_a != need_b:
            names |= _names_used(f.body[:-1] + [last.value.elts[0 if need_a else 1]])
        else:
            names |= _names_used(f.body)
    out = frozenset(names)
    _NEEDED[key] = out
    return out


_NEEDED: dict[tuple, frozenset[str]] = {}


def bind_table(table: str, vocabulary: dict[str, Any], size: int = N_OPS) -> list[Callable | None]:
    """The rules of ``table`` as a list indexed by op code, with the free names bound to
    ``vocabulary`` (one namespace per backend, mode and bound; cheap, and cached by callers)."""
    ns: dict[str, Any] = {"__builtins__": builtins, **vocabulary}
    for name, fn in _RULE_FUNCS.items():
        ns[name] = types.FunctionType(fn.__code__, ns, name, fn.__defaults__, fn.__closure__)
    out: list[Callable | None] = [None] * size
    for op, fn in TABLES[table].items():
        out[op] = ns[fn.__name__]
    return out


# Node types an inlinable rule may use: arithmetic operators on the rule's arguments and literals.
_PURE = (ast.Tuple, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant, ast.operator,
         ast.unaryop)
_ARGS = frozenset({"g", "a", "b", "out", "k"})
# Vocabulary functions a pure form may call (every scalar sweep binds them, see
# ``backward._make_sweep``): inlining such a call saves the rule table's dispatch.
INLINE_CALLS = frozenset({"neg_over_sq"})


def _pure_node(n: ast.AST) -> bool:
    if isinstance(n, ast.Call):
        return isinstance(n.func, ast.Name) and n.func.id in INLINE_CALLS and not n.keywords
    if isinstance(n, ast.Name):
        return n.id in _ARGS or n.id in INLINE_CALLS
    return isinstance(n, _PURE)


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.AST:
        new = self.names.get(node.id)
        return node if new is None else ast.parse(new, mode="eval").body


def inline_forms(table: str, names: dict[str, str]) -> dict[int, tuple[str, ...]]:
    """Source of each contribution of every *pure* rule of ``table``, for inlining into a sweep.

    A rule is pure when its body is a single ``return`` of a tuple of operator expressions over
    ``g, a, b, out, k`` and literals (``add``, ``sub``, ``mul``, exact ``div``, ``neg``, ``log``,
    ``exp``, ``id``), possibly calling the vocabulary functions in :data:`INLINE_CALLS` (exact
    ``div``): such a rule means the same in every backend whose values have operators and that
    binds those names, so a sweep may evaluate it in place, one contribution at a time, instead
    of calling it.
    ``names`` renames the arguments (e.g. ``{"a": "a._v"}``). Other rules are left out.

    >>> inline_forms("exact", {"a": "a._v", "b": "b._v"})[MUL]
    ('g * b._v', 'g * a._v')
    """
    forms: dict[int, tuple[str, ...]] = {}
    for op, fn in TABLES[table].items():
        form = _pure_forms(fn, names)
        if form is not None:
            forms[op] = form
    return forms


def _pure_forms(fn: Callable, names: dict[str, str]) -> tuple[str, ...] | None:
    """The contributions of rule ``fn`` as renamed source, if the rule is pure (else None)."""
    f = _rule_ast(fn)
    if f is None or len(f.body) != 1 or not isinstance(f.body[0], ast.Return):
        return None
    value = f.body[0].value
    if not isinstance(value, ast.Tuple):
        return None
    if not all(_pure_node(n) for n in ast.walk(value)):
        return None
    return tuple(ast.unparse(_Rename(names).visit(copy.deepcopy(e))) for e in value.elts)


def choice_forms(table: str, names: dict[str, str]) -> dict[int, tuple[str, str, tuple[str, ...]]]:
    """For each rule of ``table`` of the form ``return choose(near(u, x), sat_rule, exact_rule,
    (g, a, b, out, k))`` whose ``exact_rule`` is pure (see :func:`inline_forms`): the source of
    ``u`` and ``x`` and of the exact contributions, renamed by ``names``. A scalar sweep can then
    decide in place and run the exact form inline, calling the saturating rule only when the
    decision says so (``choose`` on scalars runs only the chosen form, so nothing else changes).

    >>> choice_forms("hybrid", {"a": "a._v", "b": "b._v"})[LOG][:2]
    ('a._v', 'k')
    """
    out: dict[int, tuple[str, str, tuple[str, ...]]] = {}
    for op, fn in TABLES[table].items():
        f = _rule_ast(fn)
        if f is None or len(f.body) != 1 or not isinstance(f.body[0], ast.Return):
            continue
        call = f.body[0].value
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                and call.func.id == "choose" and len(call.args) == 4 and not call.keywords):
            continue
        cond, _sat, exact, args = call.args
        if not (isinstance(cond, ast.Call) and isinstance(cond.func, ast.Name)
                and cond.func.id == "near" and len(cond.args) == 2 and isinstance(exact, ast.Name)
                and isinstance(args, ast.Tuple)
                and [getattr(e, "id", None) for e in args.elts] == ["g", "a", "b", "out", "k"]):
            continue
        exact_fn = _RULE_FUNCS.get(exact.id)
        forms = None if exact_fn is None else _pure_forms(exact_fn, names)
        if forms is None:
            continue
        u, x = (ast.unparse(_Rename(names).visit(copy.deepcopy(e))) for e in cond.args)
        out[op] = (u, x, forms)
    return out


@functools.lru_cache(maxsize=None)
def _rule_ast(fn: Callable) -> ast.FunctionDef | None:
    """The parsed source of rule ``fn`` (cached; callers only read it), or None without one."""
    try:
        f = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    except (OSError, TypeError):  # no source available: the rule is only ever called
        return None
    return f if isinstance(f, ast.FunctionDef) else None


_INPLACE_OPS = {ast.Mult: "multiply", ast.Add: "add", ast.Sub: "subtract", ast.Div: "divide"}


def inplace_forms(table: str) -> dict[int, tuple[tuple[str, str | None, bool] | None, ...]]:
    """For each pure rule of ``table`` (see :func:`inline_forms`), how each contribution can be
    computed *into the buffer of* ``g``: ``(ufunc name, operand, g_first)`` for a contribution
    ``g ⊙ operand`` / ``operand ⊙ g`` (operand one of ``a``, ``b``, ``out``) or ``("negative",
    None, True)`` for ``-g``; None for a contribution of any other shape (including ``g``
    itself, which is passed on rather than computed). An array backend that owns ``g`` may then
    skip an allocation: the elementwise result is the same.

    >>> inplace_forms("exact")[MUL]
    (('multiply', 'b', True), ('multiply', 'a', True))
    """
    out: dict[int, tuple[tuple[str, str | None, bool] | None, ...]] = {}
    for op, srcs in inline_forms(table, {}).items():
        specs: list[tuple[str, str | None, bool] | None] = []
        for s in srcs:
            e = ast.parse(s, mode="eval").body
            spec = None
            if (isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub)
                    and isinstance(e.operand, ast.Name) and e.operand.id == "g"):
                spec = ("negative", None, True)
            elif isinstance(e, ast.BinOp) and type(e.op) in _INPLACE_OPS:
                left, right = e.left, e.right
                names = [n.id if isinstance(n, ast.Name) else None for n in (left, right)]
                if names[0] == "g" and names[1] in ("a", "b", "out"):
                    spec = (_INPLACE_OPS[type(e.op)], names[1], True)
                elif names[1] == "g" and names[0] in ("a", "b", "out"):
                    spec = (_INPLACE_OPS[type(e.op)], names[0], False)
            specs.append(spec)
        out[op] = tuple(specs)
    return out
