"""Float32 audit: IEEE casts never raise (SPEC §3/§8, also under ``np.seterr(all="raise")``),
float32 reductions are rounded once (SPEC §3 "exactly rounded"), signalling NaNs are quieted
on import."""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import GradientMode, gradient_mode
from zeroproof.core import wheel_mode


# -- IEEE events never escape: a sweep under np.errstate(all="raise") ----------------------------

def _cast(x: np.ndarray, dt: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        return x.astype(dt)


def _specials(dt: Any) -> np.ndarray:
    """Zeros, ordinary values, the smallest normal and subnormal, the largest finite values,
    values far outside float32's range (for float64), ±∞ and NaN."""
    fi = np.finfo(dt)
    tiny = [1e-30, 3e-45] if dt == np.float32 else [1e-300, 5e-324]
    v = [0.0, -0.0, 1.0, -2.5, float(fi.tiny), float(fi.smallest_subnormal),
         -float(fi.smallest_subnormal), float(fi.max), -float(fi.max), float(fi.max) / 2,
         *tiny, np.inf, -np.inf, np.nan, 0.1, 1e20, -1e-20]
    return np.array(v, dt)


def _canon(r: Any) -> Any:
    """A comparable form of a result: arrays by dtype and bits, containers element by element."""
    if isinstance(r, za.TRArray):
        return ("TRArray", r.dtype.str, r.shape, r.codes.tobytes(), _canon(r.bottom))
    if isinstance(r, za.TRTensor):
        return _canon(r.value)
    if isinstance(r, np.ndarray):
        return ("ndarray", r.dtype.str, r.shape, r.tobytes())
    if isinstance(r, (list, tuple)):
        return tuple(_canon(x) for x in r)
    if isinstance(r, dict):
        return tuple((k, _canon(v)) for k, v in r.items())
    return repr(r)


def _sweep() -> list:
    """Run a broad set of array, tape and scalar operations on float32 and float64 data with
    tiny, huge, subnormal and special values; returns ``(name, result or exception)`` pairs."""
    out: list = []

    def rec(name: str, f: Callable[[], Any]) -> None:
        try:
            out.append((name, _canon(f())))
        except FloatingPointError as e:  # what the test is about: recorded, then reported
            out.append((name, f"FloatingPointError: {e}"))
        except (TypeError, ValueError) as e:  # ordinary refusals must match between the runs
            out.append((name, f"{type(e).__name__}: {e}"))

    for dt in (np.float32, np.float64):
        d = _specials(dt)
        n = np.dtype(dt).name
        a = za.array(d)
        k = len(d)
        A = za.array(np.repeat(d, k))
        B = za.array(np.tile(d, k))
        M = A.reshape(k, k)
        finite = d[np.isfinite(d)]
        for op in ("add", "sub", "mul", "div"):
            f = getattr(za, op)
            rec(f"{n} {op}", lambda: f(A, B))
            for s in (1e-300, 1e300, 1e-40, 3e38, 0.1, 5e-324, 2.0):
                rec(f"{n} {op} {s}", lambda: (f(a, s), f(s, a), f(a, zp.real(s))))
            rec(f"{n} {op} mixed", lambda: (f(a, _cast(d, np.float64)[::-1]),
                                            f(a, _cast(d, np.float32)[::-1]),
                                            f(a, np.float32(1e-30))))
        for op in ("neg", "abs", "sign", "log", "exp", "sqrt", "relu", "sin", "cos", "tanh"):
            rec(f"{n} {op}", lambda: (getattr(za, op)(a), getattr(za, op)(a * 100.0)))
        rec(f"{n} pow_int", lambda: [za.pow_int(a, p) for p in (-40, -7, -2, -1, 0, 1, 2, 3, 40)])
        tiny = za.array(np.array([1e-30, 1e-15, 3e-45, 0.0, 0.0], dt))
        for kind in ("sum", "mean", "prod", "min", "max"):
            f = getattr(za, kind)
            for mode in ("strict", "drop_null"):
                rec(f"{n} {kind} {mode}", lambda: (f(a, mode=mode), f(M, axis=1, mode=mode),
                                                   f(M, axis=0, mode=mode)))
                with wheel_mode():
                    rec(f"{n} {kind} {mode} wheel", lambda: f(M, axis=1, mode=mode))
            rec(f"{n} {kind} finite", lambda: (f(za.array(finite)), f(tiny), f(tiny[2:]),
                                               getattr(zp, "tr_" + kind)(za.array(finite))))
        rec(f"{n} matmul", lambda: (M @ B.reshape(k, k), M @ a,
                                    za.array(np.where(np.isfinite(M.codes), M.codes, 1.0)) @ a))
        for dt2 in (np.float32, np.float64):
            d2 = _cast(d, dt2)
            rec(f"{n} to {np.dtype(dt2).name}", lambda: (
                a.astype(dt2), za.array(d, dtype=dt2), za.array(d.tolist(), dtype=dt2),
                za.array([zp.from_ieee(float(v)) for v in d], dtype=dt2),
                [za.full(2, float(v), dtype=dt2) for v in finite],
                za.concatenate([a, za.array(d2)]), za.stack([a, za.array(d2)])))
        rec(f"{n} compare", lambda: (a == a, a < 1e-300, a > 1e-40, a == 1e-300, a <= a[::-1],
                                     a != 2 ** 200, a == zp.real(1e-300)))
        rec(f"{n} read", lambda: (repr(a), a.tag_counts(), a.values, a.tags, [a[i] for i in
                                  range(k)], [float(x) for x in a], [f"{x:.3g}" for x in a]))
        rec(f"{n} where/bridge/ufunc", lambda: (
            za.where(d > 0, a, za.array(d[::-1])), zp.bridge.from_numpy(d),
            zp.bridge.to_numpy(*zp.bridge.from_numpy(d)), np.add(d, a), np.multiply(a, 1e-300)))

        def tape(mode: GradientMode) -> Any:
            with gradient_mode(mode):
                w = za.parameter(d)
                y = (w * 1e-30 + w * w / (w - 1e-40) + za.tape.exp(w) * 1e-300 + w ** -3
                     + za.tape.log(abs(w)) + za.tape.sqrt(w))
                y.backward(np.ones(d.shape, dt))
                w2 = za.parameter(finite)
                s = (w2 * w2).sum() + (w2 * 1e-30).mean() + w2.sum(exact=False) \
                    + w2.mean(exact=False)
                s.backward()
                gg = za.grad((w2 * w2 * 1e-300).sum(), [w2])
                W = za.parameter(np.where(np.isfinite(M.codes), M.codes, 0.5))
                (W @ W).sum().backward()
                c = za.constant(np.resize([1e-300, 1e300, 1e-40, 3e38], k))  # float64
                z = w * c + w / c
                z.backward(np.ones(k))
                gz = za.grad((w * c).sum(), [w])
                w.set_value(np.resize([1e-300, 1e300, -1e-40, 5e-324], k))  # float64 values
                return y, w.gradient, s, w2.gradient, gg, W.gradient, z, gz, w.value

        for mode in (GradientMode.MASK_REAL, GradientMode.SATURATING):
            rec(f"{n} tape {mode}", lambda: tape(mode))
        sc = [zp.from_ieee(float(v)) for v in d]
        rec(f"{n} scalar ops", lambda: [[zp.tr_add(x, y), zp.tr_mul(x, y), zp.tr_div(x, y)]
                                        for x in sc for y in sc])
        rec(f"{n} scalar unary", lambda: [[zp.tr_log(x), zp.tr_exp(x), zp.tr_sqrt(x),
                                           zp.tr_pow_int(x, 7), zp.tr_pow_int(x, -7),
                                           zp.tr_sin(x), zp.tr_cos(x), zp.tr_tanh(x),
                                           zp.tr_relu(x)] for x in sc])
        rec(f"{n} scalar reductions", lambda: (
            zp.tr_sum(sc), zp.tr_mean(sc, "drop_null"), zp.tr_prod(sc[:4]),
            zp.tr_prod([zp.real(float(v)) for v in finite if v != 0]),
            zp.tr_sum([np.float32(1e-45), 1e-300])))

        def losses() -> Any:
            from zeroproof.losses import margin_loss
            Q = za.parameter(np.abs(finite))
            return [margin_loss(Q, za.constant(np.ones(Q.shape, dt)), tau_train=t)
                    for t in (1e-300, 1e300, (1e-300, 1e-299), (1e299, 1e300))]

        def inference() -> Any:
            from zeroproof.inference import InferenceConfig, strict_inference
            from zeroproof.inference.mode import _threshold_in
            from zeroproof.metrics import tau_infer_sweep_from_q_abs
            q = np.abs(finite)
            return ([strict_inference(d, d[::-1], InferenceConfig(tau_infer=t, tau_train=t2))
                     for t, t2 in ((1e-300, 1e-299), (1e300, 1e301), (1e-45, 1e-44))],
                    [_threshold_in(np.dtype(dt), np.float64(t)) for t in (1e-300, 1e300)],
                    tau_infer_sweep_from_q_abs(q, q > 1, np.array([0.0, 1e-300, 1e-40, 1e300])))

        def reference_model() -> Any:
            from zeroproof.inference.reference_models import PolynomialRationalHead
            m = PolynomialRationalHead(1, dtype="float32")
            m.load_state_dict({"numerator": np.resize([1e-300, 1e300, -1e-45], m.numerator.shape),
                               "denominator": np.resize([1.0, 1e-300], m.denominator.shape)})
            return m.numerator, m.denominator

        def optimizers() -> Any:
            from zeroproof.training.optim import SGD, Adam
            res = []
            for opt_cls in (SGD, Adam):
                w = za.parameter(finite)
                opt = opt_cls([w], lr=1e-30)
                (w * w * 1e-30).sum().backward()
                opt.step()
                res.append(w.value)
            return res

        def projective() -> Any:
            from zeroproof.autodiff import projective as P
            return P.encode(za.constant(d)), P.renormalize(za.constant(d), za.constant(d[::-1]))

        rec(f"{n} losses", losses)
        rec(f"{n} inference", inference)
        rec(f"{n} optimizers", optimizers)
        rec(f"{n} reference model", reference_model)
        rec(f"{n} projective", projective)
    return out


def test_no_ieee_event_escapes_float32_or_float64_arithmetic():
    # SPEC §3/§8: arithmetic on transreal values never raises. NumPy's casts to float32 raise
    # the underflow/overflow/invalid flags, which np.seterr(all="raise") turns into
    # FloatingPointError (and the default into a RuntimeWarning); every cast in zeroproof is an
    # IEEE rounding (±∞ beyond the range, ±0 or a subnormal below it), silently.
    with np.errstate(all="ignore"):
        quiet = _sweep()
    with np.errstate(all="raise"):
        loud = _sweep()
    with np.errstate(all="warn"), warnings.catch_warnings():
        warnings.simplefilter("error")
        warned = _sweep()
    assert len(quiet) == len(loud) == len(warned) > 100
    for (name, q), (_, r), (_, w) in zip(quiet, loud, warned):
        assert not (isinstance(r, str) and r.startswith("FloatingPointError")), (name, r)
        assert r == q, name
        assert w == q, name


@pytest.mark.parametrize("call", [
    lambda: za.prod(za.array(np.array([1e-30, 1e-15], np.float32))),
    lambda: za.mean(za.array(np.array([3e-45, 0, 0], np.float32))),
    lambda: za.array([1e-40], dtype=np.float32),
    lambda: za.array([1e-300]).astype(np.float32),
    lambda: za.full(3, 1e-300, dtype=np.float32),
])
def test_reported_casts_are_silent_under_seterr_raise(call):
    old = np.seterr(all="raise")
    try:
        got = call()
    finally:
        np.seterr(**old)
    with np.errstate(all="ignore"):
        want = call()
    assert _canon(got) == _canon(want)


def test_cast_values_are_ieee_roundings():
    x = za.array([1e-40, 1e-300, -1e-300, 1e300, -1e300, 2.0 ** -149, 2.0 ** -150, 3 * 2.0 ** -151])
    with np.errstate(all="raise"):
        y = x.astype(np.float32)
    assert y.codes.tolist() == [float(np.float32(1e-40)), 0.0, -0.0, np.inf, -np.inf,
                                2.0 ** -149, 0.0, 2.0 ** -149]
    assert np.signbit(y.codes[2])
    assert y.tags.tolist() == [0, 0, 0, 1, 2, 0, 0, 0]


# -- signalling NaNs are stored quiet ------------------------------------------------------------

def _snan32(values=(1.0, np.nan, -2.0), bits=0x7FA00000) -> np.ndarray:
    s = np.array(values, np.float32)
    s.view(np.uint32)[np.isnan(s)] = bits
    return s


@pytest.mark.parametrize("bits", [0x7FA00000, 0xFF800001, 0x7F800002])
def test_float32_signalling_nans_are_quieted_on_import(bits):
    s = _snan32(bits=bits)
    assert (s.view(np.uint32)[1] & 0x00400000) == 0  # signalling: the quiet bit is clear
    for a in (za.array(s), za.TRArray(s), za.from_numpy(s), za.array([s])[0],
              za.constant(s).value, za.parameter(s).value, za.constant(s[1]).value):
        codes = np.atleast_1d(a.codes)
        nan = np.isnan(codes)
        assert nan.any() and (codes.view(np.uint32)[nan] & 0x00400000).all()
        assert a.dtype == np.float32 and (np.atleast_1d(a.tags)[nan] == 3).all()
    w = za.parameter(np.zeros(3, np.float32))
    w.set_value(s)
    assert (w.codes.view(np.uint32)[1] & 0x00400000) != 0


def test_a_signalling_nan_never_warns_later():
    # It used to stay in the codes and raise NumPy's invalid flag at every float64 widening
    # (reductions, repr, comparisons): a RuntimeWarning, or FloatingPointError under seterr.
    s = _snan32()
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        a = za.array(s)
        assert a.sum() == zp.phi() and a.sum(mode="drop_null") == zp.real(-1.0)
        assert za.mean(a, mode="drop_null") == zp.real(-0.5) and za.max(a) == zp.phi()
        assert repr(a) == "TRArray([1.0, Φ, -2.0], dtype=float32)"
        assert (a == a).tolist() == [True, True, True]
        assert (a == s).tolist() == [True, True, True]   # a NumPy operand holding one, too
        assert (a < s).tolist() == [False, False, False]
        assert (za.pow_int(a, 3) == s).tolist() == [True, True, False]
        assert a.astype(np.float64).tags.tolist() == [0, 3, 0]
        t = za.parameter(s)
        (t * t).sum().backward()
        assert za.sum(t).value == zp.phi() and t.gradient.tags.tolist() == [0, 0, 0]


# -- float32 reductions are rounded once from the exact result -----------------------------------

from fractions import Fraction  # noqa: E402

from hypothesis import example, given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from zeroproof.array.reductions import reduce_codes  # noqa: E402
from zeroproof.core import reductions as CR  # noqa: E402

F32_MAX = float(np.finfo(np.float32).max)
_OVERFLOW = Fraction(2) ** 128 - Fraction(2) ** 103  # halfway from F32_MAX to 2**128: rounds up


def _f32_nearest(x: Fraction) -> float:
    """The float32 nearest ``x`` (ties to even, ±inf from the overflow threshold on), found by
    comparing exact distances to the float32 neighbours of a first guess (independent of the
    library's midpoint test)."""
    if abs(x) >= _OVERFLOW:
        return math.copysign(math.inf, x)
    with np.errstate(all="ignore"):
        c = np.float32(float(x))
        cands = {float(c), float(np.nextafter(c, np.float32(np.inf))),
                 float(np.nextafter(c, np.float32(-np.inf)))}
    cands = [v for v in cands if math.isfinite(v)]

    def key(v: float) -> tuple:
        odd = int(np.array(v, np.float32).view(np.uint32)) & 1
        return abs(Fraction(v) - x), odd

    best = min(cands, key=key)
    return math.copysign(best, x) if best == 0 else best  # an underflow keeps the sign of x


def _want_f32(kind: str, lane: list, mode: str) -> float:
    """The float32 lane result SPEC §3 asks for: the core function's tag (Φ, ±∞, the sign of an
    exact zero), and for a non-zero REAL result the exact value rounded once to float32."""
    core = {"sum": CR.sum_codes, "mean": CR.mean_codes, "prod": CR.prod_codes}[kind](lane, mode)
    kept = [v for v in lane if v == v]
    if not kept or core != core or math.isinf(core) and any(math.isinf(v) for v in kept):
        return core  # empty, Φ, or ±∞ from an infinite entry
    num, den = CR.exact_ratio(kind, kept)
    if num == 0:
        return core  # the core's signed zero
    return _f32_nearest(Fraction(num, den))


def _same(got: float, want: float) -> bool:
    if want != want:
        return got != got
    return got == want and math.copysign(1.0, got) == math.copysign(1.0, want)


_ULP = [2.0 ** -k for k in (22, 23, 24, 25, 40, 60, 100, 126, 140, 149, 150)]
f32_element = st.one_of(
    st.floats(width=32),                                               # anything, ±inf/NaN included
    st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-4.0, max_value=4.0),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1.5, 3.0, F32_MAX, -F32_MAX, 2.0 ** 103,
                     2.0 ** -149, -2.0 ** -149, 2.0 ** -126] + _ULP + [-u for u in _ULP]),
    # small odd multiples of powers of two: sums and products that land on float32 midpoints
    st.builds(lambda m, e: math.ldexp(m, e), st.integers(-(2 ** 24), 2 ** 24),
              st.integers(-170, 100)).map(lambda v: float(np.float32(v)) if abs(v) < 3e38 else 1.0),
    st.builds(lambda e, s: s * (1.0 + math.ldexp(1.0, -e)), st.integers(1, 23),
              st.sampled_from([1.0, -1.0])),
)


@st.composite
def f32_matrices(draw):
    shape = (draw(st.integers(1, 5)), draw(st.integers(0, 6)))
    return draw(hnp.arrays(np.float32, shape, elements=f32_element))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(X=f32_matrices(), kind=st.sampled_from(["sum", "mean", "prod"]),
       axis=st.sampled_from([None, 0, 1]), mode=st.sampled_from(["strict", "drop_null"]))
@example(X=np.array([[1.0, 2.0 ** -24, 2.0 ** -60]], np.float32), kind="sum", axis=1, mode="strict")
@example(X=np.array([[1 + 2.0 ** -23, 1 - 2.0 ** -24, 1 + 2.0 ** -23]], np.float32), kind="prod",
         axis=1, mode="strict")
def test_float32_reductions_are_the_exact_result_rounded_once(X, kind, axis, mode):
    res, bot = reduce_codes(kind, X, None, axis=axis, mode=mode)
    assert res.dtype == np.float32 and bot is None
    lanes = {None: [X.ravel()], 0: list(X.T), 1: list(X)}[axis]
    for got, lane in zip(res.ravel().tolist(), lanes):
        want = _want_f32(kind, [float(v) for v in lane], mode)
        assert _same(got, want), (kind, mode, lane.tolist(), got, want)


def _f(*v: float) -> za.TRArray:
    return za.array(np.array(v, np.float32))


@pytest.mark.parametrize("kind, values, want", [
    # the float64 result is a float32 midpoint; the dropped remainder says which way
    ("sum", (1.0, 2.0 ** -24, 2.0 ** -60), 1 + 2.0 ** -23),
    ("sum", (-1.0, -(2.0 ** -24), -(2.0 ** -60)), -(1 + 2.0 ** -23)),
    ("sum", (1.0, 2.0 ** -24, -(2.0 ** -60)), 1.0),
    ("mean", (1.0, 2.0 ** -24, 2.0 ** -60, 0.0), 0.25 * (1 + 2.0 ** -23)),
    ("mean", (3.0, 3 * 2.0 ** -24, 3 * 2.0 ** -60), 1 + 2.0 ** -23),
    ("prod", (1 + 2.0 ** -23, 1 - 2.0 ** -24, 1 + 2.0 ** -23), 1 + 2.0 ** -23),
    ("prod", (-(1 + 2.0 ** -23), 1 - 2.0 ** -24, 1 + 2.0 ** -23), -(1 + 2.0 ** -23)),
    # true ties round to even
    ("sum", (1.0, 2.0 ** -24), 1.0),
    ("sum", (1 + 2.0 ** -23, 2.0 ** -24), 1 + 2.0 ** -22),
    ("mean", (2.0 ** -149, 0.0), 0.0),
    ("mean", (3 * 2.0 ** -149, 0.0), 2.0 ** -148),
    ("prod", (2.0 ** -75, 2.0 ** -75), 0.0),
    ("prod", (2.0 ** -75, 2.0 ** -75 * (1 + 2.0 ** -23)), 2.0 ** -149),
    # the overflow threshold 2**128 − 2**103 is a midpoint too
    ("sum", (F32_MAX, 2.0 ** 103), math.inf),
    ("sum", (F32_MAX, 2.0 ** 103, -(2.0 ** -60)), F32_MAX),
    ("sum", (-F32_MAX, -(2.0 ** 103), 2.0 ** -60), -F32_MAX),
])
def test_float32_midpoints_round_by_the_remainder(kind, values, want):
    got = getattr(za, kind)(_f(*values))
    assert float(got) == want and math.copysign(1.0, float(got)) == math.copysign(1.0, want)
    assert _same(want, _want_f32(kind, list(values), "strict"))  # (the oracle agrees)


def test_float32_reductions_agree_across_entry_points():
    # za.sum, the method, zp.tr_sum, np.sum, axis reductions and the batched tape's exact sum
    # are one reduction: the same float32 bits.
    x = np.array([[1.0, 2.0 ** -24, 2.0 ** -60], [3.0, 3 * 2.0 ** -24, 3 * 2.0 ** -60]],
                 np.float32)
    a = za.array(x)
    for kind, i in (("sum", 0), ("mean", 1)):  # lane i's float64 result is a float32 midpoint
        row = getattr(za, kind)(a, axis=1)
        assert row.dtype == np.float32
        assert row.codes.tolist() == [float(getattr(za, kind)(a[j])) for j in range(2)]
        assert getattr(a[i], kind)() == getattr(zp, "tr_" + kind)(a[i]) == \
            getattr(np, kind)(a[i]) == zp.real(float(np.float32(1 + 2.0 ** -23)))
        assert getattr(za, kind)(a.T, axis=0).codes.tolist() == row.codes.tolist()
        t = za.parameter(x)
        assert getattr(t, kind)(axis=1).value.codes.tolist() == row.codes.tolist()
        assert getattr(zp, "tr_" + kind)(t[i]).value == getattr(za, kind)(a[i])
    assert float(za.prod(za.array(np.array([1 + 2.0 ** -23, 1 - 2.0 ** -24, 1 + 2.0 ** -23],
                                           np.float32)))) == float(np.float32(1 + 2.0 ** -23))
