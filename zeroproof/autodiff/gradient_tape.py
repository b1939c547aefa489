"""A gradient tape in the style of ``tf.GradientTape``: watch sources, ask for gradients once.

Our graph is always recorded in the nodes, so the tape is a scope: ``watch`` turns a constant into
a source for this tape (operations after the ``watch`` record through it), and ``gradient``
computes fresh gradients (never reads a stale ``.gradient``).
"""
from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from typing import Any, Iterator, Sequence

from ..core._parse import check_bool, short_repr
from .backward import _grad, _node_list
from .grad_funcs import _reaches_outside, is_transform_source
from .tr_node import TRNode, _leaf_code, is_grad_enabled

__all__ = ["TRGradientTape", "gradient_tape"]

# Constants made sources by open tapes: id(node) -> [node, number of open tapes watching it]. A
# constant becomes one again when the last tape watching it exits (tapes nest, and may exit in any
# order). Shared by all threads, like the ``requires_grad`` flag it guards.
_WATCHES: dict[int, list] = {}
_WATCHES_LOCK = threading.Lock()
# Tapes inside their ``with`` block (all threads): a tape whose source another open tape watches
# returns gradients as graph nodes, so the outer tape can differentiate them again.
_OPEN: list["TRGradientTape"] = []


class TRGradientTape:
    """Records which nodes are sources and computes gradients of a target w.r.t. them.

    >>> x = TRNode.constant(2.0)
    >>> with gradient_tape() as tape:
    ...     tape.watch(x)
    ...     y = x * x
    >>> tape.gradient(y, x).value
    TRScalar(4.0, REAL)
    """

    def __init__(self, persistent: bool = False) -> None:
        self.persistent = persistent  # (checked by the property)
        self._watched: list[TRNode] = []
        self._watched_ids: set[int] = set()
        # constants this tape holds a watch on while open (see _WATCHES), by id
        self._flipped: dict[int, TRNode] = {}
        self._used = False
        self._active = False

    @property
    def persistent(self) -> bool:
        """Whether :meth:`gradient` may be called more than once (a bool; settable)."""
        return self._persistent

    @persistent.setter
    def persistent(self, value: bool) -> None:
        self._persistent = check_bool("persistent", value)

    def __enter__(self) -> "TRGradientTape":
        self._active = True
        with _WATCHES_LOCK:
            _OPEN.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._active = False
        with _WATCHES_LOCK:
            if self in _OPEN:
                _OPEN.remove(self)
            # watched constants are constants again once the last open tape watching them exits
            for key, n in self._flipped.items():
                entry = _WATCHES.get(key)
                if entry is None or entry[0] is not n:
                    continue
                entry[1] -= 1
                if entry[1] == 0:
                    del _WATCHES[key]
                    n._rg = False
        self._flipped.clear()

    def watch(self, x: TRNode) -> None:
        """Make ``x`` a source of this tape (a constant starts recording through it).

        A constant stays a source while any open tape watches it: with nested tapes, leaving
        the inner one keeps a constant the outer one also watches.
        """
        if not isinstance(x, TRNode):
            raise TypeError(
                f"watch(x): x must be a TRNode, got {type(x).__name__}; wrap values with "
                "TRNode.constant(...) or TRNode.parameter(...) first"
            )
        if not self._active:
            raise RuntimeError("watch() must be called inside the `with gradient_tape() as tape:` block")
        if id(x) not in self._flipped:  # this tape holds at most one watch on x
            with _WATCHES_LOCK:
                entry = _WATCHES.get(id(x))
                if entry is not None and entry[0] is x:  # watched by another open tape too
                    entry[1] += 1
                    self._flipped[id(x)] = x
                elif not x._rg:
                    x._rg = True
                    _WATCHES[id(x)] = [x, 1]
                    self._flipped[id(x)] = x
        if id(x) not in self._watched_ids:  # (the list keeps x alive: its id stays unique)
            self._watched_ids.add(id(x))
            self._watched.append(x)

    def watched(self) -> list[TRNode]:
        """The nodes watched so far."""
        return list(self._watched)

    def gradient(self, target: TRNode, sources: "TRNode | Sequence[TRNode]",
                 output_gradient: Any = None) -> Any:
        """Gradients of ``target`` w.r.t. ``sources`` (a node → a node, a list → a list, a tuple
        → a tuple, a dict → a dict with the same keys, as TensorFlow's tape returns the
        structure it was given).

        ``output_gradient``: the seed (a TRNode, TRScalar or real number; default ``R(1)``).
        """
        if self._used and not self.persistent:
            raise RuntimeError(
                "gradient() was already called on this non-persistent tape; create it with "
                "gradient_tape(persistent=True) to ask for several gradients"
            )
        if not isinstance(target, TRNode):
            raise TypeError(f"gradient(target): target must be a TRNode, got "
                            f"{type(target).__name__} {short_repr(target, 60)}")
        single = isinstance(sources, TRNode)
        keys = list(sources) if isinstance(sources, Mapping) else None
        if keys is not None:
            for k in keys:
                if not isinstance(sources[k], TRNode):
                    raise TypeError(f"gradient(sources): sources[{k!r}] must be a TRNode, got "
                                    f"{type(sources[k]).__name__} {short_repr(sources[k], 60)}")
        srcs = _node_list("gradient", "sources",
                          [sources[k] for k in keys] if keys is not None else sources)
        if output_gradient is not None and not isinstance(output_gradient, TRNode):
            try:
                _leaf_code(output_gradient, "output_gradient")
            except TypeError:
                raise TypeError(f"gradient(output_gradient): output_gradient must be a TRNode, "
                                f"TRScalar or real number (int, float) or None, got "
                                f"{type(output_gradient).__name__} "
                                f"{short_repr(output_gradient, 60)}"
                                ) from None
        if not target._rg and any(s is not target for s in srcs):
            # TensorFlow answers None here, PyTorch raises; a 0 alone would hide the usual cause
            late = any(id(s) in self._watched_ids for s in srcs)
            warnings.warn(
                "gradient(): target records no graph (no source or requires-grad node was used "
                "to compute it), so every gradient is 0"
                + ("; if it was computed before tape.watch(...), watch the sources first and "
                   "compute the target after that" if late else ""),
                UserWarning, stacklevel=2)
        # Gradients are graph nodes (differentiable again) when something can still use that:
        # another open tape watches a source, or a source is a parameter of an enclosing
        # tr_grad (nested: a second derivative), or the target depends on a requires-grad leaf
        # that is not a source (a gradient penalty reaching a model's weights), as tr_grad
        # decides; otherwise constants, from one float pass.
        connect = False
        if is_grad_enabled():
            ids = {id(s) for s in srcs}
            with _WATCHES_LOCK:
                connect = any(t is not self and not ids.isdisjoint(t._watched_ids) for t in _OPEN)
            connect = (connect or is_transform_source(ids)
                       or _reaches_outside(target, srcs, -1))
        out = _grad(target, srcs, output_gradient, connect)
        self._used = True  # only a call that produced gradients uses the tape up
        if single:
            return out[0]
        if keys is not None:
            return dict(zip(keys, out))
        return tuple(out) if isinstance(sources, tuple) else out  # the structure of ``sources``


def gradient_tape(persistent: bool = False) -> TRGradientTape:
    """``with gradient_tape() as tape:`` — see :class:`TRGradientTape`.

    >>> from zeroproof.autodiff.gradient_tape import gradient_tape
    >>> x = TRNode.constant(3.0)
    >>> with gradient_tape() as tape:
    ...     tape.watch(x); y = x * x
    >>> tape.gradient(y, x).value
    TRScalar(6.0, REAL)
    """
    return TRGradientTape(persistent=persistent)


_ = Iterator
