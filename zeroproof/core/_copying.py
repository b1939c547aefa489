"""The copy protocol shared by the two tapes' node types (leaves copy; op results refuse)."""
from __future__ import annotations

from typing import Any, Callable


class LeafCopies:
    """``copy``, ``deepcopy`` and ``pickle`` for a node type whose leaves are plain state: the
    class provides ``_leaf_state(what)`` (refusing op results with a ``TypeError``) and a
    module-level ``_rebuild`` function turning that state back into a leaf."""

    __slots__ = ()
    _rebuild: Callable[..., Any]

    def _leaf_state(self, what: str) -> tuple:  # pragma: no cover - each class defines it
        raise NotImplementedError

    def __deepcopy__(self, memo: dict) -> Any:
        """An independent leaf with the same state (see the class's ``_leaf_state``)."""
        copy = type(self)._rebuild(*self._leaf_state("deepcopy"))
        memo[id(self)] = copy
        return copy

    def __copy__(self) -> Any:
        """Like :meth:`__deepcopy__`: a leaf copy never shares buffers or graph records."""
        return type(self)._rebuild(*self._leaf_state("copy"))

    def __reduce__(self) -> tuple:
        return type(self)._rebuild, self._leaf_state("pickling")
