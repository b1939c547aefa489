"""``TRNode``: a scalar node of the transreal tape, and the graph-recording machinery.

A node stores its forward value as an IEEE *code* (a plain float, see
:mod:`zeroproof.core.scalar`), an op code, its input nodes, an auxiliary datum and (when recorded)
a creation sequence number; ``.value`` and ``.gradient`` build :class:`~zeroproof.core.TRScalar`
views on demand. Keeping floats inside the
tape is what makes it fast: a forward step is one kernel call and one small object.
"""
from __future__ import annotations

import itertools
import math
import threading
from contextvars import ContextVar
from typing import Any, Iterator

import numpy as np

from ..core._context import reusable_context
from ..core import kernels as K
from ..core._copying import LeafCopies
from ..core._parse import (
    check_bool, check_real, no_modulus, no_ordering, short_repr, spelled_differently,
)
from ..core.scalar import (
    _CODE_OF_TAG, REAL, TRScalar, TRTag, _check_real, _is_number, scalar_from_code, tag_of_code,
)
from .ops_table import (
    ABS, ADD, CONST_OPS, DIV, ID, LEAF, MEAN, MUL, NEG, OP_NAMES, POW, REFLECTED_CONST_OPS, SUB, SUM,
)

__all__ = ["TRNode", "no_grad", "enable_grad", "is_grad_enabled", "stop_gradient"]

# False inside `no_grad()`: lifted ops then record nothing. Per thread / asyncio task.
GRAD_ENABLED: ContextVar[bool] = ContextVar("zeroproof_grad_enabled", default=True)


class _NodeType(type):
    """The metaclass of :class:`TRNode`: it supplies the public constructor, so that the class
    itself has no ``__init__``.

    The tape allocates nodes with ``_alloc()``, ``type.__call__`` bound to ``TRNode``: with no
    Python ``__init__`` on the class that is CPython's plain allocation, about 20 ns cheaper per
    node than ``object.__new__(TRNode)`` (which parses an argument tuple), i.e. several per cent
    of building a node. ``TRNode(value, requires_grad=False, name=None)`` runs
    :func:`_construct`. Subclasses keep the ordinary protocol: a subclass of ``TRNode`` gets
    :class:`_SubclassInit` as its base in ``TRNode``'s place, whose ``__init__`` is the
    constructor, so ``super().__init__(value, requires_grad, name)`` works in a subclass's own
    ``__init__``.
    """

    def __new__(mcls, name: str, bases: tuple, namespace: dict, **kwargs: Any) -> Any:
        init_base = globals().get("_SubclassInit")  # defined right after TRNode
        if init_base is not None:
            bases = tuple(init_base if b is TRNode else b for b in bases)
        return super().__new__(mcls, name, bases, namespace, **kwargs)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is TRNode:
            return _construct(*args, **kwargs)
        return type.__call__(cls, *args, **kwargs)

    @property
    def __signature__(cls) -> Any:
        """What :func:`inspect.signature` (and ``help``) show for the class's constructor."""
        import inspect

        if cls is TRNode:
            return inspect.signature(_construct)
        sig = inspect.signature(cls.__init__)  # without ``self`` and ``-> None``:
        return sig.replace(parameters=tuple(sig.parameters.values())[1:],
                           return_annotation=inspect.Signature.empty)


class TRNode(LeafCopies, metaclass=_NodeType):
    """A scalar node of the transreal autodiff tape.

    ``TRNode(value, requires_grad=False, name=None)`` makes a leaf (``value``: a TRScalar or a
    real number); :meth:`parameter` and :meth:`constant` are the usual spellings.

    Build leaves with :meth:`parameter` (requires grad) and :meth:`constant`; combine them with
    the lifted ops of :mod:`zeroproof.autodiff.tr_ops_grad` or with ``+ - * / ** abs``; call
    :meth:`backward` on the result.

    >>> x = TRNode.parameter(0.5)
    >>> y = 1 / (x - 1)
    >>> y.backward()
    >>> x.gradient
    TRScalar(-4.0, REAL)
    """

    # ``_a``/``_b``: the first and second recorded input (``_b`` is None for a unary op and unset
    # for an op with a folded constant operand; a leaf or an unrecorded result has ``_a`` None and
    # ``_b`` unset). Two slots rather than a tuple: one object fewer to allocate and free per node.
    # No ``__weakref__`` slot: nodes are made by the million, and it costs 8 bytes and a check at
    # every deallocation; hold nodes strongly, or key a side table by ``id(node)``.
    __slots__ = ("_v", "_op", "_a", "_b", "_k", "_g", "_grad", "_seq", "_name", "_rg")
    __array_ufunc__ = None  # NumPy must not turn a node into an object array

    # construction ------------------------------------------------------------------------
    @classmethod
    def parameter(cls, value: Any, name: str | None = None) -> "TRNode":
        """A leaf that requires grad. ``value``: a TRScalar or a real number.

        >>> TRNode.parameter(2.0, name="w")
        TRNode(2.0, REAL, name='w', requires_grad=True)
        """
        return cls(value, True, name)

    @classmethod
    def constant(cls, value: Any, name: str | None = None) -> "TRNode":
        """A leaf that requires no grad.

        >>> from zeroproof import pinf
        >>> TRNode.constant(pinf()).tag
        <TRTag.PINF: 1>
        """
        return cls(value, False, name)

    # views ---------------------------------------------------------------------------------
    @property
    def value(self) -> TRScalar:
        """The forward value as a :class:`TRScalar`."""
        return scalar_from_code(self._v)

    @property
    def tag(self) -> TRTag:
        """The tag of the forward value."""
        return tag_of_code(self._v)

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this node (a bool). Settable on leaves only, as in
        PyTorch: turning a constant into a source before building the graph
        (``c.requires_grad = True``), or freezing a parameter; a computed node keeps the flag its
        inputs gave it (use :meth:`detach` to cut a result off its graph).

        >>> c = TRNode.constant(2.0); c.requires_grad = True; (c * c).requires_grad
        True
        """
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        flag = check_bool("requires_grad", flag)
        if self._op != LEAF and flag is not self._rg:
            raise ValueError(
                f"requires_grad can only be changed on leaves; this node was computed by "
                f"{OP_NAMES[self._op]} (use node.detach() for a constant copy of its value)")
        self._rg = flag

    grad = spelled_differently("grad")  # PyTorch's names: an AttributeError naming ours
    data = spelled_differently("data")

    @property
    def gradient(self) -> TRScalar | None:
        """Accumulated gradient (``None`` before any backward pass reached this node)."""
        g = self._grad
        if g is None:
            return None
        return scalar_from_code(g._v if isinstance(g, TRNode) else g)

    @property
    def grad_node(self) -> "TRNode | None":
        """The accumulated gradient as a node (``None`` before any backward pass reached this
        node). After ``backward(create_graph=True)`` it is connected to the graph, so it can be
        differentiated again — what PyTorch's ``x.grad`` is after ``backward(create_graph=True)``;
        otherwise it is a constant node of :attr:`gradient`.

        >>> x = TRNode.parameter(3.0)
        >>> (x * x * x).backward(create_graph=True)
        >>> x.gradient, x.grad_node.requires_grad
        (TRScalar(27.0, REAL), True)
        >>> g = x.grad_node; x.zero_grad(); g.backward(); x.gradient   # d(3x²)/dx = 6x
        TRScalar(18.0, REAL)
        """
        g = self._grad
        if g is None or isinstance(g, TRNode):
            return g
        return _leaf(g, False)

    @property
    def name(self) -> str | None:
        """Optional label of the node, shown in its repr (``None`` if unset); settable."""
        return getattr(self, "_name", None)

    @name.setter
    def name(self, name: str | None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__} "
                            f"{short_repr(name, 60)}")
        self._name = name

    @property
    def is_leaf(self) -> bool:
        """True for parameters and constants (nodes not produced by an op)."""
        return self._op == LEAF

    @property
    def op(self) -> str:
        """Name of the op that produced this node (``"leaf"`` for leaves)."""
        return OP_NAMES[self._op]

    @property
    def inputs(self) -> tuple["TRNode", ...]:
        """The input nodes recorded for this node (empty for leaves and unrecorded nodes).

        A finite float operand of ``+ − ×`` is folded into its node rather than stored as a leaf;
        it is returned here as a new constant leaf each time."""
        if self._op in _CONST_OP_CODES:
            c = _leaf(self._k, False)
            return (c, self._a) if self._op in REFLECTED_CONST_OPS else (self._a, c)
        return inputs_of(self)

    @property
    def x_value(self) -> float | None:
        """Input value attached by a layer for hybrid forced pole exploration (div/log/sqrt)."""
        if self._op == POW or self._op in _CONST_OP_CODES or self._op in _REDUCTION_OPS:
            return None
        return getattr(self, "_k", None)

    @x_value.setter
    def x_value(self, x: float | None) -> None:
        if self._op == POW:
            raise ValueError("x_value cannot be attached to a pow_int node (its aux is the exponent)")
        if self._op in _REDUCTION_OPS:
            raise ValueError(f"x_value cannot be attached to a {OP_NAMES[self._op]} node (its aux "
                             f"describes the reduction); x_value is read by the divisions, logs "
                             f"and square roots of hybrid mode")
        if self._op in _CONST_OP_CODES:
            raise ValueError(f"x_value cannot be attached to a {OP_NAMES[self._op]} node with a "
                             f"folded constant operand (its aux is the constant); x_value is "
                             f"read by the divisions, logs and square roots of hybrid mode")
        self._k = None if x is None else check_real(
            "x_value", x, "a finite real number (the input a layer attaches) or None",
            math.isfinite)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``.gradient`` becomes ``None``)."""
        self._grad = None

    def detach(self) -> "TRNode":
        """A new constant leaf with the same value (no graph, no gradient).

        >>> TRNode.parameter(1.0).detach().requires_grad
        False
        """
        return _leaf(self._v, False)

    # copying and pickling: leaves only (recorded nodes carry creation numbers that must stay
    # unique among the nodes one backward pass visits) --------------------------------------
    def _leaf_state(self, what: str) -> tuple:
        if self._op != LEAF:
            raise TypeError(
                f"{what} of a TRNode computed by an op is not supported: it belongs to a graph; "
                f"{what} node.detach() (a constant leaf) or the parameters it was computed from")
        g = self._grad  # (a gradient node is kept as its value: only leaves are copied)
        return self._v, self._rg, getattr(self, "_name", None), (
            g._v if isinstance(g, TRNode) else g)

    def backward(self, grad_output: Any = None, create_graph: bool = False) -> None:
        """Accumulate ``d self / d node`` into ``.gradient`` of every requires-grad node reached.

        Seeds ``R(1)`` (or ``grad_output``). Mask-REAL applies in every mode: a node whose forward
        value is not REAL sends nothing to its inputs; an input reached by no contribution gets
        ``R(0)``. Runs iteratively, so graphs of any depth work. With ``create_graph=True`` (a
        bool) the gradients are also built as graph nodes, read from :attr:`grad_node`, which
        can be differentiated again (like PyTorch); ``.gradient`` holds the same values.

        >>> x = TRNode.parameter(2.0); (x * x).backward(); x.gradient
        TRScalar(4.0, REAL)
        """
        _backward_pass(self, grad_output, create_graph)

    def __bool__(self) -> bool:
        """The truth value of the node's value, as for a TRScalar (SPEC §2) and a one-element
        TRTensor (and a one-element tensor in PyTorch): REAL ≠ 0 and ±∞ are true; 0, Φ and ⊥
        false. (``if node:`` reads the value; it does not test whether there is a node.)

        >>> bool(TRNode.parameter(0.0)), bool(TRNode.parameter(-2.0))
        (False, True)
        """
        v = self._v
        return v != 0.0 if v - v == 0.0 else v == v  # ±∞ true; Φ and ⊥ (NaN codes) false

    # printing ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        v = self.value
        inner = f"{v._value!r}, REAL" if v._tag is REAL else v._tag.name
        parts = [inner]
        name = getattr(self, "_name", None)
        if name is not None:
            parts.append(f"name={name!r}")
        if self._op != LEAF:
            parts.append(f"op={OP_NAMES[self._op]}")
        if self._rg:
            parts.append("requires_grad=True")
        return f"TRNode({', '.join(parts)})"

    def __str__(self) -> str:
        return str(self.value)

    # Graph-building operators (numbers and TRScalars on either side); + − × ÷ are attached
    # below the class with the kernels' fast path inlined.
    __add__: Any
    __radd__: Any
    __sub__: Any
    __rsub__: Any
    __mul__: Any
    __rmul__: Any
    __truediv__: Any
    __rtruediv__: Any

    def __neg__(self) -> "TRNode":
        return _unary(NEG, K.f_neg, self)

    def __pos__(self) -> "TRNode":
        return self

    def __abs__(self) -> "TRNode":
        return _unary(ABS, K.f_abs, self)

    def __pow__(self, k: Any, modulo: Any = None) -> "TRNode":
        if modulo is not None:
            no_modulus("TRNode", modulo)
        return pow_node(self, k)

    def __rpow__(self, base: Any) -> Any:
        raise TypeError("x ** node is not supported: exponents must be Python ints")

    # equality and hashing are by identity (object defaults), as for tensors.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __format__(self, spec: str) -> str:
        """``format(node, spec)`` formats the node's value (``f"{loss:.4f}"`` in a training log);
        an empty spec gives ``str(node)``."""
        return format(self.value, spec) if spec else str(self)

    def item(self) -> float:
        """The value as a Python float (PyTorch's ``t.item()``): REAL → the float, ±∞ → ±inf,
        Φ and ⊥ → NaN. ``node.value`` is the ``TRScalar`` (tag kept).

        >>> TRNode.constant(2.5).item()
        2.5
        """
        return float(self.value)

    __lt__ = __le__ = __gt__ = __ge__ = no_ordering(
        "TRNode", "node.value < 1 or max(a, b, key=lambda n: n.value)")


_alloc = type.__call__.__get__(TRNode)  # a new TRNode without running any Python code (above)


# ---- recording ------------------------------------------------------------------------------
def _leaf_code(value: Any, argname: str) -> float:
    if value.__class__ is TRScalar or isinstance(value, TRScalar):
        return value._value if value._tag is REAL else _CODE_OF_TAG[value._tag]
    if _is_number(value):
        return _check_real(value, argname)
    raise TypeError(
        f"{argname} must be a TRScalar or a real number (int, float), got "
        f"{type(value).__name__} {short_repr(value, 60)}"
    )


# How a leaf is made, written once: ``_leaf``, ``_set_leaf`` (a subclass's ``__init__``) and the
# constant leaf inlined into ``/``.
_LEAF_TEMPLATE = """{n}._v = {value}
{n}._op = LEAF
{n}._a = None
{n}._k = None
{n}._g = None
{n}._grad = None
{n}._rg = {requires_grad}"""


def _leaf_code_src(indent: int, n: str, value: str, requires_grad: str, alloc: bool = True) -> str:
    code = _LEAF_TEMPLATE.format(n=n, value=value, requires_grad=requires_grad)
    if alloc:
        code = f"{n} = _alloc()\n" + code
    return "\n".join(" " * indent + line for line in code.splitlines())


exec(compile(f"""
def _leaf(code, requires_grad):
{_leaf_code_src(4, "n", "code", "requires_grad")}
    return n

def _set_leaf(n, code, requires_grad):
{_leaf_code_src(4, "n", "code", "requires_grad", alloc=False)}
""", "<tr_node._leaf>", "exec"), globals())
_leaf: Any
_set_leaf: Any


def _rebuild_leaf(code: float, requires_grad: bool, name: Any, grad: Any) -> TRNode:
    """A leaf from its state (copy, deepcopy and unpickling of :class:`TRNode`)."""
    n = _leaf(code, requires_grad)
    if name is not None:
        n._name = name
    n._grad = grad
    return n


def _leaf_args(value: Any, requires_grad: Any, name: Any) -> float:
    """The code of ``value`` after checking the public constructor's arguments."""
    if isinstance(value, TRNode):
        raise TypeError("TRNode(value): value is already a TRNode; use node.detach() to copy it")
    code = _leaf_code(value, "TRNode(value): value")
    if not isinstance(requires_grad, bool):
        raise TypeError(f"TRNode(requires_grad): requires_grad must be a bool, got "
                        f"{type(requires_grad).__name__} {short_repr(requires_grad, 60)}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"TRNode(name): name must be a str or None, got "
                        f"{type(name).__name__} {short_repr(name, 60)}")
    return code


def _construct(value: Any = 0.0, requires_grad: bool = False, name: str | None = None) -> TRNode:
    return _rebuild_leaf(_leaf_args(value, requires_grad, name), requires_grad, name, None)


_construct.__name__ = _construct.__qualname__ = "TRNode"  # argument errors read "TRNode() ..."


class _SubclassInit(TRNode):
    """Stands in for ``TRNode`` among the bases of a subclass (see :class:`_NodeType`): the
    ordinary ``__init__`` that subclasses call with ``super().__init__(...)``."""

    __slots__ = ()

    def __init__(self, value: Any = 0.0, requires_grad: bool = False,
                 name: str | None = None) -> None:
        _set_leaf(self, _leaf_args(value, requires_grad, name), requires_grad)
        if name is not None:
            self._name = name


TRNode._rebuild = staticmethod(_rebuild_leaf)  # type: ignore[assignment]


def as_node(x: Any, argname: str = "x") -> TRNode:
    """``x`` as a node: nodes pass through; TRScalars and numbers become constant leaves."""
    if x.__class__ is TRNode:
        return x
    if isinstance(x, TRNode):
        return x
    if x.__class__ is TRScalar:
        return _leaf(x._value if x._tag is REAL else _CODE_OF_TAG[x._tag], False)
    if _is_number(x):
        return _leaf(_check_real(x, argname), False)
    if getattr(x, "__tr_dispatch__", None) is not None and hasattr(x, "requires_grad"):
        raise TypeError(  # a batched-tape tensor: the other tape
            f"{argname}: a {type(x).__name__} (batched tape) does not combine with a scalar "
            f"TRNode; build the whole computation on one tape (the batched one holds scalars "
            f"too: za.parameter(2.0)), or use node.value as a constant in the batched graph")
    if (hasattr(x, "shape") or hasattr(x, "__array__") or hasattr(x, "codes")) and not (
            isinstance(x, np.generic) and np.ndim(x) == 0):
        raise TypeError(
            f"{argname}: cannot mix a scalar TRNode with {type(x).__name__}; arrays belong on the "
            "batched tape (zeroproof.array), or pass plain numbers"
        )
    raise TypeError(
        f"{argname} must be a TRNode, TRScalar or real number (int, float), got "
        f"{type(x).__name__} {short_repr(x, 60)}"
    )


# How a new node is made, written once: used by ``_record`` and inlined into the generated
# operator methods (a call would cost a fifth of an op there).
_NODE_TEMPLATE = """n = _alloc()
n._v = {value}
n._g = None
n._grad = None{aux}
if {track} and (not _no_grad_blocks or _grad_enabled()):
    n._op = {op}
    n._a = {a}{set_b}{aux_tracked}
    n._seq = next(_seq_counter)
    n._rg = True
else:
    n._op = LEAF
    n._a = None
    n._rg = False"""


def _node_code(indent: int, value: str, track: str, op: str, a: str, b: str | None,
               aux: str = "", aux_tracked: str = "") -> str:
    """Source that makes node ``n`` with inputs ``a`` and ``b`` (``"None"`` for a unary op;
    ``None`` leaves ``_b`` unset: an op with a folded constant) (``aux``: set the aux slot always;
    ``aux_tracked``: only when the node is recorded)."""
    code = _NODE_TEMPLATE.format(
        value=value, track=track, op=op, a=a, set_b="" if b is None else f"\n    n._b = {b}",
        aux=f"\nn._k = {aux}" if aux else "",
        aux_tracked=f"\n    n._k = {aux_tracked}" if aux_tracked else "")
    return "\n".join(" " * indent + line for line in code.splitlines())


_RECORD_SRC = f"""
def _record(code, op, a, b, aux, track):
    \"\"\"A new node with value ``code``; records ``op`` and its inputs ``a`` and ``b`` (None for a
    unary op) when ``track`` (some input requires grad) and recording is enabled in this
    context.\"\"\"
{_node_code(4, "code", "track", "op", "a", "b", aux="aux")}
    return n
"""
exec(compile(_RECORD_SRC, "<tr_node._record>", "exec"), globals())
_record: Any


_NAN = float("nan")  # read by the generated division method (a zero divisor takes the kernel)
_CONST_OP_CODES = frozenset(code for pair in CONST_OPS.values() for code in pair)
_REDUCTION_OPS = frozenset((SUM, MEAN))  # their aux (the reduction's shape and count) is not free
_grad_enabled = GRAD_ENABLED.get
# Number of `no_grad()` blocks open in any thread. While it is 0 (the common case) ops skip the
# per-context lookup; otherwise they consult GRAD_ENABLED, which is what decides.
_no_grad_blocks = 0
_NO_GRAD_LOCK = threading.Lock()
_backward_pass: Any = None  # set by zeroproof.autodiff.backward (which imports this module)
# Creation sequence of recorded nodes: inputs always exist before the nodes built from them, so
# decreasing ``_seq`` is a reverse topological order (the backward sweep relies on it).
_seq_counter = itertools.count()
_next_seq = _seq_counter.__next__  # (the generated node code calls ``next(_seq_counter)``: faster)


def inputs_of(node: TRNode) -> tuple:
    """The recorded input nodes of ``node`` as a tuple (empty for leaves and unrecorded nodes)."""
    a = node._a
    if a is None:
        return ()
    if node._op in _CONST_OP_CODES:  # the folded constant is no node; ``_b`` is unset
        return (a,)
    b = node._b
    return (a,) if b is None else (a, b)


def next_pending(pending: dict, s: int) -> int:
    """The largest creation number in ``pending`` (all of them below ``s``) after the sweep met a
    gap at ``s``: a short downward probe first — a graph recorded while other computations also
    recorded nodes has gaps of a few numbers all over, and a full scan at each would make
    backward quadratic — then a scan of the pending numbers.

    >>> next_pending({3: "a", 9: "b"}, 10), next_pending({3: "a"}, 100)
    (9, 3)
    """
    for t in range(s - 1, s - 33, -1):
        if t in pending:
            return t
    return max(pending)


def _binary(op: int, kernel: Any, a: Any, b: Any) -> TRNode:
    if a.__class__ is not TRNode:
        a = as_node(a, "a")
    if b.__class__ is not TRNode:
        b = as_node(b, "b")
    return _record(kernel(a._v, b._v), op, a, b, None, a._rg or b._rg)


def finite_src(x: str) -> str:
    """Source of the test "the float ``x`` is finite" in generated hot code: two comparisons with
    inf (the literal ``1e999`` reads as inf, a constant), which make no new float, unlike
    ``x - x == 0.0``.

    >>> eval(finite_src("v"), {"v": 1.5}), eval(finite_src("v"), {"v": float("nan")})
    (True, False)
    """
    return f"({x} < 1e999 and {x} > -1e999)"


# The operator methods, generated from one template. The factory runs in this module's globals,
# so the method reads ``_no_grad_blocks`` live and gets ``kernel``/``op``/``const_op`` as cells.
_METHOD_TEMPLATE = """
def factory(kernel, op, const_op):
    def method(self, o):
        if o.__class__ is not TRNode:
            if {float_test}:  # the common constant: a float
{const_branch}
            else:
                o = as_node(o, "other operand")
        {order}
        av = a._v
        bv = b._v
        r = {expr}
        if not {r_finite}:
            r = kernel(av, bv)
{make_node}
        return n
    return method
"""
# A finite float operand of + − × is folded into the node (op ``const_op``, the constant in the
# aux slot ``_k``, one input): no constant leaf is made, and backward has one input to visit.
# A finite result means a finite constant (x + ±∞, x − ±∞ and x × ±∞ are never finite, nor is
# anything with NaN), so the constant is tested only where the result is not finite; a
# non-finite one goes the way of any other operand (``as_node``: ±∞ and NaN are refused).
_CONST_BRANCH = """
                {const_order}
                r = {expr}
                if not {r_finite}:
                    if o - o != 0.0:
                        return method(self, as_node(o, "other operand"))
                    r = kernel(av, bv)
{make_node}
                return n"""
# ``/`` keeps a constant leaf: the division rules depend on the gradient mode (a constant divisor
# saturates like any other), so a float divisor or dividend stays an ordinary input.
_LEAF_CONSTANT = _leaf_code_src(16, "c", "o", "False") + "\n" + " " * 16 + "o = c"


def _make_binary_method(op: int, kernel: Any, expr: str, reflected: bool) -> Any:
    """Operator method with the kernel's own fast path inlined: the IEEE result of ``expr`` when
    it is finite (exactly what the kernel returns then); otherwise the kernel decides. Generated
    from one template so that the eight methods share a single body.

    Nodes of ``+ − ×`` leave the aux slot ``_k`` unset (no rule of theirs reads it; readers use
    ``getattr(node, "_k", None)``); division nodes set it, since hybrid rules read ``x_value``."""
    const_op = CONST_OPS[op][1 if reflected else 0] if op in CONST_OPS else None
    if const_op is None:
        branch, float_test = _LEAF_CONSTANT, "o.__class__ is float and o - o == 0.0"
    else:
        float_test = "o.__class__ is float"
        branch = _CONST_BRANCH.format(
            const_order="av = o; bv = self._v" if reflected else "av = self._v; bv = o",
            expr=expr, r_finite=finite_src("r"),
            make_node=_node_code(16, "r", "self._rg", "const_op", "self", None,
                                 aux_tracked="o"))
    src = _METHOD_TEMPLATE.format(float_test=float_test,
        order="a = o; b = self" if reflected else "a = self; b = o", expr=expr,
        r_finite=finite_src("r"), const_branch=branch.strip("\n"),
        make_node=_node_code(8, "r", "(a._rg or b._rg)", "op", "a", "b",
                             aux="None" if const_op is None else ""))
    scope: dict[str, Any] = {}
    exec(compile(src, f"<TRNode.{OP_NAMES[op]}>", "exec"), globals(), scope)
    return scope["factory"](kernel, op, const_op)


def _unary(op: int, kernel: Any, a: Any) -> TRNode:
    if a.__class__ is not TRNode:
        a = as_node(a, "x")
    return _record(kernel(a._v), op, a, None, None, a._rg)


def pow_node(x: Any, k: Any) -> TRNode:
    from ..core.ops import check_int_exponent

    k = check_int_exponent(k)
    if x.__class__ is not TRNode:
        x = as_node(x, "x")
    return _record(K.f_pow_int(x._v, k), POW, x, None, k, x._rg)


def identity_node(x: TRNode) -> TRNode:
    """A recorded copy of ``x`` (value and gradient pass through unchanged)."""
    return _record(x._v, ID, x, None, None, x._rg)


for _op, _kern, _expr, _name in (
    (ADD, K.f_add, "av + bv", "add"), (SUB, K.f_sub, "av - bv", "sub"),
    (MUL, K.f_mul, "av * bv", "mul"),
    (DIV, K.f_div, "av / bv if bv else _NAN", "truediv"),  # a zero divisor takes the slow path
):
    setattr(TRNode, f"__{_name}__", _make_binary_method(_op, _kern, _expr, False))
    setattr(TRNode, f"__r{_name}__", _make_binary_method(_op, _kern, _expr, True))


def make_inplace(forward: Any, symbol: str, kind: str, update: Any) -> Any:
    """The augmented assignment ``x ⊙= o`` for a tape type (``forward``: its ``__⊙__``).

    On a parameter (a requires-grad leaf) inside ``no_grad()`` it is an optimizer step, as in
    PyTorch: ``update(x, result)`` stores the new value in ``x`` itself, which stays the same
    parameter. Anything else rebinds the name to the new result, as for Python numbers; on a
    parameter outside ``no_grad()`` that silently replaces the parameter by a graph node, so it
    warns."""
    def method(self: Any, other: Any) -> Any:
        result = forward(self, other)
        if result is NotImplemented or not (self.is_leaf and self.requires_grad):
            return result
        if not GRAD_ENABLED.get():
            update(self, result)
            return self
        import warnings

        warnings.warn(
            f"`p {symbol}= ...` on a parameter (a requires-grad leaf {kind}) outside no_grad() "
            f"builds a new node: the name no longer refers to the parameter; for an update step "
            f"write `with no_grad(): p {symbol}= ...` (updates p in place), or `p = p {symbol} "
            f"...` if a new node is meant", UserWarning, stacklevel=2)
        return result
    method.__name__ = forward.__name__.replace("__", "__i", 1)
    return method


def _store_value(node: TRNode, result: TRNode) -> None:
    node._v = result._v


for _name, _symbol in (("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/")):
    setattr(TRNode, f"__i{_name}__",
            make_inplace(getattr(TRNode, f"__{_name}__"), _symbol, "TRNode", _store_value))


# ---- contexts ---------------------------------------------------------------------------------
@reusable_context
def no_grad() -> Iterator[None]:
    """Ops inside the block record nothing (results are constants). Per thread/task.

    >>> x = TRNode.parameter(1.0)
    >>> with no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    global _no_grad_blocks
    token = GRAD_ENABLED.set(False)
    with _NO_GRAD_LOCK:
        _no_grad_blocks += 1
    try:
        yield
    finally:
        GRAD_ENABLED.reset(token)
        with _NO_GRAD_LOCK:
            _no_grad_blocks -= 1


@reusable_context
def enable_grad() -> Iterator[None]:
    """Re-enable recording inside a ``no_grad()`` block.

    >>> from zeroproof.autodiff.tr_node import enable_grad, no_grad
    >>> x = TRNode.parameter(1.0)
    >>> with no_grad(), enable_grad():
    ...     (x * 2).requires_grad
    True
    """
    token = GRAD_ENABLED.set(True)
    try:
        yield
    finally:
        GRAD_ENABLED.reset(token)


def is_grad_enabled() -> bool:
    """Whether lifted ops record in this thread/task.

    >>> from zeroproof.autodiff.tr_node import is_grad_enabled, no_grad
    >>> with no_grad():
    ...     is_grad_enabled()
    False
    """
    return GRAD_ENABLED.get()


def stop_gradient(x: Any) -> Any:
    """The value of ``x`` with the gradient blocked (a constant leaf; batched tensors likewise;
    NumPy arrays and TRArrays become constants of the batched tape).

    >>> x = TRNode.parameter(3.0)
    >>> y = x * stop_gradient(x)
    >>> y.backward(); x.gradient
    TRScalar(3.0, REAL)
    """
    if x.__class__ is TRNode:
        return _leaf(x._v, False)
    sg = getattr(type(x), "__tr_stop_gradient__", None)
    if sg is not None:
        return sg(x)
    if isinstance(x, TRNode):  # a subclass instance: the same constant leaf
        return _leaf(x._v, False)
    if not _is_number(x) and hasattr(x, "shape"):
        # An array (NumPy, TRArray) is a constant already: a constant of the batched tape.
        from ..array.tape import as_tensor

        return as_tensor(x, "stop_gradient(x): x")
    return as_node(x, "stop_gradient(x): x")


def _dispatch(name: str, args: tuple) -> Any:
    from . import tr_ops_grad

    fn = getattr(tr_ops_grad, name, None)
    if fn is None:
        raise TypeError(f"{name} does not accept TRNode arguments; use the lifted ops on nodes")
    return fn(*args)


TRNode.__tr_dispatch__ = staticmethod(_dispatch)  # type: ignore[attr-defined]
