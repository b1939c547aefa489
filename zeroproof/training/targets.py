"""Lift training targets to projective tuples ``(Y_n, Y_d)``.

* :func:`lift_targets` — sentinel-encoded targets: finite ``y ↦ (y, 1)``, ``+inf ↦ (1, 0)``,
  ``-inf ↦ (−1, 0)``, ``NaN ↦ ⊥ = (1, 0)`` (transreal inputs: Φ and ⊥ also ``↦ (1, 0)``).
* :func:`lift_semantic_targets` — explicit labels (``finite``, ``+inf``, ``-inf``, ``bottom``)
  next to the values, for audited data where a NaN must not silently mean ⊥.

Both return :class:`LiftedTargets`: a pair ``(Y_n, Y_d)`` (so ``y_n, y_d = lift_targets(y)``
works) that also carries ``.kinds`` (:class:`TargetKind` codes), ``.signs`` (+1/−1 for ±∞
targets, 0 elsewhere — the input of ``sign_consistency_loss``) and ``.finite_mask``. The
projective tuple of ``+∞`` and of ``⊥`` is the same point ``(1, 0)``; only ``.kinds`` /
``.signs`` tell them apart.
"""
from __future__ import annotations

import enum
from typing import Any

import numpy as np
from ..core._parse import is_integer, is_real_number, short_repr

__all__ = ["TargetKind", "LiftedTargets", "lift_targets", "lift_semantic_targets"]


class TargetKind(enum.IntEnum):
    """Semantic class of a target.

    >>> TargetKind.coerce("+inf"), TargetKind.coerce("⊥")
    (<TargetKind.POS_INF: 1>, <TargetKind.BOTTOM: 3>)
    """

    FINITE = 0
    POS_INF = 1
    NEG_INF = 2
    BOTTOM = 3

    @classmethod
    def coerce(cls, label: Any) -> "TargetKind":
        """A kind from a member, its int code, or a name: ``finite``; ``+inf``/``pinf``/``+∞``/
        ``pos_inf``; ``-inf``/``ninf``/``−∞``/``neg_inf``; ``bottom``/``⊥``. An unknown name
        or code is a ValueError, any other type (None, bool, float, ...) a TypeError."""
        if isinstance(label, cls):
            return label
        if not (is_integer(label) or isinstance(label, str)):
            raise TypeError(f"labels: a target label must be a TargetKind, an int code 0-3 or a "
                            f"name (finite, +inf, -inf, bottom), got {type(label).__name__} "
                            f"{short_repr(label, 40)}")
        if is_integer(label):
            try:
                return cls(int(label))
            except ValueError:
                pass
        if isinstance(label, str):
            k = _NAMES.get(label.strip().lower())
            if k is not None:
                return k
        raise ValueError(f"labels: unknown target label {label!r}; use finite, +inf, -inf or "
                         "bottom (or TargetKind / 0-3)")


_NAMES = {
    "finite": TargetKind.FINITE, "real": TargetKind.FINITE,
    "+inf": TargetKind.POS_INF, "inf": TargetKind.POS_INF, "pinf": TargetKind.POS_INF,
    "+∞": TargetKind.POS_INF, "∞": TargetKind.POS_INF, "pos_inf": TargetKind.POS_INF,
    "-inf": TargetKind.NEG_INF, "ninf": TargetKind.NEG_INF, "-∞": TargetKind.NEG_INF,
    "−∞": TargetKind.NEG_INF, "neg_inf": TargetKind.NEG_INF,
    "bottom": TargetKind.BOTTOM, "⊥": TargetKind.BOTTOM, "bot": TargetKind.BOTTOM,
}


class LiftedTargets(tuple):
    """``(Y_n, Y_d)`` plus per-element ``kinds``, ``signs`` and ``finite_mask`` (NumPy arrays).

    >>> t = lift_targets([2.0, float("inf")])
    >>> y_n, y_d = t
    >>> y_n.tolist(), y_d.tolist(), t.signs.tolist()
    ([2.0, 1.0], [1.0, 0.0], [0.0, 1.0])
    """

    kinds: np.ndarray
    signs: np.ndarray
    finite_mask: np.ndarray

    def __new__(cls, y_n: Any, y_d: Any, kinds: np.ndarray) -> "LiftedTargets":
        obj = super().__new__(cls, (y_n, y_d))
        obj.kinds = kinds
        obj.signs = np.where(kinds == TargetKind.POS_INF, 1.0,
                             np.where(kinds == TargetKind.NEG_INF, -1.0, 0.0))
        obj.finite_mask = kinds == TargetKind.FINITE
        return obj

    @property
    def y_n(self) -> Any:
        return self[0]

    @property
    def y_d(self) -> Any:
        return self[1]

    def __reduce__(self) -> Any:
        return (LiftedTargets, (self[0], self[1], self.kinds))


def _from_kinds(values: np.ndarray, kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fin = kinds == TargetKind.FINITE
    dtype = values.dtype if values.dtype.kind == "f" else np.float64
    y_n = np.where(fin, values, np.where(kinds == TargetKind.NEG_INF, -1.0, 1.0)).astype(dtype)
    y_d = np.asarray(fin).astype(dtype)  # (a 0-d input gives 0-d arrays, not a scalar)
    return y_n, y_d


def _wrap(like: Any, y_n: np.ndarray, y_d: np.ndarray, kinds: np.ndarray) -> LiftedTargets:
    """Return the tuple in the kind of the input (tensor → constants, node → constants,
    number → floats, array-like → arrays)."""
    name = type(like).__name__
    if name == "TRTensor":
        from ..array.tape import constant

        return LiftedTargets(constant(y_n), constant(y_d), kinds)
    if name == "TRNode":
        from ..autodiff import TRNode

        return LiftedTargets(TRNode.constant(float(y_n)), TRNode.constant(float(y_d)), kinds)
    if np.ndim(y_n) == 0 and not isinstance(like, np.ndarray):
        return LiftedTargets(float(y_n), float(y_d), kinds)
    return LiftedTargets(y_n, y_d, kinds)


def _refuse_grad(func: str, name: str, y: Any) -> None:
    """Targets are constants: a node or tensor that requires grad would be detached silently."""
    nodes = y if isinstance(y, (list, tuple)) else [y]
    if any(getattr(v, "requires_grad", False) is True for v in nodes):
        raise TypeError(f"{func}: {name} requires grad, but lifted targets are constants (the "
                        f"gradient would stop here); pass {name}.detach() (or its value) if "
                        f"that is what you mean")


def _what_is_not_real(name: str, x: Any) -> str:
    """Say what keeps ``x`` from being read as real numbers: the first entry of a (nested)
    list/tuple that is not a real number (``but y[1] is NoneType None``), else the container
    (``got ndarray of dtype <U1``)."""
    
    from ..core.scalar import TRScalar

    if isinstance(x, (list, tuple)):
        stack = [((i,), e) for i, e in reversed(list(enumerate(x)))]
        while stack:
            where, e = stack.pop()
            if isinstance(e, (list, tuple)):
                stack.extend((where + (i,), f) for i, f in reversed(list(enumerate(e))))
            elif not (is_real_number(e) or isinstance(e, TRScalar)):
                index = "".join(f"[{i}]" for i in where)
                return f"but {name}{index} is {type(e).__name__} {short_repr(e, 40)}"
    return "got " + type(x).__name__ + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else "")


def _scalar_batch(y: Any) -> Any:
    """A list/tuple of TRScalars or (constant) TRNodes, a scalar-tape batch, as a TRArray;
    anything else unchanged."""
    from ..autodiff.tr_node import TRNode
    from ..core.scalar import TRScalar

    if isinstance(y, (list, tuple)) and any(isinstance(e, (TRScalar, TRNode)) for e in y):
        from ..array import array as tr_array

        return tr_array([e.value if isinstance(e, TRNode) else e for e in y])
    return y


def _values_and_kinds(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Float values and sentinel kinds of any target container."""
    from ..autodiff import projective as pj

    _refuse_grad("lift_targets", "y", y)
    y = _scalar_batch(y)
    if isinstance(y, (bool, np.bool_, str, bytes)) or y is None:
        raise TypeError(f"lift_targets: y must hold real numbers, got {type(y).__name__}")
    try:
        codes, bot = pj._codes(pj._values(y), "lift_targets: y")
    except TypeError:
        raise TypeError(f"lift_targets: y must hold real numbers, {_what_is_not_real('y', y)}") \
            from None
    codes = np.asarray(codes)
    if codes.dtype.kind != "f":
        codes = codes.astype(np.float64)
    kinds = np.full(codes.shape, TargetKind.FINITE, dtype=np.int8)
    kinds[np.isposinf(codes)] = TargetKind.POS_INF
    kinds[np.isneginf(codes)] = TargetKind.NEG_INF
    kinds[np.isnan(codes)] = TargetKind.BOTTOM
    if bot is not None:
        kinds[np.broadcast_to(bot, codes.shape)] = TargetKind.BOTTOM
    return codes, kinds


def lift_targets(y: Any) -> LiftedTargets:
    """Lift sentinel-encoded targets: finite ``y ↦ (y, 1)``, ``+inf ↦ (1, 0)``,
    ``-inf ↦ (−1, 0)``, NaN ``↦ ⊥ = (1, 0)``.

    ``y``: a number, array-like, ``TRArray``/``TRScalar`` (Φ and ⊥ ↦ ⊥), a TRTensor or TRNode
    (their values; the result is constants of that tape), or a list of TRScalars / constant
    TRNodes (a scalar-tape batch; the result is NumPy arrays, which the losses accept next to
    lists of nodes). Returns :class:`LiftedTargets`.

    >>> y_n, y_d = lift_targets([1.5, float("inf"), float("-inf"), float("nan")])
    >>> y_n.tolist(), y_d.tolist()
    ([1.5, 1.0, -1.0, 1.0], [1.0, 0.0, 0.0, 0.0])
    >>> lift_targets(2.0)
    (2.0, 1.0)
    """
    values, kinds = _values_and_kinds(y)
    y_n, y_d = _from_kinds(values, kinds)
    return _wrap(y, y_n, y_d, kinds)


def lift_semantic_targets(values: Any, labels: Any) -> LiftedTargets:
    """Lift targets with explicit labels: ``finite ↦ (value, 1)``, ``+inf ↦ (1, 0)``,
    ``-inf ↦ (−1, 0)``, ``bottom ↦ (1, 0)``.

    ``labels``: one label per value (a :class:`TargetKind`, its code 0–3, or a name such as
    ``"finite"``, ``"+inf"``, ``"-inf"``, ``"bottom"``), or a single label for all. A value is
    read only where its label is ``finite`` and must be a finite number there (``ValueError``
    naming ``values`` otherwise); elsewhere it is ignored, but must still be a number (NaN is
    fine; ``None`` is a ``TypeError``, as in :func:`lift_targets`). Shapes must match.

    >>> y_n, y_d = lift_semantic_targets([0.5, 0.0, float("nan")], ["finite", "-inf", "bottom"])
    >>> y_n.tolist(), y_d.tolist()
    ([0.5, -1.0, 1.0], [1.0, 0.0, 0.0])
    """
    from ..autodiff import projective as pj

    _refuse_grad("lift_semantic_targets", "values", values)
    try:
        vals = np.asarray(pj._codes(pj._values(_scalar_batch(values)),
                                    "lift_semantic_targets: values")[0])
    except TypeError:
        raise TypeError(f"lift_semantic_targets: values must hold real numbers (NaN where a "
                        f"value is ignored), {_what_is_not_real('values', values)}") from None
    if vals.dtype.kind != "f":  # ints (and bools) become float64; float32 stays, as in lift_targets
        vals = vals.astype(np.float64)
    lab = np.asarray(labels, dtype=object)
    if lab.ndim == 0:
        lab = np.full(vals.shape, lab.item(), dtype=object)
    if lab.shape != vals.shape:
        raise ValueError(f"lift_semantic_targets: labels has shape {lab.shape} but values has "
                         f"shape {vals.shape}")
    kinds = np.array([int(TargetKind.coerce(v)) for v in lab.ravel()], dtype=np.int8).reshape(vals.shape)
    bad = (kinds == TargetKind.FINITE) & ~np.isfinite(vals)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"lift_semantic_targets: values{list(idx)} is {float(vals[idx])!r}"
                         f"{' (NaN, Φ or ⊥)' if np.isnan(vals[idx]) else ''} but its label is "
                         "'finite'; label it +inf/-inf/bottom or give a finite value")
    y_n, y_d = _from_kinds(vals, kinds)
    return _wrap(values, y_n, y_d, kinds)
