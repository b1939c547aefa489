"""Reusable context managers: ``@reusable_context`` in place of ``@contextlib.contextmanager``.

A generator context manager can be entered only once (a second ``with cm:`` fails with an
obscure ``AttributeError``). NumPy's ``np.errstate(...)`` and PyTorch's ``torch.no_grad()``
objects can be kept and entered again, also nested; so can ours.
"""
from __future__ import annotations

import contextlib
import functools
import sys
import threading
from typing import Any, Callable

__all__ = ["reusable_context", "ReusableContext"]


class ReusableContext(contextlib.ContextDecorator):
    """A context manager that runs its generator afresh on every entry (nested entries, each
    thread's and each asyncio task's own), and works as a decorator like
    :func:`contextlib.contextmanager`'s. (Two plain generators that interleave ``with`` blocks
    of one shared object in one thread are not told apart; give each its own object.)

    >>> @reusable_context
    ... def shout():
    ...     print("in"); yield 1; print("out")
    >>> cm = shout()
    >>> with cm as v: print(v)
    in
    1
    out
    >>> with cm: pass
    in
    out
    """

    __slots__ = ("_func", "_args", "_kwds", "_stacks")

    def __init__(self, func: Callable[..., Any], args: tuple, kwds: dict) -> None:
        self._func, self._args, self._kwds = func, args, kwds
        self._stacks: dict[int, list] = {}  # thread id → the generators entered, innermost last

    def _recreate_cm(self) -> "ReusableContext":  # (as a decorator: this object, re-entrant)
        return self

    def __enter__(self) -> Any:
        gen = self._func(*self._args, **self._kwds)
        value = next(gen)  # (a generator that yields nothing is a bug in this package)
        ident = _owner()
        stack = self._stacks.get(ident)
        if stack is None:
            self._stacks[ident] = [gen]
        else:
            stack.append(gen)
        return value

    def __exit__(self, typ: Any, exc: Any, tb: Any) -> bool:
        ident = _owner()
        stack = self._stacks[ident]
        gen = stack.pop()
        if not stack:
            del self._stacks[ident]
        if typ is None:
            try:
                next(gen)
            except StopIteration:
                return False
            raise RuntimeError("context generator did not stop")
        if exc is None:
            exc = typ()
        try:
            gen.throw(exc)
        except StopIteration as stop:
            return stop is not exc  # the generator swallowed the exception
        except BaseException as err:
            # re-raised as it was (or a StopIteration turned into RuntimeError by PEP 479): let
            # the original propagate from the with statement
            if err is exc or (isinstance(exc, StopIteration) and err.__cause__ is exc):
                return False
            raise
        raise RuntimeError("context generator did not stop after throw()")


_get_ident = threading.get_ident
_modules = sys.modules


def _owner() -> Any:
    """Who is entering: the thread, and the asyncio task when one runs in it (tasks of one
    thread interleave their ``with`` blocks, each must exit its own entry)."""
    ident = _get_ident()
    aio = _modules.get("asyncio")
    if aio is not None and aio._get_running_loop() is not None:
        task = aio.current_task()
        if task is not None:
            return ident, id(task)
    return ident


def reusable_context(func: Callable[..., Any] | None = None, *,
                     check: Callable[..., Any] | None = None) -> Any:
    """Like :func:`contextlib.contextmanager` (a generator that yields once), but the object
    returned may be entered again. ``check`` (optional) is called with the arguments when the
    object is built, so bad arguments fail there (a decorator at definition time), not only at
    the first ``with``: ``@reusable_context(check=validate)``."""
    if func is None:
        return lambda f: reusable_context(f, check=check)

    @functools.wraps(func)
    def build(*args: Any, **kwds: Any) -> ReusableContext:
        if check is not None:
            check(*args, **kwds)
        return ReusableContext(func, args, kwds)

    return build
