"""The hybrid-schedule notebook runs top to bottom in a real kernel (nbclient + ipykernel, the
``notebook`` extra) and shows what it promises; the plotting helper draws a PNG."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "notebooks" / "hybrid_schedule.ipynb"


def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o.get("text", ""))
        elif "data" in o and "text/plain" in o["data"]:
            out.append(o["data"]["text/plain"])
    return "".join(out)


def test_notebook_executes(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    work = tmp_path / "run"
    work.mkdir()
    # the notebook finds the package by walking up from its working directory: run it in a
    # copy of the notebook folder's place (the png lands in tmp_path, not the repository)
    nb.cells[1].source = nb.cells[1].source.replace(
        "root = pathlib.Path.cwd()", f"root = pathlib.Path({str(ROOT)!r})")
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    texts = [_text(c) for c in nb.cells if c.cell_type == "code"]
    assert "epoch  199 [200/200]" in texts[1]
    table = texts[2].splitlines()
    assert table[0].split()[:4] == ["epoch", "loss", "coverage", "delta"]
    assert len(table) >= 10
    assert "learned pole: 0.49" in texts[3] or "learned pole: 0.50" in texts[3]
    assert "all parameters REAL: True" in texts[3]
    assert any("image/png" in o.get("data", {}) for o in nb.cells[-1].outputs)
    assert (work / "hybrid_schedule.png").stat().st_size > 10_000


def test_plot_training_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from zeroproof.layers import RationalLayer
    from zeroproof.training.plotting import plot_training

    layer = RationalLayer(0, 1, seed=0)
    layer.load_state_dict({"numerator": np.array([[-2.0]]), "denominator": np.array([[-2.0]])})
    history = [{"epoch": e, "loss": 1.0 / (e + 1), "coverage": 1.0, "delta": 1e-2 / (e + 1),
                "hybrid": {"saturating_ratio": 0.1}} for e in range(5)]
    out = tmp_path / "p.png"
    fig = plot_training(layer, history, out, data=(np.linspace(-1, 1, 9), np.zeros(9)))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 3  # function, history (+ twin axis)


def test_plot_training_without_matplotlib_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    from zeroproof.layers import RationalLayer
    from zeroproof.training.plotting import plot_training
    with pytest.raises(ImportError, match=r"zeroproof\[plot\]"):
        plot_training(RationalLayer(1, 1, seed=0))
