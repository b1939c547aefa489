"""Every ```python block of docs/projective.md and docs/inference.md runs: per file, in order, in
one namespace (later blocks use names of earlier ones), in a fresh thread (tests/_isolation.py)."""
from __future__ import annotations

import pathlib

import pytest
from _isolation import run_doc_blocks

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", ["projective.md", "inference.md"])
def test_doc_blocks_run_in_order(name: str):
    run_doc_blocks(DOCS / name)
