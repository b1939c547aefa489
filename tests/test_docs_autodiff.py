"""Every ```python block of docs/autodiff.md and docs/gradient_modes.md runs (fresh thread each).

Blocks run in a new thread so that a block that changes the gradient mode cannot leak it into
other tests (a new thread starts from the default context).
"""
from __future__ import annotations

import pathlib

import pytest
from _isolation import python_blocks, run_in_fresh_thread

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def blocks() -> list:
    out = []
    for name in ("autodiff.md", "gradient_modes.md"):
        for i, src in enumerate(python_blocks(DOCS / name)):
            out.append(pytest.param(src, id=f"{name}#{i}"))
    return out


@pytest.mark.parametrize("source", blocks())
def test_doc_block_runs(source: str):
    run_in_fresh_thread(
        lambda: exec(compile(source, "<doc block>", "exec"), {"print": lambda *a, **k: None}))


def test_reciprocal_table_is_what_the_snippet_prints():
    text = (DOCS / "gradient_modes.md").read_text(encoding="utf-8")
    src = next(b for b in python_blocks(DOCS / "gradient_modes.md") if "grad_of_reciprocal" in b)
    printed: list = []
    exec(compile(src, "<table snippet>", "exec"), {"print": lambda *a: printed.append(" ".join(map(str, a)))})
    assert printed and all(line in text for line in printed)
