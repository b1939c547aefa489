"""The batched tape: ``TRTensor`` nodes that hold arrays, with the scalar tape's rules per element.

Forward values come from the vectorized kernels of :mod:`zeroproof.array.kernels` (identical to the
scalar ops elementwise). Local derivatives come from the one rule table,
:mod:`zeroproof.autodiff.rules`, bound to a NumPy vocabulary. The sweep is the scalar tape's (one
pass over pending nodes in decreasing creation number) with two additions that keep it equal to
running the scalar tape on every element:

* **Mask-REAL per element.** A node remembers whether any element may be non-REAL (``_nf``: an
  input had one, or its kernel raised an IEEE overflow / divide / invalid event). Only such nodes
  compute a REAL mask in backward; elsewhere the sweep is plain NumPy arithmetic.
* **"Nothing received" per element.** Along with each gradient the sweep carries a mask of the
  elements that received a contribution (``None`` = all). A masked element sends *nothing* (never
  ``0 ×`` something, which would turn ``0 × ∞`` into Φ), exactly as a masked scalar node does.

Gradients of broadcast inputs are summed back to the input's shape (IEEE sums, so the order of
summation may differ from a scalar loop; values agree to rounding).

>>> import numpy as np
>>> import zeroproof.array as za
>>> x = za.constant(np.array([0.5, 1.0, 2.0]))
>>> w = za.parameter(np.array(1.0))
>>> y = (1 / (1 / (x - w))).sum()    # at x = 1 the inner node is +∞ (masked), 1/∞ = 0
>>> y.value
TRArray(0.5, dtype=float64)
>>> y.backward(); w.gradient         # d/dw (x − w) = −1 on the two REAL paths only
TRArray(-2.0, dtype=float64)
"""
from __future__ import annotations

import dis
import math
import sys
import weakref
from typing import Any, Sequence

import numpy as np

from ..autodiff import tr_node as _scalar_tape
from ..autodiff.backward import PASS_LOCK, rule_tables_for_pass
from ..core._copying import LeafCopies
from ..core._parse import (
    as_float, axis_index, check_bool, is_iterable, no_modulus, no_ordering, parse_enum,
    short_repr, spelled_differently,
)
from ..autodiff.rules import inplace_forms, needed_values
from ..autodiff.hybrid_gradient import ACTIVE_PASS
from ..autodiff.ops_table import (
    ABS, ADD, CONCAT, COS, DIV, EXP, ID, INDEX, LEAF, LOG, MATMUL, MEAN, MUL, N_OPS, NEG, OP_NAMES,
    POW, RELU, RESHAPE, SIGN, SIN, SQRT, SUB, SUM, TANH, WHERE,
)
from ..core.ops import check_int_exponent
from ..core.reductions import ReductionMode
from ..core.scalar import REAL, TRScalar, TRTag, _CODE_OF_TAG, _check_real, _is_number
from ..core.wheel import WHEEL
from . import kernels as K
from .trarray import (
    TRArray, _as_trarray, _from_real, _matmul_shape, _parts, expanded_shape, numpy_function,
    numpy_reduction_args, numpy_ufunc, reshape_dims, squeezed_shape, transpose_axes,
)

__all__ = ["TRTensor", "parameter", "constant", "as_tensor", "grad", "tensor_op", "relu", "log",
           "exp", "sqrt", "sign", "pow_int", "matmul", "sin", "cos", "tanh"]

_new = object.__new__
_NONE = object()  # "reached, nothing received"
_fp_events = K.fp_events  # IEEE events counted by the kernels: a free "may be non-REAL" signal
_next_seq = _scalar_tape._next_seq  # one creation counter for both tapes
_next_pending = _scalar_tape.next_pending  # and one way to skip a gap in it
_grad_enabled = _scalar_tape._grad_enabled


def _nonfinite_any(codes: Any, bot: Any) -> bool:
    if bot is not None:
        return True
    c = np.asarray(codes)
    return not bool(np.isfinite(c).all())


class TRTensor(LeafCopies):
    """A node of the batched tape: an array of transreal values with a gradient.

    Build leaves with :func:`parameter` / :func:`constant` (or ``TRTensor.parameter``); combine
    with ``+ − × ÷ ** @``, ``abs``, the ``zeroproof.array`` functions or ``zeroproof``'s ``tr_*``
    ops; reduce with ``.sum()``/``.mean()``; call ``.backward()`` on a one-element result.

    >>> t = TRTensor.parameter(np.array([1.0, 2.0]), name="w")
    >>> (t * t).sum().backward(); t.gradient
    TRArray([2.0, 4.0], dtype=float64)
    """

    # _param: created as (or made) a parameter; stays True when requires_grad is turned off,
    # so a frozen parameter is still one of its module's parameters (as in PyTorch)
    # _vb: the codes, or _MOVED after an elementwise op wrote its result into this tensor's
    # buffer (see _donor_buffer); _src: how to recompute them then (or, before, weak references
    # to the inputs to build that recipe from). Read the codes through the _v property.
    __slots__ = ("_vb", "_src", "_nbig", "_bot", "_nf", "_rec", "_grad", "_name", "_param",
                 "__weakref__")
    __array_priority__ = 1000

    @property
    def _v(self) -> Any:
        v = self._vb
        return _restore(self) if v is _MOVED else v

    @_v.setter
    def _v(self, v: Any) -> None:
        self._vb = v
        self._src = None
        self._nbig = False

    def __init__(self, value: Any, requires_grad: bool = False, name: str | None = None) -> None:
        codes, bot = _leaf_codes(value, "TRTensor(value): value")
        _init_leaf(self, codes, bot, check_bool("TRTensor(requires_grad): requires_grad",
                                                requires_grad))
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"name must be a str or None, got {type(name).__name__}")
            self._name = name

    @classmethod
    def parameter(cls, value: Any, name: str | None = None) -> "TRTensor":
        """A leaf that requires grad (values: array-like, TRArray, number)."""
        return cls(value, True, name)

    @classmethod
    def constant(cls, value: Any, name: str | None = None) -> "TRTensor":
        """A leaf that requires no grad."""
        return cls(value, False, name)

    # views ---------------------------------------------------------------------------------
    @property
    def value(self) -> TRArray:
        """The forward value as a :class:`TRArray`."""
        return TRArray.from_codes(np.asarray(self._v), self._bot)

    @property
    def codes(self) -> np.ndarray:
        """IEEE codes of the value (``inf, -inf, nan`` for ``+∞, −∞, Φ``/⊥), a read-only view:
        an op's value may be saved for backward, so it must not be written through."""
        v = np.asarray(self._v).view()
        v.flags.writeable = False
        return v

    @property
    def tags(self) -> np.ndarray:
        """A new read-only ``uint8`` array of :class:`~zeroproof.TRTag` codes, one per element."""
        return self.value.tags

    @property
    def shape(self) -> tuple:
        """Shape of the value (a tuple of ints)."""
        return np.shape(self._v)

    @property
    def ndim(self) -> int:
        """Number of axes (``len(shape)``)."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements (product of ``shape``; 1 for a 0-d tensor)."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def dtype(self) -> np.dtype:
        """NumPy dtype of the value's IEEE codes (e.g. ``float64``)."""
        return np.asarray(self._v).dtype

    grad = spelled_differently("grad")  # PyTorch's names: an AttributeError naming ours
    data = spelled_differently("data")

    @property
    def gradient(self) -> TRArray | None:
        """Accumulated gradient of a leaf (same shape as the value), or None before any backward.

        Unlike the scalar tape, interior batched nodes do not keep gradients (each would be a
        full-size array); use :func:`grad` to ask for the gradient of an intermediate."""
        g = self._grad
        return None if g is None else TRArray.from_codes(np.asarray(g))

    @property
    def name(self) -> str | None:
        """Optional label given at construction, shown in the repr (``None`` if unset)."""
        return getattr(self, "_name", None)

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor (settable on leaves only)."""
        return self._rec is not None

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if not self.is_leaf:
            raise ValueError("requires_grad can only be changed on leaves (use detach() on results)")
        flag = check_bool("requires_grad", flag)
        if flag and self._rec is None:
            self._rec = _leaf_rec(self)
            self._param = True
        elif not flag:
            self._rec = None

    @property
    def is_leaf(self) -> bool:
        """True unless an op recorded this tensor (results of ops on tensors that need no grad
        are not recorded and count as leaves)."""
        return self._rec is None or self._rec.op == LEAF

    @property
    def op(self) -> str:
        """Name of the op that recorded this tensor (``"leaf"`` for leaves)."""
        return "leaf" if self._rec is None else OP_NAMES[self._rec.op]

    @property
    def x_value(self) -> Any:
        """Inputs attached by a layer to a div/log/sqrt node for hybrid forced exploration."""
        r = self._rec
        return r.k if r is not None and r.op in (DIV, LOG, SQRT) else None

    @x_value.setter
    def x_value(self, x: Any) -> None:
        r = self._rec
        if r is None or r.op not in (DIV, LOG, SQRT):
            raise ValueError(f"x_value can be attached to recorded div/log/sqrt nodes only, not {self.op!r}")
        if x is None:
            r.k = None
            return
        try:
            xs = np.array(x, dtype=np.float64)  # a copy: later edits of x cannot reach the pass
        except (TypeError, ValueError):
            raise TypeError(f"x_value must be a real array-like broadcastable to the node's shape "
                            f"{r.out_shape}, got {type(x).__name__}") from None
        try:
            np.broadcast_shapes(xs.shape, r.out_shape)
        except ValueError:
            raise ValueError(f"x_value of shape {xs.shape} does not broadcast to the node's shape "
                             f"{r.out_shape}") from None
        r.k = xs  # NaN/±inf elements (Φ/±∞ inputs of a layer) never lie in an exploration region

    def set_value(self, value: Any) -> None:
        """Replace a leaf's value in place (optimizers, checkpoints). Shape and dtype must match;
        ``value``: array-like or TRArray. Non-leaf nodes refuse (their value is a result)."""
        if not self.is_leaf:
            raise ValueError("set_value() is for leaves (parameters/constants), not op results")
        codes, bot = _leaf_codes(value, "set_value(value): value")
        codes = np.asarray(codes)
        if codes.shape != np.shape(self._v):
            raise ValueError(f"set_value: shape {codes.shape} does not match the tensor's {np.shape(self._v)}")
        with np.errstate(all="ignore"):  # an IEEE cast: beyond float32's range ±∞, below ±0
            self._v = codes.astype(np.asarray(self._v).dtype, copy=True)
        self._bot = None if bot is None else np.array(bot, dtype=bool)
        self._nf = _nonfinite_any(self._v, self._bot)

    def numpy(self) -> np.ndarray:
        """The value as an IEEE array (Φ and ⊥ → NaN)."""
        return self.value.to_numpy()

    to_numpy = numpy  # (the name TRArray uses)

    def zero_grad(self) -> None:
        """Drop the accumulated gradient (``.gradient`` becomes ``None``).

        >>> w = TRTensor.parameter(np.array([1.0, 2.0]))
        >>> (w * w).sum().backward(); w.gradient
        TRArray([2.0, 4.0], dtype=float64)
        >>> w.zero_grad(); w.gradient is None
        True
        """
        self._grad = None

    def detach(self) -> "TRTensor":
        """A constant leaf with the same value."""
        t = _new(TRTensor)
        _init_leaf(t, self._v, self._bot, False, self._nf)
        return t

    # copying and pickling: leaves only (a copy is an independent leaf, gradient included) -----
    def _leaf_state(self, what: str) -> tuple:
        if not self.is_leaf:
            raise TypeError(
                f"{what} of a TRTensor computed by an op is not supported: it belongs to a graph; "
                f"{what} t.detach() (a constant leaf) or the parameters it was computed from")
        v = np.array(self._v, copy=True)
        bot = None if self._bot is None else np.array(self._bot, copy=True)
        grad = None if self._grad is None else np.array(self._grad, copy=True)
        return v, bot, self._rec is not None, getattr(self, "_name", None), grad, self._param

    def backward(self, grad_output: Any = None) -> None:
        """Accumulate gradients into ``.gradient`` of every requires-grad node reached.

        Without ``grad_output`` the tensor must hold one element (reduce with ``.sum()`` or
        ``.mean()`` first); ``grad_output`` is broadcast to this tensor's shape.
        """
        backward(self, grad_output)

    def sum(self, axis: Any = None, keepdims: bool = False, exact: bool = True, *,
            dtype: Any = None, out: Any = None) -> "TRTensor":
        """Transreal STRICT sum (SPEC §3): Φ absorbs, +∞ and −∞ together give Φ, tags exact, and
        REAL values exactly rounded, identical to :func:`zeroproof.array.sum` and ``tr_sum``.
        ``exact=False`` adds REAL values like ``np.sum`` instead (pairwise rounding, faster on
        large arrays; tags stay exact).
        ``np.sum(t)`` calls this method (``dtype``/``out`` other than None are a ``TypeError``).

        >>> parameter([1.0, 2.0]).sum().value
        TRArray(3.0, dtype=float64)
        """
        numpy_reduction_args("sum", dtype, out)
        return _reduce(SUM, self, axis, keepdims, exact)

    def mean(self, axis: Any = None, keepdims: bool = False, exact: bool = True, *,
             dtype: Any = None, out: Any = None) -> "TRTensor":
        """Transreal STRICT mean (see :meth:`sum` for ``exact``).

        >>> parameter([1.0, 2.0]).mean().value
        TRArray(1.5, dtype=float64)
        """
        numpy_reduction_args("mean", dtype, out)
        return _reduce(MEAN, self, axis, keepdims, exact)

    def __repr__(self) -> str:
        parts = [repr(self.value)[len("TRArray("):-1]]
        if self.name is not None:
            parts.append(f"name={self.name!r}")
        if not self.is_leaf:
            parts.append(f"op={self.op}")
        if self.requires_grad:
            parts.append("requires_grad=True")
        return f"TRTensor({', '.join(parts)})"

    def __len__(self) -> int:
        if np.ndim(self._v) == 0:
            raise TypeError("len() of a 0-d TRTensor")
        return len(self._v)

    def __iter__(self) -> Any:
        if np.ndim(self._v) == 0:
            raise TypeError("iteration over a 0-d TRTensor")
        return (self[i] for i in range(len(self._v)))

    def __bool__(self) -> bool:
        """The truth value of a one-element tensor, as for a TRScalar (SPEC §2: REAL ≠ 0 and
        ±∞ are true; 0, Φ and ⊥ are false); more elements are ambiguous (``ValueError``)."""
        if int(np.size(self._v)) != 1:
            raise ValueError(f"the truth value of a TRTensor with {np.size(self._v)} elements is "
                             f"ambiguous; reduce it or compare its .value")
        return bool(self.value.reshape(())[()])

    def item(self) -> float:
        """The only element as a Python float (PyTorch's ``t.item()``): REAL → the float, ±∞ →
        ±inf, Φ and ⊥ → NaN; a number, so nothing of the graph comes with it.

        >>> (parameter([1.0, 2.0]) * 2.0).sum().item()
        6.0
        """
        return self.value.item()

    def __float__(self) -> float:
        if self.requires_grad:
            raise TypeError("float(t) of a TRTensor that requires grad would leave the graph "
                            "unnoticed (math.exp(t) would be a constant); use t.item() for the "
                            "number, or the zeroproof.array ops to stay on the graph")
        return float(self.value)

    def __format__(self, spec: str) -> str:
        """``format(t, spec)`` formats the value (``f"{loss:.4f}"`` in a training log; a 0-d
        tensor formats as the TRScalar it holds); an empty spec gives ``str(t)``."""
        if spec and np.ndim(self._v) != 0:
            raise TypeError(f"format spec {spec!r} needs a 0-d TRTensor, got shape "
                            f"{np.shape(self._v)}; format an element (t[i]) or use str(t)")
        return format(self.value, spec) if spec else str(self)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """``np.asarray(t)``: the IEEE codes of a tensor outside any graph (read-only unless
        copied); a tensor that requires grad refuses, as in PyTorch: use ``t.numpy()``."""
        if self.requires_grad:
            raise TypeError("a TRTensor that requires grad cannot be turned into a NumPy array "
                            "implicitly (that would detach it from the graph); use t.numpy() "
                            "for its IEEE codes, or t.detach()")
        return self.value.__array__(dtype, copy)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy ufuncs run their differentiable twins: ``np.exp(t)`` is ``za.exp(t)`` and
        ``ndarray * t`` is ``za.mul(ndarray, t)``; ufuncs without a twin, ``out=`` and the ufunc
        methods are a ``TypeError`` (as for :class:`TRArray`).

        >>> t = parameter([0.0]); np.exp(t).value
        TRArray([1.0], dtype=float64)
        """
        return numpy_ufunc(self, ufunc, method, inputs, kwargs, "TRTensor")

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        """NumPy functions: the reductions run the tape's own (differentiable) versions, every
        other NumPy function is a ``TypeError`` instead of an object array."""
        return numpy_function(self, func, args, kwargs, "TRTensor")

    def reshape(self, *shape: Any) -> "TRTensor":
        """Same values, new shape (NumPy's rules, ``-1`` allowed); differentiable."""
        dims = reshape_dims(shape)
        try:
            codes = np.reshape(self._v, dims)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {self.shape} into "
                             f"{dims}") from None
        bot = None if self._bot is None else np.reshape(np.broadcast_to(self._bot, self.shape), dims)
        return _record(codes, bot, self._nf, RESHAPE, (self,), self.shape, self.requires_grad)

    def squeeze(self, axis: Any = None) -> "TRTensor":
        """Drop axes of length one (all, or ``axis``), like ``np.squeeze``; differentiable."""
        return self.reshape(squeezed_shape(self.shape, axis))

    def unsqueeze(self, axis: Any) -> "TRTensor":
        """Insert axes of length one at ``axis`` (an int or a tuple of ints, like
        ``np.expand_dims``); differentiable."""
        return self.reshape(expanded_shape(self.shape, axis))

    def flatten(self) -> "TRTensor":
        """The values as a 1-D tensor (``reshape(-1)``); differentiable.

        >>> TRTensor.constant(np.zeros((2, 3))).flatten().shape
        (6,)
        """
        return self.reshape(-1)

    ravel = flatten  # (the name TRArray and NumPy use)

    def transpose(self, *axes: Any) -> "TRTensor":
        """Permute the axes like ``ndarray.transpose`` (no axes: reverse them); differentiable
        (the gradient is permuted back).

        >>> TRTensor.constant(np.zeros((2, 3, 4))).transpose(1, 0, 2).shape
        (3, 2, 4)
        """
        perm = transpose_axes(axes, self.ndim)
        bot = None if self._bot is None else np.broadcast_to(self._bot, self.shape).transpose(perm)
        return _record(self._v.transpose(perm), bot, self._nf, INDEX, (self,),
                       (_Transpose(perm), self.shape), self.requires_grad)

    @property
    def T(self) -> "TRTensor":
        """The axes reversed, like NumPy's ``.T`` (a 2-D tensor is transposed; 0-d and 1-D
        tensors are returned as they are); differentiable. ``.mT`` swaps the last two axes.

        >>> TRTensor.constant(np.zeros((2, 3, 4))).T.shape
        (4, 3, 2)
        """
        return self if self.ndim < 2 else self.transpose()

    @property
    def mT(self) -> "TRTensor":
        """The last two axes swapped (a stack of matrices transposed), like NumPy's ``.mT``;
        differentiable.

        >>> TRTensor.constant(np.zeros((2, 3, 4))).mT.shape
        (2, 4, 3)
        """
        n = self.ndim
        if n < 2:
            raise ValueError(f"mT: a matrix transpose needs at least 2 dimensions, got shape "
                             f"{self.shape}")
        return self.transpose(*range(n - 2), n - 1, n - 2)

    def __getitem__(self, index: Any) -> "TRTensor":
        """NumPy indexing (basic and advanced); the gradient is scattered back (repeated
        indices accumulate)."""
        if isinstance(index, TRTensor):
            raise TypeError("index a TRTensor with ints, slices or NumPy arrays, not a TRTensor")
        codes = np.asarray(self._v)[index]
        bot = None if self._bot is None else np.asarray(
            np.broadcast_to(self._bot, self.shape)[index])
        if bot is not None and not bot.any():
            bot = None
        return _record(np.asarray(codes), bot, self._nf, INDEX, (self,),
                       (_frozen_index(index) if self.requires_grad else index, self.shape),
                       self.requires_grad)

    # operators
    def __add__(self, o: Any) -> "TRTensor":
        return _binary(ADD, K.add, self, o)

    def __radd__(self, o: Any) -> "TRTensor":
        return _binary(ADD, K.add, o, self)

    def __sub__(self, o: Any) -> "TRTensor":
        return _binary(SUB, K.sub, self, o)

    def __rsub__(self, o: Any) -> "TRTensor":
        return _binary(SUB, K.sub, o, self)

    def __mul__(self, o: Any) -> "TRTensor":
        return _binary(MUL, K.mul, self, o)

    def __rmul__(self, o: Any) -> "TRTensor":
        return _binary(MUL, K.mul, o, self)

    def __truediv__(self, o: Any) -> "TRTensor":
        return _binary(DIV, K.div, self, o)

    def __rtruediv__(self, o: Any) -> "TRTensor":
        return _binary(DIV, K.div, o, self)

    def __matmul__(self, o: Any) -> "TRTensor":
        return _binary(MATMUL, K.matmul, self, o)

    def __rmatmul__(self, o: Any) -> "TRTensor":
        return _binary(MATMUL, K.matmul, o, self)

    def __neg__(self) -> "TRTensor":
        return _unary(NEG, K.neg, self)

    def __pos__(self) -> "TRTensor":
        return self

    def __abs__(self) -> "TRTensor":
        return _unary(ABS, K.abs, self)

    def __pow__(self, k: Any, modulo: Any = None) -> "TRTensor":
        if modulo is not None:
            no_modulus("TRTensor", modulo)
        return pow_int(self, k)

    # == is identity (a tensor is a hashable graph node, as a TRNode). Against a value (a number,
    # an array, a TRArray, a list) that would be a silent False where NumPy and PyTorch compare
    # elementwise, so it is refused with the remedy; orderings are refused likewise.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, _VALUE_LIKE):
            raise TypeError(
                f"TRTensor == {type(other).__name__}: == on tensors is identity (they are graph "
                f"nodes, usable as dict keys); compare values elementwise with t.value == x (a "
                f"bool ndarray) or t.numpy() == x")
        return self is other

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    __lt__ = __le__ = __gt__ = __ge__ = no_ordering("TRTensor", "t.numpy() > 0")


_VALUE_LIKE = (int, float, complex, np.ndarray, np.generic, TRArray, TRScalar, list, tuple)


def _frozen_index(index: Any) -> Any:
    """``index`` with its arrays and lists copied, so that the backward pass scatters to the
    elements the forward pass read even if the caller reuses the index buffer in between."""
    if isinstance(index, np.ndarray):
        return index.copy()
    if isinstance(index, list):
        return [_frozen_index(i) for i in index]
    if isinstance(index, tuple):
        return tuple(_frozen_index(i) for i in index)
    return index


# ---- construction -----------------------------------------------------------------------------
def _leaf_codes(value: Any, argname: str) -> tuple[Any, Any]:
    if isinstance(value, TRTensor):
        raise TypeError(f"{argname} is already a TRTensor; use .detach() to copy it")
    if isinstance(value, TRArray):
        return value.codes, value.bottom
    if isinstance(value, TRScalar):
        return np.asarray(value._value if value._tag is REAL else _CODE_OF_TAG[value._tag]), (
            np.asarray(True) if value._tag is TRTag.BOTTOM else None)
    if isinstance(value, _scalar_tape.TRNode):
        raise TypeError(
            f"{argname}: a scalar TRNode cannot enter the batched tape; use its value "
            "(node.value) as a constant, or build the whole computation on one tape"
        )
    if _is_number(value):  # read like TRArray.from_numpy: nan → Φ, ±inf → ±∞
        if isinstance(value, np.float32):  # a float32 scalar stays float32, as za.array keeps it
            # (a NaN as the quiet NaN: a signalling one would raise NumPy's invalid flag later)
            return np.asarray(np.float32(np.nan) if np.isnan(value) else value), None
        try:
            return np.asarray(float(value)), None
        except OverflowError:
            raise ValueError(f"{argname}: {short_repr(value, 40)} is too large for a "
                             f"float") from None
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{argname} must be array-like of real numbers, got {type(value).__name__}"
                        f" {short_repr(value)}")
    arr = _from_real(value, argname)  # errors name the caller's argument, not from_numpy's
    return arr.codes, arr.bottom


def _init_leaf(t: TRTensor, codes: Any, bot: Any, requires_grad: bool, nf: bool | None = None) -> None:
    t._vb = codes
    t._src = None
    t._nbig = False
    t._bot = bot
    t._nf = _nonfinite_any(codes, bot) if nf is None else nf
    t._grad = None
    t._rec = _leaf_rec(t) if requires_grad else None
    t._param = bool(requires_grad)


class _Rec:
    """The graph record of a recorded op (or of a leaf that requires grad).

    Records reference their input records and only the values the op's rules read
    (:func:`zeroproof.autodiff.rules.needed_values`), never the tensors themselves: an intermediate
    value that backward does not need is freed as soon as the user drops its tensor, as with
    PyTorch's saved tensors.

    ``wide``: a float32 op with a Python-float operand that float32 cannot hold
    (:func:`zeroproof.array.kernels.widens`): its forward was computed in float64 and rounded
    once, its saved values are float64 (the operand as ``np.float64``, ``out`` unrounded), and
    its contributions are rounded once to float32 in backward."""

    __slots__ = ("op", "ins", "a", "b", "out", "k", "mask", "shapes", "out_shape", "seq", "g",
                 "recv", "own", "leaf", "wide")


def _rebuild_leaf(v: np.ndarray, bot: Any, requires_grad: bool, name: Any, grad: Any,
                  param: bool = False) -> TRTensor:
    """A leaf from its state (copy, deepcopy and unpickling of :class:`TRTensor`)."""
    t = _new(TRTensor)
    _init_leaf(t, v, bot, requires_grad)
    t._param = bool(param or requires_grad)
    if name is not None:
        t._name = name
    t._grad = grad
    return t


def _leaf_rec(t: TRTensor) -> _Rec:
    r = _new(_Rec)
    r.op = LEAF
    r.ins = ()
    r.seq = 0
    r.g = r.recv = None
    r.own = False
    r.leaf = weakref.ref(t)
    r.shapes = ()
    r.out_shape = np.shape(t._v)
    r.a = r.b = r.out = r.k = r.mask = None
    r.wide = False
    return r


def parameter(value: Any, name: str | None = None) -> TRTensor:
    """A batched leaf that requires grad.

    >>> parameter([1.0, 2.0]).shape
    (2,)
    """
    return TRTensor(value, True, name)


def constant(value: Any, name: str | None = None) -> TRTensor:
    """A batched leaf that requires no grad (inputs, targets). ``nan → Φ``, ``±inf → ±∞``.

    >>> constant([1.0, np.inf]).value
    TRArray([1.0, +∞], dtype=float64)
    """
    return TRTensor(value, False, name)


def as_tensor(x: Any, argname: str = "x") -> TRTensor:
    """``x`` as a TRTensor: tensors pass through; arrays, TRArrays and numbers become constants.

    >>> from zeroproof.array.tape import as_tensor
    >>> t = as_tensor([1.0, np.nan]); t.value, t.requires_grad
    (TRArray([1.0, Φ], dtype=float64), False)
    """
    if isinstance(x, TRTensor):
        return x
    t = _new(TRTensor)
    if x.__class__ is float or x.__class__ is int:
        try:
            code = float(x) if x - x == 0 else None
        except OverflowError:  # an int beyond the float range: _check_real names it
            code = None
        _init_leaf(t, _check_real(x, argname) if code is None else code, None, False, False)
        return t
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{argname} must be a real number or array, got bool {x!r}; use 1.0 or 0.0")
    if isinstance(x, TRScalar):  # a Python-float code: like a Python number it does not widen
        bot = np.True_ if x._tag is TRTag.BOTTOM else None  # a float32 array (NumPy's rules)
        code = x._value if x._tag is REAL else float(_CODE_OF_TAG[x._tag])  # ⊥: a plain NaN
        _init_leaf(t, code, bot, False)
        return t
    if isinstance(x, (np.float32, np.float64)):
        _init_leaf(t, x if math.isfinite(x) else _check_real(x, argname), None, False, False)
        return t  # a NumPy float scalar keeps its dtype (NumPy's promotion rules), as on TRArray
    if isinstance(x, (np.integer, np.floating)):  # float16, longdouble: like a Python number
        _init_leaf(t, _check_real(x, argname), None, False, False)
        return t
    codes, bot = _leaf_codes(x, argname)
    _init_leaf(t, codes, bot, False)
    return t


# ---- recording ---------------------------------------------------------------------------------
def _record(codes: Any, bot: Any, nf: bool, op: int, inputs: tuple, aux: Any, track: bool) -> TRTensor:
    t = _new(TRTensor)
    t._vb = codes
    t._src = None
    t._nbig = False
    t._bot = bot
    t._nf = nf
    t._grad = None
    t._param = False
    if not (track and (not _scalar_tape._no_grad_blocks or _grad_enabled())):
        t._rec = None
        return t
    r = _new(_Rec)
    r.op = op
    r.ins = ins = tuple(i._rec for i in inputs)
    need = needed_values(op, ins[0] is not None, len(ins) > 1 and ins[1] is not None)
    r.a = inputs[0]._v if "a" in need else None
    r.b = inputs[1]._v if len(inputs) > 1 and "b" in need else None
    r.out = codes if "out" in need else None
    r.k = aux
    r.mask = _real_mask(codes, bot) if nf else None  # Mask-REAL needs it; computed only when needed
    # an input whose buffer now holds this result (see _donor_buffer) has the result's shape
    r.shapes = tuple(np.shape(codes) if i._vb is _MOVED else np.shape(i._vb) for i in inputs)
    r.out_shape = np.shape(codes)
    r.seq = _next_seq()
    r.g = r.recv = None
    r.own = False
    r.leaf = None
    r.wide = False
    t._rec = r
    return t


def _check_shapes(op: int, a: TRTensor, b: TRTensor) -> None:
    sa, sb = np.shape(a._v), np.shape(b._v)
    if op == MATMUL:
        _matmul_shape(sa, sb)  # np.matmul's shapes, 1-D vectors included
        return
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise ValueError(f"{OP_NAMES[op]}: shapes {sa} and {sb} do not broadcast") from None


def _binary(op: int, kernel: Any, a: Any, b: Any) -> TRTensor:
    a = as_tensor(a, "a")
    b = as_tensor(b, "b")
    _check_shapes(op, a, b)
    out, pos = None, -1
    if op in _IN_PLACE_OK:  # an intermediate about to be dropped lends its buffer (see below)
        if a._nbig and _lending_site(_getrefcount(a), 0):
            out = _donor_buffer(op, a, b, 0)
            pos = -1 if out is None else 0
        if out is None and b._nbig and _lending_site(_getrefcount(b), 1):
            out = _donor_buffer(op, b, a, 1)
            pos = -1 if out is None else 1
    av = out if pos == 0 else a._v  # the lent buffer still holds the donor's value
    bv = out if pos == 1 else b._v
    wide = (av.__class__ is float or bv.__class__ is float) and K.widens(av, bv)
    events = _fp_events()
    codes, bot = (kernel(av, bv, a._bot, b._bot) if out is None
                  else kernel(av, bv, a._bot, b._bot, out))
    nf = a._nf or b._nf or bot is not None or _fp_events() != events
    aux = None
    if op == MATMUL and (np.ndim(a._v) == 1 or np.ndim(b._v) == 1):
        aux = (np.ndim(a._v) == 1, np.ndim(b._v) == 1)  # 1-D operands (see _mm_promote)
    t = _record(codes, bot, nf, op, (a, b), aux, a.requires_grad or b.requires_grad)
    if wide and t._rec is not None:
        _widen_record(t._rec, kernel, a, b)
    if op in _IN_PLACE_OK and type(codes) is np.ndarray and codes.nbytes >= _IN_PLACE_MIN_BYTES \
            and not WHEEL.get():
        t._nbig = True
        t._src = (kernel, _input_ref(a), _input_ref(b))
    return t


def _widen_record(r: _Rec, kernel: Any, a: TRTensor, b: TRTensor) -> None:
    """Make the record of a float32 op with a Python-float operand that float32 cannot hold
    differentiate like its forward ran: in float64, rounded once. The saved operand becomes a
    ``np.float64`` (NumPy would otherwise round it to float32 inside the rules), a saved ``out``
    the unrounded float64 result, and the sweep rounds the contributions to float32."""
    r.wide = True
    if r.a.__class__ is float:
        r.a = np.float64(r.a)
    if r.b.__class__ is float:
        r.b = np.float64(r.b)
    if r.out is not None:
        with np.errstate(all="ignore"):
            r.out = kernel(np.asarray(a._v, np.float64), np.asarray(b._v, np.float64))[0]


# ---- in-place forward ----------------------------------------------------------------------------
# ``p * x + c`` in plain NumPy computes ``+ c`` into the buffer of the temporary ``p * x``
# (NumPy's temporary elision). The tape does the same for + − × ÷ on large arrays, and goes one
# step further for the loop idiom ``p = p * x + c``, when
#
# * the operand is (by every sign available from Python) about to be released: the operator was
#   invoked while the calling frame executes a BINARY_OP instruction, and either the operand's
#   reference count is that of a stack temporary, or it is that of a value held by one variable
#   only, that variable was loaded just before the operator, and the statement stores into that
#   variable again before reading it (``p = p * x + c``, ``p *= x``: the old value dies at the
#   store); the counts are calibrated at import;
# * its buffer is referenced by nothing else: no record saved it for backward, no ``.codes``
#   view, ``detach()`` or reshape of it is alive;
# * and it can always recompute its value: it keeps a recipe (its kernel and its inputs: small
#   codes as they were, large ones as the input's own unchanged codes, and an input that was
#   itself lent out as that "moved" tensor, so a loop's chain of in-place steps can be replayed
#   from its start). The operand is switched to a "moved" state holding the recipe and, if it is
#   read after all, recomputes its value bit for bit. A chain is bounded: at most _CHAIN_LINKS
#   moved tensors deep, and keeping input arrays of at most _CHAIN_KEEP times the size of the
#   buffer it replays into alive.
#
# The signs of a temporary are heuristics (C code, e.g. NumPy's loop over an object array of
# tensors, can call an operator while the frame is on a BINARY_OP and hold the operand with the
# count of a temporary; an exception between the operator and the store leaves the variable
# bound to its moved value); correctness rests on the recipe, never on them.
class _Moved:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<moved>"


_MOVED = _Moved()
_IN_PLACE_OK = frozenset({ADD, SUB, MUL, DIV})
_IN_PLACE_MIN_BYTES = 1 << 18  # as NumPy's elision: below this, allocation is cheap
_CHAIN_LINKS = 64
_CHAIN_KEEP = 2
_KEPT_MIN_BYTES = 1 << 10  # arrays below this count as nothing in a chain's memory
_getrefcount = sys.getrefcount
_getframe = sys._getframe
_BINARY_OP = dis.opmap.get("BINARY_OP", -1)


def _lending_site(refs: int, pos: int) -> bool:
    """Whether operand ``pos`` (0: left, 1: right) of the operator that called :func:`_binary`,
    seen with ``refs`` references, is about to be released: a temporary of the calling
    expression, or the old value of a variable that the statement rebinds. The operator must
    have been invoked by a BINARY_OP instruction of a Python frame (not by C code or an
    explicit call)."""
    if refs != _TEMP_REFS and refs != _NAMED_REFS:
        return False
    f = _operator_site(4)  # _operator_site ← _lending_site ← _binary ← __add__ ← the caller
    if f is None:
        return False
    if refs == _TEMP_REFS:
        return True
    hit = _rebinds(f.f_code, f.f_lasti, pos)
    # by name: LOAD_NAME may read a global that STORE_NAME does not rebind (class bodies, exec
    # with separate namespaces); only where both are the one module namespace
    return hit is True or (hit == "name" and f.f_locals is f.f_globals)


def _operator_site(depth: int) -> Any:
    """The frame ``depth`` calls up, if it is executing a BINARY_OP instruction (an operator
    invoked by Python bytecode, rather than by C code or an explicit call); else None."""
    try:
        f = _getframe(depth)
        return f if f.f_code.co_code[f.f_lasti] == _BINARY_OP else None
    except (ValueError, IndexError):  # a shallower call (not from an operator)
        return None


# A variable load, and the store that rebinds the same variable.
_STORE_OF = {"LOAD_FAST": "STORE_FAST", "LOAD_FAST_CHECK": "STORE_FAST",
             "LOAD_FAST_BORROW": "STORE_FAST", "LOAD_GLOBAL": "STORE_GLOBAL",
             "LOAD_NAME": "STORE_NAME", "LOAD_DEREF": "STORE_DEREF"}
_VAR_LOADS = frozenset(_STORE_OF)
# Instructions that may run between the operator and the store of a rebinding statement: they
# push values or combine them, and read no variable (by name) other than the ones they name.
_PUSHES = _VAR_LOADS | {"LOAD_CONST", "LOAD_SMALL_INT"}
_COMBINES = frozenset({"BINARY_OP", "UNARY_NEGATIVE", "UNARY_INVERT", "NOP", "EXTENDED_ARG",
                       "CACHE"})
# Per code object (dropped with it): the answer per (site, operand) and, under key -1, the
# code's instructions with an index by byte offset, read once.
_SITES: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _rebinds(code: Any, i: int, pos: int) -> bool | str:
    """Whether operand ``pos`` of the BINARY_OP at byte offset ``i`` of ``code`` was pushed by
    loading a variable that the rest of the statement stores into before anything reads it
    again: True, ``"name"`` when that variable is read with LOAD_NAME (a namespace dict), or
    False. Each code object's bytecode is read once, each site's answer cached with it."""
    sites = _SITES.get(code)
    if sites is None:
        try:
            sites = _SITES[code] = {}
        except TypeError:  # a code object that takes no weak reference: not in place
            return False
    hit = sites.get(2 * i + pos)
    if hit is None:
        hit = sites[2 * i + pos] = _scan_rebind(code, i, pos, sites)
    return hit


def _names(ins: Any) -> tuple:
    v = ins.argval
    return v if isinstance(v, tuple) else (v,)


def _scan_rebind(code: Any, i: int, pos: int, sites: dict) -> bool | str:
    read = sites.get(-1)
    if read is None:
        try:
            instrs = [ins for ins in dis.get_instructions(code) if ins.opname != "CACHE"]
        except Exception:  # an interpreter whose bytecode dis cannot read: not in place
            instrs = []
        read = sites[-1] = (instrs, {ins.offset: k for k, ins in enumerate(instrs)})
    instrs, index = read
    at = index.get(i)
    if at is None or at < 1:
        return False
    before = instrs[at - 1]
    if before.opname in ("LOAD_FAST_LOAD_FAST", "LOAD_FAST_BORROW_LOAD_FAST_BORROW"):
        name, load = before.argval[pos], "LOAD_FAST"  # both operands at once (CPython 3.13+)
    elif pos == 1:
        if before.opname not in _VAR_LOADS:
            return False
        name, load = before.argval, before.opname
    else:
        if at < 2 or before.opname not in _PUSHES or instrs[at - 2].opname not in _VAR_LOADS:
            return False
        name, load = instrs[at - 2].argval, instrs[at - 2].opname
    if not isinstance(name, str):
        return False
    for ins in instrs[at + 1:at + 33]:
        op = ins.opname
        if op.startswith("STORE_"):  # (STORE_FAST_LOAD_FAST etc. store first: a STORE_FAST)
            if _names(ins)[0] != name or not op.startswith(_STORE_OF[load]):
                return False
            return "name" if load == "LOAD_NAME" else True
        if op in _PUSHES or op.startswith("LOAD_FAST_"):
            if name in _names(ins):
                return False
        elif op not in _COMBINES:
            return False
    return False


def _input_ref(t: TRTensor) -> Any:
    """What an op result keeps of input ``t`` to recompute itself later: a small value as is
    (leaf values are never written in place, small results never lent out), a large one as weak
    references to the tensor and to its codes, and for a tensor whose buffer is lent out already
    its recipe (a :class:`_Link`; None when that chain is at its bound)."""
    v = t._vb
    if type(v) is np.ndarray and v.nbytes >= _IN_PLACE_MIN_BYTES:
        return _WeakInput(t, v)
    if v is _MOVED:
        link = t._src
        return link if link.links < _CHAIN_LINKS and link.kept_bytes <= link.size else None
    return (v,)


class _WeakInput:
    __slots__ = ("tensor", "codes")

    def __init__(self, t: TRTensor, v: np.ndarray) -> None:
        self.tensor = weakref.ref(t)
        self.codes = weakref.ref(v)

    def get(self) -> Any:
        """The codes the input had when the result was computed, if they still exist unchanged:
        the tensor is alive and still holds that very array (``set_value`` replaces the array;
        lending it out switches the tensor to ``_MOVED``)."""
        t, v = self.tensor(), self.codes()
        return v if t is not None and v is not None and t._vb is v else None


class _Link:
    """The recipe of a tensor whose buffer an op took: its kernel and its inputs, each codes
    held as they were or the link of an input lent out itself, so the chain of a loop's in-place
    steps replays from its start. It belongs to no tensor's mutable state: reading the tensor
    (which restores its codes) or ``set_value`` on it later changes no link.

    Recipes form chains: at most one input of a link is a link (only the operand that gives up
    its buffer is moved when a recipe is made, and :func:`_donor_buffer` refuses otherwise).

    ``links``: the length of the chain; ``kept``: id → size of the input arrays it keeps alive
    (of at least ``_KEPT_MIN_BYTES``); ``size``: ``_CHAIN_KEEP`` times the bytes of the buffer
    it replays into, the most a link that others chain onto may keep."""

    __slots__ = ("kernel", "a", "b", "links", "kept", "kept_bytes", "size")

    def __init__(self, kernel: Any, a: Any, b: Any, nbytes: int) -> None:
        self.kernel, self.a, self.b = kernel, a, b
        links, kept = 0, {}
        for x in (a, b):
            if type(x) is _Link:
                links = max(links, x.links)
                kept.update(x.kept)
            elif type(x) is np.ndarray and x.nbytes >= _KEPT_MIN_BYTES:
                kept[id(x)] = x.nbytes
        self.links, self.kept, self.kept_bytes = links + 1, kept, sum(kept.values())
        self.size = _CHAIN_KEEP * nbytes

    def evaluate(self) -> Any:
        """The codes this recipe makes, replaying the chain from its start (iterative)."""
        chain = [self]
        while True:
            u = chain[-1]
            nxt = u.a if type(u.a) is _Link else u.b if type(u.b) is _Link else None
            if nxt is None:
                break
            chain.append(nxt)
        val = None
        for u in reversed(chain):
            a = val if type(u.a) is _Link else u.a
            b = val if type(u.b) is _Link else u.b
            val, _ = u.kernel(a, b)
        return val


def _resolve(ref: Any) -> Any:
    if ref is None or type(ref) is _Link:
        return ref
    if type(ref) is tuple:
        return ref[0]
    return ref.get()


def _donor_buffer(op: int, d: TRTensor, other: TRTensor, pos: int) -> np.ndarray | None:
    """``d``'s buffer for the result of the elementwise ``op`` with ``d`` as operand ``pos``
    (0 or 1) and ``other`` as the other one, with ``d`` switched to its recompute recipe; None
    when the buffer cannot be taken."""
    v = d._vb  # (the count is checked again, authoritatively, after the switch below)
    if (type(v) is not np.ndarray or _getrefcount(v) != _BUFFER_REFS or d._bot is not None
            or v.base is not None or not v.flags.c_contiguous or not v.flags.writeable
            or WHEEL.get()):
        return None
    ov = other._vb
    if ov is _MOVED or np.result_type(v, ov) != v.dtype or (
            np.shape(ov) != v.shape and np.broadcast_shapes(np.shape(ov), v.shape) != v.shape):
        return None
    dr, orq = d._rec is not None, other._rec is not None
    if (dr or orq) and (not _scalar_tape._no_grad_blocks or _grad_enabled()) and "ab"[pos] in (
            needed_values(op, dr, orq) if pos == 0 else needed_values(op, orq, dr)):
        return None  # this op's record keeps d's value for backward
    src = d._src
    if type(src) is not tuple:
        return None
    kernel, ra, rb = src
    av, bv = _resolve(ra), _resolve(rb)
    if av is None or bv is None or (type(av) is _Link and type(bv) is _Link):
        return None  # d could not recompute its value (or not along one chain): keep it
    d._src = _Link(kernel, av, bv, v.nbytes)
    d._vb = _MOVED  # from here on a reader (another thread, say) recomputes instead
    if _getrefcount(v) != _BUFFER_REFS - 1:  # someone took the buffer before the switch
        d._vb, d._src = v, src
        return None
    return v


def _restore(t: TRTensor) -> Any:
    """Recompute the codes of a tensor whose buffer an op took (see :func:`_donor_buffer`):
    the same kernels on the same codes along its recipe chain, so bit for bit the value it had
    (computed outside wheel mode, as it was: wheel results are never lent)."""
    link = t._src
    if type(link) is not _Link:  # restored meanwhile (by another thread)
        return t._vb
    token = WHEEL.set(False)
    try:
        codes = link.evaluate()
    finally:
        WHEEL.reset(token)
    t._v = codes
    return codes


def _calibrate() -> tuple[int, int, int]:
    """The reference counts :func:`_binary` sees for an operand that is a temporary of the
    calling expression, for one held by a single variable, and for the buffer of a tensor held
    by nothing else; measured on this interpreter through the same call shapes (temporary = 0:
    cannot tell a temporary from a named variable, in-place forward off)."""

    class Probe:
        __slots__ = ("_vb",)

        def __mul__(self, o: Any) -> Any:
            return probe(MUL, None, self, o)

    def probe(op: int, kernel: Any, a: Any, b: Any) -> tuple[int, int]:
        a = (lambda x, name: x)(a, "a")
        # _operator_site ← probe ← __mul__ ← the caller: the depth _lending_site sees
        return (_getrefcount(a) if _operator_site(3) is not None else -1), donor(a)

    def donor(d: Any) -> int:
        v = d._vb
        return _getrefcount(v)

    def make() -> Any:
        p = Probe()
        p._vb = np.empty(1)
        return p

    # A tracer that reads frame.f_locals (a debugger, a logger) would add references to the
    # probes' locals and inflate every count: measure with tracing and profiling off.
    tracer, profiler = sys.gettrace(), sys.getprofile()
    sys.settrace(None)
    sys.setprofile(None)
    try:
        temp, buf = make() * 1
        named = make()
        held, _ = named * 1
        again, buf_again = make() * 1
    except Exception:  # an interpreter without these introspection facilities
        return 0, 0, 0
    finally:
        sys.settrace(tracer)
        sys.setprofile(profiler)
    if temp <= 0 or held != temp + 1 or (again, buf_again) != (temp, buf):
        return 0, 0, buf  # counts that do not tell a temporary from a variable: in-place off
    return temp, held, buf



_TEMP_REFS, _NAMED_REFS, _BUFFER_REFS = _calibrate()


def _unary(op: int, kernel: Any, a: Any) -> TRTensor:
    a = as_tensor(a)
    events = _fp_events()
    codes, bot = kernel(a._v, a._bot)
    nf = a._nf or bot is not None or _fp_events() != events
    return _record(codes, bot, nf, op, (a,), None, a.requires_grad)


def pow_int(x: Any, k: Any) -> TRTensor:
    """``x**k`` (int ``k``) on the batched tape.

    >>> from zeroproof.array.tape import constant, pow_int
    >>> pow_int(constant([2.0, 0.0]), -1).value
    TRArray([0.5, +∞], dtype=float64)
    """
    k = check_int_exponent(k)
    x = as_tensor(x)
    events = _fp_events()
    codes, bot = K.pow_int(x._v, k, x._bot)
    nf = x._nf or bot is not None or _fp_events() != events
    if k == 0 and not nf:  # 0^0 = Φ is set by the kernel without an IEEE event: look
        nf = _nonfinite_any(codes, None)
    return _record(codes, bot, nf, POW, (x,), k, x.requires_grad)


def _reduce(op: int, x: Any, axis: Any, keepdims: bool, exact: bool = False) -> TRTensor:
    from . import reductions as R

    x = as_tensor(x)
    keepdims = check_bool("keepdims", keepdims)
    exact = check_bool("exact", exact)
    shape = np.shape(x._v)
    axes = tuple(range(len(shape))) if axis is None else R._axes(axis, len(shape), shape)
    n = int(np.prod([shape[i] for i in axes], dtype=np.int64)) if axes else 1
    if not (exact or x._bot is not None or WHEEL.get()):
        # IEEE sum: NaN (Φ) absorbs, +inf + −inf = NaN: STRICT tags exactly, unless an IEEE event
        # (a partial sum of finite entries overflowing, ∞ − ∞) happened: the exact kernel decides.
        # A sum within rounding distance of the largest float may round to ±∞ exactly although
        # no partial sum overflowed: _checked_sum sends such lanes to the exact kernel too.
        events = _fp_events()
        with np.errstate(**K._FP):
            codes = np.sum(x._v, axis=axes, keepdims=keepdims)
            if op == MEAN:
                codes = codes / n if n else np.full(np.shape(codes), np.nan,
                                                    np.result_type(codes))
            elif n > 1 and _fp_events() == events:
                codes = _checked_sum(np.asarray(x._v), codes, axes, keepdims, n)
        if codes is not None and _fp_events() == events:
            return _record(np.asarray(codes), None, x._nf, op, (x,),
                           (axes, keepdims, shape, n), x.requires_grad)
    kind = "sum" if op == SUM else "mean"
    if not axes:  # axis=() or a 0-d tensor: nothing is reduced, the values pass unchanged
        codes = np.array(x._v, copy=True)
        rbot = None if x._bot is None else np.array(np.broadcast_to(x._bot, shape), copy=True)
    else:
        codes, rbot = R.reduce_codes(kind, np.asarray(x._v), x._bot, axes, keepdims,
                                     ReductionMode.STRICT)
    nf = _nonfinite_any(codes, rbot)  # a REAL-only input can still sum to ±∞ (overflow)
    return _record(codes, rbot, nf, op, (x,), (axes, keepdims, shape, n), x.requires_grad)


_SUM_EPS = {np.dtype(np.float64): 2.0 ** -52, np.dtype(np.float32): 2.0 ** -23}


def _checked_sum(v: np.ndarray, s: Any, axes: tuple, keepdims: bool, n: int) -> Any:
    """``s``, NumPy's sum of ``v`` over ``axes`` (lanes of ``n > 1`` elements, no partial sum
    overflowed), when each lane's exact sum surely has the tag of ``s`` there; else None (the
    exact kernel decides).

    A finite ``s`` close to the largest float ``F`` is ambiguous: the exact sum may exceed ``F``
    by enough to round to ±∞ (``F + 2⁹⁶⁹ + 2⁹⁶⁹``). Any order of summation errs by at most
    ``γ·Σ|x| ≤ γ·n·M`` (``γ = kε/(1 − kε)``, ``k = n − 1`` additions, ``M`` the lane's largest
    magnitude; ε, twice the unit roundoff, is a margin of 2), so a lane is ambiguous only if
    ``|s| > F − γ·n·M``. That is checked with ``M ≤ F`` first (one comparison per lane), then, for
    the lanes it flags, with the lanes' own ``M`` (a min and a max pass). A float32 sum whose
    bound stays too loose (lanes of millions of elements) is redone with float64 accumulation,
    whose partial sums cannot overflow, and rounded once to float32."""
    dt = v.dtype
    if dt not in _SUM_EPS:
        return s
    big = float(np.finfo(dt).max)

    def coef(eps: float) -> float:
        k = (n - 1) * eps
        return math.inf if k >= 0.5 else 2.0 * k / (1.0 - k) * n

    c = coef(_SUM_EPS[dt])
    with np.errstate(all="ignore"):
        a = np.abs(s)
        near = (a > big - c * big) & (a <= big)  # finite lanes near ±F (c may be inf)
        if not near.any():
            return s
        m = np.maximum(np.max(v, axis=axes, keepdims=keepdims),
                       -np.min(v, axis=axes, keepdims=keepdims)).astype(np.float64)
        near &= a > big - c * m  # (inf · 0 is NaN for an all-zero lane: not near, rightly)
        if not near.any():
            return s
        if dt != np.float32:
            return None
        s64 = np.sum(v, axis=axes, keepdims=keepdims, dtype=np.float64)
        a64 = np.abs(s64)
        if ((a64 > big - coef(_SUM_EPS[np.dtype(np.float64)]) * m) & (a64 < np.inf)).any():
            return None  # within rounding distance of F even so, or past it
        return s64.astype(np.float32)


def tensor_op(name: str, args: tuple) -> TRTensor:
    """Run the lifted batched op ``name`` ("tr_add", …, "tr_sum") on the tuple ``args`` (the
    dispatch protocol of :mod:`zeroproof.core.ops`).

    >>> from zeroproof.array.tape import constant, tensor_op
    >>> tensor_op("tr_add", (constant([1.0]), 2.0)).value
    TRArray([3.0], dtype=float64)
    """
    fn = _DISPATCH.get(name)
    if fn is None:
        raise TypeError(f"{name} is not available on TRTensor arguments")
    return fn(*args)


_RELU_KERNEL = K.relu
_SIN_KERNEL = K.sin
_COS_KERNEL = K.cos
_UNARY = {"tr_neg": (NEG, K.neg), "tr_abs": (ABS, K.abs), "tr_sign": (SIGN, K.sign),
          "tr_log": (LOG, K.log), "tr_exp": (EXP, K.exp), "tr_sqrt": (SQRT, K.sqrt),
          "tr_relu": (RELU, _RELU_KERNEL), "tr_sin": (SIN, _SIN_KERNEL), "tr_cos": (COS, _COS_KERNEL),
          "tr_tanh": (TANH, K.tanh)}
_BINARY = {"tr_add": (ADD, K.add), "tr_sub": (SUB, K.sub), "tr_mul": (MUL, K.mul),
           "tr_div": (DIV, K.div)}
_DISPATCH: dict[str, Any] = {
    **{n: (lambda a, b, _o=o, _k=k: _binary(_o, _k, a, b)) for n, (o, k) in _BINARY.items()},
    **{n: (lambda a, _o=o, _k=k: _unary(_o, _k, a)) for n, (o, k) in _UNARY.items()},
    "tr_pow_int": pow_int,
    # zp.tr_sum / zp.tr_mean mean what SPEC §3 says: STRICT, exactly rounded
    "tr_sum": lambda x, mode=ReductionMode.STRICT: _reduce_mode(SUM, x, mode),
    "tr_mean": lambda x, mode=ReductionMode.STRICT: _reduce_mode(MEAN, x, mode),
    "matmul": lambda a, b: _binary(MATMUL, K.matmul, a, b),
    "concatenate": lambda arrays, axis=0: concatenate_tensors(arrays, axis),
    "stack": lambda arrays, axis=0: stack_tensors(arrays, axis),
    "where": lambda condition, x, y: where_tensors(condition, x, y),
}


def _reduce_mode(op: int, x: TRTensor, mode: Any) -> TRTensor:
    if isinstance(x, (list, tuple)):  # (a list of scalar nodes is the scalar tape's business)
        name = "tr_sum" if op == SUM else "tr_mean"
        raise TypeError(
            f"{name}(values): values is a {type(x).__name__} holding TRTensors; the batched "
            f"tape reduces one tensor (t.sum(), {name}(t)), and tensors of one shape add "
            f"elementwise (l1 + l2, or Python's sum(losses)); a list of scalar TRNodes is "
            f"reduced on the scalar tape")
    if parse_enum(ReductionMode, mode) is not ReductionMode.STRICT:
        raise ValueError("the batched tape differentiates STRICT reductions only; got mode "
                         f"{mode!r} (drop Φ entries explicitly before reducing)")
    return _reduce(op, x, None, False, exact=True)


TRTensor.__tr_dispatch__ = staticmethod(tensor_op)  # type: ignore[attr-defined]


def relu(x: Any) -> TRTensor:
    """``max(x, 0)`` on the batched tape (``+∞ → +∞``, ``−∞ → 0``, Φ stays Φ).

    >>> from zeroproof.array.tape import constant, relu
    >>> relu(constant([-1.0, np.inf])).value
    TRArray([0.0, +∞], dtype=float64)
    """
    return _unary(RELU, _RELU_KERNEL, x)


def sin(x: Any) -> TRTensor:
    """Transreal ``sin`` on the batched tape.

    >>> from zeroproof.array.tape import constant, sin
    >>> sin(constant([0.0, np.inf])).value
    TRArray([0.0, Φ], dtype=float64)
    """
    return _unary(SIN, _SIN_KERNEL, x)


def cos(x: Any) -> TRTensor:
    """Transreal ``cos`` on the batched tape.

    >>> from zeroproof.array.tape import constant, cos
    >>> cos(constant([0.0, np.inf])).value
    TRArray([1.0, Φ], dtype=float64)
    """
    return _unary(COS, _COS_KERNEL, x)


def tanh(x: Any) -> TRTensor:
    """Transreal ``tanh`` on the batched tape (``tanh(±∞) = ±1``, derivative ``1 − tanh²``).

    >>> tanh(constant([0.0, np.inf])).value
    TRArray([0.0, 1.0], dtype=float64)
    """
    return _unary(TANH, K.tanh, x)


def log(x: Any) -> TRTensor:
    """Transreal ``log`` on the batched tape.

    >>> from zeroproof.array.tape import constant, log
    >>> log(constant([1.0, 0.0, -1.0])).value
    TRArray([0.0, −∞, Φ], dtype=float64)
    """
    return _unary(LOG, K.log, x)


def exp(x: Any) -> TRTensor:
    """Transreal ``exp`` on the batched tape.

    >>> from zeroproof.array.tape import constant, exp
    >>> exp(constant([0.0, -np.inf])).value
    TRArray([1.0, 0.0], dtype=float64)
    """
    return _unary(EXP, K.exp, x)


def sqrt(x: Any) -> TRTensor:
    """Transreal ``sqrt`` on the batched tape.

    >>> from zeroproof.array.tape import constant, sqrt
    >>> sqrt(constant([4.0, -1.0])).value
    TRArray([2.0, Φ], dtype=float64)
    """
    return _unary(SQRT, K.sqrt, x)


def sign(x: Any) -> TRTensor:
    """Transreal ``sign`` on the batched tape (derivative 0).

    >>> from zeroproof.array.tape import constant, sign
    >>> sign(constant([-2.0, np.inf])).value
    TRArray([-1.0, 1.0], dtype=float64)
    """
    return _unary(SIGN, K.sign, x)


def matmul(a: Any, b: Any) -> TRTensor:
    """Transreal matrix product on the batched tape, with ``np.matmul``'s shapes (2-D, batched,
    1-D vectors; a vector's gradient comes back as a vector).

    >>> from zeroproof.array.tape import constant, matmul
    >>> matmul(constant([[1.0, 2.0]]), constant([[3.0], [4.0]])).value
    TRArray([[11.0]], dtype=float64)
    >>> matmul(constant([1.0, 2.0]), constant([[3.0], [4.0]])).value
    TRArray([11.0], dtype=float64)
    """
    return _binary(MATMUL, K.matmul, a, b)
_ = ID


# ---- joins: concatenate, stack, where ----------------------------------------------------------
# ``za.concatenate``/``stack``/``where`` (and NumPy's, through ``__array_function__``) run these
# when a TRTensor is among the operands. The values come from the TRArray functions (so dtypes,
# ⊥ and error messages are theirs); the graph gets one record whose rule routes each element's
# gradient back to the operand element it came from.
def _join_operand(a: Any, argname: str) -> TRTensor:
    """A join's operand: a TRTensor as it is, anything else read as the TRArray join reads it
    (a list of TRScalars included), as a constant."""
    return a if isinstance(a, TRTensor) else as_tensor(_as_trarray(a, argname), argname)


def concatenate_tensors(arrays: Any, axis: Any = 0) -> TRTensor:
    """``np.concatenate`` on the tape: the gradient of the result is split back into the
    operands' pieces (``axis=None`` joins the flattened operands, as NumPy does).

    >>> w = parameter([1.0, 2.0])
    >>> y = concatenate_tensors([w, constant([3.0]), w * 10.0])
    >>> y.value
    TRArray([1.0, 2.0, 3.0, 10.0, 20.0], dtype=float64)
    >>> y.sum().backward(); w.gradient
    TRArray([11.0, 11.0], dtype=float64)
    """
    from .trarray import concatenate

    parts = _parts(arrays, "concatenate", _join_operand)
    if axis is None:
        parts = [t.flatten() for t in parts]
        axis = 0
    v = concatenate([t.value for t in parts], axis)
    ax = axis_index("concatenate(arrays, axis): axis", axis, v.ndim)  # (checked by the join)
    ends = tuple(int(e) for e in np.cumsum([t.shape[ax] for t in parts]))
    return _record(v._codes, v._bottom, any(t._nf for t in parts), CONCAT, tuple(parts),
                   (ax, ends), any(t.requires_grad for t in parts))


def stack_tensors(arrays: Any, axis: Any = 0) -> TRTensor:
    """``np.stack`` on the tape (operands of one shape joined along a new axis).

    >>> w = parameter([1.0, 2.0])
    >>> y = stack_tensors([w, w * w], axis=1)
    >>> y.shape
    (2, 2)
    >>> y.sum().backward(); w.gradient          # 1 + 2w
    TRArray([3.0, 5.0], dtype=float64)
    """
    parts = _parts(arrays, "stack", _join_operand)
    shapes = [t.shape for t in parts]
    if any(sh != shapes[0] for sh in shapes):
        raise ValueError(f"stack(arrays, axis={axis!r}): all input arrays must have the same "
                         f"shape (shapes {', '.join(map(str, shapes))})")
    ax = axis_index("stack(arrays, axis): axis", axis, len(shapes[0]) + 1)
    return concatenate_tensors([t.unsqueeze(ax) for t in parts], ax)


def where_tensors(condition: Any, x: Any, y: Any) -> TRTensor:
    """``np.where(condition, x, y)`` on the tape: each output element's gradient goes to the
    operand element it was taken from; the other operand's element receives nothing there (as
    an unselected branch on the scalar tape is never reached). ``condition`` is a bool array.

    >>> w = parameter([1.0, -2.0, 3.0])
    >>> y = where_tensors(np.array([True, False, True]), w * w, 0.0)
    >>> y.value
    TRArray([1.0, 0.0, 9.0], dtype=float64)
    >>> y.sum().backward(); w.gradient
    TRArray([2.0, 0.0, 6.0], dtype=float64)
    """
    from .trarray import where

    v = where(condition, x.value if isinstance(x, TRTensor) else x,
              y.value if isinstance(y, TRTensor) else y)  # checks condition, x, y and shapes
    ins = tuple(t if isinstance(t, TRTensor) else _NO_GRAD_OPERAND for t in (x, y))
    cond = np.array(condition, dtype=bool, copy=True)  # the caller may change theirs later
    return _record(v._codes, v._bottom, _nonfinite_any(v._codes, v._bottom), WHERE, ins, cond,
                   any(t.requires_grad for t in ins))


# stands for an operand that is not a TRTensor (it needs no gradient; its record is None)
_NO_GRAD_OPERAND = TRTensor(0.0)


def _split_back(g: Any, k: tuple) -> tuple:
    axis, ends = k
    return tuple(np.split(np.asarray(g), ends[:-1], axis=axis))


# ---- backward ---------------------------------------------------------------------------------
def _unreduce(g: Any, k: tuple) -> Any:
    axes, keepdims, shape, _n = k
    g = np.asarray(g)
    if not keepdims and axes:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def _swap(x: Any) -> Any:
    return np.swapaxes(x, -1, -2)


class _Transpose:
    """Index marker: the permutation of a transpose (the INDEX rule permutes ``g`` back)."""

    __slots__ = ("axes",)

    def __init__(self, axes: tuple[int, ...]) -> None:
        self.axes = axes


def _scatter(g: Any, k: tuple) -> Any:
    index, shape = k
    if isinstance(index, _Transpose):
        return np.transpose(np.asarray(g), np.argsort(index.axes))
    g = np.asarray(g)
    out = np.zeros(shape, dtype=g.dtype if g.dtype.kind == "f" else np.float64)
    np.add.at(out, index, g)
    return out


def _reshape_back(g: Any, shape: tuple) -> Any:
    return np.reshape(g, shape)


# ``ACTIVE_PASS.frame``: the output shape and live-element mask of the node whose rule is running
# (set by the sweep in hybrid passes): a hybrid decision is made, and counted, once per *live
# output element*, as the scalar tape does once per point (a broadcast denominator counts once per
# element it divides; masked or not-received elements decide nothing).
def _near_array(u: Any, x: Any) -> Any:
    decider = ACTIVE_PASS.decider
    frame = ACTIVE_PASS.frame
    u = np.asarray(u)
    if frame is None:
        return decider.array(u, x)  # type: ignore[union-attr]
    shape, live = frame
    u = np.broadcast_to(u, shape)
    if x is not None:
        x = np.broadcast_to(np.asarray(x, dtype=np.float64), shape)
    if live is None:
        return decider.array(u, x)  # type: ignore[union-attr]
    out = np.zeros(shape, dtype=bool)
    out[live] = decider.array(u[live], None if x is None else x[live])  # type: ignore[union-attr]
    return out


def _zeros_like(g: Any) -> Any:
    return np.zeros_like(g)


def _choose_array(m: Any, sat_form: Any, exact_form: Any, args: tuple) -> tuple:
    """Both forms, selected per element where the decision ``m`` is an array."""
    sat, exact = sat_form(*args), exact_form(*args)
    return tuple(np.where(m, s, e) for s, e in zip(sat, exact))


def _normal_array(d: Any) -> Any:
    return (d >= np.finfo(np.result_type(d, np.float32)).tiny) & (d < np.inf)  # per dtype


def _hypot_array(u: Any, b: float) -> Any:
    """``√(u² + b²)`` per element, the literal formula where ``u² + b²`` is normal, elsewhere
    the same formula on ``u``, ``b`` scaled by ``2^-e`` (the scalar backends' bits)."""
    d = u * u + b * b
    ok = _normal_array(d)
    if ok.all():
        return np.sqrt(d)
    m = np.maximum(np.abs(u), abs(b))
    e = np.frexp(m)[1]
    r, t = np.ldexp(u, -e), np.ldexp(np.asarray(b, dtype=np.result_type(d)), -e)
    h = np.ldexp(np.sqrt(r * r + t * t), e)
    return np.where(ok, np.sqrt(d), np.where((m == 0) | np.isinf(m), m, h))


def _over_sq_array(x: Any, u: Any, b: float) -> Any:
    """``x / (u² + b²)`` per element, ``(x / h) / h`` where ``u² + b²`` is not normal."""
    d = u * u + b * b
    ok = _normal_array(d)
    if ok.all():
        return x / d
    h = _hypot_array(u, b)
    return np.where(ok, x / d, (x / h) / h)


def _neg_over_sq_array(g: Any, x: Any, u: Any, c: float) -> Any:
    """``−g·x / (u² + c²)`` per element: the formula as written where numerator and denominator
    are normal floats (or the numerator 0), elsewhere on operands scaled by powers of two."""
    u = np.asarray(u, dtype=np.result_type(g, x, u))  # b² as wide as −g·x (a float64 constant)
    n = -g * x
    d = u * u + c * c
    ok = _normal_array(d) & (_normal_array(np.abs(n)) | ((n == 0) & ((g == 0) | (x == 0))))
    lit = n / d
    if ok.all():
        return lit
    # the same formula on g, x, u, c scaled by powers of two (exact), the quotient scaled back
    # once: the scalar backends' bits
    mg, eg = np.frexp(g)
    mx, ex = np.frexp(x)
    e = np.frexp(np.maximum(np.abs(u), abs(c)))[1]
    r, t = np.ldexp(u, -e), np.ldexp(np.asarray(c, dtype=u.dtype), -e)
    far = np.ldexp(-(mg * mx) / (r * r + t * t), eg + ex - 2 * e)
    return np.where(ok, lit, far)


def _scale_array(g: Any, k: int, x: Any) -> Any:
    """``g·k·x`` per element as ``(g·k)·x``, or ``g·(k·x)`` where ``g·k`` overflows."""
    kf = as_float(k)
    t = g * kf
    ok = np.isfinite(t)
    if ok.all():
        return t * x
    # as the scalar kernel: k beyond the float range times a power that underflowed is a signed 0
    tiny = ((np.asarray(x) == 0) | (np.asarray(g) == 0)) & np.isfinite(g) & np.isfinite(x)
    return np.where(ok, t * x, np.where(tiny, (g * x) * (1.0 if k > 0 else -1.0), g * (kf * x)))


def _pow_neg_array(g: Any, a: Any, k: int, out: Any) -> Any:
    """``g·k·a^(k−1)`` (``k < 0``) per element, as ``(g·k·out)/a`` where ``a^(k−1)`` is not a
    normal float."""
    p = K.pow_int(np.asarray(a), k - 1)[0]
    ok = _normal_array(np.abs(p))
    lit = _scale_array(g, k, p)
    return lit if ok.all() else np.where(ok, lit, _scale_array(g, k, out) / a)


def _pow_neg_sat_array(g: Any, a: Any, k: int, out: Any, b: float) -> Any:
    """``g·k·sat(a^(1−k))`` (``k < 0``, sign from ``a``) per element; where ``a^(1−k)``
    overflows, ``g·k·a^(k−1) / √(1 + (b·|a|^(k−1))²)`` (the same value without that power)."""
    a = np.asarray(a)
    w = K.pow_int(a, 1 - k)[0]
    lit = _scale_array(g, k, np.divide(K.pow_int(np.sign(a), 1 - k)[0], _hypot_array(w, b)))
    ok = np.isfinite(w)
    if ok.all():
        return lit
    t = b * K.pow_int(np.abs(a), k - 1)[0]
    return np.where(ok, lit, _pow_neg_array(g, a, k, out) / np.sqrt(1.0 + t * t))


ARRAY_VOCAB: dict[str, Any] = {
    "choose": _choose_array,
    "positive": lambda a: np.asarray(a) > 0, "sin": np.sin, "cos": np.cos,
    "reshape_back": _reshape_back, "scatter": _scatter, "split_back": _split_back,
    "div": np.divide, "sign": np.sign, "sqrt": np.sqrt, "hypot": _hypot_array,
    "over_sq": _over_sq_array, "neg_over_sq": _neg_over_sq_array, "scale": _scale_array,
    "pow_neg": _pow_neg_array, "pow_neg_sat": _pow_neg_sat_array,
    "powi": lambda a, k: K.pow_int(np.asarray(a), k)[0],
    "select": np.where, "zeros_like": _zeros_like, "near": _near_array,
    "unreduce": _unreduce, "matmul": lambda a, b: K.matmul(a, b)[0], "swap": _swap,
}


def _real_mask(codes: Any, bot: Any) -> np.ndarray:
    m = np.isfinite(codes)
    if bot is not None:
        m = m & ~bot
    return m


def _to_shape(c: Any, recv: Any, shape: tuple, out_shape: tuple) -> tuple[Any, Any]:
    """Sum a contribution (and OR its received-mask) over the axes ``shape`` was broadcast on."""
    c = np.asarray(c)
    if c.shape != out_shape:
        c = np.broadcast_to(c, out_shape)
    if out_shape == shape:
        return c, recv
    lead = len(out_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and out_shape[lead + i] != 1)
    # (initial −0.0: a sum of −0.0 contributions stays −0.0, as on the scalar tape)
    c = np.sum(c, axis=axes, keepdims=True, initial=-0.0).reshape(shape) if axes else c.reshape(shape)
    if recv is not None:
        recv = np.broadcast_to(recv, out_shape)
        recv = np.any(recv, axis=axes, keepdims=True).reshape(shape) if axes else recv.reshape(shape)
    return c, recv


def _collapse(g: Any, recv: Any, shape: tuple) -> tuple[Any, Any]:
    """A gradient held per point (shape broadcast beyond ``shape``) summed to ``shape``, with its
    received-mask OR-ed the same way (elements that received nothing hold 0)."""
    g = np.asarray(g)
    if g.shape == shape:
        return g, recv
    big = np.broadcast_shapes(g.shape, shape)
    return _to_shape(g, recv, shape, big)


def _fresh(x: Any) -> bool:
    """Whether ``x`` is an ndarray that owns its writable buffer (a new ufunc result)."""
    return type(x) is np.ndarray and x.base is None and x.flags.writeable


def _give(r: _Rec, c: Any, recv: Any, pending: dict, leaves: list, own: bool = False) -> None:
    """Add contribution ``c`` (received where ``recv``; None = everywhere) to input record ``r``.
    ``own``: nothing else references ``c``'s buffer, so ``r`` may later write into it."""
    cur = r.g
    if cur is None or cur is _NONE:
        if cur is None:
            if r.op:
                pending[r.seq] = r
            else:
                leaves.append(r)
        r.g = c
        r.recv = recv
        r.own = own
        return
    if np.shape(c) != np.shape(cur):
        # contributions for different sets of points (one kept per point, see _sweep): each is
        # summed to the record's own shape first, then they add like any two contributions
        cur, r.recv = _collapse(cur, r.recv, r.out_shape)
        c, recv = _collapse(c, recv, r.out_shape)
        r.own = False
    if r.own and np.shape(c) == cur.shape and np.result_type(cur, c) == cur.dtype:
        np.add(cur, c, out=cur)  # the running sum is ours: accumulate in place
    else:
        cur = r.g = cur + c
        r.own = _fresh(cur)
    if r.recv is not None:
        r.recv = None if recv is None else (r.recv | recv)


def _reach(r: _Rec | None, pending: dict, leaves: list) -> None:
    if r is not None and r.g is None:
        r.g = _NONE
        if r.op:
            pending[r.seq] = r
        else:
            leaves.append(r)


def _contributions_into_g(ins: tuple, specs: tuple, parts: Any, rule: Any, g: np.ndarray,
                          av: Any, bv: Any, out: Any, rec: _Rec) -> list | None:
    """Contributions of an elementwise record whose upstream gradient ``g`` the sweep owns, the
    last one that allows it computed into ``g``'s buffer (``rules.inplace_forms``): e.g.
    ``g·b`` as ``np.multiply(g, b, out=g)``. The values are exactly those of the rule; only an
    allocation is saved. None when no contribution qualifies (the caller then runs the rule)."""
    if type(g) is not np.ndarray or g.shape != rec.out_shape:
        return None
    operands = {"a": av, "b": bv, "out": out}
    pick = -1
    for idx, r in enumerate(ins):
        spec = specs[idx]
        if r is not None and spec is not None and (
                spec[1] is None or np.result_type(g, operands[spec[1]]) == g.dtype):
            pick = idx
    if pick < 0:
        return None
    contribs: list = [None] * len(ins)
    for idx, r in enumerate(ins):
        if r is not None and idx != pick:
            c = parts[idx](g, av, bv, out, rec.k) if parts is not None else rule(
                g, av, bv, out, rec.k)[idx]
            if np.may_share_memory(c, g):  # e.g. g itself passed on: g must stay intact
                return None
            contribs[idx] = c
    ufunc, name, g_first = specs[pick]
    f = _UFUNCS[ufunc]
    if name is None:
        contribs[pick] = f(g, out=g)
    elif g_first:
        contribs[pick] = f(g, operands[name], out=g)
    else:
        contribs[pick] = f(operands[name], g, out=g)
    return contribs


_INPLACE: dict[str, list] = {}


def _inplace_table(name: str) -> list:
    """``rules.inplace_forms`` of rule table ``name`` as a list indexed by op code."""
    table = _INPLACE.get(name)
    if table is None:
        table = [None] * N_OPS
        for op, specs in inplace_forms(name).items():
            if any(s is not None for s in specs):
                table[op] = specs
        _INPLACE[name] = table
    return table


_UFUNCS = {"multiply": np.multiply, "add": np.add, "subtract": np.subtract,
           "divide": np.divide, "negative": np.negative}


def _sweep(root: _Rec, seed: np.ndarray, table: list, split: list, accumulate: bool,
           collect: dict[int, Any] | None, frame: list | None, inplace: list) -> None:
    """One pass over the pending records in decreasing creation number (see the scalar tape),
    with Mask-REAL and "nothing received" per element. ``rec.g`` holds the gradient so far
    (``_NONE``: reached, nothing received) and ``rec.recv`` the received-elements mask."""
    leaves: list[_Rec] = []
    pending: dict[int, _Rec] = {}

    def finish(rec: _Rec, g: Any, recv: Any, own: bool) -> None:
        if rec.op != LEAF and collect is None:
            return  # interior records keep no gradient (memory); only grad() collects them
        shape = rec.out_shape
        if g is _NONE:
            g = np.zeros(shape)
        elif recv is not None:
            g = np.where(recv, g, 0.0)
        g = np.asarray(g)
        if g.shape != shape:  # a gradient kept per point (see _give): summed here
            g = _to_shape(g, None, shape, np.broadcast_shapes(g.shape, shape))[0]
        if accumulate and rec.op == LEAF:
            t = rec.leaf()
            if t is not None and t._rec is rec:  # (not if requires_grad was switched off since)
                g = g.astype(np.asarray(t._v).dtype, copy=False)
                if t._grad is not None:
                    t._grad = t._grad + g
                else:  # keep the sweep's own buffer rather than copying it
                    t._grad = g if own and recv is None and _fresh(g) else np.array(g)
        if collect is not None and id(rec) in collect:
            collect[id(rec)] = np.array(g)

    try:
        root.g = seed
        root.recv = None
        root.own = _fresh(seed)
        if root.op:
            pending[root.seq] = root
            s = root.seq
        else:
            leaves.append(root)
        while pending:
            rec = pending.pop(s, None)
            if rec is None:
                s = _next_pending(pending, s)
                continue
            s -= 1
            g, recv, own = rec.g, rec.recv, rec.own
            rec.g = rec.recv = None
            rec.own = False
            finish(rec, g, recv, own)
            ins = rec.ins
            if g is _NONE:
                for r in ins:
                    _reach(r, pending, leaves)
                continue
            live = recv
            if rec.mask is not None:
                live = rec.mask if live is None else (live & rec.mask)
            if live is not None and not live.any():
                for r in ins:
                    _reach(r, pending, leaves)
                continue
            op = rec.op
            reducing = op in _SHAPE_CHANGING  # contributions come in the inputs' shapes
            eff = rec.out_shape  # the points the gradient is held for (see _give)
            if np.shape(g) != eff:
                if reducing:
                    g, live = _collapse(g, live, eff)
                else:
                    eff = np.broadcast_shapes(np.shape(g), eff)
            av, bv, out = rec.a, rec.b, rec.out
            if reducing and live is not None:
                # Masked output elements of a reduction/matmul must send nothing: zero their
                # upstream gradient *before* the rule (live has the output's shape, the
                # contributions the inputs' shapes). A non-finite operand entry only ever feeds
                # masked outputs (∞·x and Φ·x are never REAL), so it meets only those zeros:
                # replace it by 0 to keep 0·∞ from turning the sum of products into Φ.
                g = np.where(live, g, 0.0)
                if op == MATMUL:
                    av = None if av is None else np.where(np.isfinite(av), av, 0.0)
                    bv = None if bv is None else np.where(np.isfinite(bv), bv, 0.0)
            vec = rec.k if op == MATMUL else None  # 1-D operands: the rule runs on 2-D ones
            if vec is not None:
                g, av, bv = _mm_promote(vec, g, av, bv)
            binary = len(ins) == 2
            parts = split[op] if binary else None
            contribs: Any = None
            if own and not reducing and inplace[op] is not None:
                contribs = _contributions_into_g(ins, inplace[op], parts, table[op], g, av, bv,
                                                 out, rec)
            if contribs is None:
                if parts is not None and (ins[0] is None) != (ins[1] is None):
                    # one input needs no gradient: compute only the other's contribution
                    contribs = ((parts[0](g, av, bv, out, rec.k), None) if ins[0] is not None
                                else (None, parts[1](g, av, bv, out, rec.k)))
                else:
                    if frame is not None:
                        frame[0], frame[1] = eff, live
                    contribs = table[op](g, av, bv, out, rec.k)
            if vec is not None:
                contribs = [None if c is None else _mm_demote(vec, idx, c)
                            for idx, c in enumerate(contribs)]
            if rec.wide:  # computed in float64 (see _widen_record): rounded once, as forward
                contribs = [None if c is None else np.asarray(c).astype(np.float32, copy=False)
                             for c in contribs]
            given = []
            for idx, (r, c) in enumerate(zip(ins, contribs)):
                if r is None:
                    continue
                if live is not None and not reducing:
                    c = np.where(live, c, -0.0)  # nothing: −0.0 is the identity of + (keeps a −0)
                to = live  # the elements of this input's view that receive the contribution
                if op == WHERE:  # an element not taken from this operand receives nothing
                    taken = rec.k if idx == 0 else ~rec.k
                    to = taken if live is None else (live & taken)
                if reducing:
                    ca, ra = np.asarray(c), None
                    if ca.shape != rec.shapes[idx]:  # matmul over broadcast batch axes
                        ca = _to_shape(ca, None, rec.shapes[idx], ca.shape)[0]
                    if live is not None:  # elements of the input that fed only masked outputs
                        ra = _received_through(rec, idx, live)
                    elif op == INDEX and frame is not None:
                        # elements the index did not pick receive nothing, and so decide
                        # nothing in a hybrid pass (as on the scalar tape, where they are
                        # separate nodes the loss never reached)
                        ra = _received_through(rec, idx, np.ones(rec.out_shape, dtype=bool))
                elif r.op != LEAF and eff != rec.shapes[idx]:
                    # an interior input broadcast against more points: its gradient stays per
                    # point, so that its own rule runs per point as on the scalar tape
                    ca, ra = np.broadcast_to(np.asarray(c), eff), (
                        None if to is None else np.broadcast_to(to, eff))
                else:
                    ca, ra = _to_shape(c, to, rec.shapes[idx], eff)
                given.append((r, ca, ra))
            # A contribution's buffer is handed on as owned (writable in place later) only if it
            # is g's own buffer or a fresh array, and no other contribution can alias it.
            alone = len(given) < 2 or not np.may_share_memory(given[0][1], given[1][1])
            for r, ca, ra in given:
                owned = alone and ((ca is g and own) or (
                    ca is not g and ca is not av and ca is not bv and ca is not out
                    and _fresh(ca)))
                _give(r, ca, ra, pending, leaves, owned)
        for leaf in leaves:
            g, recv, own = leaf.g, leaf.recv, leaf.own
            leaf.g = leaf.recv = None
            leaf.own = False
            finish(leaf, g, recv, own)
    except BaseException:  # any exception, even an interrupt between two statements: scrub
        seen = set()          # every running sum, so the graph can be differentiated again
        stack = [root]
        while stack:
            r = stack.pop()
            if r is None or id(r) in seen:
                continue
            seen.add(id(r))
            r.g = r.recv = None
            r.own = False
            stack.extend(r.ins)
        raise


def _mm_promote(vec: tuple, g: Any, a: Any, b: Any) -> tuple:
    """``a @ b`` with 1-D operands as ``np.matmul`` computes it: a vector ``a`` as a row
    ``(1, k)``, a vector ``b`` as a column ``(k, 1)``, and the output-shaped ``g`` with the
    removed axes put back. ``vec``: (a is 1-D, b is 1-D); ``a``/``b`` may be None (not saved)."""
    a1, b1 = vec
    g = np.asarray(g)
    if b1:
        g = g[..., None]
        b = None if b is None else np.reshape(b, (-1, 1))
    if a1:
        g = g[..., None, :]
        a = None if a is None else np.reshape(a, (1, -1))
    return g, a, b


def _mm_demote(vec: tuple, idx: int, c: Any) -> Any:
    """A contribution to operand ``idx`` of a promoted ``@`` (see :func:`_mm_promote`) with the
    promoted axis removed again (its batch axes, if any, are summed by the caller)."""
    if vec[idx]:
        c = np.asarray(c)
        return c[..., 0, :] if idx == 0 else c[..., 0]
    return c


def _received_through(rec: _Rec, idx: int, live: np.ndarray) -> np.ndarray:
    """Which elements of input ``idx`` of a shape-changing record fed a live output element."""
    shape = rec.shapes[idx]
    if rec.op == MATMUL:
        la = live.astype(np.float64)
        ones = np.ones(rec.shapes[1 - idx])
        if rec.k is not None:  # 1-D operands: as np.matmul promotes them
            la, oa, ob = _mm_promote(rec.k, la, ones if idx == 1 else None,
                                     ones if idx == 0 else None)
            ones = ob if idx == 0 else oa
        r = np.matmul(la, _swap(ones)) if idx == 0 else np.matmul(_swap(ones), la)
        if rec.k is not None:
            r = _mm_demote(rec.k, idx, r)
        if r.shape != shape:  # the input was broadcast over batch axes: any live use counts
            r = _to_shape(r, None, shape, r.shape)[0]
        return np.broadcast_to(r > 0, shape)
    if rec.op == RESHAPE:
        return np.reshape(live, shape)
    if rec.op == INDEX:
        return _scatter(live.astype(np.float64), rec.k) > 0
    if rec.op == CONCAT:
        return _split_back(live, rec.k)[idx]
    axes, keepdims, _shape, _n = rec.k
    m = live if keepdims or not axes else np.expand_dims(live, axes)
    return np.broadcast_to(m, shape)


_SHAPE_CHANGING = frozenset({MATMUL, SUM, MEAN, RESHAPE, INDEX, CONCAT})


def _seed_for(root: TRTensor, grad_output: Any) -> np.ndarray:
    shape = np.shape(root._v)
    dtype = np.asarray(root._v).dtype
    if grad_output is None:
        if int(np.prod(shape, dtype=np.int64)) != 1:
            raise ValueError(
                f"backward() on a TRTensor of shape {shape} needs grad_output; reduce it to one "
                "element first (.sum() or .mean()) or pass grad_output of that shape"
            )
        return np.ones(shape, dtype=dtype)
    if isinstance(grad_output, (bool, np.bool_)) or getattr(grad_output, "dtype", None) == np.bool_:
        raise TypeError(f"grad_output must be a real number, a real array or a TRArray, got "
                        f"{type(grad_output).__name__} {short_repr(grad_output)}")
    explicit = isinstance(grad_output, (TRArray, TRScalar))  # tags given on purpose: kept
    if type(grad_output) is np.ndarray and grad_output.dtype == dtype and grad_output.shape == shape:
        seed = grad_output.view()  # IEEE codes already: no copy; read-only, so the sweep never
        seed.flags.writeable = False  # accumulates into the caller's array
    else:
        codes, bot = _leaf_codes(grad_output, "grad_output")
        try:
            seed = np.array(np.broadcast_to(codes, shape), dtype=dtype)
        except ValueError:
            raise ValueError(f"grad_output of shape {np.shape(codes)} does not broadcast to "
                             f"{shape}") from None
    if not explicit and not np.isfinite(seed).all():
        # As on the scalar tape: a NaN/inf seed read as Φ/±∞ would make every gradient non-REAL
        # and optimizers would silently skip every update.
        raise ValueError("grad_output must be finite (NaN and ±inf seeds are refused, as on the "
                         "scalar tape); pass a TRArray to seed ±∞ or Φ on purpose")
    return seed


def _masked_leaf_seed(root: TRTensor, seed: np.ndarray) -> np.ndarray:
    """A leaf root's non-REAL elements pass nothing on, not even to the leaf itself (SPEC §4.2:
    a non-REAL root gives every parameter R(0)); an op root is masked by the sweep."""
    if root._rec.op != LEAF or not root._nf:
        return seed
    return np.where(_real_mask(root._v, root._bot), seed, 0.0).astype(seed.dtype, copy=False)


def _run(root: _Rec, seed: np.ndarray, accumulate: bool, collect: dict | None) -> None:
    table, split, decider, name = rule_tables_for_pass("array", lambda: ARRAY_VOCAB)
    outer = ACTIVE_PASS.decider
    ACTIVE_PASS.decider = decider
    frame = None if decider is None else [(), None]
    outer_frame = ACTIVE_PASS.frame
    ACTIVE_PASS.frame = frame
    try:
        # the running sums live on the records, which graphs built from one leaf share: passes
        # are serialised process-wide, as on the scalar tape (threads sharing parameters)
        with PASS_LOCK, np.errstate(all="ignore"):
            _sweep(root, seed, table, split, accumulate, collect, frame, _inplace_table(name))
    finally:
        ACTIVE_PASS.frame = outer_frame
        ACTIVE_PASS.decider = outer


def backward(root: TRTensor, grad_output: Any = None) -> None:
    """Accumulate ``d root / d t`` into ``t.gradient`` for every requires-grad leaf reached."""
    if not isinstance(root, TRTensor):
        raise TypeError(f"backward(root): root must be a TRTensor, got {type(root).__name__}")
    seed = _seed_for(root, grad_output)
    if root._rec is not None:
        _run(root._rec, _masked_leaf_seed(root, seed), True, None)


def grad(output: TRTensor, sources: "TRTensor | Sequence[TRTensor]", grad_output: Any = None
         ) -> list[TRArray]:
    """Gradients of ``output`` w.r.t. ``sources`` (tensors that require grad, leaves or not) as
    TRArrays, without touching ``.gradient``. A source the output does not depend on gets zeros.
    A single TRTensor as ``sources`` gives a one-element list, as ``torch.autograd.grad`` does;
    a dict of tensors gives a dict of gradients with the same keys.

    >>> w = parameter([1.0, 2.0])
    >>> grad((w * w).sum(), [w])[0]
    TRArray([2.0, 4.0], dtype=float64)
    """
    if isinstance(sources, dict):  # a dict of sources: a dict of gradients, same keys
        keys = list(sources)
        return dict(zip(keys, grad(output, [sources[k] for k in keys],
                                   grad_output)))  # type: ignore[return-value]
    if not isinstance(output, TRTensor):
        raise TypeError(f"grad(output): output must be a TRTensor, got {type(output).__name__}")
    if isinstance(sources, TRTensor):  # one source: a one-element list (torch.autograd.grad)
        sources = [sources]
    if not is_iterable(sources):
        raise TypeError(f"grad(sources): sources must be a TRTensor or a list or tuple of "
                        f"TRTensors, got {type(sources).__name__} {short_repr(sources, 40)}")
    srcs = list(sources)
    for i, src in enumerate(srcs):
        if not isinstance(src, TRTensor):
            raise TypeError(f"grad(sources): sources[{i}] must be a TRTensor, got {type(src).__name__}")
        if src._rec is None:
            raise ValueError(
                f"grad(sources): sources[{i}] does not require grad (a constant, or built under "
                "no_grad); create it with parameter() or set requires_grad = True on the leaf "
                "before building the graph"
            )
    collect: dict[int, Any] = {id(src._rec): None for src in srcs}
    seed = _seed_for(output, grad_output)
    if output._rec is not None:
        _run(output._rec, _masked_leaf_seed(output, seed), False, collect)
    out = []
    for src in srcs:
        g = collect[id(src._rec)]
        # in the source's dtype, as .gradient (a masked or promoted sweep may hold float64; a
        # value beyond float32 becomes ±∞ and one below it ±0, as in backward(), without a
        # RuntimeWarning or, under np.seterr(all="raise"), an exception)
        with np.errstate(all="ignore"):
            out.append(TRArray.from_codes(np.zeros(src.shape, dtype=src.dtype) if g is None
                                          else g.astype(src.dtype, copy=False)))
    return out


def stop_gradient(x: TRTensor) -> TRTensor:
    """The value of ``x`` with the gradient blocked (a constant leaf)."""
    return x.detach()


TRTensor.__tr_stop_gradient__ = staticmethod(stop_gradient)  # type: ignore[attr-defined]


TRTensor._rebuild = staticmethod(_rebuild_leaf)  # type: ignore[assignment]


def _store_value(t: TRTensor, result: TRTensor) -> None:
    if result.shape != t.shape:
        raise ValueError(f"in-place update of a parameter of shape {t.shape}: the right-hand side "
                         f"broadcasts it to shape {result.shape}; an update step keeps the "
                         f"parameter's shape")
    t.set_value(result.value)


for _name, _symbol in (("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/")):
    setattr(TRTensor, f"__i{_name}__", _scalar_tape.make_inplace(
        getattr(TRTensor, f"__{_name}__"), _symbol, "TRTensor", _store_value))
