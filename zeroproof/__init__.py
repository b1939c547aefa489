"""zeroproof: transreal arithmetic and automatic differentiation that never produces NaN.

>>> import zeroproof as zp
>>> zp.tr_div(zp.real(1.0), zp.real(0.0))
TRScalar(PINF)

Subpackages (``autodiff``, ``array``, ``inference``, ``layers``, ``losses``, ``training``,
``metrics``) are imported lazily on first attribute access.
"""
from __future__ import annotations

import importlib
from typing import Any

from .bridge import from_ieee, from_numpy, to_ieee, to_numpy
from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all

__version__ = "0.1.0"

_LAZY_SUBMODULES = {
    "autodiff", "array", "inference", "layers", "losses", "training", "metrics", "bridge",
    "utils", "core",
}
# Names re-exported from the autodiff package on first use (keeps `import zeroproof` light).
_LAZY_NAMES = {
    "TRNode": "zeroproof.autodiff",
    "GradientMode": "zeroproof.autodiff",
    "GradientModeConfig": "zeroproof.autodiff",
    "gradient_mode": "zeroproof.autodiff",
    "tr_grad": "zeroproof.autodiff",
    "tr_value_and_grad": "zeroproof.autodiff",
    "check_gradient": "zeroproof.autodiff",
    "gradient_tape": "zeroproof.autodiff",
    "no_grad": "zeroproof.autodiff",
    "stop_gradient": "zeroproof.autodiff",
    "TRArray": "zeroproof.array",
}

__all__ = list(_core_all) + ["from_ieee", "to_ieee", "from_numpy", "to_numpy", *_LAZY_NAMES]


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
        globals()[name] = value
        return value
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"zeroproof.{name}")
    raise AttributeError(f"module 'zeroproof' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names and the subpackages (not the module's own imports)."""
    g = globals()
    loaded = {n for n, v in g.items()
              if getattr(v, "__name__", "").startswith("zeroproof.") and hasattr(v, "__path__")}
    return sorted(set(__all__) | _LAZY_SUBMODULES | loaded | {n for n in g if n.startswith("__")})
