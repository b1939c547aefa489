"""Vectorized transreal reductions: sum, mean, prod, min, max along an axis.

Each lane (the 1-D slice along the reduced axis) gets exactly the result of the matching core
function (:func:`zeroproof.core.reductions.sum_codes` …): the tag logic (⊥, Φ, infinities, wheel
mode, DROP_NULL, empty lanes) is evaluated with masks over all lanes at once, and the REAL results
are exactly rounded:

* **sum / mean** — an error-free *extraction* (after Rump, Ogita and Oishi): with ``σ`` a power of
  two at least ``2·n·max|x|``, ``q = (σ + x) − σ`` keeps the high bits of every ``x`` on a grid so
  coarse that ``Σ q`` is exact in float64 in any order, and ``x − q`` is exact. Repeating on the
  remainders (σ shrinks with them) yields a few floats ``τ₁, τ₂, …`` whose exact sum is the exact
  sum of the lane; one or two of them are rounded by one IEEE operation, more by Python integers.
  Lanes whose magnitudes approach the float64 range (``2·n·max|x| ≥ 2**1020``) are handed to the
  core function.
* **prod** — a pairwise double-double product of the mantissas with a separate integer exponent,
  whose rounding is *certified* against an error bound; lanes that cannot be certified (a product
  within ~n·2⁻¹⁰⁶ of a rounding boundary, or a subnormal result) are handed to the core function.
* **min / max** — ``argmin``/``argmax`` (first occurrence wins, like the core loop, so
  ``max([0.0, -0.0])`` is ``0.0`` and ``max([-0.0, 0.0])`` is ``-0.0``).

Float32 lanes are computed in float64 as above and rounded to float32 **once from the exact
result**, not from its float64 rounding (double rounding: ``1 + 2⁻²⁴ + 2⁻⁶⁰`` rounds to
``1 + 2⁻²⁴`` in float64, exactly halfway between two float32 values, and then to 1 instead of
``1 + 2⁻²³``). The float64 result ``r`` rounds to the right float32 except when ``r`` is itself
such a midpoint; then the sign of ``exact − r`` decides (zero: a true tie, to even). That sign
comes with the extraction (the error of the final IEEE addition, or of the division for a
mean), or, for a product and for the rare lanes finished with Python integers, from the exact
value (:func:`zeroproof.core.reductions.exact_ratio`).

>>> import numpy as np
>>> from zeroproof.array.reductions import reduce_codes
>>> reduce_codes("sum", np.array([[1e16, 1.0, -1e16], [1.0, np.inf, 2.0]]), None, axis=1)[0].tolist()
[1.0, inf]
"""
from __future__ import annotations

import math
import struct
from typing import Any, Callable, Optional

import numpy as np

from ..core import reductions as _core
from ..core.reductions import ReductionMode
from ..core.scalar import BOTTOM_CODE
from ..core.wheel import WHEEL
from ..core._parse import axis_indices, check_bool

__all__ = ["reduce_codes", "exact_sum_lanes", "REDUCTIONS"]

REDUCTIONS = ("sum", "mean", "prod", "min", "max")
_CORE: dict[str, Callable[..., float]] = {
    "sum": _core.sum_codes, "mean": _core.mean_codes, "prod": _core.prod_codes,
    "min": _core.min_codes, "max": _core.max_codes,
}
_BIG_EXP = 1020  # lanes with 2·n·max|x| ≥ 2**_BIG_EXP go to the core function (overflow edge)


def _zero_rule(fn: Callable[..., float]) -> bool:
    """True if the core function returns −0.0 for an all −0.0 lane (IEEE rule), False if +0.0."""
    return math.copysign(1.0, fn([-0.0, -0.0])) < 0


_parse_mode = _core._mode  # one parser (and one error message) for reduction modes


def _axes(axis: Any, nd: int, shape: tuple) -> tuple[int, ...]:
    """``axis`` (an int or a tuple of ints, NumPy style) as sorted distinct non-negative axes."""
    return tuple(sorted(axis_indices("axis", axis, nd, "None, an int or a tuple of ints")))


def _lanes(codes: np.ndarray, bottom: Optional[np.ndarray], axis: Any) -> tuple:
    """``(X, B, out_shape, keep_shape)`` with the reduced axes last and merged: X has shape
    (lanes, n)."""
    if axis is None:
        X = codes.reshape(1, -1)
        B = None if bottom is None else np.broadcast_to(bottom, codes.shape).reshape(1, -1)
        return X, B, (), (1,) * codes.ndim
    nd = codes.ndim
    axes = _axes(axis, nd, codes.shape)
    rest = [i for i in range(nd) if i not in axes]
    order = rest + list(axes)
    X = np.transpose(codes, order)
    out_shape = tuple(codes.shape[i] for i in rest)
    keep_shape = tuple(1 if i in axes else d for i, d in enumerate(codes.shape))
    n = int(np.prod([codes.shape[i] for i in axes], dtype=np.int64))
    X = X.reshape(int(np.prod(out_shape, dtype=np.int64)), n)
    B = None
    if bottom is not None:
        B = np.transpose(np.broadcast_to(bottom, codes.shape), order).reshape(X.shape)
    return X, B, out_shape, keep_shape


def reduce_codes(
    kind: str, codes: np.ndarray, bottom: Optional[np.ndarray] = None, axis: Any = None,
    keepdims: bool = False, mode: "ReductionMode | str" = ReductionMode.STRICT,
) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Reduce a ``(codes, bottom)`` pair with ``kind`` in ``sum, mean, prod, min, max``.

    Returns a ``(codes, bottom)`` pair of the reduced shape (0-d for ``axis=None`` without
    ``keepdims``). Each lane equals the core reduction of that lane.

    >>> import numpy as np
    >>> c, b = reduce_codes("max", np.array([[1.0, np.nan], [2.0, 3.0]]), axis=1, mode="drop_null")
    >>> c.tolist(), b
    ([1.0, 3.0], None)
    """
    if kind not in REDUCTIONS:
        raise ValueError(f"kind must be one of {REDUCTIONS}, got {kind!r}")
    m = _parse_mode(mode)
    keepdims = check_bool("keepdims", keepdims)
    X, B, out_shape, keep_shape = _lanes(codes, bottom, axis)
    with np.errstate(all="ignore"):  # never an IEEE warning or error, whatever np.seterr says
        res, rbot, rem = _reduce2d(kind, X, B, m)
        if codes.dtype == np.float32:  # the exact result rounded once (±∞ past the range)
            res = _round_float32(res, rem)
    shape = keep_shape if keepdims else out_shape
    return res.reshape(shape), (None if rbot is None else rbot.reshape(shape))


def _reduce2d(kind: str, X: np.ndarray, B: Optional[np.ndarray], mode: ReductionMode) -> tuple:
    """Reduce each row of ``X`` (shape (lanes, n)); returns float64 codes, a ⊥ lane mask and,
    for float32 lanes, the sign of ``exact − result`` per lane (int8; None: float64 lanes, or
    every result exact)."""
    f32 = X.dtype == np.float32  # rounded once from the exact result by the caller
    X = X.astype(np.float64, copy=False)
    L, n = X.shape
    wheel = WHEEL.get()
    out = np.full(L, np.nan)
    done = np.zeros(L, dtype=bool)
    rbot = B.any(axis=1) if B is not None else None
    if rbot is not None:
        done |= rbot
    if n == 0:
        out[:] = {"sum": 0.0, "prod": 1.0}.get(kind, np.nan)  # empty: 0, 1, Φ
        return out, None, None
    rem = None
    nan = np.isnan(X)
    keep = None  # mask of the entries that take part (None: all of them)
    if nan.any():
        if mode is ReductionMode.STRICT:
            done |= nan.any(axis=1)  # Φ absorbs (out is NaN already)
        else:
            keep = ~nan
            done |= ~keep.any(axis=1)  # DROP_NULL and nothing left: Φ
    todo = np.flatnonzero(~done)
    if todo.size:
        Xt = X[todo]
        kt = None if keep is None else keep[todo]
        with np.errstate(all="ignore"):
            rt = None
            if kind in ("sum", "mean"):
                res, wb, rt = _sum_like(kind, Xt, kt, wheel, mode, f32)
            elif kind == "prod":
                res, wb, rt = _prod(Xt, kt, wheel, mode, f32)
            else:
                res, wb = _extreme(kind, Xt, kt), None
        out[todo] = res
        if rt is not None and rt.any():
            rem = np.zeros(L, dtype=np.int8)
            rem[todo] = rt
        if wb is not None and wb.any():
            if rbot is None:
                rbot = np.zeros(L, dtype=bool)
            rbot[todo[wb]] = True
    if rbot is not None:
        if not rbot.any():
            rbot = None
        else:
            out[rbot] = np.nan
    return out, rbot, rem


_U64 = np.uint64


def _f32_exponents(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(bits, e)``: the float64 bits of ``r`` and the unbiased exponents (``|r|`` in
    ``[2**e, 2**(e+1))`` for a normal ``r``)."""
    bits = np.ascontiguousarray(r, dtype=np.float64).view(_U64)
    return bits, ((bits >> _U64(52)) & _U64(0x7FF)).astype(np.int64) - 1023


def _f32_midpoints(r: np.ndarray) -> np.ndarray:
    """Where the float64 values ``r`` lie exactly halfway between two adjacent float32 values
    (subnormal ones and the overflow threshold ``2¹²⁸ − 2¹⁰³`` included): the bits float32
    drops from the 53-bit significand (29 of them, more below ``2⁻¹²⁶``) are ``100…0``.
    Cost: two integer passes, and the full test only on the candidates they leave."""
    bits = np.ascontiguousarray(r, dtype=np.float64).view(_U64)
    # the low 29 bits are 100…0 at every midpoint; |r| < 2**-126 (or 0, NaN, ±inf) is rare
    cand = ((bits & _U64((1 << 29) - 1)) == _U64(1 << 28)) | (np.abs(r) < 2.0 ** -126)
    out = np.zeros(np.shape(r), dtype=bool)
    i = np.flatnonzero(cand)
    if i.size:
        out.reshape(-1)[i] = _f32_midpoints_full(np.ravel(r)[i])
    return out


def _maybe_f32_midpoint(r: float) -> bool:
    """:func:`_f32_midpoints`'s first filter for one Python float (no array calls)."""
    bits = struct.unpack("<Q", struct.pack("<d", r))[0]
    return (bits & ((1 << 29) - 1)) == 1 << 28 or abs(r) < 2.0 ** -126


def _f32_midpoints_full(r: np.ndarray) -> np.ndarray:
    """:func:`_f32_midpoints` for every element (the exact test)."""
    bits, e = _f32_exponents(r)
    drop = 29 + np.clip(-126 - e, 0, 25)  # 54 (more than the significand): never a midpoint
    sig = (bits & _U64((1 << 52) - 1)) | _U64(1 << 52)
    low = sig & ((_U64(1) << drop.astype(_U64)) - _U64(1))
    return (low == (_U64(1) << (drop - 1).astype(_U64))) & (e > -1023) & (e < 1024)


def _f32_half_spacing(r: np.ndarray) -> np.ndarray:
    """Half of float32's spacing at ``r`` (finite, normal in float64): ``2**(e − 24)``, or
    ``2**-150`` in float32's subnormal range."""
    return np.ldexp(1.0, np.maximum(_f32_exponents(r)[1], -126) - 24)


def _round_float32(r: np.ndarray, rem: Optional[np.ndarray]) -> np.ndarray:
    """Float32 lane results from the float64 ones ``r`` (each the exact result rounded to
    float64) and ``rem``, the sign of ``exact − r`` (None: all zero).

    Every float32 value and every midpoint between two of them is a float64, so rounding ``r``
    gives the float32 nearest the exact value unless ``r`` is such a midpoint; there the exact
    value lies on the side ``rem`` says (zero: a true tie, which the cast rounds to even), and
    ``r`` is moved onto that neighbour. An IEEE cast: ±∞ past float32's range, a subnormal or
    ±0 below it (call inside ``np.errstate``)."""
    if rem is not None:
        i = np.flatnonzero(rem)
        if i.size:
            j = i[_f32_midpoints(r[i])]
            r = r.copy()
            r[j] += rem[j] * _f32_half_spacing(r[j])  # exactly the float32 neighbour
    return r.astype(np.float32)


def _core_lane(kind: str, row: np.ndarray, mode: ReductionMode) -> float:
    """One lane through the core function (the rare cases the vectorized path does not cover)."""
    r = _CORE[kind]([float(c) for c in row], mode)
    return np.nan if r is BOTTOM_CODE else r


def _sum_like(kind: str, X: np.ndarray, keep: Optional[np.ndarray], wheel: bool,
              mode: ReductionMode, f32: bool = False) -> tuple:
    """Sum or mean of lanes without ⊥ (and without Φ in STRICT mode); ``(values, wheel ⊥
    lanes, signs of exact − value)``, the signs only for ``f32`` lanes (else None)."""
    L, n = X.shape
    if kind == "sum" and L == 1 and keep is None and 0 < n <= 4096 and np.isfinite(X).all():
        try:  # one short finite lane: math.fsum is exactly rounded too, and cheaper to call
            # than the vectorized extraction (zero results take the sign rule below)
            r = math.fsum(X[0].tolist())
        except OverflowError:
            r = 0.0
        # (a float32 lane whose sum is a float32 midpoint needs the extraction's remainder)
        if r != 0.0 and not (f32 and _maybe_f32_midpoint(r) and _f32_midpoints(np.array([r]))[0]):
            return np.array([r]), None, None
    res = np.empty(L, dtype=np.float64)
    rem = np.zeros(L, dtype=np.int8) if f32 else None
    wbot = None
    inf = np.isinf(X)
    fin = np.ones(L, dtype=bool)
    if inf.any():
        pos = (X == np.inf).any(axis=1)
        neg = (X == -np.inf).any(axis=1)
        res[pos] = np.inf
        res[neg] = -np.inf
        res[pos & neg] = np.nan
        fin = ~(pos | neg)
        if wheel:  # +∞ + −∞ and ∞ + ∞ are ⊥
            wbot = (pos & neg) | ((pos | neg) & (inf.sum(axis=1) > 1))
    idx = np.flatnonzero(fin)
    if idx.size:
        Xf = X[idx]
        kf = None if keep is None else keep[idx]
        if kf is not None:
            Xf = np.where(kf, Xf, -0.0)  # −0.0 is neutral, also for the sign of a zero sum
        cnt = np.full(idx.size, n) if kf is None else kf.sum(axis=1)
        vals, big, rs = _exact_sum_lanes(Xf, cnt if kind == "mean" else None, f32)
        if rem is not None:
            rem[idx] = rs  # (float32 lanes are never "big"; zero sums are exact)
        zero = vals == 0.0
        if zero.any():  # the sign of an exact zero follows the core function's rule
            if _zero_rule(_CORE[kind]):
                allneg = np.all(np.signbit(Xf) & (Xf == 0), axis=1)
                vals[zero] = np.where(allneg[zero], -0.0, 0.0)
            else:
                vals[zero] = 0.0
            if kind == "mean":  # a non-zero exact sum whose mean underflows keeps the sum's sign
                zi = np.flatnonzero(zero)
                sums, _ = exact_sum_lanes(Xf[zi])
                nz = sums != 0.0
                vals[zi[nz]] = np.copysign(0.0, sums[nz])
        for j in np.flatnonzero(big):  # near the float64 range: the core function
            row = Xf[j] if kf is None else Xf[j][kf[j]]
            vals[j] = _core_lane(kind, row, mode)
        res[idx] = vals
    return res, wbot, rem


def exact_sum_lanes(X: np.ndarray, divisor: Optional[np.ndarray] = None) -> tuple:
    """Exactly rounded row sums of a finite 2-D float array (or exactly rounded ``sum/divisor``).

    Returns ``(values, big)``: ``big`` marks rows too close to the float64 range for the
    extraction (``2·n·max|x| ≥ 2**1020``); their values are placeholders (0.0). Exact zero sums
    come back as ``+0.0``.

    >>> import numpy as np
    >>> exact_sum_lanes(np.array([[1e16, 1.0, -1e16, 1e-300]]))[0].tolist()
    [1.0]
    """
    return _exact_sum_lanes(X, divisor, False)[:2]


def _exact_sum_lanes(X: np.ndarray, divisor: Optional[np.ndarray], want_rem: bool) -> tuple:
    """:func:`exact_sum_lanes` plus, when ``want_rem``, the sign of ``exact − value`` per row
    (int8; else None). The signs need magnitudes well inside the float64 range (Dekker's
    product of a mean by its count), as float32 data always are."""
    X = np.asarray(X, dtype=np.float64)
    L, n = X.shape
    big = np.zeros(L, dtype=bool)
    rem = np.zeros(L, dtype=np.int8) if want_rem else None
    if n == 0 or L == 0:
        return np.zeros(L), big, rem
    shift = (2 * n).bit_length()
    seen = np.zeros(L, dtype=np.int64)  # τ values found so far per lane
    t1 = np.zeros(L)
    t2 = np.zeros(L)
    extra: dict[int, list[float]] = {}
    rows = np.arange(L)
    P = X
    first = True
    with np.errstate(all="ignore"):
        while True:
            m = np.max(np.abs(P), axis=1, initial=0.0)
            live = m > 0
            if not live.all():
                P, m, rows = P[live], m[live], rows[live]
            if not rows.size:
                break
            e = np.frexp(m)[1] + shift  # σ = 2**e > 2·n·max|x|
            if first:
                hot = e >= _BIG_EXP
                if hot.any():
                    big[rows[hot]] = True
                    P, e, rows = P[~hot], e[~hot], rows[~hot]
                    if not rows.size:
                        break
                first = False
            sig = np.ldexp(1.0, e)[:, None]
            Q = P + sig
            Q -= sig  # exact (Sterbenz); Q is on the grid 2**(e-53)
            tau = Q.sum(axis=1)  # exact: |Σq| < σ and every partial sum is on the grid
            s = seen[rows]
            t1[rows[s == 0]] = tau[s == 0]
            t2[rows[s == 1]] = tau[s == 1]
            for i, v in zip(rows[s >= 2].tolist(), tau[s >= 2].tolist()):
                extra.setdefault(i, []).append(v)
            seen[rows] += 1
            P = P - Q  # exact remainders
            if P.shape[0] == 1 and P.shape[1] > 64:  # one long lane: drop the finished terms
                nz = P[0] != 0
                if 2 * np.count_nonzero(nz) < P.shape[1]:
                    P = P[:, nz]
        if divisor is None:
            out = t1 + t2  # exact sum = τ1 + τ2 (+ extra): one IEEE addition rounds it correctly
            slow = seen > 2
        else:
            out = t1 / divisor  # one IEEE division of the exact sum
            slow = seen > 1
        if want_rem:  # needed only where the result is a float32 midpoint (see reduce_codes)
            m = np.flatnonzero(_f32_midpoints(out) & ~slow)
            if m.size:
                a, b, o = t1[m], t2[m], out[m]
                if divisor is None:  # the addition's exact error (Knuth's two-sum)
                    bb = o - a
                    rem[m] = np.sign((a - (o - bb)) + (b - bb))
                else:  # a − o·d exactly: p = fl(o·d) is within 2 ulps of a, so a − p is exact
                    d = np.asarray(divisor, dtype=np.float64)[m]  # (Sterbenz), Dekker gives
                    p = o * d  # o·d − p, and the rounded difference keeps the sign
                    rem[m] = np.sign((a - p) - _two_prod_err(o, d, p))
    exact = {}
    for i in np.flatnonzero(slow).tolist():
        terms = [float(t1[i]), float(t2[i])] + extra.get(i, [])
        tot = 0
        for v in terms:
            p, q = v.as_integer_ratio()
            tot += p << (1075 - q.bit_length())  # units of 2**-1074
        den = 1 << 1074
        if divisor is not None:
            den *= int(divisor[i])
        out[i] = tot / den
        if want_rem:
            exact[i] = (tot, den)
    if exact:  # the sign is needed only where the result is a float32 midpoint (rare)
        idx = np.fromiter(exact, dtype=np.intp, count=len(exact))
        rem[idx] = 0
        for i in idx[_f32_midpoints(out[idx])].tolist():
            tot, den = exact[i]
            p, q = float(out[i]).as_integer_ratio()
            diff = tot * q - p * den
            rem[i] = (diff > 0) - (diff < 0)
    out[big] = 0.0
    if want_rem:
        rem[big] = 0
    return out, big, rem


_U = 2.0 ** -53
_SPLIT = 134217729.0  # 2**27 + 1 (Dekker)


def _two_prod_err(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The exact error ``a·b − fl(a·b)`` (Dekker/Veltkamp splitting; no overflow in the split,
    |a|, |b| < 2**995, and no underflow in the partial products)."""
    c = _SPLIT * a
    ah = c - (c - a)
    al = a - ah
    c = _SPLIT * b
    bh = c - (c - b)
    bl = b - bh
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _prod(X: np.ndarray, keep: Optional[np.ndarray], wheel: bool, mode: ReductionMode,
          f32: bool = False) -> tuple:
    """Product of lanes without ⊥ (and without Φ in STRICT mode); ``(values, wheel ⊥ lanes,
    signs of exact − value)``, the signs only for ``f32`` lanes (else None)."""
    L, n = X.shape
    Xf = X if keep is None else np.where(keep, X, 1.0)
    negative = (np.count_nonzero(np.signbit(Xf), axis=1) & 1).astype(bool)
    has_zero = (Xf == 0).any(axis=1)
    has_inf = np.isinf(Xf).any(axis=1)
    res = np.where(has_inf, np.inf, 0.0)
    res[has_inf & has_zero] = np.nan  # 0 × ∞
    wbot = (has_inf & has_zero) if wheel else None
    rest = np.flatnonzero(~has_inf & ~has_zero)
    rem = None
    if rest.size:
        mag = _exact_prod_certified(np.abs(Xf[rest]))
        for j in np.flatnonzero(np.isnan(mag)):  # not certified: the core function (exact)
            row = Xf[rest[j]] if keep is None else Xf[rest[j]][keep[rest[j]]]
            mag[j] = abs(_core_lane("prod", row, mode))
        res[rest] = mag
        if f32:  # a float32 midpoint (rare): the exact product decides which way it rounds
            mid = _f32_midpoints(mag) & (mag < 2.0 ** 128)  # (at or past 2**128: +∞ anyway)
            for j in np.flatnonzero(mid):
                row = Xf[rest[j]] if keep is None else Xf[rest[j]][keep[rest[j]]]
                num, den = _core.exact_ratio("prod", row.tolist())
                p, q = float(mag[j]).as_integer_ratio()
                diff = abs(num) * q - p * den
                if diff:
                    if rem is None:
                        rem = np.zeros(L, dtype=np.int8)
                    s = 1 if diff > 0 else -1
                    rem[rest[j]] = -s if negative[rest[j]] else s
    return np.where(negative, -res, res), wbot, rem


def _exact_prod_certified(Y: np.ndarray) -> np.ndarray:
    """Correctly rounded row products of positive finite floats; NaN where not certified."""
    m, e = np.frexp(Y)
    h, lo, E = m, np.zeros_like(m), e.astype(np.int64)
    n = Y.shape[1]
    while h.shape[1] > 1:
        if h.shape[1] & 1:  # pad with the exact 1 = 0.5 · 2**1
            pad = np.full((h.shape[0], 1), 0.5)
            h = np.concatenate([h, pad], axis=1)
            lo = np.concatenate([lo, np.zeros_like(pad)], axis=1)
            E = np.concatenate([E, np.ones(pad.shape, dtype=np.int64)], axis=1)
        a, b = h[:, 0::2], h[:, 1::2]
        p = a * b
        err = _two_prod_err(a, b, p) + (a * lo[:, 1::2] + lo[:, 0::2] * b)
        s = p + err
        err = err - (s - p)  # fast two-sum (|p| ≥ |err|): s + err == p + err exactly
        fm, fe = np.frexp(s)
        h, lo, E = fm, np.ldexp(err, -fe), E[:, 0::2] + E[:, 1::2] + fe
    h, lo, E = h[:, 0], lo[:, 0], E[:, 0]
    # relative error of the double-double product ≤ ~6·u² per multiplication; be generous
    delta = 2.0 * (16.0 * n * _U * _U * h) + 2.0 * _U * np.abs(lo)
    r1 = h + (lo - delta)
    r2 = h + (lo + delta)
    with np.errstate(all="ignore"):
        val = np.ldexp(r1, np.clip(E, -4000, 4000))  # E ≥ 1025 overflows to inf, as it should
    # the exact value lies in [2**(E-1), 2**E): E ≤ -1075 rounds to zero whatever the mantissa;
    # results in the subnormal band round at another bit position and are not certified here
    underflow = E <= -1075
    ok = ((r1 == r2) & (val >= 2.0 ** -1022)) | underflow
    return np.where(underflow, 0.0, np.where(ok, val, np.nan))


def _extreme(kind: str, X: np.ndarray, keep: Optional[np.ndarray]) -> np.ndarray:
    """Min or max of lanes without ⊥ (and without Φ in STRICT mode); the first occurrence wins."""
    if kind == "max":
        Xf = X if keep is None else np.where(keep, X, -np.inf)
        i = np.argmax(Xf, axis=1)
    else:
        Xf = X if keep is None else np.where(keep, X, np.inf)
        i = np.argmin(Xf, axis=1)
    return np.take_along_axis(Xf, i[:, None], axis=1)[:, 0].astype(np.float64)
