"""Run test code in a fresh thread: a new thread starts from the default context, so code that
sets a gradient or arithmetic mode (as the seed snippets do) cannot leak it into other tests."""
from __future__ import annotations

import threading
from typing import Any, Callable


def run_in_fresh_thread(fn: Callable[[], Any], timeout: float = 60.0) -> Any:
    """``fn()`` in a new thread; its result, or its exception re-raised here."""
    result: list = []
    errors: list = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as e:  # re-raised in the calling thread
            errors.append(e)

    t = threading.Thread(target=target)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"code did not finish within {timeout} s"
    if errors:
        raise errors[0]
    return result[0] if result else None
