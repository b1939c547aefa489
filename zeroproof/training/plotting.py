"""Plot a learned rational function, its poles and the training history (matplotlib, optional).

matplotlib is imported on first use; without it :func:`plot_training` raises an ``ImportError``
that says how to install it (``pip install 'zeroproof[plot]'``). The figure is drawn with the
Agg canvas (no window, no pyplot state), so it works in scripts, CI and notebooks alike.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
from ..core._parse import check_path, short_repr

__all__ = ["plot_training"]


def _matplotlib() -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "plot_training needs matplotlib, which is not installed: pip install "
            "'zeroproof[plot]' (or pip install matplotlib)") from exc
    return Figure, FigureCanvasAgg


def plot_training(model: Any, history: Sequence[dict[str, Any]] | None = None,
                  path: str | os.PathLike | None = None, *, domain: Sequence[float] = (-1.0, 1.0),
                  data: tuple[Any, Any] | None = None, true_fn: Callable[[np.ndarray], Any] | None = None,
                  ylim: float = 10.0, n_points: int = 2001, title: str | None = None) -> Any:
    """Draw ``model``'s function over ``domain`` with its real poles (dashed lines), optional
    data points and true function, and — given a ``history`` from ``SCMTrainer.fit()`` — the
    loss, coverage, δ and saturating share per epoch. Saves a PNG to ``path`` when given;
    returns the matplotlib ``Figure``.

    ``model`` is evaluated on the ``(n_points, 1)`` column of inputs (its ``predict_pq`` when it
    has one), so a one-input backbone such as ``Sequential(Linear(1, 16), Tanh(), Linear(16, 1),
    RationalLayer(3, 3))`` plots as it is. Non-REAL outputs (at a pole) are left out of the
    curve; values are clipped to ``±ylim``.

    >>> import numpy as np, tempfile, os
    >>> from zeroproof.layers import RationalLayer
    >>> fig = plot_training(RationalLayer(1, 1, seed=0), path=os.path.join(tempfile.mkdtemp(),
    ...                     "fit.png"))    # doctest: +SKIP
    """
    _check_plot_args(model, history)
    out = None if path is None else check_path("path", path, "the PNG file to write, or None")
    Figure, Canvas = _matplotlib()
    lo, hi = (float(v) for v in domain)
    if not lo < hi:
        raise ValueError(f"domain must be (lo, hi) with lo < hi, got {domain!r}")
    panels = 1 + (1 if history else 0)
    fig = Figure(figsize=(6.0 * panels, 4.2), dpi=100)
    Canvas(fig)
    ax = fig.add_subplot(1, panels, 1)
    xs = np.linspace(lo, hi, int(n_points))
    ys = _evaluate(model, xs)
    with np.errstate(invalid="ignore"):
        ys = np.where(np.isfinite(ys) & (np.abs(ys) <= ylim), ys, np.nan)
    if true_fn is not None:
        with np.errstate(all="ignore"):
            yt = np.asarray(true_fn(xs), dtype=np.float64)
        yt = np.where(np.isfinite(yt) & (np.abs(yt) <= ylim), yt, np.nan)
        ax.plot(xs, yt, color="0.6", lw=3, alpha=0.6, label="true")
    if data is not None:
        dx, dy = (np.asarray(a, dtype=np.float64).ravel() for a in data)
        keep = np.isfinite(dx) & np.isfinite(dy) & (np.abs(dy) <= ylim)
        ax.plot(dx[keep], dy[keep], ".", ms=3, color="tab:gray", alpha=0.5, label="data")
    for j in range(ys.shape[1] if ys.ndim == 2 else 1):
        ax.plot(xs, ys[:, j] if ys.ndim == 2 else ys, color="tab:blue", lw=1.5,
                label="learned" if j == 0 else None)
    poles = []
    find = getattr(model, "find_poles", None)
    if callable(find):
        poles = [p for p in find() if lo <= p <= hi]
    for i, p in enumerate(poles):
        ax.axvline(p, color="tab:red", ls="--", lw=1, label=f"pole {p:.4f}" if i < 3 else None)
    ax.set_xlim(lo, hi)
    ax.set_ylim(-ylim, ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or "learned function and poles")
    ax.legend(loc="best", fontsize=8)
    if history:
        _history_panel(fig.add_subplot(1, panels, 2), history)
    fig.tight_layout()
    if out is not None:
        fig.savefig(out, format="png")
    return fig


def _check_plot_args(model: Any, history: Any) -> None:
    """``TypeError`` for a model that cannot be evaluated and a history that is not a list of
    per-epoch dicts (checked before matplotlib is imported)."""
    if not callable(getattr(model, "predict_pq", None)) and not callable(model):
        raise TypeError(
            "plot_training(model, ...): model must be a layer with predict_pq() (e.g. "
            "RationalLayer) or a callable x -> y or x -> (P, Q), got "
            f"{type(model).__name__} {short_repr(model, 40)}")
    if history is None:
        return
    if isinstance(history, (str, bytes, dict)) or not hasattr(history, "__len__") \
            or not all(isinstance(r, dict) for r in history):
        raise TypeError(
            "plot_training(model, history): history must be a list of per-epoch dicts (what "
            f"SCMTrainer.fit() returns) or None, got {type(history).__name__} "
            f"{short_repr(history, 40)}")


def _evaluate(model: Any, xs: np.ndarray) -> np.ndarray:
    predict = getattr(model, "predict_pq", None)
    if callable(predict):
        P, Q = predict(xs.reshape(-1, 1))
        with np.errstate(all="ignore"):
            y = np.asarray(P) / np.asarray(Q)
        return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    # one input feature per row, (n, 1): what Linear(1, k), Sequential backbones and the
    # rational layers all take; an (n, 1) output is drawn as one curve
    out = model(xs.reshape(-1, 1))
    if isinstance(out, (tuple, list)):
        with np.errstate(all="ignore"):
            y = _np(out[0]) / _np(out[1])
    else:
        y = _np(out)
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y


def _np(v: Any) -> np.ndarray:
    if hasattr(v, "numpy") and callable(v.numpy):
        return v.numpy()
    if hasattr(v, "to_numpy"):
        return v.to_numpy()
    return np.asarray(v, dtype=np.float64)


def _history_panel(ax: Any, history: Sequence[dict[str, Any]]) -> None:
    ep = [r["epoch"] for r in history]

    def series(key: str, sub: str | None = None) -> np.ndarray:
        vals = []
        for r in history:
            v = r.get(key)
            if sub is not None:
                v = (v or {}).get(sub)
            vals.append(np.nan if v is None else float(v))
        return np.asarray(vals)

    ax.semilogy(ep, series("loss"), color="tab:blue", label="loss")
    delta = series("delta")
    if np.isfinite(delta).any():
        ax.semilogy(ep, delta, color="tab:orange", ls="--", label="δ")
    sat = series("hybrid", "saturating_ratio")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss, δ (log)")
    ax2 = ax.twinx()
    ax2.plot(ep, series("coverage"), color="tab:green", label="coverage")
    if np.isfinite(sat).any():
        ax2.plot(ep, sat, color="tab:red", alpha=0.7, label="saturating share")
    ax2.set_ylim(-0.02, 1.05)
    ax2.set_ylabel("share")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="center right", fontsize=8)
    ax.set_title("training history")
