"""``StrictInferenceMonitor``: exact, mergeable counts of bottom / gap / accepted rows."""
from __future__ import annotations

import threading
from typing import Any, Iterable, Optional

import numpy as np

from ..core._parse import bool_mask, check_real, is_iterable, short_repr

__all__ = ["StrictInferenceMonitor"]


class StrictInferenceMonitor:
    """Count the strict decoder's outcomes for one deployed bundle.

    Every row is exactly one of *bottom*, *gap* (not bottom, ``tau_infer <= |Q| < tau_train``)
    or *accepted* (neither). Counts are exact Python integers, so monitors filled on different
    batches, threads or processes merge exactly: after ``a.merge(b)``, ``a`` holds what one
    monitor fed with the concatenation would. ``to_dict``/``from_dict`` carry the counts across processes as JSON.
    ``update`` is thread-safe.

    >>> import numpy as np
    >>> from zeroproof.inference import StrictInferenceMonitor
    >>> mon = StrictInferenceMonitor(bundle_id="arm-v1")
    >>> mon.update(np.array([True, False, False, False]), np.array([False, True, False, False]))
    StrictInferenceMonitor(bundle_id='arm-v1', n_total=4, n_bottom=1, n_gap=1)
    >>> r = mon.rates()
    >>> r["bottom_rate"], r["gap_rate"], r["accept_rate"]
    (0.25, 0.25, 0.5)
    """

    def __init__(self, bundle_id: str) -> None:
        if not isinstance(bundle_id, str):
            raise TypeError(f"bundle_id must be a non-empty str, got {type(bundle_id).__name__} "
                            f"{short_repr(bundle_id, 60)}")
        if not bundle_id.strip():
            raise ValueError(f"bundle_id must be a non-empty str, got {bundle_id!r}")
        self.bundle_id = bundle_id
        self.n_total = 0
        self.n_bottom = 0
        self.n_gap = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Copy and pickle support: the counters, without the lock (a copy gets its own).

        >>> import copy
        >>> m = StrictInferenceMonitor("b"); m2 = copy.deepcopy(m)
        >>> m2.bundle_id
        'b'
        """
        with self._lock:
            state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def update(self, bottom_mask: Any, gap_mask: Any = None) -> "StrictInferenceMonitor":
        """Add one batch of masks (``gap_mask=None`` means no gap region); returns ``self``.

        A row flagged in both masks counts as bottom only (bottom takes precedence, as in
        :func:`~zeroproof.inference.strict_inference`).

        >>> import numpy as np
        >>> from zeroproof.inference import StrictInferenceMonitor
        >>> StrictInferenceMonitor("b").update(np.array([False, True])).n_bottom
        1
        """
        b = bool_mask("bottom_mask", bottom_mask)
        n_bottom = int(np.count_nonzero(b))
        n_gap = 0
        if gap_mask is not None:
            g = bool_mask("gap_mask", gap_mask)
            if g.shape != b.shape:
                raise ValueError(f"bottom_mask and gap_mask must have the same shape, got "
                                 f"bottom_mask.shape={b.shape} and gap_mask.shape={g.shape}")
            n_gap = int(np.count_nonzero(g & ~b))
        with self._lock:
            self.n_total += int(b.size)
            self.n_bottom += n_bottom
            self.n_gap += n_gap
        return self

    @property
    def n_accept(self) -> int:
        """Rows that are neither bottom nor gap."""
        return self.n_total - self.n_bottom - self.n_gap

    def rates(self) -> dict[str, Any]:
        """Counts and rates as a JSON-able dict.

        Keys: ``bundle_id, n_total, n_bottom, n_gap, n_accept, bottom_rate, gap_rate,
        accept_rate, non_bottom_rate`` (``non_bottom_rate`` is the coverage when gap rows are
        only monitored, as in the ``accuracy_first`` operating point). Rates are ``None`` before
        the first row.

        >>> from zeroproof.inference import StrictInferenceMonitor
        >>> StrictInferenceMonitor("b").rates()["bottom_rate"] is None
        True
        """
        with self._lock:
            n, nb, ng = self.n_total, self.n_bottom, self.n_gap
        na = n - nb - ng

        def rate(k: int) -> Optional[float]:
            return k / n if n else None

        return {
            "bundle_id": self.bundle_id, "n_total": n,
            "n_bottom": nb, "n_gap": ng, "n_accept": na,
            "bottom_rate": rate(nb), "gap_rate": rate(ng), "accept_rate": rate(na),
            "non_bottom_rate": rate(n - nb),
        }

    def merge(self, *others: "StrictInferenceMonitor") -> "StrictInferenceMonitor":
        """Add the counts of ``others`` (monitors of the same ``bundle_id``) to this monitor, in
        place, and return ``self`` — like ``update``, and like the ``merge_state`` of Keras and
        torchmetrics metrics. ``others`` are not changed; every argument is checked before
        anything is added. For a new monitor that leaves its inputs alone use
        :meth:`merge_all`.

        >>> import numpy as np
        >>> from zeroproof.inference import StrictInferenceMonitor
        >>> a = StrictInferenceMonitor("b").update(np.array([True]))
        >>> b = StrictInferenceMonitor("b").update(np.array([False, False]))
        >>> a.merge(b).rates()["n_total"], a.n_total, b.n_total
        (3, 3, 2)
        """
        for m in others:
            if not isinstance(m, StrictInferenceMonitor):
                raise TypeError(f"can only merge StrictInferenceMonitor objects, got "
                                f"{type(m).__name__} {short_repr(m, 40)}")
            if m.bundle_id != self.bundle_id:
                raise ValueError(f"cannot merge monitors of different bundles: "
                                 f"{self.bundle_id!r} and {m.bundle_id!r}")
        counts = []
        for m in others:  # read each one under its own lock (never two locks at once)
            with m._lock:
                counts.append((m.n_total, m.n_bottom, m.n_gap))
        with self._lock:
            for n, nb, ng in counts:
                self.n_total += n
                self.n_bottom += nb
                self.n_gap += ng
        return self

    @classmethod
    def merge_all(cls, monitors: Iterable["StrictInferenceMonitor"]) -> "StrictInferenceMonitor":
        """A new monitor holding the counts of a non-empty iterable of monitors of one bundle
        (the monitors themselves are not changed).

        >>> import numpy as np
        >>> from zeroproof.inference import StrictInferenceMonitor
        >>> ms = [StrictInferenceMonitor("b").update(np.array([i == 0])) for i in range(3)]
        >>> StrictInferenceMonitor.merge_all(ms).n_bottom
        1
        """
        if not is_iterable(monitors):
            raise TypeError(f"monitors must be an iterable of StrictInferenceMonitor objects, got "
                            f"{type(monitors).__name__} {short_repr(monitors, 40)}")
        ms = list(monitors)
        if not ms:
            raise ValueError("monitors must contain at least one StrictInferenceMonitor, got none")
        if not isinstance(ms[0], StrictInferenceMonitor):
            raise TypeError(f"can only merge StrictInferenceMonitor objects, got "
                            f"{type(ms[0]).__name__}")
        return StrictInferenceMonitor(ms[0].bundle_id).merge(*ms)

    def reset(self) -> None:
        """Forget all counts (the bundle id stays)."""
        with self._lock:
            self.n_total = self.n_bottom = self.n_gap = 0

    def check(self, max_bottom_rate: Optional[float] = None,
              max_gap_rate: Optional[float] = None) -> list[str]:
        """Alert messages for rates above the given limits (empty list: all fine).

        >>> import numpy as np
        >>> from zeroproof.inference import StrictInferenceMonitor
        >>> StrictInferenceMonitor("b").update(np.array([True, False])).check(max_bottom_rate=0.1)
        ['bundle b: bottom_rate 0.5 > 0.1 (1 of 2 rows)']
        """
        r = self.rates()
        alerts = []
        for key, limit, count in (("bottom_rate", max_bottom_rate, r["n_bottom"]),
                                  ("gap_rate", max_gap_rate, r["n_gap"])):
            if limit is None:
                continue
            limit = check_real(f"max_{key}", limit, "a number in [0, 1] or None",
                               lambda v: 0 <= v <= 1)
            if r[key] is not None and r[key] > limit:
                alerts.append(f"bundle {self.bundle_id}: {key} {r[key]:.6g} > {limit:g} "
                              f"({count} of {r['n_total']} rows)")
        return alerts

    def to_dict(self) -> dict[str, Any]:
        """The raw counts (JSON-able); :meth:`from_dict` restores them.

        >>> from zeroproof.inference import StrictInferenceMonitor
        >>> StrictInferenceMonitor.from_dict(StrictInferenceMonitor("b").to_dict()).bundle_id
        'b'
        """
        with self._lock:
            return {"bundle_id": self.bundle_id, "n_total": self.n_total,
                    "n_bottom": self.n_bottom, "n_gap": self.n_gap}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StrictInferenceMonitor":
        """Rebuild a monitor from :meth:`to_dict` output (counts are validated)."""
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict from to_dict(), got {type(data).__name__}")
        m = cls(data.get("bundle_id"))  # type: ignore[arg-type]
        for key in ("n_total", "n_bottom", "n_gap"):
            v = data.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"data[{key!r}] must be an int >= 0, got {v!r}")
            setattr(m, key, v)
        if m.n_bottom + m.n_gap > m.n_total:
            raise ValueError(f"inconsistent counts: n_bottom + n_gap = {m.n_bottom + m.n_gap} > "
                             f"n_total = {m.n_total}")
        return m

    def __repr__(self) -> str:
        return (f"StrictInferenceMonitor(bundle_id={self.bundle_id!r}, n_total={self.n_total}, "
                f"n_bottom={self.n_bottom}, n_gap={self.n_gap})")

    def __eq__(self, other: object) -> bool:
        """Monitors are equal when they belong to the same bundle and hold the same counts (so a
        merged monitor equals one fed the concatenated batches). Mutable, hence unhashable.

        >>> import numpy as np
        >>> a = StrictInferenceMonitor("b").update(np.array([True])).update(np.array([False]))
        >>> a == StrictInferenceMonitor("b").update(np.array([True, False]))
        True
        """
        if not isinstance(other, StrictInferenceMonitor):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]
