"""examples/projective_pole.py learns 1/(x + 0.1) and decodes ⊥ exactly at the pole."""
import importlib.util
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_projective_pole_example(capsys):
    spec = importlib.util.spec_from_file_location("projective_pole", ROOT / "examples/projective_pole.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main()
    assert out["bottom_at_pole"] and int(np.count_nonzero(out["bottom_mask"])) == 1
    assert out["max_rel_error"] < 1e-6
    assert "bottom mask at the pole: True" in capsys.readouterr().out
