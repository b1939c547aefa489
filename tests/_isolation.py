"""Run test code in a fresh thread: a new thread starts from the default context, so code that
sets a gradient or arithmetic mode (as the seed snippets do) cannot leak it into other tests.

Also the doc-block helpers: :func:`python_blocks` extracts the ```python blocks of a Markdown
page, :func:`run_doc_blocks` runs them in order in one namespace, in a fresh thread."""
from __future__ import annotations

import pathlib
import re
import threading
from typing import Any, Callable

PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


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


def python_blocks(path: "str | pathlib.Path") -> list:
    """The sources of the ```python blocks of the Markdown file ``path``, in order."""
    return PYTHON_BLOCK.findall(pathlib.Path(path).read_text(encoding="utf-8"))


def run_doc_blocks(path: "str | pathlib.Path", timeout: float = 60.0) -> dict:
    """Run every ```python block of ``path`` in order, in one namespace (later blocks see the
    names of earlier ones), in a fresh thread; returns the namespace. A failing block's
    traceback names the file and the block index (``docs/x.md#2``)."""
    path = pathlib.Path(path)
    blocks = python_blocks(path)
    assert blocks, f"{path} has no ```python blocks"
    ns: dict = {"__name__": f"doc_{path.stem}"}

    def run() -> None:
        for i, src in enumerate(blocks):
            exec(compile(src, f"{path.parent.name}/{path.name}#{i}", "exec"), ns)

    run_in_fresh_thread(run, timeout)
    return ns
