"""Post-hoc metrics for strict inference: sweeping ``tau_infer`` over cached ``|Q|``.

Ground truth is a boolean ``is_in_range`` per sample (True: the target is a finite value the
model should decode; False: censored / singular, the model should say bottom). For a threshold
``tau`` a sample is *predicted bottom* when ``|Q| < tau``, ``|Q| == 0`` or ``|Q|`` is NaN —
exactly the strict decoder's rule for a finite ``P`` whose quotient does not overflow (``P/0``
is never finite, so ``Q == 0`` is bottom even at ``tau = 0``; an overflowing ``P/Q``, which the
sweep cannot see from ``|Q|``, is bottom only for the decoder). Per ``tau``:

* ``false_in_range_on_censored`` = P(not predicted bottom | censored) — unsafe accepts;
  non-increasing in ``tau``;
* ``false_censoring_on_in_range`` = P(predicted bottom | in range) — lost coverage;
  non-decreasing in ``tau``;
* ``coverage`` = P(not predicted bottom) over all samples; non-increasing in ``tau``.

A rate whose conditioning set is empty is ``None``.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
from ..core._parse import check_path, is_iterable, is_real_number, rectangular, short_repr

__all__ = ["tau_infer_sweep_from_q_abs", "write_tau_infer_sweep"]

_CURVES = ("false_in_range_on_censored", "false_censoring_on_in_range", "coverage")


def _taus(taus: Any) -> list[float]:
    if not is_iterable(taus):
        raise TypeError(f"taus must be a sequence of finite numbers >= 0, got "
                        f"{type(taus).__name__}")
    out = []
    items = taus if isinstance(taus, np.ndarray) else list(taus)  # any iterable, generators too
    for i, t in enumerate(np.asarray(items, dtype=object).ravel().tolist()):
        if not is_real_number(t):
            raise TypeError(f"taus[{i}] must be a finite number >= 0, got {type(t).__name__} "
                            f"{short_repr(t, 40)}")
        try:
            f = float(t)
        except OverflowError:
            raise ValueError(f"taus[{i}] must be a finite number >= 0, got {short_repr(t, 40)} "
                             f"(beyond "
                             f"the float range)") from None
        if not math.isfinite(f) or f < 0:
            raise ValueError(f"taus[{i}] must be a finite number >= 0, got {f!r}")
        out.append(f)
    if not out:
        raise ValueError("taus must contain at least one threshold, got an empty sequence")
    return out


def tau_infer_sweep_from_q_abs(q_abs: Any, is_in_range: Any, taus: Sequence[float]
                               ) -> dict[str, Any]:
    """Per-threshold safety/coverage rates of the strict gate on ``|Q|`` (see the module docs).

    Returns a JSON-able dict: ``taus`` (in the given order), one list per curve
    (``false_in_range_on_censored``, ``false_censoring_on_in_range``, ``coverage``),
    ``n_bottom`` per tau, and ``n_total``, ``n_in_range``, ``n_censored``. Cost: one sort of
    ``q_abs`` plus a binary search per tau.

    >>> import numpy as np
    >>> from zeroproof.metrics import tau_infer_sweep_from_q_abs
    >>> q_abs = np.array([1e-7, 5e-6, 1e-3, 0.5])
    >>> is_in_range = np.array([False, False, True, True])
    >>> c = tau_infer_sweep_from_q_abs(q_abs, is_in_range=is_in_range, taus=[1e-6, 1e-5, 1e-2])
    >>> c["false_in_range_on_censored"], c["false_censoring_on_in_range"], c["coverage"]
    ([0.5, 0.0, 0.0], [0.0, 0.0, 0.5], [0.75, 0.5, 0.25])
    """
    q = rectangular("q_abs", q_abs, "leave the masked rows out of q_abs and is_in_range")
    shape = q.shape
    if q.dtype.kind not in "fiu":
        raise TypeError(f"q_abs must be a real array of |Q| values, got dtype {q.dtype}")
    # Thresholds are compared in the dtype of |Q|, as strict_inference compares them in the
    # dtype of (P, Q): a float32 tau is float32(tau). (|Q| itself converts to float64 exactly.)
    work = q.dtype if q.dtype.kind == "f" else np.dtype(np.float64)
    q = q.astype(np.float64).ravel()
    y = rectangular("is_in_range", is_in_range,
                    "leave the masked rows out of q_abs and is_in_range (their label is unknown)")
    if y.dtype != np.bool_:
        if y.size == 0 and y.dtype.kind in "fO":  # [] reads as float64: an empty mask
            y = y.astype(np.bool_)
        elif y.dtype.kind in "iu":
            bad = y[~np.isin(y, (0, 1))]
            if bad.size:
                raise ValueError(f"is_in_range must be a boolean mask (or 0/1 ints), got the "
                                 f"value {short_repr(bad.flat[0].item(), 40)}")
            y = y.astype(np.bool_)
        else:
            raise TypeError(f"is_in_range must be a boolean mask (or 0/1 ints), got dtype "
                            f"{y.dtype}")
    if shape != y.shape:
        raise ValueError(f"q_abs and is_in_range must have the same shape, got "
                         f"q_abs.shape={shape} and is_in_range.shape={y.shape}")
    y = y.ravel()
    if np.any(q < 0):
        raise ValueError(f"q_abs must hold |Q| values (>= 0 or NaN), got a minimum of "
                         f"{float(np.nanmin(q))!r}")
    ts = _taus(taus)
    nan = np.isnan(q)
    in_sorted = np.sort(q[y & ~nan])
    cen_sorted = np.sort(q[~y & ~nan])
    n_in, n_cen = int(y.sum()), int((~y).sum())
    nan_in, nan_cen = int((nan & y).sum()), int((nan & ~y).sum())
    n = q.size
    fir, fcr, cov, nbot = [], [], [], []
    for t_given in ts:
        with np.errstate(all="ignore"):  # beyond the dtype's range inf, below it 0: silently
            t = float(work.type(t_given))  # the decoder's threshold in that dtype
        # |Q| < t (or |Q| <= 0 when t == 0), plus NaN
        side = "left" if t > 0 else "right"
        bot_in = int(np.searchsorted(in_sorted, t, side=side)) + nan_in
        bot_cen = int(np.searchsorted(cen_sorted, t, side=side)) + nan_cen
        fir.append((n_cen - bot_cen) / n_cen if n_cen else None)
        fcr.append(bot_in / n_in if n_in else None)
        cov.append((n - bot_in - bot_cen) / n if n else None)
        nbot.append(bot_in + bot_cen)
    return {
        "taus": ts,
        "false_in_range_on_censored": fir,
        "false_censoring_on_in_range": fcr,
        "coverage": cov,
        "n_bottom": nbot,
        "n_total": n, "n_in_range": n_in, "n_censored": n_cen,
    }


def _fmt(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def write_tau_infer_sweep(curves: dict[str, Any], out_dir: Union[str, "os.PathLike[str]"], *,
                          stem: str = "tau_infer_sweep", title: Optional[str] = None
                          ) -> dict[str, Path]:
    """Write ``curves`` (from :func:`tau_infer_sweep_from_q_abs`) as ``<stem>.json`` and a
    compact Markdown table ``<stem>.md`` in ``out_dir`` (created if needed); returns both paths.

    >>> import tempfile
    >>> from zeroproof.metrics import tau_infer_sweep_from_q_abs, write_tau_infer_sweep
    >>> c = tau_infer_sweep_from_q_abs([1e-7, 0.5], is_in_range=[False, True], taus=[1e-6])
    >>> paths = write_tau_infer_sweep(c, tempfile.mkdtemp())
    >>> sorted(paths)
    ['json', 'markdown']
    >>> print(paths["markdown"].read_text().splitlines()[4])
    | 1e-06 | 0.5000 | 0.0000 | 0.0000 | 1 |
    """
    if title is not None and not isinstance(title, str):
        raise TypeError(f"write_tau_infer_sweep(title): title must be a str or None, got "
                        f"{type(title).__name__} {short_repr(title)}")
    if not isinstance(curves, dict):
        raise TypeError(f"curves must be the dict returned by tau_infer_sweep_from_q_abs, got "
                        f"{type(curves).__name__}")
    missing = [k for k in ("taus", *_CURVES, "n_bottom", "n_total", "n_in_range", "n_censored")
               if k not in curves]
    if missing:
        raise ValueError(f"curves is missing keys {missing}; pass the dict returned by "
                         f"tau_infer_sweep_from_q_abs")
    k = len(curves["taus"])
    if any(len(curves[c]) != k for c in (*_CURVES, "n_bottom")):
        raise ValueError("curves: every curve must have one entry per tau")
    if not isinstance(stem, str):
        raise TypeError(f"stem must be a str (a plain file name stem), got {type(stem).__name__} "
                        f"{short_repr(stem, 40)}")
    if not stem or "/" in stem or "\\" in stem:
        raise ValueError(f"stem must be a plain file name stem, got {stem!r}")
    out = check_path("out_dir", out_dir, "the directory to write the report into")
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(curves, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    lines = [
        f"# {title or 'tau_infer sweep'}",
        "",
        "| tau_infer | coverage | false in-range (censored) | false censoring (in-range) "
        "| n bottom |",
        "|---|---|---|---|---|",
    ]
    for i, t in enumerate(curves["taus"]):
        lines.append(f"| {float(t)!r} | {_fmt(curves['coverage'][i])} | "
                     f"{_fmt(curves['false_in_range_on_censored'][i])} | "
                     f"{_fmt(curves['false_censoring_on_in_range'][i])} | "
                     f"{curves['n_bottom'][i]} |")
    lines += [
        "",
        f"{curves['n_total']} samples: {curves['n_in_range']} in range, "
        f"{curves['n_censored']} censored. Predicted bottom: |Q| < tau_infer (or NaN). "
        "Raising tau_infer lowers false in-range on censored points and raises false "
        "censoring on in-range points.",
        "",
    ]
    md_path.write_text("\n".join(lines), encoding="utf-8")
    return {"json": json_path, "markdown": md_path}
