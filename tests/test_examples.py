"""Smoke test: every script in examples/ runs to completion (subprocess, with a timeout)."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))


def test_there_are_examples():
    assert SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_example_runs(script: pathlib.Path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("MPLBACKEND", "Agg")
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert proc.stdout.strip(), f"{script.name} printed nothing"


def test_hybrid_schedule_example_learns_the_pole():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import hybrid_schedule
    finally:
        sys.path.remove(str(ROOT / "examples"))
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()) as out:
        a = hybrid_schedule.main()
    assert abs(a - hybrid_schedule.TRUE_A) < 1e-4
    lines = out.getvalue().splitlines()
    assert len(lines) == 31 and "warm-up" in lines[1] and "final" in lines[-1]
