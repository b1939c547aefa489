"""New-user audit 9: static typing, TRScalar with NumPy arrays, optimizer and plot argument
checks, example --help, bundle contract text, self-contained docstring examples, doc snippets that
must run, coverage as count/total."""
from __future__ import annotations

import contextlib
import doctest
import importlib
import inspect
import io
import json
import math
import os
import pathlib
import pkgutil
import re
import subprocess
import sys
import typing

import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import TRNode

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# the public modules of SPEC §1
PUBLIC_MODULES = [
    "zeroproof", "zeroproof.core", "zeroproof.bridge", "zeroproof.utils.ieee_bridge",
    "zeroproof.autodiff", "zeroproof.autodiff.tr_node", "zeroproof.autodiff.tr_ops_grad",
    "zeroproof.autodiff.backward", "zeroproof.autodiff.grad_mode",
    "zeroproof.autodiff.hybrid_gradient", "zeroproof.autodiff.saturating_ops",
    "zeroproof.autodiff.grad_funcs", "zeroproof.autodiff.gradient_tape",
    "zeroproof.autodiff.projective", "zeroproof.array", "zeroproof.inference",
    "zeroproof.inference.mode", "zeroproof.metrics", "zeroproof.layers", "zeroproof.losses",
    "zeroproof.training",
]


def _public_callables(modname: str) -> list[tuple[str, object]]:
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None) or [k for k in vars(mod) if not k.startswith("_")]
    out: list[tuple[str, object]] = []
    for name in names:
        obj = getattr(mod, name)
        if inspect.isclass(obj):
            for k, v in vars(obj).items():
                if k.startswith("_") and k not in ("__init__", "__call__"):
                    continue
                f = v.__func__ if isinstance(v, (staticmethod, classmethod)) else v
                f = f.fget if isinstance(f, property) else f
                if inspect.isfunction(f):
                    out.append((f"{modname}.{name}.{k}", f))
        elif inspect.isfunction(obj):
            out.append((f"{modname}.{name}", obj))
    return out


# 1. static typing ----------------------------------------------------------------------------
@pytest.mark.parametrize("modname", PUBLIC_MODULES)
def test_type_hints_resolve_on_every_public_function(modname):
    items = _public_callables(modname)
    bad = []
    for qual, f in items:
        try:
            typing.get_type_hints(f)
        except Exception as exc:  # noqa: BLE001 - report every failure at once
            bad.append(f"{qual}: {exc!r}")
    assert not bad, "\n".join(bad)


def test_context_manager_helpers_are_annotated_as_context_managers():
    from contextlib import AbstractContextManager

    from zeroproof.autodiff.grad_mode import GradientMode, use_mask_real, use_saturating
    from zeroproof.core.wheel import ArithmeticMode

    assert typing.get_type_hints(zp.wheel_mode)["return"] == AbstractContextManager[ArithmeticMode]
    for f in (use_mask_real, use_saturating):
        assert typing.get_type_hints(f)["return"] == AbstractContextManager[GradientMode]


def test_trscalar_operators_are_defined_once_at_runtime():
    # the class body only declares them for type checkers; the implementation is core.ops'
    for name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
                 "__truediv__", "__rtruediv__", "__pow__", "__neg__", "__abs__", "__pos__"):
        assert getattr(zp.TRScalar, name).__module__ == "zeroproof.core.ops", name


_MYPY_GOOD = '''\
import zeroproof as zp
from zeroproof.autodiff import TRNode, gradient_mode, tr_grad
from zeroproof.autodiff.grad_mode import use_mask_real, use_saturating

a = zp.real(1.0) / zp.real(0.0)
reveal_type(a)
b: zp.TRScalar = 1 / zp.real(2.0) + 2 * zp.real(3.0) - zp.real(1.0) ** 2
c: zp.TRScalar = -abs(+zp.real(-1.0)) * 2.5 - 1
x = TRNode.parameter(0.5)
y = 1 / (x - 1)
y.backward()
with zp.wheel_mode() as mode:
    d = zp.real(0.0) * zp.pinf()
with use_saturating(1.0) as gm:
    pass
with use_mask_real():
    pass
with gradient_mode("saturating", saturation_bound=1.0):
    pass
g = tr_grad(tr_grad(lambda t: t * t * t))(2.0)
'''
_MYPY_BAD = '''\
import zeroproof as zp
e = zp.real(1.0) + "one"
'''


def test_mypy_accepts_a_user_snippet(tmp_path):
    pytest.importorskip("mypy")
    (tmp_path / "good.py").write_text(_MYPY_GOOD)
    (tmp_path / "bad.py").write_text(_MYPY_BAD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir",
         str(tmp_path / ".mypy_cache"), "good.py", "bad.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    errors = [ln for ln in out.splitlines() if ": error:" in ln]
    assert [ln for ln in errors if not ln.startswith("bad.py")] == [], out
    assert 'good.py:6: note: Revealed type is "zeroproof.core.scalar.TRScalar"' in out, out
    # the declared signatures still reject what the runtime rejects
    assert any(ln.startswith("bad.py:2") and "TRScalar" in ln for ln in errors), out


# 2. TRScalar with NumPy arrays --------------------------------------------------------------
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "/": lambda a, b: a / b}


@pytest.mark.parametrize("sym", sorted(_OPS))
@pytest.mark.parametrize("array_left", [True, False])
def test_trscalar_with_ndarray_is_a_clear_type_error(sym, array_left):
    arr, s = np.array([1.0, 2.0]), zp.real(1.0)
    left, right = (arr, s) if array_left else (s, arr)
    with pytest.raises(TypeError) as info:
        _OPS[sym](left, right)
    msg = str(info.value)
    assert f"for {sym}:" in msg and "'ndarray'" in msg and "'TRScalar'" in msg
    assert "zeroproof.array" in msg and "ufunc" not in msg and "Concatenation" not in msg


def test_trscalar_power_with_ndarray_and_numpy_bool():
    with pytest.raises(TypeError, match=r"'TRScalar' and 'ndarray'.*zeroproof\.array"):
        zp.real(2.0) ** np.array([1, 2])
    with pytest.raises(TypeError, match="real number .*not bool"):
        zp.real(1.0) + np.bool_(True)


def test_trscalar_still_mixes_with_nodes_numbers_and_trarrays():
    n = zp.real(2.0) * TRNode.parameter(3.0)
    assert isinstance(n, TRNode) and n.requires_grad and n.value == zp.real(6.0)
    assert isinstance(TRNode.parameter(1.0) / zp.real(0.0), TRNode)
    assert zp.real(1.0) + 2 == zp.real(3.0) and 2.0 / zp.real(0.0) == zp.pinf()
    assert np.float64(1.0) + zp.real(1.0) == zp.real(2.0)
    assert zp.real(1.0) - np.float32(2.0) == zp.real(-1.0)
    r = zp.real(1.0) / za.array([1.0, 0.0])
    assert repr(r) == "TRArray([1.0, +∞], dtype=float64)"
    assert isinstance(zp.real(1.0) * za.parameter(np.array([1.0, 2.0])), za.TRTensor)


# 3. optimizers and plot_training ------------------------------------------------------------
def test_optimizer_params_slips_name_the_argument_and_the_remedy():
    from zeroproof.layers import RationalLayer
    from zeroproof.training import SGD, Adam, AdamW

    model = RationalLayer(1, 1, seed=0)
    for bad in (model.parameters, model, 3, None):
        for opt in (Adam, SGD, AdamW):
            with pytest.raises(TypeError, match=r"params .*model\.parameters\(\)"):
                opt(bad, lr=0.1)
    with pytest.raises(TypeError, match=r"\[w\]"):
        Adam(za.parameter(np.array([1.0])))
    assert len(Adam(model.parameters(), lr=0.1).params) == len(model.parameters())
    assert len(SGD(iter(model.parameters()), lr=0.1).params) == len(model.parameters())


def test_plot_training_checks_its_arguments_first():
    from zeroproof.layers import RationalLayer
    from zeroproof.training.plotting import plot_training

    with pytest.raises(TypeError, match="model must be .*got int 3"):
        plot_training(3)
    with pytest.raises(TypeError, match="history must be a list of per-epoch dicts"):
        plot_training(RationalLayer(1, 1, seed=0), 3)


# 4. examples: --help ------------------------------------------------------------------------
@pytest.mark.parametrize("script", sorted((ROOT / "examples").glob("*.py")),
                         ids=lambda p: p.name)
def test_example_help_prints_usage_and_exits_0(script):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:"), proc.stdout[:500]
    first_doc_line = (ast_docstring(script) or "").splitlines()[0]
    assert first_doc_line[:30] in proc.stdout  # the description is the module docstring


def ast_docstring(path: pathlib.Path) -> str | None:
    import ast

    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))


# 6. bundle contract text --------------------------------------------------------------------
def test_bundle_contract_says_thresholds_follow_q(tmp_path):
    from zeroproof.inference import InferenceConfig, export_bundle, validate_bundle
    from zeroproof.inference import bundle as B
    from zeroproof.inference.reference_models import PolynomialRationalHead

    m = PolynomialRationalHead(in_features=1, out_features=1, degree_p=1, degree_q=1)
    path = export_bundle(m, tmp_path / "b", InferenceConfig(1e-6, 1e-3),
                         reference_inputs=np.ones((2, 1)), bundle_id="audit9")
    meta = json.loads((path / "metadata.json").read_text())
    text = meta["output_contract"]["thresholds"]
    assert "dtype of Q" in text and "P and Q" not in text
    # bundles written with the earlier wording (same behaviour) still validate; other edits fail
    for wording, ok in (("compared in the dtype of P and Q", True), ("whatever", False)):
        meta["output_contract"]["thresholds"] = wording
        meta["metadata_sha256"] = B._metadata_digest(meta)
        (path / "metadata.json").write_text(json.dumps(meta, indent=2))
        if ok:
            assert validate_bundle(path).bundle_id == "audit9"
        else:
            with pytest.raises(B.BundleValidationError, match="output_contract"):
                validate_bundle(path)


# 7. docs/autodiff.md on NumPy and nodes -----------------------------------------------------
def test_autodiff_doc_tells_the_truth_about_numpy_and_nodes():
    text = " ".join((DOCS / "autodiff.md").read_text(encoding="utf-8").split())
    assert "never turns a node into an object array" not in text
    assert "`np.asarray(node)`" in text and "object array" in text
    x = TRNode.parameter(2.0)
    assert np.asarray(x).dtype == object  # what the doc now says
    with pytest.raises(TypeError):
        np.sin(x)
    assert isinstance(np.float64(1.0) + x, TRNode)


# 8. docstring examples run without the conftest namespace ------------------------------------
def _public_modules() -> list[str]:
    return ["zeroproof"] + sorted(m.name for m in pkgutil.walk_packages(zp.__path__, "zeroproof."))


@pytest.mark.parametrize("modname", _public_modules())
def test_docstring_examples_are_self_contained(modname):
    mod = importlib.import_module(modname)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # what `doctest.testmod(module)` does, nothing injected
        result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, out.getvalue()[-4000:]


# 9. documented snippets that claim to run ---------------------------------------------------
def test_semantics_doc_passes_python_m_doctest():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # `python -m doctest docs/semantics.md`
        result = doctest.testfile(str(DOCS / "semantics.md"), module_relative=False)
    assert result.attempted >= 10 and result.failed == 0, out.getvalue()[-4000:]


def test_vectorized_doc_first_block_runs_and_its_comments_are_right():
    text = (DOCS / "vectorized.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    ns: dict = {}
    exec(compile(block, str(DOCS / "vectorized.md"), "exec"), ns)
    checked = 0
    for line in block.splitlines():
        code, _, comment = line.partition("#")
        comment = comment.strip()
        if not code.strip() or not (comment.startswith("TRArray(") or comment.startswith("{")):
            continue
        code = code.strip()
        expr = code.split("=", 1)[1] if re.match(r"^\w+\s*=[^=]", code) else code
        got = repr(eval(expr, ns))
        pattern = ".*".join(re.escape(p) for p in comment.split("…"))
        assert re.fullmatch(pattern, got), f"{code}: doc says {comment}, got {got}"
        checked += 1
    assert checked >= 3


# 10. coverage is count/total -----------------------------------------------------------------
def test_coverage_equals_monitor_non_bottom_rate():
    from zeroproof.inference import StrictInferenceMonitor
    from zeroproof.losses import coverage

    decoded = np.array([1.0, math.nan, math.nan])
    mask = np.isnan(decoded)
    rate = StrictInferenceMonitor("b").update(mask).rates()["non_bottom_rate"]
    assert coverage(decoded) == rate == 1 / 3
    for n in range(1, 60):
        m = np.arange(n) % 3 == 0
        assert coverage(bottom_mask=m) == StrictInferenceMonitor("b").update(m).rates()[
            "non_bottom_rate"]


# 11. unprovided seed items are documented ----------------------------------------------------
def test_projective_doc_says_the_ablation_script_is_not_provided():
    assert not (ROOT / "scripts" / "run_complete_ablations.py").exists()
    text = " ".join((DOCS / "projective.md").read_text(encoding="utf-8").split())
    assert "scripts/run_complete_ablations.py" in text and "not provided" in text
