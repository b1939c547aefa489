"""Every python block of docs/training.md runs (in order, in one namespace)."""
from __future__ import annotations

import pathlib

from _isolation import python_blocks

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_training_doc_blocks_run(capsys):
    blocks = python_blocks(ROOT / "docs" / "training.md")
    assert len(blocks) >= 4
    ns: dict = {}
    for block in blocks:
        exec(compile(block, "docs/training.md", "exec"), ns)
    out = capsys.readouterr().out
    assert "zeroproof.RationalLayer" in out
    assert abs(ns["model"].find_poles()[0] - 0.5) < 0.01
