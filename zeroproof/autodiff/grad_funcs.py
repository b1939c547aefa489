"""Function transforms: ``tr_value_and_grad`` (the primitive), ``tr_grad`` and ``check_gradient``."""
from __future__ import annotations

import contextlib
import math
import numbers
import threading
from typing import Any, Callable, Iterator, NamedTuple, Sequence

from ..core import kernels as K
from ..core._parse import as_float, check_bool, check_real, is_integer, is_real_number, short_repr
from ..core.scalar import REAL, TRScalar, scalar_from_code, tag_of_code
from .backward import grad, topological_sort
from .grad_mode import MODE, GradientMode
from .tr_node import (
    _CONST_OP_CODES, TRNode, _leaf, _leaf_code, _next_seq, enable_grad, identity_node,
    is_grad_enabled,
)

__all__ = ["tr_value_and_grad", "tr_grad", "check_gradient", "GradientCheckResult"]

# Rounding noise allowed in each f(x ± h) of a finite difference, relative to |f|: four ulps.
_FD_ULPS = 2.0 ** -50


def _is_index(i: Any) -> bool:
    """An int or a NumPy integer, not a bool."""
    return is_integer(i)


def _argnums(argnums: Any) -> tuple[tuple[int, ...], bool]:
    if isinstance(argnums, bool):
        raise TypeError(f"argnums must be an int or a tuple of ints, got bool {argnums!r}")
    if _is_index(argnums):
        return (int(argnums),), False
    if isinstance(argnums, (tuple, list)) and argnums and all(_is_index(i) for i in argnums
    ):
        return tuple(int(i) for i in argnums), True
    raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")


def _as_source(x: Any, pos: int, connect: bool) -> TRNode:
    """A fresh parameter holding ``x``'s value; if ``x`` is a node that requires grad and
    ``connect`` (an enclosing differentiation records), a recorded identity of it instead, so
    the result stays connected and transforms nest."""
    if isinstance(x, TRNode):
        return identity_node(x) if (x._rg and connect) else _leaf(x._v, True)
    return _leaf(_leaf_code(x, f"argument {pos}"), True)


def _reaches_outside(out: TRNode, sources: list, start: int) -> bool:
    """Whether the recorded graph of ``out`` reaches a requires-grad node that is not one of
    ``sources`` and was not built by this call (creation number ``>= start``): a parameter ``f``
    closes over, or a node recorded before the call. Then the gradient must be built as graph
    nodes (``create_graph``) to stay connected to it. Iterative, stops at the first such node;
    a recorded node older than ``start`` ends the search at once (it is such a node)."""
    if out._a is None:  # a leaf or an unrecorded result
        return out._rg and out not in sources
    consts = _CONST_OP_CODES
    seen = {out}
    stack = [out]
    push, pop, add = stack.append, stack.pop, seen.add
    while stack:
        node = pop()
        if node._seq < start:
            return True
        # the two input slots written out, not ``inputs_of(node)``: that tuple per node made
        # tr_grad of an 800-node function ~11 % slower
        a = node._a
        if a._rg and a not in seen:
            if a._a is None:
                if a not in sources:
                    return True
            else:
                add(a)
                push(a)
        if node._op not in consts:  # (a folded constant leaves ``_b`` unset)
            b = node._b
            if b is not None and b._rg and b not in seen:
                if b._a is None:
                    if b not in sources:
                        return True
                else:
                    add(b)
                    push(b)
    return False


# The sources of the transforms (tr_grad, tr_value_and_grad) whose function is running, in any
# thread: id(node) -> [node, count]. A gradient taken inside that function with respect to one
# of them (by a gradient tape, also one run in a worker thread) must stay a graph, or the
# transform would differentiate a constant and answer 0. Holding the node keeps its id unique
# until the transform returns and removes it.
_TRANSFORM_SOURCES: dict[int, list] = {}
_TRANSFORM_LOCK = threading.Lock()


def is_transform_source(ids: set[int]) -> bool:
    """Whether one of the node ids is a source of a transform whose function is running.

    >>> is_transform_source({id(object())})
    False
    """
    with _TRANSFORM_LOCK:
        return not ids.isdisjoint(_TRANSFORM_SOURCES)


@contextlib.contextmanager
def _transform_sources(sources: list) -> Iterator[None]:
    with _TRANSFORM_LOCK:
        for x in sources:
            _TRANSFORM_SOURCES.setdefault(id(x), [x, 0])[1] += 1
    try:
        yield
    finally:
        with _TRANSFORM_LOCK:
            for x in sources:
                entry = _TRANSFORM_SOURCES[id(x)]
                entry[1] -= 1
                if not entry[1]:
                    del _TRANSFORM_SOURCES[id(x)]


def tr_value_and_grad(f: Callable[..., Any], argnums: "int | Sequence[int]" = 0) -> Callable[..., tuple[TRNode, Any]]:
    """``f`` → a function returning ``(value_node, grad)`` at the given arguments.

    Each argument at ``argnums`` becomes a fresh parameter (numbers, TRScalars and nodes are
    accepted). ``grad`` is a TRNode, or a tuple of TRNodes when ``argnums`` is a tuple. When
    ``f``'s graph reaches a node that requires grad other than the fresh parameters (an argument
    that is such a node, a parameter ``f`` closes over, a node recorded before the call), the
    gradient is built as graph nodes connected to it: ``tr_grad(tr_grad(f))`` gives second
    derivatives and a gradient penalty reaches the closed-over parameters. Otherwise (and
    inside ``no_grad()``) the gradient is a constant.

    >>> vg = tr_value_and_grad(lambda x: x * x + 2 * x + 1)
    >>> val, g = vg(3.0)
    >>> val.value, g.value
    (TRScalar(16.0, REAL), TRScalar(8.0, REAL))
    >>> w = TRNode.parameter(2.0)
    >>> _, g = tr_value_and_grad(lambda x: w * x * x)(3.0)   # 2wx, connected to w
    >>> g.backward(); w.gradient
    TRScalar(6.0, REAL)
    """
    nums, multiple = _argnums(argnums)
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__} {short_repr(f, 40)}")

    def value_and_grad(*args: Any, **kwargs: Any) -> tuple[TRNode, Any]:
        n = len(args)
        for i in nums:
            if not -n <= i < n:
                raise ValueError(
                    f"argnums={argnums!r} is out of range for a call with {n} positional argument(s)"
                )
        if len({i % n for i in nums}) != len(nums):
            raise ValueError(f"argnums={argnums!r} names the same argument twice; each argument "
                             f"is differentiated once (repeat the result instead)")
        # The gradient is itself differentiable (create_graph) when an enclosing computation
        # records and f's graph reaches a requires-grad node other than the fresh sources: an
        # argument that is such a node (differentiated or not: mixed partials like
        # d/dy (d/dx f) are right), a parameter f closes over, or a node recorded before the
        # call (gradient penalties). Otherwise one float pass gives constants, as fast as
        # before; either way the pass runs once, so each hybrid decision is counted once. The
        # transform always records its own pass, also inside no_grad() (like torch.func.grad);
        # there it returns constants.
        recording = is_grad_enabled()
        nested = recording and any(isinstance(a, TRNode) and a._rg
                                   for a in (*args, *kwargs.values()))
        start = _next_seq()  # nodes recorded from here on are built by this call
        new_args = list(args)
        sources = []
        with enable_grad():
            for i in nums:
                src = _as_source(args[i], i, nested)
                new_args[i] = src
                sources.append(src)
            with _transform_sources(sources):
                out = f(*new_args, **kwargs)
            if isinstance(out, TRNode):
                connect = nested or (recording and _reaches_outside(out, sources, start))
                grads = grad(out, sources, create_graph=connect)
        if not isinstance(out, TRNode):
            raise TypeError(
                f"the function must return a scalar TRNode built from its arguments, got "
                f"{type(out).__name__}"
                + (" (a tuple/list: return one scalar, e.g. a sum, or differentiate each output)"
                   if isinstance(out, (tuple, list)) else "")
                + ("; tr_grad differentiates scalar-tape (TRNode) functions: differentiate a "
                   "batched TRTensor with zeroproof.array.grad(output, params) or "
                   "output.backward()" if hasattr(out, "shape") else "")
                + ("; use the lifted ops of zeroproof.autodiff (tr_add, ...) or operators on the "
                   "argument so that the result stays a TRNode" if isinstance(out, (TRScalar, float, int)) else "")
            )
        if not recording:
            out = out.detach()
        return out, (tuple(grads) if multiple else grads[0])

    value_and_grad.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    value_and_grad.__doc__ = f"Value and gradient of {getattr(f, '__name__', 'f')}."
    return value_and_grad


def tr_grad(f: Callable[..., Any], argnums: "int | Sequence[int]" = 0) -> Callable[..., Any]:
    """``f`` → a function returning only the gradient (see :func:`tr_value_and_grad`).

    >>> d2 = tr_grad(tr_grad(lambda x: x * x * x))
    >>> d2(2.0).value
    TRScalar(12.0, REAL)
    """
    vg = tr_value_and_grad(f, argnums)

    def grad_fn(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    grad_fn.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    grad_fn.__doc__ = f"Gradient of {getattr(f, '__name__', 'f')}."
    return grad_fn


class _CheckFields(NamedTuple):
    analytical: float
    numerical: float
    rel_error: float


class GradientCheckResult(_CheckFields):
    """``(analytical, numerical, rel_error)`` plus ``.passed`` and ``.reason``.

    ``bool(result)`` is ``result.passed``. Values are IEEE floats (NaN where not computed).
    A named tuple of the three fields (unpacking, indexing, ``_asdict()``, ``==``) that keeps
    ``passed`` and ``reason`` through pickling, ``copy``/``deepcopy`` and ``_replace`` (which
    also accepts ``passed=`` and ``reason=``); ``_make`` takes the five values in order.

    >>> from zeroproof.autodiff.grad_funcs import GradientCheckResult
    >>> r = GradientCheckResult(2.0, 2.0, 0.0, True, "ok")
    >>> bool(r), r.rel_error, r.reason
    (True, 0.0, 'ok')
    >>> r._replace(rel_error=0.5).reason
    'ok'
    """

    passed: bool
    reason: str

    def __new__(cls, analytical: float, numerical: float, rel_error: float, passed: bool, reason: str
                ) -> "GradientCheckResult":
        if not isinstance(reason, str):
            raise TypeError(f"GradientCheckResult(reason): reason must be a str, got "
                            f"{type(reason).__name__} {short_repr(reason, 40)}")
        self = super().__new__(cls, analytical, numerical, rel_error)
        self.passed = check_bool("GradientCheckResult(passed): passed", passed)
        self.reason = reason
        return self

    # the named-tuple protocol, with the two extra values carried along
    def __getnewargs__(self) -> tuple:
        return (*self, self.passed, self.reason)

    def __reduce__(self) -> tuple:
        return (type(self), self.__getnewargs__())

    def __copy__(self) -> "GradientCheckResult":
        return self  # immutable, like a tuple

    def __deepcopy__(self, memo: dict) -> "GradientCheckResult":
        return self  # (floats, a bool and a str: nothing to copy)

    @classmethod
    def _make(cls, iterable: Any) -> "GradientCheckResult":
        """A result from ``(analytical, numerical, rel_error, passed, reason)``."""
        values = tuple(iterable)
        if len(values) != 5:
            raise TypeError(f"GradientCheckResult._make(iterable): expected 5 values (analytical, "
                            f"numerical, rel_error, passed, reason), got {len(values)}")
        return cls(*values)

    def _replace(self, **changes: Any) -> "GradientCheckResult":
        """A copy with the named fields (and/or ``passed``, ``reason``) replaced."""
        names = (*self._fields, "passed", "reason")
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise ValueError(f"GradientCheckResult._replace: unknown field name(s) {unknown}; "
                             f"accepted: {list(names)}")
        return type(self)(*(changes.get(n, v) for n, v in zip(names, self.__getnewargs__())))

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return (f"GradientCheckResult(analytical={self.analytical!r}, numerical={self.numerical!r}, "
                f"rel_error={self.rel_error!r}, passed={self.passed}, reason={self.reason!r})")


def check_gradient(func: Callable[..., Any], x: Any, eps: float = 1e-5, argnum: int = 0,
                   rtol: float = 1e-4, atol: float = 1e-6) -> GradientCheckResult:
    """Compare the tape's gradient of ``func`` at ``x`` with a central finite difference.

    ``x`` is the argument (number, TRScalar or node), or a tuple of arguments with ``argnum``
    choosing the one to check. Passes when ``|a − n| ≤ atol + rtol·|n| + noise``, where
    ``n = (f(x+h) − f(x−h)) / 2h`` uses the steps ``h`` actually taken (``x ± eps`` rounded to
    floats) and ``noise = 2⁻⁵⁰·(|f(x+h)| + |f(x−h)|) / 2h`` is the difference's own rounding
    error (a few ulps of f). Where the check fails and that noise exceeds both ``atol`` and
    ``rtol·|gradient|`` (``|f| / eps`` huge: ``x*x`` at ``x = 1e10``), nothing is compared and the
    reason asks for a larger ``eps``. A non-REAL value at
    ``x`` is not compared; a tag change inside the stencil ``[x − eps, x + eps]`` is reported as a
    pole (not differentiable there), not as a wrong gradient; so are one-sided differences that
    disagree (a kink) and a difference ``f(x+h) − f(x−h)`` that does not shrink with ``h`` (a
    jump). Where ``f`` is REAL across the stencil but a node of its graph is not at ``x``
    (``1/(1/x)`` at 0), Mask-REAL masks that path: the reason starts with ``masked at x`` and names
    the node. The analytical gradient is the tape's in the *active* gradient mode: under saturating
    or hybrid rules a mismatch near a pole is expected, and the reason says so.

    >>> r = check_gradient(lambda x: 1 / (x - 1), 0.5)
    >>> r.passed, r.analytical
    (True, -4.0)
    >>> from zeroproof.autodiff import tr_sqrt
    >>> check_gradient(lambda x: tr_sqrt(x), 1e-6).reason
    'not differentiable here: the tag changes inside the stencil [x - eps, x + eps] (a pole)'
    >>> check_gradient(lambda x: 1 / x, 1e-7).reason
    'not differentiable here: the one-sided differences disagree inside the stencil [x - eps, x + eps] at every step size (a pole or a kink)'
    """
    if not callable(func):
        raise TypeError(f"func must be callable (a function of the argument(s) returning a scalar "
                        f"TRNode), got {type(func).__name__} {short_repr(func, 40)}")
    if not is_real_number(eps):
        raise TypeError(f"eps must be a finite real number > 0, got {type(eps).__name__} "
                        f"{short_repr(eps, 40)}")
    eps_f = as_float(eps)
    if not (eps_f > 0 and math.isfinite(eps_f)):
        raise ValueError(f"eps must be a finite real number > 0, got {short_repr(eps)}")
    eps = eps_f
    rtol = check_real("rtol", rtol, "a finite real number >= 0", lambda v: 0 <= v < math.inf)
    atol = check_real("atol", atol, "a finite real number >= 0", lambda v: 0 <= v < math.inf)
    args = list(x) if isinstance(x, (tuple, list)) else [x]
    if not is_integer(argnum):
        raise TypeError(f"argnum must be an int (the position of the argument to check), got "
                        f"{type(argnum).__name__} {short_repr(argnum, 40)}")
    if not -len(args) <= argnum < len(args):
        raise ValueError(f"argnum={argnum!r} is out of range for {len(args)} argument(s)")
    argnum = int(argnum)
    point = args[argnum]._v if isinstance(args[argnum], TRNode) else args[argnum]
    if (isinstance(point, numbers.Real) and not isinstance(point, numbers.Integral)
            and not math.isfinite(point)):
        x0 = float(point)  # an IEEE ±inf/NaN point reads as ±∞/Φ: not compared below
    else:
        x0 = _leaf_code(point, "x")
    nan = math.nan

    def value_at(code: float) -> float:
        call = [a.detach() if isinstance(a, TRNode) else a for a in args]
        call[argnum] = _leaf(code, False)
        out = func(*call)
        if isinstance(out, TRNode):
            return out._v
        if isinstance(out, TRScalar):
            return _leaf_code(out, "result")
        raise TypeError(f"func must return a TRNode, got {type(out).__name__}")

    if x0 - x0 != 0.0:
        return GradientCheckResult(nan, nan, nan, False,
                                   f"not compared: x is {scalar_from_code(x0)}, not REAL")
    call_args = [a.detach() if isinstance(a, TRNode) else a for a in args]
    call_args[argnum] = scalar_from_code(x0)
    value, g = tr_value_and_grad(func, argnum)(*call_args)
    f0 = value._v
    analytical = float(scalar_from_code(g._v))
    if f0 - f0 != 0.0:
        return GradientCheckResult(analytical, nan, nan, False,
                                   f"not compared: f(x) is {scalar_from_code(f0)}, not REAL (Mask-REAL gives 0)")
    xp, xm = K.f_add(x0, eps), K.f_sub(x0, eps)
    if xp == x0 or xm == x0:
        return GradientCheckResult(analytical, nan, nan, False,
                                   f"not compared: eps={eps!r} vanishes against x={x0!r} "
                                   f"(x ± eps rounds to x); use a larger eps")
    if xp - xp != 0.0 or xm - xm != 0.0:
        return GradientCheckResult(analytical, nan, nan, False,
                                   f"not compared: x ± eps leaves the float range (x={x0!r}, "
                                   f"eps={eps!r}); use a smaller eps")
    fp, fm = value_at(xp), value_at(xm)
    if tag_of_code(fp) is not REAL or tag_of_code(fm) is not REAL:
        return GradientCheckResult(
            analytical, nan, nan, False,
            "not differentiable here: the tag changes inside the stencil [x - eps, x + eps] (a pole)")
    # The steps actually taken: x ± eps rounds to the float grid near x, and at |x| >> eps that
    # rounding is a visible fraction of eps. (x ± eps) − x is exact (Sterbenz), so dividing by
    # it keeps the difference quotient honest at any |x|.
    hp, hm = xp - x0, x0 - xm
    numerical = (fp - fm) / (hp + hm)
    if analytical != analytical or abs(analytical) == math.inf:
        return GradientCheckResult(analytical, numerical, nan, False,
                                   "the analytical gradient is not REAL")
    diff = abs(analytical - numerical)
    scale = max(abs(analytical), abs(numerical))
    rel = diff / scale if scale > 0 else 0.0
    # f(x ± h) carry rounding errors of a few ulps each; their difference over 2h is noise in
    # the estimate that no rtol can hide once |f| / h is large (x*x at x = 1e10). Allow it.
    noise = _FD_ULPS * (abs(fp) + abs(fm)) / (hp + hm)
    strict = diff <= atol + rtol * abs(numerical)
    if not strict and noise > atol and noise > rtol * scale:
        # The difference is too noisy to judge at rtol: a pass would prove nothing, a failure
        # nothing wrong. (Where it resolves the gradient to rtol, the noise at most doubles the
        # tolerance below.)
        wider = float(f"{eps * noise / (0.1 * rtol * scale):.0e}") if scale > 0 else None
        return GradientCheckResult(
            analytical, numerical, rel, False,
            f"not compared: at x={x0!r} f(x ± eps) differ by too few ulps for eps={eps!r} (the "
            f"finite difference is rounding noise of about ±{noise:.2g}); use a larger eps"
            + (f", e.g. eps={wider!r}" if wider is not None and wider < abs(x0) else ""))
    passed = strict or diff <= atol + rtol * abs(numerical) + noise
    forward, backward = (fp - f0) / hp, (f0 - fm) / hm
    gap = forward - backward
    one_sided_noise = _FD_ULPS * (abs(fp) + 2.0 * abs(f0) + abs(fm)) / min(hp, hm)
    one_sided_differ = (abs(gap) > 0.1 * max(abs(forward), abs(backward)) + atol
                        + one_sided_noise)
    if passed and not one_sided_differ:
        return GradientCheckResult(analytical, numerical, rel, True, "ok")
    # Look again at half the step. Where f is smooth the gap between the one-sided slopes is
    # h·f'' and halves with h; at a kink (|x| at 0: the central difference can agree there by
    # symmetry) or a pole it stays or grows. And f(x+h) - f(x-h) shrinks with h unless f jumps.
    half = eps / 2.0
    xph, xmh = K.f_add(x0, half), K.f_sub(x0, half)
    kink = jump = False  # unknowable when half the step vanishes against x
    if xph != x0 and xmh != x0:
        fph, fmh = value_at(xph), value_at(xmh)
        if tag_of_code(fph) is not REAL or tag_of_code(fmh) is not REAL:
            return GradientCheckResult(
                analytical, numerical, rel, False,
                "not differentiable here: the tag changes inside the stencil [x - eps, x + eps] "
                "(a pole)")
        gap_half = (fph - f0) / (xph - x0) - (f0 - fmh) / (x0 - xmh)
        kink = one_sided_differ and not abs(gap_half) <= 0.75 * abs(gap)
        jump = abs(fp - fm) > 0.0 and not abs(fph - fmh) <= 0.75 * abs(fp - fm)
    if passed:
        if not kink:
            return GradientCheckResult(analytical, numerical, rel, True, "ok")
        return GradientCheckResult(
            analytical, numerical, rel, False,
            f"not differentiable here: the one-sided slopes differ by {gap:.3g} at every step "
            f"size (a kink at x)")
    if kink:
        reason = ("not differentiable here: the one-sided differences disagree inside the "
                  "stencil [x - eps, x + eps] at every step size (a pole or a kink)")
    elif jump:
        reason = ("not differentiable here: f jumps inside the stencil [x - eps, x + eps] "
                  "(f(x+h) - f(x-h) does not shrink with h)")
    else:
        reason = f"mismatch: |analytical - numerical| = {diff:.3g} > atol + rtol*|numerical|"
        masked = _first_non_real(value)
        if masked is not None:  # f is REAL around x, but a node of its graph is not, at x
            reason = (f"masked at x: an intermediate {masked.op} node is {masked.value} at x, "
                      f"and Mask-REAL passes no gradient through a non-REAL node, while f itself "
                      f"is REAL across the stencil (a removable singularity of the expression as "
                      f"written, not a wrong rule; rewrite f without it); |analytical - "
                      f"numerical| = {diff:.3g}")
        elif one_sided_differ:  # smooth, but curved on the scale of eps
            reason += (f" (f is smooth here but curves strongly within eps={eps!r}: the one-sided "
                       f"differences disagree and their gap shrinks with the step; try a smaller "
                       f"eps)")
        reason += _mode_hint()
    return GradientCheckResult(analytical, numerical, rel, passed, reason)


def _first_non_real(root: TRNode) -> Any:
    """The first node (inputs before outputs) of ``root``'s graph whose value is not REAL (the
    Φ-valued identity nodes by which a reduction reaches its unselected entries excepted)."""
    for node in topological_sort(root):
        v = node._v
        if v - v != 0.0 and not (node.op == "identity" and node._a._v - node._a._v == 0.0):
            return node
    return None


def _mode_hint() -> str:
    """What a mismatch may owe to the active gradient mode ('' under Mask-REAL)."""
    mode = MODE.get()
    if mode is GradientMode.MASK_REAL:
        return ""
    return (f" (the active gradient mode is {mode.value!r}, whose rules bound gradients near "
            f"poles on purpose; check the exact rules under mask-real)")
