"""The Python blocks of the "Batched tape" part of docs/vectorized.md run, in order, as written."""
from __future__ import annotations

import pathlib

from _isolation import PYTHON_BLOCK

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "vectorized.md"


def test_batched_tape_doc_blocks_run(capsys):
    text = DOC.read_text(encoding="utf-8")
    part = text[text.index("# Batched tape"):]
    blocks = PYTHON_BLOCK.findall(part)
    assert len(blocks) >= 6
    ns: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), ns)
    out = capsys.readouterr().out
    assert "8 5" in out and "TRArray(2.0, dtype=float64)" in out
    assert "TRArray([-1.0, 1.0, -0.25], dtype=float64)" in out  # the joins section
    assert "TRArray([3.0, 5.0], dtype=float64)" in out
