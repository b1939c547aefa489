"""Projective (homogeneous) tuples: train on ``(N, D)``, decode to transreal values at the edge.

A value ``x`` is carried as a pair ``(N, D)`` with ``x = N / D``; the pairs ``(N, D)`` and
``(αN, αD)`` (α ≠ 0) name the same value, so a pole is an ordinary point ``(N, 0)`` of the tuple
space and gradients never meet a division by zero while training. The public pieces:

* :func:`encode` — ``x ↦ (x, 1)``; ``+∞ ↦ (1, 0)``, ``−∞ ↦ (−1, 0)``, ``⊥ ↦ (1, 0)`` and
  ``Φ ↦ (1, 0)`` (the tuple chart has no separate nullity point; see ``docs/projective.md``).
* :func:`decode` — ``(N, D) ↦ N ÷ D`` where ``D ≠ 0`` (and ``|D| ≥ tau``), ``⊥`` elsewhere;
  :func:`decode_masked` gives the IEEE form ``(values with NaN at ⊥, bottom_mask)``.
* :func:`renormalize` — ``(N, D) / (sg(√(N² + D²)) + γ)``: bounded tuples, no gradient
  through the norm.
* :class:`GaugePolicy` and :class:`ProjectiveNormalize` — which magnitude convention a head uses.
* :class:`GradientPolicy` and :func:`gradient_policy` — inside a ``PROJECT`` region, elements
  whose tuple decodes to ⊥ send no gradient (:func:`project` applies the gate explicitly).
* :func:`log_tuples` — debug logging (logger ``"zeroproof.projective"``, silent by default) of
  the tuple norm next to the decoded value.

Every function accepts scalar-tape nodes (:class:`~zeroproof.autodiff.TRNode`, with plain
numbers/``TRScalar``), batched-tape tensors (:class:`~zeroproof.array.TRTensor`, with NumPy arrays
or ``TRArray``), and plain values: numbers/``TRScalar`` and NumPy arrays/``TRArray``. Results have
the kind of the inputs (nodes → nodes, tensors → tensors, arrays → NumPy arrays for tuples and a
``TRArray`` for decoded values, numbers → floats for tuples and a ``TRScalar`` for decoded values).

>>> import numpy as np
>>> from zeroproof.autodiff import projective
>>> N, D = projective.encode(np.array([2.0, np.inf, np.nan]))
>>> N, D
(array([2., 1., 1.]), array([1., 0., 0.]))
>>> projective.decode(N, D)
TRArray([2.0, ⊥, ⊥], dtype=float64)
"""
from __future__ import annotations

import enum
import logging
import math
from ..core._context import reusable_context
from contextvars import ContextVar
from typing import Any, Iterator, NamedTuple, Optional

import numpy as np

from ..core._parse import (
    check_int, check_real, float_codes, is_real_number, parse_enum, rectangular, short_repr,
)
from ..core.scalar import REAL, TRScalar, TRTag, bottom, real
from .tr_node import TRNode, stop_gradient
from .tr_ops_grad import tr_relu

__all__ = [
    "encode", "decode", "decode_masked", "renormalize", "tuple_norm", "GaugePolicy",
    "ProjectiveNormalize", "GradientPolicy", "gradient_policy", "get_gradient_policy", "project",
    "log_tuples", "logger", "angular_tuple",
]

logger = logging.getLogger("zeroproof.projective")
"""Debug logger of the projective layer (silent unless the application enables DEBUG)."""

# ---- kinds of inputs ----------------------------------------------------------------------------
NODE, TENSOR, ARRAY, SCALAR = "node", "tensor", "array", "scalar"


def _tape() -> Any:
    from ..array import tape  # lazy: the batched tape sits beside, not below, this module

    return tape


def _is_tensor(x: Any) -> bool:
    return type(x).__name__ == "TRTensor" and hasattr(x, "__tr_stop_gradient__")


def _is_trarray(x: Any) -> bool:
    from ..array.trarray import TRArray

    return isinstance(x, TRArray)


def _kind(func: str, **args: Any) -> str:
    """The kind shared by ``args``; mixing a scalar node with a tensor raises TypeError."""
    kinds = set()
    for name, x in args.items():
        if isinstance(x, TRNode):
            kinds.add(NODE)
        elif _is_tensor(x):
            kinds.add(TENSOR)
        elif isinstance(x, (bool, np.bool_)) or isinstance(x, (str, bytes)) or x is None:
            raise TypeError(f"{func}: {name} must be a number, array, TRNode or TRTensor, got "
                            f"{type(x).__name__}")
        elif is_real_number(x) or isinstance(x, TRScalar):
            if isinstance(x, int) and not -2**63 <= x < 2**64:  # beyond int64: read by _codes
                _codes(x, f"{func}: {name}")
            kinds.add(SCALAR)
        elif isinstance(x, (np.ndarray, list, tuple)) or _is_trarray(x):
            if not _is_trarray(x):
                _check_real_array(func, name, x)
            kinds.add(ARRAY)
        else:
            raise TypeError(f"{func}: {name} must be a number, array, TRNode or TRTensor, got "
                            f"{type(x).__name__}")
    if NODE in kinds and (TENSOR in kinds or ARRAY in kinds):
        raise TypeError(f"{func}: cannot mix scalar TRNodes with arrays/TRTensors; build the "
                        "computation on one tape")
    for k in (TENSOR, NODE, ARRAY, SCALAR):
        if k in kinds:
            return k
    return SCALAR  # pragma: no cover - no arguments


def _check_real_array(func: str, name: str, x: Any) -> None:
    """An array-like argument must hold real numbers; TypeError naming ``func`` and ``name``."""
    if isinstance(x, (list, tuple)) and any(isinstance(e, TRNode) for e in x):
        raise TypeError(f"{func}: {name} is a {type(x).__name__} of TRNodes; pass one TRNode "
                        f"(call {func} per element) or the whole batch as an array or TRTensor")
    try:
        a = np.asarray(x)
    except ValueError:  # ragged nesting
        raise TypeError(f"{func}: {name} must be a rectangular array of real numbers, got a "
                        f"ragged {type(x).__name__}") from None
    if a.dtype != object and a.dtype.kind in "fiu":
        return
    if _holds_numbers(a):  # ints beyond int64: read (or refused, naming the argument) by _codes
        _codes(a, f"{func}: {name}")
        return
    if a.dtype == object and a.size and all(isinstance(e, TRScalar) for e in a.ravel()):
        raise TypeError(f"{func}: {name} is a {type(x).__name__} of TRScalars; convert it with "
                        f"zeroproof.array.array(...) first")
    raise TypeError(f"{func}: {name} must hold real numbers (float or int), got "
                    f"{type(x).__name__} of dtype {a.dtype}")


def _codes(x: Any, name: str = "the input") -> tuple[np.ndarray, np.ndarray | None]:
    """IEEE codes and ⊥ mask of any accepted input (values only, no graph); ``name`` is what
    an error calls ``x``."""
    if isinstance(x, TRNode):
        v = x.value
        return np.asarray(float(v)), (np.asarray(True) if v.tag is TRTag.BOTTOM else None)
    if isinstance(x, TRScalar):
        return np.asarray(float(x)), (np.asarray(True) if x.tag is TRTag.BOTTOM else None)
    if _is_tensor(x):
        arr = x.value
        return np.asarray(arr.codes), arr.bottom
    if _is_trarray(x):
        return np.asarray(x.codes), x.bottom
    a = rectangular(name, x)
    if _holds_numbers(a):
        return _wide_ints(name, a), None
    if a.dtype == object or a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers (float or int), got "
                        f"{type(x).__name__} of dtype {a.dtype}")
    # ints → float64; float16/longdouble → float64 and a non-native byte order → native, as
    # zeroproof.array.array reads them (a longdouble beyond float64 becomes ±inf, below it ±0)
    return float_codes(name, a), None


def _holds_numbers(a: np.ndarray) -> bool:
    """Whether ``a`` is an object array of real numbers (no bool): what NumPy makes of an int
    beyond the int64/uint64 range."""
    return a.dtype == object and a.size > 0 and all(is_real_number(e) for e in a.flat)


def _wide_ints(name: str, a: np.ndarray) -> np.ndarray:
    """An object array of real numbers as float64 codes; an int beyond the float64 range is a
    ``ValueError`` naming ``name`` (as ``zeroproof.real`` refuses it), not an infinity."""
    out = np.empty(a.shape, dtype=np.float64)
    flat = out.reshape(-1)
    for i, e in enumerate(a.flat):
        try:
            flat[i] = float(e)
        except OverflowError:
            raise ValueError(f"{name}={short_repr(e, 40)} does not fit in a float64; use "
                             f"float('inf') or zeroproof.pinf()/ninf() for infinities") from None
    return out


def _real_mask(codes: np.ndarray, bot: np.ndarray | None) -> np.ndarray:
    m = np.isfinite(codes)
    return m if bot is None else (m & ~bot)


def _check_pair(func: str, names: tuple[str, str], a: Any, b: Any) -> None:
    sa = np.shape(_codes(a, f"{func}: {names[0]}")[0])
    sb = np.shape(_codes(b, f"{func}: {names[1]}")[0])
    if sa != sb:
        raise ValueError(
            f"{func}: {names[0]} and {names[1]} must have the same shape (a tuple is two arrays of "
            f"one shape), got {names[0]} {sa} and {names[1]} {sb}")


def _check_tau(func: str, tau: Any, name: str = "tau") -> float:
    """A threshold (or ``gamma``) of ``func``: a finite real number ``>= 0``."""
    return check_real(f"{func}: {name}", tau, "a finite number >= 0",
                      lambda v: 0.0 <= v < math.inf)


def _check_gamma(func: str, gamma: Any) -> float:
    return _check_tau(func, gamma, "gamma")


def _relu(x: Any) -> Any:
    if isinstance(x, TRNode):
        return tr_relu(x)
    return _tape().relu(x)


def _lift(x: Any, kind: str) -> Any:
    """Arrays/numbers as constants of the tape of ``kind`` (TENSOR or NODE)."""
    if kind == TENSOR:
        return _tape().as_tensor(x)
    if kind == NODE:
        return x if isinstance(x, TRNode) else TRNode.constant(x)
    return x


# ---- gradient policy ------------------------------------------------------------------------------
class GradientPolicy(str, enum.Enum):
    """How gradients flow inside a projective region.

    * ``PASSTHROUGH`` (default): ordinary autodiff on the tuple (Mask-REAL still applies).
    * ``PROJECT``: an element whose tuple decodes to ⊥ (``D == 0``, or ``|D| < tau`` of the
      active policy) sends no gradient through the projective functions of this module and
      :mod:`zeroproof.losses` (see :func:`gradient_policy`).

    >>> GradientPolicy("project") is GradientPolicy.PROJECT
    True
    """

    PASSTHROUGH = "passthrough"
    PROJECT = "project"

    def __str__(self) -> str:
        return self.value


class _PolicyState(NamedTuple):
    policy: GradientPolicy
    tau: float


_POLICY: ContextVar[_PolicyState] = ContextVar(
    "zeroproof_projective_policy", default=_PolicyState(GradientPolicy.PASSTHROUGH, 0.0))


def _coerce_policy(policy: Any) -> GradientPolicy:
    return parse_enum(GradientPolicy, policy, "policy")


@reusable_context(check=lambda policy=GradientPolicy.PROJECT, tau=0.0: (
    _coerce_policy(policy), _check_tau("gradient_policy", tau)))
def gradient_policy(policy: Any = GradientPolicy.PROJECT, tau: float = 0.0) -> Iterator[None]:
    """Run a projective region under ``policy`` (per thread / asyncio task; restored on exit).

    Under ``PROJECT``, :func:`renormalize`, :func:`decode`, :class:`ProjectiveNormalize`,
    ``implicit_loss`` and ``sign_consistency_loss`` first pass their predicted tuple through
    :func:`project`, so elements decoding to ⊥ (``D == 0`` or ``|D| < tau``) send no gradient.

    >>> x = TRNode.parameter(3.0); d = TRNode.parameter(0.0)
    >>> with gradient_policy(GradientPolicy.PROJECT):
    ...     n_hat, d_hat = renormalize(x, d)
    >>> n_hat.backward(); x.gradient      # (3, 0) decodes to ⊥: nothing flows
    TRScalar(0.0, REAL)
    """
    state = _PolicyState(_coerce_policy(policy), _check_tau("gradient_policy", tau))
    token = _POLICY.set(state)
    try:
        yield
    finally:
        _POLICY.reset(token)


def get_gradient_policy() -> GradientPolicy:
    """The active :class:`GradientPolicy` of this thread/task.

    >>> get_gradient_policy()
    <GradientPolicy.PASSTHROUGH: 'passthrough'>
    """
    return _POLICY.get().policy


def _bottom_of_tuple(D: Any, tau: float) -> np.ndarray:
    """Where a tuple with denominator ``D`` decodes to ⊥: REAL ``D`` with ``D == 0`` or
    ``|D| < tau``; a ⊥ denominator stays ⊥."""
    codes, bot = _codes(D)
    with np.errstate(invalid="ignore"):
        m = np.isfinite(codes) & ((codes == 0) | (np.abs(codes) < tau))
    if bot is not None:
        m = m | bot
    return np.asarray(m)  # a 0-d array, not a NumPy bool scalar, for 0-d input


def _gate_tensor(x: Any, keep: np.ndarray, base: Any) -> Any:
    """``base`` plus a zero-valued term that carries ``x``'s gradient where ``keep`` (REAL x).

    Built from public ops only: ``u = s·x + c`` with constants chosen so that ``u ≥ 1`` where
    the gradient must pass and ``u = −∞`` elsewhere; ``h = relu(u) − relu(sg(u))`` is ``+0``
    everywhere (for finite or infinite x) and ``∂h/∂u`` is relu's *selection* (1 or nothing —
    never ``g·0``). ``y = base + s·h`` then has the value of ``base`` and ``∂y/∂x = s² = 1``
    exactly where ``keep``. ``s`` is −1 where ``x`` has its sign bit set, so ``base + s·(+0)``
    keeps a ``−0.0``.
    """
    codes, bot = _codes(x)
    dtype = codes.dtype if codes.dtype.kind == "f" else np.float64
    realm = _real_mask(codes, bot)
    s = np.where(np.signbit(codes), -1.0, 1.0)
    s = np.where(codes == np.inf, -1.0, s)           # +∞ → u = −∞
    s = np.where(codes == -np.inf, 1.0, s)           # −∞ → u = −∞
    s = np.where(np.isnan(codes), 1.0, s).astype(dtype)
    c = np.where(keep & realm, 1.0, -np.inf).astype(dtype)
    if isinstance(x, TRNode):
        from ..core.scalar import ninf

        s_c: Any = float(s)
        c_c: Any = 1.0 if float(c) == 1.0 else ninf()
    else:
        tp = _tape()
        s_c, c_c = tp.constant(s), tp.constant(c)
    u = x * s_c + c_c
    h = _relu(u) - _relu(stop_gradient(u))
    return base + s_c * h


def _gate(x: Any, keep: Any) -> Any:
    """``x`` with its gradient blocked where ``keep`` is False (value unchanged)."""
    if isinstance(x, TRNode):
        if bool(keep) or not x.requires_grad:
            return x
        return _gate_tensor(x, np.asarray(bool(keep)), stop_gradient(x))
    if _is_tensor(x):
        keep = np.broadcast_to(np.asarray(keep, dtype=bool), x.shape)
        if keep.all() or not x.requires_grad:
            return x
        return _gate_tensor(x, keep, stop_gradient(x))
    return x


def project(N: Any, D: Any, tau: float = 0.0) -> tuple[Any, Any]:
    """The ``GradientPolicy.PROJECT`` gate: ``(N, D)`` unchanged in value, with no gradient from
    elements whose tuple decodes to ⊥ (``D == 0`` or ``|D| < tau``).

    Scalar nodes: a ⊥ tuple is replaced by ``stop_gradient`` of its parts. Tensors: a gate made
    of tape ops (relu's selection), so the masked elements receive nothing while the others get
    exactly the upstream gradient. Arrays and numbers pass through.

    >>> import numpy as np
    >>> import zeroproof.array as za
    >>> n = za.parameter(np.array([1.0, 2.0])); d = za.parameter(np.array([0.5, 0.0]))
    >>> pn, pd = project(n, d)
    >>> (pn * pn + pd).sum().backward()
    >>> n.gradient, d.gradient
    (TRArray([2.0, 0.0], dtype=float64), TRArray([1.0, 0.0], dtype=float64))
    """
    kind = _kind("project", N=N, D=D)
    _check_pair("project", ("N", "D"), N, D)
    tau = _check_tau("project", tau)
    if kind not in (NODE, TENSOR):
        return N, D
    keep = ~_bottom_of_tuple(D, tau)
    return _gate(N, keep), _gate(D, keep)


def _policy_gate(N: Any, D: Any) -> tuple[Any, Any]:
    state = _POLICY.get()
    if state.policy is GradientPolicy.PROJECT:
        return project(N, D, state.tau)
    return N, D


# ---- encode / decode ------------------------------------------------------------------------------
def _encode_codes(codes: np.ndarray, bot: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    realm = _real_mask(codes, bot)
    n = np.where(realm, codes, np.where(codes == -np.inf, -1.0, 1.0)).astype(
        codes.dtype if codes.dtype.kind == "f" else np.float64)
    d = np.asarray(realm).astype(n.dtype)  # (a 0-d input gives 0-d arrays, not a scalar)
    return n, d


def encode(x: Any) -> tuple[Any, Any]:
    """Lift ``x`` to a homogeneous tuple ``(N, D)``: finite ``x ↦ (x, 1)``, ``+∞ ↦ (1, 0)``,
    ``−∞ ↦ (−1, 0)``, ``⊥ ↦ (1, 0)``, ``Φ`` (and NaN) ``↦ (1, 0)``.

    Nodes/tensors keep their graph on REAL elements (``N`` is ``x`` there, ``D`` a constant);
    the tuple of a ±∞ element is a constant (a non-REAL value carries no gradient, as under
    Mask-REAL), and so is the tuple ``(1, 0)`` of a Φ/⊥ element, on both tapes.

    >>> encode(2.5)
    (2.5, 1.0)
    >>> from zeroproof import pinf, ninf
    >>> encode(ninf())
    (TRScalar(-1.0, REAL), TRScalar(0.0, REAL))
    >>> N, D = encode(TRNode.parameter(4.0)); N.value, D.value
    (TRScalar(4.0, REAL), TRScalar(1.0, REAL))
    """
    kind = _kind("encode", x=x)
    if kind == SCALAR:
        if isinstance(x, TRScalar):
            n, d = _encode_codes(np.asarray(float(x)),
                                 np.asarray(True) if x.tag is TRTag.BOTTOM else None)
            return real(float(n)), real(float(d))
        n, d = _encode_codes(*_codes(x, "encode: x"))
        return float(n), float(d)
    if kind == NODE:
        if x.tag is REAL:
            return x, TRNode.constant(1.0)
        n, d = _encode_codes(*_codes(x))
        return TRNode.constant(float(n)), TRNode.constant(float(d))
    if kind == ARRAY:
        from ..array import TRArray, array as _tr_array

        if isinstance(x, TRArray):  # the kind is kept, as decode keeps it (N, D are REAL)
            n, d = _encode_codes(*_codes(x))
            return _tr_array(n), _tr_array(d)
        if isinstance(x, (list, tuple)):
            x = _tr_array(x)
        return _encode_codes(*_codes(x))
    # tensor
    tp = _tape()
    codes, bot = _codes(x)
    n, d = _encode_codes(codes, bot)
    realm = _real_mask(codes, bot)
    if realm.all():
        return x, tp.constant(d)
    if not x.requires_grad:
        return tp.constant(n), tp.constant(d)
    flat = x.reshape(-1)
    donors = np.flatnonzero(realm)
    if donors.size == 0:  # nothing REAL, nothing to pass a gradient: constants, x still reached
        return tp.constant(n) + flat[np.zeros(0, dtype=np.intp)].sum(), tp.constant(d)
    # A Φ/⊥ element absorbs every op, so its (1, 0) cannot be computed from it: each non-REAL
    # element takes a REAL element's value (a gather, REAL everywhere), and the gate passes the
    # gradient only where x itself is REAL (a skip, not a product with 0).
    index = np.where(realm.ravel(), np.arange(realm.size), donors[0])
    base = tp.constant(np.where(realm, codes, n).astype(n.dtype))
    return _gate_tensor(flat[index].reshape(codes.shape), realm, base), tp.constant(d)


def decode(N: Any, D: Any, tau: float = 0.0) -> Any:
    """Decode a tuple: ``N ÷ D`` where ``D ≠ 0`` (and ``|D| ≥ tau``), ``⊥`` elsewhere.

    ``tau > 0`` applies an inference-style threshold (``|D| < tau ⇒ ⊥``, as in
    ``strict_inference``). Nodes → a node, tensors → a tensor (⊥ elements are non-REAL, so they
    send no gradient), arrays → a :class:`~zeroproof.array.TRArray`, numbers → a ``TRScalar``.
    A tuple part that is itself Φ/⊥ decodes by the transreal division (Φ stays Φ, ⊥ stays ⊥).
    With DEBUG logging enabled for ``"zeroproof.projective"`` the call logs the tuple norm next
    to the decoded value (:func:`log_tuples`).

    >>> decode(3.0, 2.0), decode(1.0, 0.0), decode(1.0, 1e-9, tau=1e-6)
    (TRScalar(1.5, REAL), TRScalar(BOTTOM), TRScalar(BOTTOM))
    >>> out = decode(TRNode.parameter(1.0), TRNode.parameter(0.0)); out.value
    TRScalar(BOTTOM)
    """
    out = _decode(N, D, tau)
    if logger.isEnabledFor(logging.DEBUG):
        log_tuples(N, D, decoded=out, label="decode")
    return out


def _decode(N: Any, D: Any, tau: float) -> Any:
    kind = _kind("decode", N=N, D=D)
    _check_pair("decode", ("N", "D"), N, D)
    tau = _check_tau("decode", tau)
    N, D = _policy_gate(N, D)
    bmask = _bottom_of_tuple(D, tau)
    if kind == SCALAR:
        from ..core import tr_div

        out = bottom() if bool(bmask) else tr_div(_scalar_of(N), _scalar_of(D))
    elif kind == NODE:
        q = _lift(N, NODE) / _lift(D, NODE)
        out = q - bottom() if bool(bmask) else q
    elif kind == TENSOR:
        tp = _tape()
        q = tp.as_tensor(N) / tp.as_tensor(D)
        if bmask.any():
            from ..array.trarray import TRArray

            zeros = np.zeros(bmask.shape, dtype=q.dtype)
            q = q - tp.constant(TRArray.from_codes(np.where(bmask, np.nan, zeros).astype(q.dtype),
                                                   bmask.copy()))
        out = q
    else:
        from ..array.trarray import TRArray

        n_codes, n_bot = _codes(N)
        d_codes, d_bot = _codes(D)
        q = TRArray.from_codes(n_codes, n_bot) / TRArray.from_codes(d_codes, d_bot)
        codes, bot = np.array(q.codes), q.bottom
        bot = bmask.copy() if bot is None else (bot | bmask)
        codes = np.where(bot, np.nan, codes)
        out = TRArray.from_codes(codes, bot if bot.any() else None)
    return out


def _scalar_of(x: Any) -> TRScalar:
    """A plain number as a transreal scalar, by the IEEE bridge (NaN → Φ, ±inf → ±∞), as the
    array form reads NumPy codes."""
    from ..bridge import from_ieee

    return x if isinstance(x, TRScalar) else from_ieee(x)


def decode_masked(N: Any, D: Any, tau: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The IEEE form of :func:`decode`: ``(values, bottom_mask)`` as NumPy arrays, values NaN
    where ``bottom_mask`` (Φ elements are NaN too, with ``bottom_mask`` False). No graph.

    >>> vals, bot = decode_masked([2.0, 1.0], [4.0, 0.0])
    >>> vals, bot
    (array([0.5, nan]), array([False,  True]))
    """
    out = _decode(_values(N), _values(D), tau)
    if isinstance(out, TRScalar):
        return np.asarray(float(out)), np.asarray(out.tag is TRTag.BOTTOM)
    bot = out.bottom
    return out.to_numpy(), (np.zeros(out.shape, dtype=bool) if bot is None else np.array(bot))


def _values(x: Any) -> Any:
    """Drop the graph: nodes → TRScalar, tensors → TRArray."""
    if isinstance(x, TRNode):
        return x.value
    if _is_tensor(x):
        return x.value
    return x


# ---- norm, renormalisation, gauge -----------------------------------------------------------------
def angular_tuple(theta: Any) -> tuple[Any, Any]:
    """The unit-circle tuple ``(cos θ, sin θ)`` of an angle (the ``ANGULAR_UNIT_CIRCLE`` gauge):
    a scalar node, a batched tensor, a TRScalar/TRArray, a number or a NumPy array (an array
    gives TRArrays, as :func:`decode` does), differentiable on both tapes. ``θ = π/2`` is the
    value 0 (``(0, 1)``); ``θ = 0`` is the pole ``(1, 0)``.

    >>> from zeroproof.autodiff import TRNode
    >>> th = TRNode.parameter(0.0)
    >>> N, D = angular_tuple(th)
    >>> (N.value, D.value)
    (TRScalar(1.0, REAL), TRScalar(0.0, REAL))
    >>> D.backward(); th.gradient      # d sin θ / dθ = cos 0
    TRScalar(1.0, REAL)
    """
    from ..core.ops import tr_cos, tr_sin

    if is_real_number(theta):
        theta = _scalar_of(check_real("angular_tuple(theta): theta", theta, "a finite real number",
                                      math.isfinite) if isinstance(theta, int) else float(theta))
    elif isinstance(theta, (np.ndarray, list, tuple)):
        from ..array.trarray import TRArray

        _kind("angular_tuple", theta=theta)
        theta = TRArray.from_codes(*_codes(theta, "angular_tuple: theta"))  # NaN → Φ, as decode
    elif not (isinstance(theta, (TRNode, TRScalar)) or _is_tensor(theta) or _is_trarray(theta)):
        raise TypeError(f"angular_tuple: theta must be a real number, an array, a TRScalar, a "
                        f"TRArray or a node, got {type(theta).__name__} {short_repr(theta)}")
    return tr_cos(theta), tr_sin(theta)


def tuple_norm(N: Any, D: Any) -> Any:
    """``‖(N, D)‖ = √(N² + D²)`` as values (NumPy array or float; no graph).

    >>> tuple_norm(3.0, 4.0)
    5.0
    """
    n, _ = _codes(N, "tuple_norm: N")
    d, _ = _codes(D, "tuple_norm: D")
    with np.errstate(all="ignore"):
        r = np.hypot(n, d)
    return float(r) if np.ndim(r) == 0 else r


def _detached_norm(N: Any, D: Any, gamma: float = 0.0) -> tuple[Any, Optional[np.ndarray]]:
    """``√(N² + D²)`` of the values of ``N`` and ``D`` (no graph) as a TRArray: the transreal
    formula (Φ absorbs, ``±∞ → +∞``, ⊥ and wheel mode as the ops define them), except that a
    REAL tuple whose squares overflow or underflow gets ``hypot(N, D)``, the same norm without
    the intermediate squares: ``(1e200, 1e200)`` has norm ``1.414e200``, not ``+∞``, and
    ``(1e-170, 1e-170)`` has ``1.414e-170``, not 0.

    Also returns the power-of-two factors by which :func:`renormalize` scales each REAL tuple
    before dividing it by its norm (None when they are all 1): ``1/2`` where the norm itself
    exceeds the float range (``hypot`` is ``+∞``), and ``2^k`` bringing ``max(|N|, |D|)`` to
    ``[1/2, 1)`` (at most the largest power of two of the dtype) where ``N² + D²`` underflows, so
    that the norm is the literal formula on a tuple whose squares are normal floats (a subnormal
    ``hypot`` is rounded to the subnormal grid: ``hypot(5e-324, 5e-324)`` is ``5e-324``). Not
    where ``gamma·2^k`` would overflow: ``gamma`` is then more than ``2^1000`` times the norm and
    ``S = ‖(N, D)‖ + gamma`` rounds to ``gamma`` however the norm is rounded."""
    from ..array import sqrt as tsqrt
    from ..array.trarray import TRArray

    n = TRArray.from_codes(*_codes(N))
    d = TRArray.from_codes(*_codes(D))
    S = tsqrt(n * n + d * d)
    s = S.codes
    dtype = s.dtype
    # N² + D² is finite and normal (no precision lost) exactly when √ of it lies in this range
    lo = np.sqrt(np.finfo(dtype).tiny)
    with np.errstate(all="ignore"):
        off = np.isfinite(n.codes) & np.isfinite(d.codes) & ~((s >= lo) & (s < np.inf))
        scale = None
        if off.any():
            h = np.hypot(n.codes, d.codes, dtype=dtype)
            big = off & np.isinf(h)
            m = np.maximum(np.abs(n.codes), np.abs(d.codes))
            k = np.minimum(-np.frexp(m)[1], np.finfo(dtype).maxexp - 1)
            up = np.ldexp(np.ones_like(s), k)  # 2^k, exactly, in the dtype
            small = off & (s < lo) & (m > 0) & np.isfinite(up * np.asarray(gamma, dtype=dtype))
            S = TRArray.from_codes(np.where(off, h, s), S.bottom)
            if big.any() or small.any():
                scale = np.where(big, 0.5, np.where(small, up, 1.0)).astype(dtype)
    return S, scale


def _scale_codes(x: Any, c: np.ndarray) -> Any:
    """A plain number, array, TRScalar or TRArray times the power-of-two factors ``c`` (exact),
    in its own form (a TRArray for transreal input, codes otherwise)."""
    from ..array.trarray import TRArray

    codes, bot = _codes(x)
    scaled = TRArray.from_codes(codes, bot) * TRArray.from_codes(np.asarray(c))
    if _is_trarray(x) or isinstance(x, TRScalar):
        return scaled
    return scaled.codes


def renormalize(N: Any, D: Any, gamma: float = 1e-9) -> tuple[Any, Any]:
    """Detached renormalisation: ``S = sg(√(N² + D²)) + gamma``; returns ``(N/S, D/S)``.

    The norm of the result is ``‖(N, D)‖ / (‖(N, D)‖ + gamma) ≤ 1``; ``sg`` (stop_gradient)
    means the gradient treats ``S`` as a constant: ``∂(N/S)/∂N = 1/S``, nothing through ``S``.
    ``gamma ≥ 0`` keeps ``(0, 0)`` finite (``gamma = 0`` turns it into ``0/0 = Φ``). The norm is
    the transreal ``√(N² + D²)``, computed without overflow or underflow of the squares for
    REAL tuples (``(1e200, 1e200)`` renormalises to ``(0.7071…, 0.7071…)``; a tuple whose norm
    overflows, or whose squares underflow, is first scaled by a power of two, so that
    ``(5e-324, 5e-324)`` gives ``(0.7071…, 0.7071…)`` too).

    >>> renormalize(3.0, 4.0, gamma=0.0)
    (0.6, 0.8)
    >>> renormalize(5e-324, 5e-324, gamma=0.0)
    (0.7071067811865475, 0.7071067811865475)
    >>> n = TRNode.parameter(3.0); d = TRNode.parameter(4.0)
    >>> nh, dh = renormalize(n, d, gamma=0.0); (nh + dh).backward()
    >>> n.gradient, d.gradient        # 1/S each: nothing through S = ‖(3, 4)‖ = 5
    (TRScalar(0.2, REAL), TRScalar(0.2, REAL))
    """
    kind = _kind("renormalize", N=N, D=D)
    _check_pair("renormalize", ("N", "D"), N, D)
    gamma = _check_gamma("renormalize", gamma)
    N, D = _policy_gate(N, D)
    S, c = _detached_norm(N, D, gamma)  # a value: the gradient sees a constant (stop_gradient)
    if c is not None:
        # a REAL tuple whose norm exceeds the float range, or whose squares underflow: the same
        # quotients of c·(N, D), c a power of two (1/2, or 2^k bringing the tuple near 1), whose
        # norm fits and is not rounded on the subnormal grid, with c·S = ‖c·(N, D)‖ + c·gamma;
        # scaling by c is exact, so the values are the formula's and the gradient is
        # c/(c·S) = 1/S by the chain rule
        if kind in (NODE, TENSOR):
            N, D = _lift(N, kind), _lift(D, kind)
            c0 = float(c) if kind == NODE else _tape().constant(c)
            N, D = N * c0, D * c0
        else:
            N, D = _scale_codes(N, c), _scale_codes(D, c)
        S = _detached_norm(N, D)[0] + c * gamma
    else:
        S = S + gamma
    if kind in (NODE, TENSOR):
        N, D = _lift(N, kind), _lift(D, kind)
        if kind == NODE:
            S = _scalar_from_arr(S)
        out = (N / S, D / S)
    elif any(_is_trarray(v) or isinstance(v, TRScalar) for v in (N, D)):
        from ..array.trarray import TRArray

        rn = TRArray.from_codes(*_codes(N)) / S
        rd = TRArray.from_codes(*_codes(D)) / S
        if kind == SCALAR:
            out = (_scalar_from_arr(rn), _scalar_from_arr(rd))
        else:
            out = (rn, rd)
    else:
        n, d = _codes(N)[0], _codes(D)[0]
        with np.errstate(all="ignore"):
            rn, rd = n / S.codes, d / S.codes
        out = (float(rn), float(rd)) if kind == SCALAR else (rn, rd)
    if logger.isEnabledFor(logging.DEBUG):
        log_tuples(out[0], out[1], label="renormalize")
    return out


def _scalar_from_arr(a: Any) -> TRScalar:
    """The TRScalar of a one-element TRArray (⊥ included)."""
    return a.reshape(())[()]


class GaugePolicy(str, enum.Enum):
    """Magnitude convention of a projective head (metadata for heads and exported bundles).

    * ``CANONICAL_DENOMINATOR`` — the tuple exactly as the head emits it (the default);
    * ``UNIT_L2_PROJECTIVE`` — tuples scaled to unit L2 norm by :class:`ProjectiveNormalize`,
      so denominator thresholds act on ``Q / √(P² + Q²)``;
    * ``ANGULAR_UNIT_CIRCLE`` — the unit-circle convention of angular heads (``(cos θ, sin θ)``);
      normalisation enforces unit norm but not the head's orientation/wrap rules.

    >>> GaugePolicy("unit_l2_projective")
    <GaugePolicy.UNIT_L2_PROJECTIVE: 'unit_l2_projective'>
    """

    CANONICAL_DENOMINATOR = "canonical_denominator"
    UNIT_L2_PROJECTIVE = "unit_l2_projective"
    ANGULAR_UNIT_CIRCLE = "angular_unit_circle"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def coerce(cls, policy: Any, argname: str = "policy") -> "GaugePolicy":
        """A member from a member, its value or its name (case-insensitive); another type is a
        ``TypeError``, an unknown name a ``ValueError``.

        >>> GaugePolicy.coerce("ANGULAR_UNIT_CIRCLE")
        <GaugePolicy.ANGULAR_UNIT_CIRCLE: 'angular_unit_circle'>
        """
        return parse_enum(cls, policy, argname)


class ProjectiveNormalize:
    """Apply a :class:`GaugePolicy` to ``(P, Q)``: ``CANONICAL_DENOMINATOR`` returns the tuple
    unchanged; ``UNIT_L2_PROJECTIVE`` and ``ANGULAR_UNIT_CIRCLE`` return
    :func:`renormalize` ``(P, Q, gamma)`` (unit norm up to ``gamma``, norm detached).

    >>> normalize = ProjectiveNormalize(GaugePolicy.UNIT_L2_PROJECTIVE, gamma=0.0)
    >>> normalize(3.0, -4.0)
    (0.6, -0.8)
    >>> ProjectiveNormalize("canonical_denominator")(3.0, -4.0)
    (3.0, -4.0)
    """

    def __init__(self, policy: Any = GaugePolicy.CANONICAL_DENOMINATOR, gamma: float = 1e-9) -> None:
        self.policy = GaugePolicy.coerce(policy, "policy")
        self.gamma = _check_gamma("ProjectiveNormalize", gamma)

    def __call__(self, P: Any, Q: Any) -> tuple[Any, Any]:
        if self.policy is GaugePolicy.CANONICAL_DENOMINATOR:
            _kind("ProjectiveNormalize", P=P, Q=Q)
            _check_pair("ProjectiveNormalize", ("P", "Q"), P, Q)
            return _policy_gate(P, Q)
        return renormalize(P, Q, self.gamma)

    def __repr__(self) -> str:
        return f"ProjectiveNormalize({self.policy.name}, gamma={self.gamma!r})"


# ---- logging --------------------------------------------------------------------------------------
def log_tuples(N: Any, D: Any, decoded: Any = None, label: str = "tuples", limit: int = 8) -> None:
    """Log (DEBUG, logger ``"zeroproof.projective"``) the tuple norm ``‖(N, D)‖`` next to the
    decoded value, for the first ``limit`` elements, plus the norm range and the ⊥ count. Does
    nothing unless DEBUG is enabled for that logger.

    >>> import logging, sys
    >>> handler = logging.StreamHandler(sys.stdout)
    >>> logger.addHandler(handler); logger.setLevel(logging.DEBUG)
    >>> log_tuples(3.0, 4.0)
    tuples: n=1 norm[min=5, max=5] bottom=0 | ‖(N,D)‖=5 → 0.75
    >>> logger.removeHandler(handler); logger.setLevel(logging.NOTSET)
    """
    from ..array.trarray import TRArray

    # the arguments are checked whether or not DEBUG is on: a call that only fails once
    # logging is switched on would be a trap
    if not isinstance(label, str):
        raise TypeError(f"log_tuples: label must be a str, got {type(label).__name__} "
                        f"{short_repr(label)}")
    limit = check_int("log_tuples: limit", limit, 0)
    n = np.ravel(_codes(_values(N), "log_tuples: N")[0])
    d = np.ravel(_codes(_values(D), "log_tuples: D")[0])
    if n.size != d.size and 1 not in (n.size, d.size):
        raise ValueError(f"log_tuples: N and D must have the same number of elements (or one "
                         f"of them one), got {n.size} and {d.size}")
    if isinstance(decoded, np.ndarray):  # what decode_masked / strict_inference return: NaN
        codes = np.asarray(_codes(decoded, "log_tuples: decoded")[0])  # encodes ⊥ (SPEC §6)
        decoded = TRArray.from_codes(np.where(np.isnan(codes), np.nan, codes),
                                     np.asarray(np.isnan(codes)))
    elif decoded is not None and not isinstance(decoded, (TRNode, TRScalar, TRArray)) \
            and not _is_tensor(decoded):
        raise TypeError(f"log_tuples: decoded must be None, a NumPy array, a TRArray, a TRScalar "
                        f"or a node, got {type(decoded).__name__}")
    if decoded is not None:  # one decoded value per tuple element (pairs are logged side by side)
        want = np.broadcast(n, d).size
        got = np.shape(_values(decoded))
        if int(np.prod(got)) != want:
            raise ValueError(f"log_tuples: decoded must hold one value per tuple element ({want} "
                             f"for N of shape {np.shape(_values(N))} and D of shape "
                             f"{np.shape(_values(D))}), got decoded of shape {got}")
    if not logger.isEnabledFor(logging.DEBUG):
        return
    norms = np.asarray(tuple_norm(n, d)).ravel()
    if decoded is None:
        decoded = _decode(_values(N), _values(D), 0.0)
    if isinstance(decoded, (TRNode,)) or _is_tensor(decoded):
        decoded = decoded.value
    if isinstance(decoded, TRScalar):
        dec_strs = [str(decoded)]
        n_bot = int(decoded.tag is TRTag.BOTTOM)
    else:
        flat = decoded.ravel()
        dec_strs = [str(flat[i]) for i in range(min(limit, flat.size))]
        n_bot = int(flat.tag_counts().get("BOTTOM", 0))
    pairs = ", ".join(f"‖(N,D)‖={norms[i]:.6g} → {dec_strs[i]}" for i in range(min(limit, len(dec_strs))))
    lo = float(np.nanmin(norms)) if norms.size and not np.isnan(norms).all() else float("nan")
    hi = float(np.nanmax(norms)) if norms.size and not np.isnan(norms).all() else float("nan")
    logger.debug("%s: n=%d norm[min=%.6g, max=%.6g] bottom=%d | %s", label, norms.size, lo, hi,
                 n_bot, pairs)
