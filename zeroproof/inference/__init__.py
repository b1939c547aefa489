"""Strict inference: deterministic decoding of ``(P, Q)`` with explicit bottoms, monitoring,
named operating points and validated deployment bundles.

Depends on NumPy only (never on ``zeroproof.autodiff``, ``layers`` or ``training``).

>>> import numpy as np
>>> from zeroproof.inference import InferenceConfig, strict_inference
>>> decoded, bottom, gap = strict_inference(np.array([1.0, 1.0]), np.array([4.0, 0.0]))
>>> decoded, bottom
(array([0.25,  nan]), array([False,  True]))
"""
from __future__ import annotations

import importlib
from typing import Any

from .._lazy import load_submodule
from .bundle import (
    OUTPUT_CONTRACTS, STRICT_INFERENCE_SCHEMA_VERSION, BundleReport, BundleValidationError,
    LoadedBundle, export_bundle, load_bundle, validate_bundle,
)
from .mode import (
    InferenceConfig, decode_strict_censored_3way, reject_on_bottom, reject_on_gap, safe_sentinel,
    strict_inference,
)
from .monitor import StrictInferenceMonitor
from .operating_points import (
    OPERATING_POINTS, OperatingPoint, OperatingPointResult, accuracy_first, direction_aware,
    get_operating_point, safety_first,
)
from .registry import BundleModel, register_model, registered_models
from .wrapper import SCMInferenceWrapper

__all__ = [
    "InferenceConfig", "strict_inference", "SCMInferenceWrapper", "reject_on_gap",
    "reject_on_bottom", "safe_sentinel", "decode_strict_censored_3way",
    "StrictInferenceMonitor", "export_bundle", "validate_bundle", "load_bundle",
    "BundleValidationError", "BundleReport", "LoadedBundle", "BundleModel", "register_model",
    "registered_models", "STRICT_INFERENCE_SCHEMA_VERSION", "OUTPUT_CONTRACTS",
    "OperatingPoint", "OperatingPointResult", "OPERATING_POINTS", "get_operating_point",
    "safety_first", "direction_aware", "accuracy_first", "PolynomialRationalHead",
]


def __getattr__(name: str) -> Any:
    # The reference model lives in its own module so that importing the registry never
    # registers anything; it is loaded on first use.
    if name == "PolynomialRationalHead":
        return importlib.import_module(".reference_models", __name__).PolynomialRationalHead
    return load_submodule(__name__, name)
