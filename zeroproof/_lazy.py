"""Submodules as attributes of their package on first access (PEP 562).

``import zeroproof.training`` does not import ``zeroproof.training.targets``, yet users write
``zp.training.targets.lift_targets`` as the reference texts spell it. Each package's module-level
``__getattr__`` ends with :func:`load_submodule`, so such a path works whatever was imported
before.
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def load_submodule(package: str, name: str) -> ModuleType:
    """The submodule ``package.name``, imported now; ``AttributeError`` if there is none.

    >>> load_submodule("zeroproof.training", "targets").__name__
    'zeroproof.training.targets'
    """
    if not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is not None:
        return importlib.import_module(f"{package}.{name}")
    raise AttributeError(f"module {package!r} has no attribute {name!r}")
