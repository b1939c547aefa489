"""Strict SCM decoding of ``(P, Q)`` pairs into values and masks a service can act on.

The decoder is deliberately dumb and deterministic: one fixed threshold ``tau_infer`` decides
when a denominator counts as singular, and the answer there is an explicit bottom (⊥, encoded as
NaN on the IEEE side, exactly like :func:`zeroproof.to_ieee`). There are no gradient policies, no
random thresholds and no smoothing at inference time.

Rules, for every element (``P`` and ``Q`` have the same shape):

* **bottom** ⇔ ``|Q| < tau_infer`` or the quotient ``P / Q`` is not finite (a NaN in ``P`` or
  ``Q``, an infinite ``P``, ``Q == 0``, overflow of the quotient; a finite ``P`` over an infinite
  ``Q`` is 0 and decodes). ``|Q| == tau_infer`` is *not* bottom.
* **decoded** = ``P / Q`` where not bottom, NaN at bottom.
* **gap** ⇔ ``tau_infer <= |Q| < tau_train`` and not bottom (always False without ``tau_train``).
  ``|Q| == tau_train`` is *not* gap. Bottom takes precedence, so ``bottom_mask`` and ``gap_mask``
  never overlap and every element is exactly one of bottom / gap / clean.

Thresholds are compared in the dtype of ``Q`` (a float32 ``Q`` is compared with the thresholds
rounded to float32, exactly as NumPy evaluates ``np.abs(Q) < tau`` for a Python float ``tau``,
whatever the dtype of ``P``), so the boundary rules hold for values that the caller wrote as
``tau`` in that dtype, and the decoder agrees with a sweep over ``|Q|``
(:func:`zeroproof.metrics.tau_infer_sweep_from_q_abs`).
"""
from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
from ..core._parse import bool_mask, is_integer, is_real_number, rectangular, short_repr

__all__ = [
    "InferenceConfig",
    "strict_inference",
    "reject_on_gap",
    "reject_on_bottom",
    "safe_sentinel",
    "decode_strict_censored_3way",
]

# Elements per block in the decoder loop: large enough that the per-call overhead of a ufunc is
# small, small enough that a block's temporaries stay in the L2/L3 cache.
_BLOCK = 1 << 17
# Below this many elements the decoder runs on the calling thread only.
_PARALLEL_MIN = 1 << 18
# At most this many threads by default (the decoder is memory bound beyond a few cores).
_MAX_AUTO_THREADS = 4

_pool_lock = threading.Lock()
_pool: Optional[ThreadPoolExecutor] = None
_pool_size = 0


def _forget_pool_in_child() -> None:
    # A forked child has none of the parent's worker threads: start a fresh pool on demand.
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _worker_pool(workers: int) -> ThreadPoolExecutor:
    """A pool with at least ``workers`` threads, created on first parallel use (never at
    import) and replaced by a larger one only when more threads are asked for."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            # The old pool is not shut down: a concurrent call may still be submitting to it; its
            # idle threads exit once nothing references it any more.
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zeroproof-decode")
            _pool_size = workers
        return _pool


_local = threading.local()


def _scratch(dtype: np.dtype, size: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's scratch buffers for one block (``|Q|`` and a finiteness mask), kept
    between calls: a fresh multi-megabyte buffer costs a page fault per 4 KiB on first touch.
    At most one block's worth (``_BLOCK`` elements) is kept per thread."""
    cached = getattr(_local, "buffers", None)
    if cached is None or cached[0].dtype != dtype or cached[0].size < size:
        cached = (np.empty(size, dtype=dtype), np.empty(size, dtype=np.bool_))
        _local.buffers = cached
    return cached[0][:size], cached[1][:size]


def _resolve_threads(threads: Any, n: int) -> int:
    """How many threads decode ``n`` elements (``threads=None``: automatic)."""
    if threads is None:
        if n < _PARALLEL_MIN:
            return 1
        return max(1, min(_available_cpus(), _MAX_AUTO_THREADS, n // _BLOCK))
    if not is_integer(threads):
        raise TypeError(f"threads must be a positive int or None (automatic), got "
                        f"{type(threads).__name__} {short_repr(threads, 60)}")
    if threads < 1:
        raise ValueError(f"threads must be a positive int or None (automatic), got {threads}")
    return int(max(1, min(threads, -(-n // _BLOCK))))


def _check_threshold(name: str, value: Any, *, allow_none: bool) -> Optional[float]:
    """Validate one threshold: a finite real number ``>= 0`` (or None when allowed)."""
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be a finite real number >= 0, got None")
    if not is_real_number(value):
        accepted = "a finite real number >= 0" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {accepted}, got {type(value).__name__} "
                        f"{short_repr(value, 60)}")
    try:
        f = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name} must be a finite real number >= 0, got "
                         f"{short_repr(value, 40)} (beyond "
                         f"the float range)") from None
    if math.isnan(f):
        raise ValueError(f"{name} must be a finite real number >= 0, got NaN")
    if math.isinf(f):
        raise ValueError(f"{name} must be a finite real number >= 0, got {f}")
    if f < 0:
        raise ValueError(f"{name} must be a finite real number >= 0, got {f!r}")
    return f + 0.0  # -0.0 is the threshold 0.0 (and is recorded as such in a bundle)


@dataclass(frozen=True)
class InferenceConfig:
    """Thresholds of the strict decoder.

    ``tau_infer``: denominators with ``|Q| < tau_infer`` decode to bottom (finite, ``>= 0``).
    ``tau_train``: optional training-time margin; ``tau_infer <= |Q| < tau_train`` is the *gap*
    region, decoded but flagged as numerically risky. Must be finite and ``>= tau_infer``.

    >>> from zeroproof.inference import InferenceConfig
    >>> InferenceConfig(tau_infer=1e-4, tau_train=1e-3)
    InferenceConfig(tau_infer=0.0001, tau_train=0.001)
    >>> InferenceConfig(tau_infer=-1)
    Traceback (most recent call last):
    ...
    ValueError: tau_infer must be a finite real number >= 0, got -1.0
    """

    tau_infer: float = 1e-6
    tau_train: Optional[float] = None

    def __post_init__(self) -> None:
        tau_infer = _check_threshold("tau_infer", self.tau_infer, allow_none=False)
        tau_train = _check_threshold("tau_train", self.tau_train, allow_none=True)
        if tau_train is not None and tau_train < tau_infer:
            raise ValueError(
                f"tau_train must be >= tau_infer (the gap region is tau_infer <= |Q| < tau_train),"
                f" got tau_train={tau_train!r} < tau_infer={tau_infer!r}; pass tau_train=None to "
                f"disable the gap region"
            )
        object.__setattr__(self, "tau_infer", tau_infer)
        object.__setattr__(self, "tau_train", tau_train)

    def to_dict(self) -> dict[str, Optional[float]]:
        """The thresholds as a JSON-able dict.

        >>> from zeroproof.inference import InferenceConfig
        >>> InferenceConfig(1e-5).to_dict()
        {'tau_infer': 1e-05, 'tau_train': None}
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "InferenceConfig":
        """Rebuild a config from :meth:`to_dict` output (unknown keys are an error).

        >>> from zeroproof.inference import InferenceConfig
        >>> InferenceConfig.from_dict({"tau_infer": 1e-5, "tau_train": 1e-4}).tau_train
        0.0001
        """
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict with keys tau_infer, tau_train, got "
                            f"{type(data).__name__}")
        unknown = set(data) - {"tau_infer", "tau_train"}
        if unknown:
            raise ValueError(f"data has unknown keys {sorted(unknown)}; accepted keys are "
                             f"'tau_infer' and 'tau_train'")
        return cls(**data)


def _resolve_config(config: Any) -> InferenceConfig:
    if config is None:
        return InferenceConfig()
    if isinstance(config, InferenceConfig):
        return config
    raise TypeError(f"config must be an InferenceConfig or None, got {type(config).__name__}")


def _as_real_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a real floating array (ints → float64; bool, complex, object → TypeError).

    Transreal arrays and batched-tape tensors are read through their IEEE view (Φ, ⊥ → NaN,
    ±∞ → ±inf), so a model that returns ``TRTensor``s can be decoded directly."""
    to_ieee = getattr(type(x), "numpy", None) or getattr(type(x), "to_numpy", None)
    if to_ieee is not None and not isinstance(x, np.ndarray):
        x = to_ieee(x)
    a = rectangular(name, x)  # a masked array is refused: its masked rows would be decoded
    kind = a.dtype.kind
    if kind == "f":
        return a
    if kind in "iu":
        return a.astype(np.float64)
    raise TypeError(
        f"{name} must be an array of real numbers (float or int dtype), got dtype {a.dtype}"
        + ("; convert transreal arrays with zeroproof.to_numpy first" if kind == "O" else "")
    )


def _threshold_in(dtype: np.dtype, tau: float, q_dtype: Optional[np.dtype] = None) -> np.ndarray:
    """``tau`` rounded to ``q_dtype`` (the dtype of ``Q``; default ``dtype``), as a 0-d array of
    the working ``dtype`` (exact: the working dtype is at least as wide). A threshold above the
    range becomes inf.

    >>> import numpy as np
    >>> float(_threshold_in(np.dtype(np.float64), 1e-6, np.dtype(np.float32)))
    9.999999974752427e-07
    """
    with np.errstate(all="ignore"):  # a cast: inf above the range, 0 below it, never an error
        if q_dtype is not None and q_dtype != dtype:
            tau = np.array(tau, dtype=q_dtype)
        return np.array(tau, dtype=dtype)


def _check_same_shape(P: np.ndarray, Q: np.ndarray, p_name: str = "P", q_name: str = "Q") -> None:
    if P.shape != Q.shape:
        raise ValueError(
            f"{p_name} and {q_name} must have the same shape, got {p_name}.shape={P.shape} and "
            f"{q_name}.shape={Q.shape} (no broadcasting; reshape or squeeze them first)"
        )


class _BlockClaims:
    """Which thread decodes which block. The blocks are split into one contiguous run per
    thread; each thread decodes its own run front to back (one long sequential stream per
    thread, which the hardware prefetchers follow across block boundaries) and, once its run is
    done, takes blocks from the back of the run with the most blocks left, so a thread that
    starts late or runs slow simply decodes fewer blocks.

    >>> c = _BlockClaims(5, 2)
    >>> [c.take(0) for _ in range(4)], c.take(1), c.take(1)
    ([0, 1, 4, 3], 2, -1)
    """

    __slots__ = ("_lock", "_lo", "_hi")

    def __init__(self, blocks: int, threads: int) -> None:
        cuts = [blocks * t // threads for t in range(threads + 1)]
        self._lo, self._hi = cuts[:-1], cuts[1:]
        self._lock = threading.Lock()

    def take(self, thread: int) -> int:
        """The next block for ``thread`` (0 … threads − 1), or −1 when none is left."""
        with self._lock:
            lo, hi = self._lo, self._hi
            if lo[thread] < hi[thread]:
                lo[thread] += 1
                return lo[thread] - 1
            r = max(range(len(lo)), key=lambda u: hi[u] - lo[u])
            if lo[r] < hi[r]:
                hi[r] -= 1
                return hi[r]
            return -1


def _decode_blocks(p: np.ndarray, q: np.ndarray, decoded: np.ndarray, bottom: np.ndarray,
                   gap: Optional[np.ndarray], t_inf: np.ndarray, t_tr: Optional[np.ndarray],
                   claims: _BlockClaims, thread: int) -> None:
    """Decode the blocks ``claims`` hands to ``thread`` into the output arrays.

    Per block: the quotient, ``|Q|``, one comparison per threshold and a finiteness check of the
    quotient; only a block with a non-finite quotient or a bottom pays for the fix-ups. The
    thresholds are 0-d arrays of the working dtype (cheaper per call than NumPy scalars)."""
    n = decoded.size
    absq, finite = _scratch(decoded.dtype, min(n, _BLOCK))
    nan = decoded.dtype.type(np.nan)
    divide, absolute, less, isfinite = np.divide, np.abs, np.less, np.isfinite
    every, some = np.logical_and.reduce, np.logical_or.reduce  # cheaper than count_nonzero
    take = claims.take
    with np.errstate(all="ignore"):
        while True:
            i = take(thread)
            if i < 0:
                return
            s = i * _BLOCK
            e = min(s + _BLOCK, n)
            k = e - s
            d, b, a, f = decoded[s:e], bottom[s:e], absq[:k], finite[:k]
            qs = q[s:e]
            divide(p[s:e], qs, out=d)
            isfinite(d, out=f)                       # while the quotient is still in cache
            all_finite = every(f)
            absolute(qs, out=a)
            less(a, t_inf, out=b)                    # |Q| < tau_infer (False for NaN Q)
            if not all_finite:
                np.greater_equal(b, f, out=b)        # b | ~f: ... or P/Q not finite
            any_bottom = not all_finite or some(b)
            if any_bottom:
                np.copyto(d, nan, where=b)
            if gap is not None:
                g = gap[s:e]
                less(a, t_tr, out=g)                 # |Q| < tau_train
                if any_bottom:
                    np.greater(g, b, out=g)          # g & ~b (not bottom => |Q| >= tau_infer)


def _decode(P: np.ndarray, Q: np.ndarray, tau_infer: float, tau_train: Optional[float],
            threads: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocked decoder: each block's temporaries stay in cache; for large inputs worker threads
    decode blocks alongside the calling thread (NumPy releases the GIL inside its loops, and
    every element is decoded independently, so the result does not depend on who decodes it)."""
    dtype = np.result_type(P.dtype, Q.dtype)
    shape = P.shape
    p = np.ravel(P)
    q = np.ravel(Q)
    n = p.size
    decoded = np.empty(n, dtype=dtype)
    bottom = np.empty(n, dtype=np.bool_)
    gap = np.empty(n, dtype=np.bool_) if tau_train is not None else None
    t_inf = _threshold_in(dtype, tau_infer, Q.dtype)
    t_tr = _threshold_in(dtype, tau_train, Q.dtype) if tau_train is not None else None
    nthreads = _resolve_threads(threads, n)
    args = (p, q, decoded, bottom, gap, t_inf, t_tr, _BlockClaims(-(-n // _BLOCK), nthreads))
    pool = _worker_pool(nthreads - 1) if nthreads > 1 else None  # this call's pool, held to the end
    futures = [pool.submit(_decode_blocks, *args, t) for t in range(1, nthreads)] if pool else []
    _decode_blocks(*args, 0)
    for fut in futures:
        fut.result()
    if gap is None:
        gap = np.zeros(n, dtype=np.bool_)
    return decoded.reshape(shape), bottom.reshape(shape), gap.reshape(shape)


def strict_inference(P: Any, Q: Any, config: Optional[InferenceConfig] = None, *,
                     threads: Optional[int] = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode ``(P, Q)`` strictly: ``(decoded, bottom_mask, gap_mask)``.

    ``bottom_mask``: ``|Q| < tau_infer`` or ``P/Q`` not finite. ``decoded``: ``P/Q``, NaN at
    bottom. ``gap_mask``: ``tau_infer <= |Q| < tau_train`` outside bottom (all False when
    ``config.tau_train`` is None). ``P`` and ``Q`` are arrays or array-likes of the same shape;
    float32 stays float32, integers become float64. Inputs are never modified.

    ``threads``: how many threads decode the elements (``None``: automatic, one thread below
    2^18 elements, otherwise up to 4 as the process's CPUs allow; ``1``: the calling thread
    only). Each element is decoded on its own, so the result never depends on ``threads``.

    >>> import numpy as np
    >>> from zeroproof.inference import InferenceConfig, strict_inference
    >>> cfg = InferenceConfig(tau_infer=1e-3, tau_train=1e-2)
    >>> d, bottom, gap = strict_inference([1.0, 1.0, 1.0, 1.0], [2.0, 5e-3, 1e-3, 0.0], cfg)
    >>> d.tolist()
    [0.5, 200.0, 1000.0, nan]
    >>> bottom.tolist(), gap.tolist()
    ([False, False, False, True], [False, True, True, False])
    """
    cfg = _resolve_config(config)
    p = _as_real_array(P, "P")
    q = _as_real_array(Q, "Q")
    _check_same_shape(p, q)
    return _decode(p, q, cfg.tau_infer, cfg.tau_train, threads)


def reject_on_gap(decoded: Any, bottom_mask: Any, gap_mask: Any
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Accept only clean rows: ``accept_mask = ~bottom_mask & ~gap_mask``.

    Returns a copy of ``decoded`` with NaN wherever the row is rejected, and the accept mask.

    >>> import numpy as np
    >>> from zeroproof.inference import reject_on_gap
    >>> d, acc = reject_on_gap(np.array([1.0, 2.0, np.nan]), np.array([False, False, True]),
    ...                        np.array([False, True, False]))
    >>> d, acc
    (array([ 1., nan, nan]), array([ True, False, False]))
    """
    d = _as_real_array(decoded, "decoded")
    b = bool_mask("bottom_mask", bottom_mask)
    g = bool_mask("gap_mask", gap_mask)
    _check_same_shape(d, b, "decoded", "bottom_mask")
    _check_same_shape(d, g, "decoded", "gap_mask")
    accept = np.asarray(~(b | g))  # a 0-d array for 0-d input, as strict_inference gives
    return _fill(d, ~accept, np.nan), accept


def reject_on_bottom(decoded: Any, bottom_mask: Any) -> tuple[np.ndarray, np.ndarray]:
    """Accept every row that is not bottom (gap rows pass): ``accept_mask = ~bottom_mask``.

    Returns a copy of ``decoded`` with NaN at rejected rows, and the accept mask.

    >>> import numpy as np
    >>> from zeroproof.inference import reject_on_bottom
    >>> reject_on_bottom(np.array([1.0, 3.0]), np.array([False, True]))
    (array([ 1., nan]), array([ True, False]))
    """
    d = _as_real_array(decoded, "decoded")
    b = bool_mask("bottom_mask", bottom_mask)
    _check_same_shape(d, b, "decoded", "bottom_mask")
    accept = np.asarray(~b)
    return _fill(d, b, np.nan), accept


def _fill(d: np.ndarray, mask: np.ndarray, value: float) -> np.ndarray:
    out = np.array(d, copy=True)
    if out.ndim == 0:
        return np.asarray(value if bool(mask) else out, dtype=out.dtype)
    out[mask] = value
    return out


def safe_sentinel(decoded: Any, mask: Any, sentinel: float = float("nan")) -> np.ndarray:
    """A copy of ``decoded`` with ``sentinel`` wherever ``mask`` is True.

    ``sentinel`` is a real number (NaN and ±inf allowed); a finite sentinel that does not fit the
    dtype of ``decoded`` (e.g. ``1e300`` for float32) is a ``ValueError``.

    >>> import numpy as np
    >>> from zeroproof.inference import safe_sentinel
    >>> safe_sentinel(np.array([1.0, np.nan]), np.array([False, True]), sentinel=-1.0)
    array([ 1., -1.])
    """
    d = _as_real_array(decoded, "decoded")
    m = bool_mask("mask", mask)
    _check_same_shape(d, m, "decoded", "mask")
    if not is_real_number(sentinel):
        raise TypeError(f"sentinel must be a real number (NaN allowed), got "
                        f"{type(sentinel).__name__} {short_repr(sentinel, 60)}")
    try:
        s = float(sentinel)
    except OverflowError:
        raise ValueError(f"sentinel={short_repr(sentinel, 40)} is beyond the float range; use a "
                         f"value "
                         f"within the range of decoded's dtype, NaN or ±inf") from None
    with np.errstate(over="ignore", under="ignore"):
        cast = d.dtype.type(s)
    if math.isfinite(s) and not np.isfinite(cast):
        raise ValueError(f"sentinel={s!r} does not fit dtype {d.dtype} of decoded; use a value "
                         f"within its range, NaN or ±inf")
    if s != 0.0 and cast == 0:  # it would read as a decoded 0
        raise ValueError(f"sentinel={s!r} rounds to 0 in dtype {d.dtype} of decoded, where it "
                         f"could not be told from a decoded 0; use a larger value, NaN or ±inf")
    return _fill(d, m, s)


def decode_strict_censored_3way(P: Any, Q: Any, tau_infer: float = 1e-6,
                                direction_logits: Any = None
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strict gate plus a censoring direction: ``(decoded, bottom_mask, class_id)``.

    ``class_id`` (int64): 1 = in range (not bottom), 0 = below, 2 = above. At bottom rows the
    direction comes from ``direction_logits`` (shape ``P.shape + (2,)``, column 0 = below,
    column 1 = above; class 2 only when column 1 is strictly larger, so ties and NaN logits give
    0) or, without logits, from ``sign(P)``: ``P > 0`` → 2, ``P < 0`` → 0, and ``P == 0`` or NaN
    (no direction information) → 0. The rule is "undecidable resolves to below". ``decoded`` is
    ``P/Q`` with NaN at bottom, exactly as :func:`strict_inference`.

    >>> import numpy as np
    >>> from zeroproof.inference import decode_strict_censored_3way
    >>> d, bottom, cls = decode_strict_censored_3way(
    ...     np.array([1.0, 2.0, -3.0]), np.array([0.5, 0.0, 1e-9]), tau_infer=1e-6)
    >>> d, bottom.tolist(), cls.tolist()
    (array([ 2., nan, nan]), [False, True, True], [1, 2, 0])
    """
    cfg = InferenceConfig(tau_infer=tau_infer)
    p = _as_real_array(P, "P")
    q = _as_real_array(Q, "Q")
    _check_same_shape(p, q)
    decoded, bottom, _ = _decode(p, q, cfg.tau_infer, None)
    if direction_logits is None:
        above = p > 0
    else:
        logits = _as_real_array(direction_logits, "direction_logits")
        if logits.shape != p.shape + (2,):
            raise ValueError(
                f"direction_logits must have shape P.shape + (2,) = {p.shape + (2,)} (column 0 "
                f"= below, column 1 = above), got shape {logits.shape}"
            )
        above = logits[..., 1] > logits[..., 0]
    class_id = np.where(bottom, np.where(above, 2, 0), 1).astype(np.int64)
    return decoded, bottom, class_id


# SPEC §1 lists the whole inference API under ``zeroproof.inference.mode`` too: the names that
# live in sibling modules are resolved on first access (importing them here would be circular).
_SIBLINGS = {"SCMInferenceWrapper": "wrapper", "StrictInferenceMonitor": "monitor",
             "export_bundle": "bundle", "validate_bundle": "bundle"}


def __getattr__(name: str) -> Any:
    module = _SIBLINGS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__package__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SIBLINGS))
