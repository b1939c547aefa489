"""Utilities; :mod:`zeroproof.utils.ieee_bridge` re-exports the IEEE bridge."""
from __future__ import annotations

from typing import Any

from .._lazy import load_submodule


def __getattr__(name: str) -> Any:  # zp.utils.ieee_bridge without importing it first
    return load_submodule(__name__, name)
