"""Deployment bundles: a directory that holds a model, its thresholds and proof that it works.

Layout (schema version 1)::

    bundle/
      metadata.json       thresholds, output contract, model name, file digests, reference info
      architecture.json   registered model name, "module:qualname", get_config(), parameter specs
      parameters.npz      state_dict() arrays (plain .npy members, written and read without pickle)
      reference.npz       reference inputs and the outputs recorded at export time:
                          inputs, P, Q, decoded, bottom_mask, gap_mask

``metadata.json`` carries a SHA-256 and byte size of every other file and a ``metadata_sha256``
over its own canonical JSON (``json.dumps(meta_without_that_key, sort_keys=True,
separators=(",", ":"), allow_nan=False)``, UTF-8), so an edit anywhere is detected. Bundles are
byte-for-byte reproducible: the same model and config give the same files.

:func:`validate_bundle` checks, in this order, and raises :class:`BundleValidationError` (a
``ValueError``) naming the first problem: the directory and ``metadata.json`` exist; the JSON
parses; the schema version is known; the metadata digest matches; every field is present and
valid (thresholds, output contract, model, file list); every listed file exists, no unlisted
file is present and every digest matches; the model class resolves through the registry; the
parameters match the architecture; the reloaded model reproduces the recorded reference
outputs (P, Q and decoded within the recorded tolerance, masks exactly).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .mode import InferenceConfig, _as_real_array, _resolve_config, strict_inference
from .wrapper import model_pq
from ..core._parse import check_bool, check_path, check_real, rectangular, short_repr
from .registry import (
    BundleModel, missing_methods, model_class_path, register_model, registered_models,
    registered_name, resolve_model_class,
)

__all__ = [
    "export_bundle", "validate_bundle", "load_bundle", "BundleValidationError", "BundleReport",
    "LoadedBundle", "BundleModel", "register_model", "registered_models",
    "STRICT_INFERENCE_SCHEMA_VERSION", "SUPPORTED_SCHEMA_VERSIONS", "OUTPUT_CONTRACTS",
]

STRICT_INFERENCE_SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
BUNDLE_FORMAT = "zeroproof-strict-bundle"

OUTPUT_CONTRACTS: dict[int, dict[str, Any]] = {
    1: {
        "outputs": ["decoded", "bottom_mask", "gap_mask"],
        "decoded": "P/Q where not bottom; NaN at bottom (bottom is encoded as IEEE NaN)",
        "bottom_mask": "|Q| < tau_infer or P/Q not finite; |Q| == tau_infer is not bottom",
        "gap_mask": "tau_infer <= |Q| < tau_train and not bottom; all false when tau_train is "
                    "null; |Q| == tau_train is not gap",
        "mask_dtype": "bool",
        "thresholds": "compared in the dtype of Q (also when P has another dtype)",
        "deterministic": True,
    }
}
# Contract texts written by earlier releases for the same behaviour; validate_bundle accepts
# them (the decoder never compared in P's dtype: only the description was wrong).
_EARLIER_CONTRACT_TEXTS: dict[int, list[dict[str, Any]]] = {
    1: [{"thresholds": "compared in the dtype of P and Q"}],
}


def _contract_ok(contract: dict[str, Any], version: int) -> bool:
    """True if ``contract`` is the output contract of ``version`` (or an earlier wording of it)."""
    current = OUTPUT_CONTRACTS[version]
    if contract == current:
        return True
    return any(contract == {**current, **old} for old in _EARLIER_CONTRACT_TEXTS.get(version, []))

METADATA = "metadata.json"
ARCHITECTURE = "architecture.json"
PARAMETERS = "parameters.npz"
REFERENCE = "reference.npz"
_DATA_FILES = (ARCHITECTURE, PARAMETERS, REFERENCE)
_REFERENCE_ARRAYS = ("inputs", "P", "Q", "decoded", "bottom_mask", "gap_mask")

PathLike = Union[str, "os.PathLike[str]"]


class BundleValidationError(ValueError):
    """A bundle failed validation. ``code`` names the kind of problem, ``file`` the file.

    Codes: ``missing_bundle, missing_file, unexpected_file, metadata_unreadable,
    unknown_schema_version, metadata_digest, metadata_field, digest_mismatch, architecture,
    unknown_model, parameter_mismatch, reference_unreadable, reference_mismatch``.

    >>> from zeroproof.inference.bundle import BundleValidationError
    >>> e = BundleValidationError("missing_file", "parameters.npz is missing", "parameters.npz")
    >>> str(e), e.code, e.file, isinstance(e, ValueError)
    ('[missing_file] parameters.npz is missing', 'missing_file', 'parameters.npz', True)
    """

    def __init__(self, code: str, message: str, file: Optional[str] = None) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.file = file


@dataclass(frozen=True)
class BundleReport:
    """What :func:`validate_bundle` checked.

    >>> from tempfile import mkdtemp
    >>> from zeroproof.inference.bundle import export_bundle, validate_bundle
    >>> from zeroproof.inference.reference_models import PolynomialRationalHead
    >>> validate_bundle(export_bundle(PolynomialRationalHead(2), mkdtemp())).model_name
    'zeroproof.PolynomialRationalHead'
    """

    path: str
    bundle_id: str
    schema_version: int
    model_name: str
    tau_infer: float
    tau_train: Optional[float]
    n_reference: int
    max_abs_error: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadedBundle:
    """A validated bundle: the rebuilt model, its config and metadata.

    >>> from tempfile import mkdtemp
    >>> from zeroproof.inference.bundle import export_bundle, load_bundle
    >>> from zeroproof.inference.reference_models import PolynomialRationalHead
    >>> type(load_bundle(export_bundle(PolynomialRationalHead(2), mkdtemp())).model).__name__
    'PolynomialRationalHead'
    """

    model: Any
    config: InferenceConfig
    metadata: dict[str, Any]
    report: BundleReport

    @property
    def bundle_id(self) -> str:
        """The bundle's id (from ``metadata.json``)."""
        return self.report.bundle_id

    def wrapper(self) -> Any:
        """An eval-mode :class:`~zeroproof.inference.SCMInferenceWrapper` of the model."""
        from .wrapper import SCMInferenceWrapper
        return SCMInferenceWrapper(self.model, self.config).eval()

    def monitor(self) -> Any:
        """A fresh :class:`~zeroproof.inference.StrictInferenceMonitor` for this bundle."""
        from .monitor import StrictInferenceMonitor
        return StrictInferenceMonitor(self.bundle_id)


# -- helpers -------------------------------------------------------------------------------

def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=True).encode("ascii")


def _metadata_digest(meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    return hashlib.sha256(_canonical(body)).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A deterministic .npz (fixed timestamps, sorted members), never pickled."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def _read_npz(path: Path, code: str, what: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zip errors, bad headers, object arrays (pickle refused)
        problem = ("holds object arrays, which cannot be read without pickle"
                   if isinstance(exc, ValueError) and "pickle" in str(exc)
                   else "is not a readable .npz (truncated or edited?)")
        raise BundleValidationError(code, f"{what} {path.name} {problem}: "
                                    f"{type(exc).__name__}: {exc}", path.name) from exc
    for k, v in arrays.items():  # NumPy hands a member that is not .npy data back as raw bytes
        if not isinstance(v, np.ndarray):
            raise BundleValidationError(code, f"{what} {path.name} is not a readable .npz: member "
                                        f"{k!r} is not an .npy array", path.name)
    return arrays


def _read_json(path: Path, code: str) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    def finite_float(literal: str) -> float:
        x = float(literal)
        if not math.isfinite(x):  # 1e400: valid JSON, but no float (export never writes it)
            raise ValueError(f"number {literal} is beyond the float range")
        return x
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text, parse_constant=no_constants, parse_float=finite_float)
    except RecursionError as exc:  # nesting deeper than the parser's stack: nothing we wrote
        raise BundleValidationError(code, f"{path.name} is not valid bundle JSON: nested too "
                                    f"deeply to read", path.name) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleValidationError(code, f"{path.name} is not valid JSON (truncated or edited?): "
                                    f"{exc}", path.name) from exc


def _check_state(state: Any, where: str) -> dict[str, np.ndarray]:
    if not isinstance(state, dict):
        raise TypeError(f"{where} must return a dict[str, np.ndarray], got {type(state).__name__}")
    out = {}
    for k, v in state.items():
        if not isinstance(k, str) or not k or "/" in k or "\\" in k:
            raise TypeError(f"{where}: parameter names must be non-empty str without slashes, "
                            f"got {k!r}")
        a = np.asarray(v)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{where}: parameter {k!r} must be a numeric array, got dtype "
                            f"{a.dtype}")
        out[k] = a
    return out


def _outputs(model: Any, x: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        out = model_pq(model, x)
    except (TypeError, ValueError) as err:  # the model's own message, put in the caller's terms
        kind = TypeError if isinstance(err, TypeError) else ValueError
        raise kind(f"{where}: the model refused reference_inputs (dtype {x.dtype}, shape "
                   f"{x.shape}): {type(err).__name__}: {err}") from err
    P, Q = _as_real_array(out[0], "P"), _as_real_array(out[1], "Q")  # TRTensors too
    if P.shape != Q.shape:
        raise ValueError(f"{where}: model(x) returned P.shape={P.shape} and Q.shape={Q.shape}; "
                         f"they must be equal")
    return P, Q


def _default_rtol(dtype: np.dtype) -> float:
    return 1e-5 if np.dtype(dtype).itemsize <= 4 else 1e-10


# -- export --------------------------------------------------------------------------------

def export_bundle(model: Any, path: PathLike, config: Optional[InferenceConfig] = None, *,
                  reference_inputs: Any = None, bundle_id: Optional[str] = None,
                  extra_metadata: Optional[dict[str, Any]] = None, rtol: Optional[float] = None,
                  overwrite: bool = False) -> Path:
    """Write ``model`` and ``config`` as a bundle directory at ``path``; returns the path.

    ``model`` must follow :class:`~zeroproof.inference.registry.BundleModel` and be registered
    with :func:`register_model`; an :class:`~zeroproof.inference.SCMInferenceWrapper` is exported
    as the model it wraps, with the wrapper's config unless ``config`` is given. ``reference_inputs`` (a batch the model accepts) are run through
    the model and the strict decoder; the results are stored so that :func:`validate_bundle` can
    check them later. Without them, ``model.example_inputs()`` is used when the model has it.
    ``rtol`` is the relative tolerance for P, Q and decoded at validation (default 1e-10 for
    float64 outputs, 1e-5 for float32). An existing non-empty directory is an error unless
    ``overwrite=True``.

    >>> import tempfile, os
    >>> from zeroproof.inference import InferenceConfig, export_bundle, validate_bundle
    >>> from zeroproof.inference.reference_models import PolynomialRationalHead
    >>> d = os.path.join(tempfile.mkdtemp(), "bundle")
    >>> _ = export_bundle(PolynomialRationalHead(2), d, InferenceConfig(1e-6, 1e-4))
    >>> validate_bundle(d).tau_train
    0.0001
    """
    from .wrapper import SCMInferenceWrapper

    if isinstance(model, SCMInferenceWrapper):  # export what it wraps (and, by default, its τs)
        config = model.config if config is None else config
        model = model.model
    cfg = _resolve_config(config)
    if not isinstance(model, BundleModel):
        raise TypeError(f"model must follow the BundleModel protocol (get_config, state_dict, "
                        f"load_state_dict, from_config, __call__), got {type(model).__name__}, "
                        f"which lacks {', '.join(missing_methods(type(model)))}; add them and "
                        f"decorate the class with @zeroproof.inference.register_model('<name>'), "
                        f"or export the registered layer it wraps (a rational or angular head)")
    name = registered_name(type(model))
    if name is None:
        raise ValueError(f"model class {model_class_path(type(model))} is not registered; "
                         f"decorate it with @zeroproof.inference.register_model('<name>')")
    overwrite = check_bool("overwrite", overwrite)
    if bundle_id is not None:  # checked before anything is written
        if not isinstance(bundle_id, str):
            raise TypeError(f"bundle_id must be a non-empty str or None, got "
                            f"{type(bundle_id).__name__} {short_repr(bundle_id, 60)}")
        if not bundle_id.strip():
            raise ValueError(f"bundle_id must be a non-empty str or None, got {bundle_id!r}")
    out = check_path("path", path, "a bundle directory")
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"path {str(out)!r} exists and is not a directory")
        if any(out.iterdir()) and not overwrite:
            raise FileExistsError(f"path {str(out)!r} is a non-empty directory; pass "
                                  f"overwrite=True to replace the bundle in it")
        foreign = sorted(p.name for p in out.iterdir()
                         if p.name not in (METADATA, *_DATA_FILES) or p.is_dir())
        if foreign:  # never deleted: they are not ours, and a bundle may hold nothing else
            raise FileExistsError(f"path {str(out)!r} holds files that are not part of a bundle "
                                  f"{foreign}; overwrite=True replaces a bundle, it does not "
                                  f"delete other files: remove them or choose another directory")
    if extra_metadata is not None and not isinstance(extra_metadata, dict):
        raise TypeError(f"extra_metadata must be a JSON-able dict or None, got "
                        f"{type(extra_metadata).__name__}")

    arch_config = model.get_config()
    try:
        _canonical(arch_config)
        if extra_metadata is not None:
            _canonical(extra_metadata)
    except TypeError as exc:  # a type JSON cannot hold
        raise TypeError(f"model.get_config() and extra_metadata must be JSON-able: {exc}") from exc
    except ValueError as exc:  # a value it cannot hold (NaN, ±inf)
        raise ValueError(f"model.get_config() and extra_metadata must be JSON-able (no NaN or "
                         f"infinity): {exc}") from exc
    state = _check_state(model.state_dict(), "model.state_dict()")

    if reference_inputs is None:
        make = getattr(model, "example_inputs", None)
        if not callable(make):
            raise ValueError("reference_inputs is required for models without example_inputs(); "
                             "pass a small batch of inputs the model accepts")
        reference_inputs = make()
    x = rectangular("reference_inputs", reference_inputs)
    if x.dtype.kind not in "fiu":  # the wrong kind of data: a TypeError, as in strict_inference
        raise TypeError(f"reference_inputs must be a real array (int or float), got dtype "
                        f"{x.dtype} shape {x.shape}")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"reference_inputs must be a non-empty real array with a batch axis, got "
                         f"dtype {x.dtype} shape {x.shape}")
    P, Q = _outputs(model, x, "export_bundle")
    decoded, bottom, gap = strict_inference(P, Q, cfg)
    if rtol is None:
        rtol = _default_rtol(decoded.dtype)
    rtol = check_real("rtol", rtol, "a number in [0, 1)", lambda v: 0 <= v < 1)
    finite = np.concatenate([np.ravel(a[np.isfinite(a)]) for a in (P, Q, decoded)])
    # the absolute floor is rtol × the *typical* magnitude (median), not the largest: one
    # reference row next to a pole (decoded ~ 1e300) must not loosen the check of every other
    # (a middle element, not NumPy's mean of the two middle ones, which can overflow)
    scale = float(np.quantile(np.abs(finite.astype(np.float64)), 0.5, method="lower")) \
        if finite.size else 1.0
    atol = float(rtol) * max(scale, 1.0)

    out.mkdir(parents=True, exist_ok=True)
    for stale in (METADATA, *_DATA_FILES):
        if (out / stale).exists():
            (out / stale).unlink()
    architecture = {
        "model_name": name,
        "class_path": model_class_path(type(model)),
        "config": arch_config,
        "parameters": {k: {"shape": list(v.shape), "dtype": v.dtype.str}
                       for k, v in sorted(state.items())},
    }
    (out / ARCHITECTURE).write_bytes(
        json.dumps(architecture, sort_keys=True, indent=2, allow_nan=False).encode() + b"\n")
    _write_npz(out / PARAMETERS, state)
    _write_npz(out / REFERENCE, {"inputs": x, "P": P, "Q": Q, "decoded": decoded,
                                 "bottom_mask": bottom, "gap_mask": gap})
    files = {f: {"sha256": _sha256(out / f), "bytes": (out / f).stat().st_size}
             for f in _DATA_FILES}
    if bundle_id is None:
        h = hashlib.sha256((files[ARCHITECTURE]["sha256"] + files[PARAMETERS]["sha256"]).encode())
        bundle_id = "zp-" + h.hexdigest()[:16]
    from .. import __version__
    meta: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "strict_inference_schema_version": STRICT_INFERENCE_SCHEMA_VERSION,
        "zeroproof_version": __version__,
        "bundle_id": bundle_id,
        "tau_infer": cfg.tau_infer,
        "tau_train": cfg.tau_train,
        "output_contract": OUTPUT_CONTRACTS[STRICT_INFERENCE_SCHEMA_VERSION],
        "model": {"name": name, "class_path": architecture["class_path"]},
        "files": files,
        "reference": {
            "file": REFERENCE, "n_rows": int(x.shape[0]), "input_shape": list(x.shape),
            "input_dtype": x.dtype.str, "output_shape": list(P.shape),
            "output_dtype": decoded.dtype.str, "rtol": float(rtol), "atol": atol,
            "n_bottom": int(bottom.sum()), "n_gap": int(gap.sum()),
        },
        "extra": extra_metadata or {},
    }
    meta["metadata_sha256"] = _metadata_digest(meta)
    (out / METADATA).write_bytes(
        json.dumps(meta, sort_keys=True, indent=2, allow_nan=False).encode() + b"\n")
    return out


# -- validation ----------------------------------------------------------------------------

def _field(meta: dict[str, Any], key: str, types: Any, what: str) -> Any:
    if key not in meta:
        raise BundleValidationError("metadata_field", f"metadata.json has no field {key!r} "
                                    f"({what})", METADATA)
    v = meta[key]
    if isinstance(v, bool) or not isinstance(v, types):
        raise BundleValidationError("metadata_field", f"metadata.json field {key!r} must be "
                                    f"{what}, got {short_repr(v, 80)}", METADATA)
    return v


def _metadata_fields(meta: dict[str, Any], version: int) -> tuple:
    """Check every field of ``metadata.json`` (its digest aside); return ``(config, bundle_id,
    zeroproof_version, model, files, reference)``."""
    if _field(meta, "format", str, f"{BUNDLE_FORMAT!r}") != BUNDLE_FORMAT:
        raise BundleValidationError("metadata_field", f"format must be {BUNDLE_FORMAT!r}, got "
                                    f"{meta['format']!r}", METADATA)
    made_by = _field(meta, "zeroproof_version", str, "the exporting zeroproof's version, a str")
    if not made_by.strip():
        raise BundleValidationError("metadata_field", "zeroproof_version must be a non-empty str",
                                    METADATA)
    _field(meta, "extra", dict, "a JSON object (export_bundle's extra_metadata)")
    bundle_id = _field(meta, "bundle_id", str, "a non-empty str")
    if not bundle_id.strip():
        raise BundleValidationError("metadata_field", "bundle_id must be a non-empty str, got "
                                    f"{bundle_id!r}", METADATA)
    tau_infer = _field(meta, "tau_infer", (int, float), "a finite number >= 0")
    tau_train = meta.get("tau_train", "<missing>")
    if tau_train == "<missing>":
        raise BundleValidationError("metadata_field", "metadata.json has no field 'tau_train' "
                                    "(a number or null)", METADATA)
    try:
        cfg = InferenceConfig(tau_infer=tau_infer, tau_train=tau_train)
    except (TypeError, ValueError) as exc:
        raise BundleValidationError("metadata_field", f"invalid thresholds: {exc}",
                                    METADATA) from exc
    if not _contract_ok(_field(meta, "output_contract", dict, "the output contract"), version):
        raise BundleValidationError("metadata_field", f"output_contract differs from the contract "
                                    f"of schema version {version}", METADATA)
    model_info = _field(meta, "model", dict, "a dict with name and class_path")
    if not isinstance(model_info.get("name"), str) or not isinstance(
            model_info.get("class_path"), str):
        raise BundleValidationError("metadata_field", "model must have str fields 'name' and "
                                    "'class_path'", METADATA)
    files = _field(meta, "files", dict, "a dict of file digests")
    if set(files) != set(_DATA_FILES):
        raise BundleValidationError("metadata_field", f"files must list exactly "
                                    f"{sorted(_DATA_FILES)}, got {sorted(files)}", METADATA)
    ref = _field(meta, "reference", dict, "the reference-run description")
    for key, typ in (("n_rows", int), ("rtol", (int, float)), ("atol", (int, float)),
                     ("input_shape", list), ("output_shape", list), ("output_dtype", str),
                     ("input_dtype", str), ("file", str), ("n_bottom", int), ("n_gap", int)):
        if not isinstance(ref.get(key), typ) or isinstance(ref.get(key), bool):
            raise BundleValidationError("metadata_field", f"reference.{key} is missing or has the "
                                        f"wrong type: {short_repr(ref.get(key), 60)}", METADATA)
    if ref["file"] != REFERENCE:
        raise BundleValidationError("metadata_field", f"reference.file must be {REFERENCE!r}, got "
                                    f"{short_repr(ref['file'], 60)}", METADATA)
    if not 0 <= ref["rtol"] < 1:
        raise BundleValidationError("metadata_field", f"reference.rtol must be in [0, 1) (as "
                                    f"export_bundle requires), got {ref['rtol']!r}", METADATA)
    if not 0 <= ref["atol"] < math.inf:
        raise BundleValidationError("metadata_field", f"reference.atol must be a finite number "
                                    f">= 0, got {ref['atol']!r}", METADATA)
    return cfg, bundle_id, made_by, model_info, files, ref


def _load(path: PathLike) -> tuple[BundleReport, Any, InferenceConfig, dict[str, Any]]:
    root = check_path("path", path, "a bundle directory")
    if not root.is_dir():
        raise BundleValidationError("missing_bundle", f"bundle directory {str(root)!r} does not "
                                    f"exist or is not a directory")
    if not (root / METADATA).is_file():
        raise BundleValidationError("missing_file", f"{METADATA} is missing from {str(root)!r}",
                                    METADATA)
    for name in (METADATA, *_DATA_FILES):
        if (root / name).is_symlink():  # a bundle is self-contained: its files are its own
            raise BundleValidationError(
                "unexpected_file", f"{name} is a symbolic link (to {os.readlink(root / name)!r}); "
                f"a bundle holds its files themselves, so that it stays what was validated", name)
    meta = _read_json(root / METADATA, "metadata_unreadable")
    if not isinstance(meta, dict):
        raise BundleValidationError("metadata_unreadable", f"{METADATA} must hold a JSON object, "
                                    f"got {type(meta).__name__}", METADATA)
    version = meta.get("strict_inference_schema_version")
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        raise BundleValidationError(
            "unknown_schema_version", f"strict_inference_schema_version {version!r} is not "
            f"supported by this zeroproof (supported: {list(SUPPORTED_SCHEMA_VERSIONS)})",
            METADATA)
    digest_ok = meta.get("metadata_sha256") == _metadata_digest(meta)
    try:
        cfg, bundle_id, made_by, model_info, files, ref = _metadata_fields(meta, version)
    except BundleValidationError as exc:
        if digest_ok:
            raise
        raise BundleValidationError(  # the first problem, and what the edit broke
            "metadata_digest", f"{METADATA} content does not match its metadata_sha256 (edited "
            f"or corrupted after export); and {exc.args[0].split('] ', 1)[1]}", METADATA) from exc
    if not digest_ok:
        raise BundleValidationError(
            "metadata_digest", f"{METADATA} content does not match its metadata_sha256 "
            f"(edited or corrupted after export)", METADATA)

    # Files: present, nothing extra, digests.
    for name in _DATA_FILES:
        if not (root / name).is_file():
            raise BundleValidationError("missing_file", f"{name} is listed in metadata.json but "
                                        f"missing from the bundle", name)
    extra = sorted(p.name for p in root.iterdir() if p.name not in (METADATA, *_DATA_FILES))
    if extra:
        raise BundleValidationError("unexpected_file", f"the bundle holds unlisted files "
                                    f"{extra}; a bundle contains only {METADATA} and "
                                    f"{list(_DATA_FILES)}", extra[0])
    for name in _DATA_FILES:
        rec = files[name]
        if not isinstance(rec, dict) or not isinstance(rec.get("sha256"), str):
            raise BundleValidationError("metadata_field", f"files[{name!r}] must hold a sha256",
                                        METADATA)
        size = (root / name).stat().st_size
        if rec.get("bytes") != size or isinstance(rec.get("bytes"), bool):
            raise BundleValidationError("digest_mismatch", f"{name}: {size} bytes on disk, "
                                        f"metadata.json records {rec.get('bytes')!r}", name)
        digest = _sha256(root / name)
        if digest != rec["sha256"]:
            raise BundleValidationError("digest_mismatch", f"{name}: SHA-256 {digest} does not "
                                        f"match the recorded {rec['sha256']}", name)

    # Architecture and model class.
    arch = _read_json(root / ARCHITECTURE, "architecture")
    if not isinstance(arch, dict) or not isinstance(arch.get("config"), dict) or not isinstance(
            arch.get("parameters"), dict):
        raise BundleValidationError("architecture", f"{ARCHITECTURE} must be an object with "
                                    f"'config' and 'parameters'", ARCHITECTURE)
    if arch.get("model_name") != model_info["name"] or arch.get("class_path") != model_info[
            "class_path"]:
        raise BundleValidationError(
            "architecture", f"{ARCHITECTURE} names model {arch.get('model_name')!r} "
            f"({arch.get('class_path')!r}) but metadata.json names {model_info['name']!r} "
            f"({model_info['class_path']!r})", ARCHITECTURE)
    try:
        cls = resolve_model_class(model_info["name"], model_info["class_path"])
    except LookupError as exc:
        raise BundleValidationError("unknown_model", str(exc), ARCHITECTURE) from exc
    try:
        model = cls.from_config(arch["config"])
    except Exception as exc:
        raise BundleValidationError("architecture", f"{model_info['name']}.from_config failed on "
                                    f"the recorded config: {exc}", ARCHITECTURE) from exc

    # The architecture's parameter list against the model its config builds, then the parameter
    # file against both (the dtype is recorded only in the architecture: configs do not hold it).
    expected = _check_state(model.state_dict(), f"{model_info['name']}.state_dict()")
    recorded = arch["parameters"]
    built = f"{model_info['name']}.from_config(config)"
    _same_names(recorded, expected, "architecture", ARCHITECTURE,
                f"{ARCHITECTURE} lists parameters", f"{built} has")
    for key in sorted(expected):
        spec = recorded[key]
        if (not isinstance(spec, dict) or spec.get("shape") != list(expected[key].shape)
                or not isinstance(spec.get("dtype"), str)):
            raise BundleValidationError(
                "architecture", f"{ARCHITECTURE} records parameter {key!r} as {spec!r} but "
                f"{built} has shape {expected[key].shape} "
                f"(a record is {{'shape': [...], 'dtype': '<f8' or '<f4'}})", ARCHITECTURE)
    params = _read_npz(root / PARAMETERS, "parameter_mismatch", "parameter file")
    _same_names(params, expected, "parameter_mismatch", PARAMETERS, f"{PARAMETERS} holds",
                "the architecture needs")
    for key in sorted(expected):
        spec = recorded[key]
        if list(params[key].shape) != spec["shape"] or params[key].dtype.str != spec["dtype"]:
            raise BundleValidationError(
                "parameter_mismatch", f"parameter {key!r} in {PARAMETERS} has shape "
                f"{params[key].shape} and dtype {params[key].dtype.str!r}; {ARCHITECTURE} "
                f"records shape {tuple(spec['shape'])} and dtype {spec['dtype']!r}", PARAMETERS)
    try:
        model.load_state_dict(params)
    except Exception as exc:
        raise BundleValidationError("parameter_mismatch", f"load_state_dict rejected "
                                    f"{PARAMETERS}: {exc}", PARAMETERS) from exc

    # Reference run.
    refs = _read_npz(root / REFERENCE, "reference_unreadable", "reference file")
    if set(refs) != set(_REFERENCE_ARRAYS):
        raise BundleValidationError("reference_unreadable", f"{REFERENCE} must hold "
                                    f"{list(_REFERENCE_ARRAYS)}, got {sorted(refs)}", REFERENCE)
    x = refs["inputs"]
    if list(x.shape) != ref["input_shape"] or x.shape[0] != ref["n_rows"]:
        raise BundleValidationError("reference_mismatch", f"reference inputs have shape "
                                    f"{x.shape}; metadata records input_shape "
                                    f"{ref['input_shape']} and n_rows {ref['n_rows']}", REFERENCE)
    if x.dtype.str != ref["input_dtype"]:
        raise BundleValidationError("reference_mismatch", f"reference inputs have dtype "
                                    f"{x.dtype.str}; metadata records {ref['input_dtype']!r}",
                                    REFERENCE)
    for key, mask in (("n_bottom", "bottom_mask"), ("n_gap", "gap_mask")):
        if int(np.count_nonzero(refs[mask])) != ref[key]:
            raise BundleValidationError(
                "reference_mismatch", f"the reference {mask} has {np.count_nonzero(refs[mask])} "
                f"True entries; metadata records reference.{key} = {ref[key]}", REFERENCE)
    try:
        P, Q = _outputs(model, x, "validate_bundle")
    except Exception as exc:
        raise BundleValidationError("reference_mismatch", f"the reloaded model failed on the "
                                    f"reference inputs: {exc}", REFERENCE) from exc
    decoded, bottom, gap = strict_inference(P, Q, cfg)
    rtol, atol = float(ref["rtol"]), float(ref["atol"])
    finite = np.concatenate([np.ravel(a[np.isfinite(a)]).astype(np.float64)
                             for a in (refs["P"], refs["Q"], refs["decoded"])])
    scale = float(np.max(np.abs(finite))) if finite.size else 1.0
    if atol > rtol * max(scale, 1.0) * (1 + 1e-9):  # export sets atol = rtol * scale
        raise BundleValidationError(
            "metadata_field", f"reference.atol {atol!r} exceeds rtol × the reference's scale "
            f"({rtol * max(scale, 1.0)!r}), which export_bundle records; a looser tolerance would "
            f"not test the outputs", METADATA)
    errors: dict[str, float] = {}
    got = {"P": P, "Q": Q, "decoded": decoded, "bottom_mask": bottom, "gap_mask": gap}
    for key in ("P", "Q", "decoded", "bottom_mask", "gap_mask"):
        want, have = refs[key], got[key]
        if want.shape != have.shape or list(have.shape) != ref["output_shape"]:
            raise BundleValidationError("reference_mismatch", f"{key}: the reloaded model gives "
                                        f"shape {have.shape}, the reference has {want.shape}",
                                        REFERENCE)
        if key.endswith("_mask"):
            bad = want != have
        else:
            if have.dtype.str != ref["output_dtype"] and key == "decoded":
                raise BundleValidationError("reference_mismatch", f"decoded dtype {have.dtype} "
                                            f"differs from the recorded {ref['output_dtype']}",
                                            REFERENCE)
            with np.errstate(invalid="ignore"):
                bad = ~np.isclose(have, want, rtol=rtol, atol=atol, equal_nan=True)
                diff = np.abs(have.astype(np.float64) - want.astype(np.float64))
            finite = diff[np.isfinite(diff)]
            errors[key] = float(finite.max()) if finite.size else 0.0
        if np.any(bad):
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise BundleValidationError(
                "reference_mismatch", f"{key} no longer matches the reference at index {idx}: "
                f"got {have[idx]!r}, recorded {want[idx]!r} (rtol={rtol:g}, atol={atol:g}; "
                f"{int(np.count_nonzero(bad))} of {bad.size} entries differ)", REFERENCE)
    report = BundleReport(
        path=str(root), bundle_id=bundle_id, schema_version=version,
        model_name=model_info["name"], tau_infer=cfg.tau_infer, tau_train=cfg.tau_train,
        n_reference=int(x.shape[0]), max_abs_error=errors,
        files={k: v["sha256"] for k, v in files.items()})
    return report, model, cfg, meta


def _same_names(have: Any, expected: Any, code: str, file: str, have_says: str,
                expected_says: str) -> None:
    """``BundleValidationError(code)`` naming ``file`` unless ``have`` and ``expected`` hold the
    same parameter names."""
    if set(have) != set(expected):
        raise BundleValidationError(code, f"{have_says} {sorted(have)} but {expected_says} "
                                          f"{sorted(expected)}", file)


def validate_bundle(path: PathLike) -> BundleReport:
    """Check a bundle completely; raise :class:`BundleValidationError` at the first problem.

    >>> import tempfile, os
    >>> from zeroproof.inference import validate_bundle
    >>> validate_bundle(os.path.join(tempfile.mkdtemp(), "nope"))
    Traceback (most recent call last):
    ...
    zeroproof.inference.bundle.BundleValidationError: [missing_bundle] bundle directory ...
    """
    return _load(path)[0]


def load_bundle(path: PathLike) -> LoadedBundle:
    """Validate a bundle and return the rebuilt model with its config (see :class:`LoadedBundle`).

    >>> import tempfile, os, numpy as np
    >>> from zeroproof.inference import InferenceConfig, export_bundle, load_bundle
    >>> from zeroproof.inference.reference_models import PolynomialRationalHead
    >>> d = export_bundle(PolynomialRationalHead(2), os.path.join(tempfile.mkdtemp(), "b"))
    >>> decoded, bottom, gap = load_bundle(d).wrapper()(np.zeros((3, 2)))
    >>> decoded.ravel().tolist()
    [0.0, 0.0, 0.0]
    """
    report, model, cfg, meta = _load(path)
    return LoadedBundle(model=model, config=cfg, metadata=meta, report=report)
