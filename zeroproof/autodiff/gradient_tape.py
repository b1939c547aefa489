"""A gradient tape in the style of ``tf.GradientTape``: watch sources, ask for gradients once.

Our graph is always recorded in the nodes, so the tape is a scope: ``watch`` turns a constant into
a source for this tape (operations after the ``watch`` record through it), and ``gradient``
computes fresh gradients (never reads a stale ``.gradient``).
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

from ..core._parse import check_bool
from .backward import grad
from .tr_node import TRNode

__all__ = ["TRGradientTape", "gradient_tape"]


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
        self.persistent = check_bool("persistent", persistent)
        self._watched: list[TRNode] = []
        self._watched_ids: set[int] = set()
        self._flipped: list[TRNode] = []
        self._used = False
        self._active = False

    def __enter__(self) -> "TRGradientTape":
        self._active = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self._active = False
        for n in self._flipped:  # watched constants are constants again outside the tape
            n.requires_grad = False
        self._flipped.clear()

    def watch(self, x: TRNode) -> None:
        """Make ``x`` a source of this tape (a constant starts recording through it)."""
        if not isinstance(x, TRNode):
            raise TypeError(
                f"watch(x): x must be a TRNode, got {type(x).__name__}; wrap values with "
                "TRNode.constant(...) or TRNode.parameter(...) first"
            )
        if not self._active:
            raise RuntimeError("watch() must be called inside the `with gradient_tape() as tape:` block")
        if not x.requires_grad:
            x.requires_grad = True
            self._flipped.append(x)
        if id(x) not in self._watched_ids:  # (the list keeps x alive: its id stays unique)
            self._watched_ids.add(id(x))
            self._watched.append(x)

    def watched(self) -> list[TRNode]:
        """The nodes watched so far."""
        return list(self._watched)

    def gradient(self, target: TRNode, sources: "TRNode | Sequence[TRNode]",
                 output_gradient: Any = None) -> Any:
        """Gradients of ``target`` w.r.t. ``sources`` (a node → a node, a list → a list)."""
        if self._used and not self.persistent:
            raise RuntimeError(
                "gradient() was already called on this non-persistent tape; create it with "
                "gradient_tape(persistent=True) to ask for several gradients"
            )
        single = isinstance(sources, TRNode)
        out = grad(target, sources, grad_output=output_gradient)  # (validates sources)
        self._used = True  # only a call that produced gradients uses the tape up
        return out[0] if single else out


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
