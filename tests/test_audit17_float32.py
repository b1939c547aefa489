"""Float32 audit: IEEE casts never raise (SPEC §3/§8, also under ``np.seterr(all="raise")``),
float32 reductions are rounded once (SPEC §3 "exactly rounded"), signalling NaNs are quieted
on import."""
from __future__ import annotations

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
