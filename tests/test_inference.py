"""Strict decoder, helpers, wrapper, monitor and operating points (zeroproof.inference)."""
import math

import numpy as np
import pytest

from zeroproof.inference import (
    OPERATING_POINTS, InferenceConfig, SCMInferenceWrapper, StrictInferenceMonitor,
    decode_strict_censored_3way, get_operating_point, reject_on_bottom, reject_on_gap,
    safe_sentinel, strict_inference,
)
from zeroproof.inference import mode as mode_module


# -- InferenceConfig ----------------------------------------------------------------------

def test_config_defaults_and_mode_module_exports():
    cfg = InferenceConfig()
    assert cfg.tau_infer == 1e-6 and cfg.tau_train is None
    assert mode_module.strict_inference is strict_inference
    assert mode_module.InferenceConfig is InferenceConfig


@pytest.mark.parametrize("kwargs, word", [
    ({"tau_infer": -1}, "tau_infer"),
    ({"tau_infer": float("nan")}, "tau_infer"),
    ({"tau_infer": float("inf")}, "tau_infer"),
    ({"tau_infer": 1e-3, "tau_train": 1e-4}, "tau_train"),
    ({"tau_infer": 1e-6, "tau_train": float("nan")}, "tau_train"),
    ({"tau_infer": 1e-6, "tau_train": -2.0}, "tau_train"),
])
def test_config_bad_values(kwargs, word):
    with pytest.raises(ValueError, match=word) as info:
        InferenceConfig(**kwargs)
    assert "got" in str(info.value)


@pytest.mark.parametrize("bad", ["1e-6", None, True, 1j, [1e-6]])
def test_config_bad_types(bad):
    with pytest.raises(TypeError, match="tau_infer"):
        InferenceConfig(tau_infer=bad)


def test_config_equal_thresholds_and_roundtrip():
    cfg = InferenceConfig(tau_infer=0, tau_train=0)
    assert cfg.tau_infer == 0.0 and isinstance(cfg.tau_infer, float)
    assert InferenceConfig.from_dict(InferenceConfig(1e-5, 1e-3).to_dict()) == InferenceConfig(
        1e-5, 1e-3)


# -- strict_inference ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masks_exact_at_tau_boundaries(dtype):
    t_inf, t_tr = 1e-4, 1e-2
    ti, tt = dtype(t_inf), dtype(t_tr)
    below_inf = np.nextafter(ti, dtype(0))
    below_tr = np.nextafter(tt, dtype(0))
    Q = np.array([ti, -ti, below_inf, -below_inf, tt, -tt, below_tr, 1.0, 0.0, -0.0],
                 dtype=dtype)
    P = np.ones_like(Q)
    d, b, g = strict_inference(P, Q, InferenceConfig(t_inf, t_tr))
    assert d.dtype == dtype and b.dtype == bool and g.dtype == bool
    assert b.tolist() == [False, False, True, True, False, False, False, False, True, True]
    assert g.tolist() == [True, True, False, False, False, False, True, False, False, False]
    assert np.isnan(d[b]).all()
    with np.errstate(divide="ignore"):
        assert np.array_equal(d[~b], (P / Q)[~b])


def test_nonfinite_quotients_are_bottom_and_masks_disjoint():
    P = np.array([np.inf, np.nan, 1.0, 1e308, 1.0, 0.0, np.inf])
    Q = np.array([1.0, 1.0, np.nan, 1e-300, np.inf, 5e-3, 5e-3])
    d, b, g = strict_inference(P, Q, InferenceConfig(tau_infer=1e-6, tau_train=1e-2))
    # inf/1, nan/1, 1/nan, overflow -> bottom; 1/inf = 0 is finite; inf in the gap is bottom only
    assert b.tolist() == [True, True, True, True, False, False, True]
    assert g.tolist() == [False, False, False, False, False, True, False]
    assert not np.any(b & g)
    assert d[4] == 0.0 and d[5] == 0.0


def test_tau_zero_only_nonfinite_is_bottom_and_signed_zero_kept():
    d, b, g = strict_inference(np.array([-0.0, 1.0, 1.0]), np.array([2.0, 0.0, 1e-300]),
                               InferenceConfig(tau_infer=0.0))
    assert b.tolist() == [False, True, False]
    assert math.copysign(1.0, d[0]) == -1.0
    assert not g.any()


def test_array_likes_ints_shapes_and_no_mutation():
    P = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    Q = np.full((2, 3, 4), 2.0)
    Q[0, 0, 0] = 0.0
    P0, Q0 = P.copy(), Q.copy()
    d, b, g = strict_inference(P, Q)
    assert d.shape == b.shape == g.shape == (2, 3, 4)
    assert np.array_equal(P, P0) and np.array_equal(Q, Q0)
    d2, b2, _ = strict_inference([1, 2], [2, 0])
    assert d2.dtype == np.float64 and d2[0] == 0.5 and b2.tolist() == [False, True]
    d3, b3, _ = strict_inference(3.0, 0.0)
    assert d3.shape == () and bool(b3)


def _reference_decode(P, Q, tau_infer, tau_train):
    """The rules of SPEC §6 written the obvious way, one full-array pass each."""
    aq = np.abs(Q)
    with np.errstate(all="ignore"):
        ref = P / Q
    bottom = (aq < tau_infer) | ~np.isfinite(ref)
    gap = (aq >= tau_infer) & (aq < tau_train) & ~bottom
    return np.where(bottom, np.nan, ref), bottom, gap


def _mixed_inputs(n, seed):
    """Normal values plus zeros, tiny denominators, NaN/inf inputs and overflowing quotients."""
    rng = np.random.default_rng(seed)
    P, Q = rng.standard_normal(n), rng.standard_normal(n)
    Q[::997] = 0.0
    Q[5::1009] = 1e-300
    Q[7::4001] = np.nan
    P[11::3001] = np.inf
    P[13::5003] = -np.inf
    P[17::7001] = np.nan
    P[19::2003] = 1e300
    Q[23::6007] = np.inf
    return P, Q


@pytest.mark.parametrize("threads", [None, 1, 2, 3, 8])
def test_large_input_crosses_blocks_and_threads(threads):
    n = mode_module._BLOCK * 2 + 123
    P, Q = _mixed_inputs(n, 1)
    d, b, g = strict_inference(P, Q, InferenceConfig(1e-3, 1e-1), threads=threads)
    ref_d, ref_b, ref_g = _reference_decode(P, Q, 1e-3, 1e-1)
    assert np.array_equal(b, ref_b) and np.array_equal(g, ref_g)
    assert not (b & g).any()
    assert np.array_equal(d, ref_d, equal_nan=True) and np.isnan(d[b]).all()


@pytest.mark.parametrize("where", [0, 7, 8, 4093, mode_module._BLOCK - 1])
@pytest.mark.parametrize("what", ["bottom", "inf_p", "nan_q", "overflow"])
def test_one_special_element_in_a_full_block_is_found(where, what):
    # A block's fix-ups run only when it has a bottom or a non-finite quotient: a single one, at
    # any position of a full block, must be found (whichever thread decodes that block).
    n = mode_module._BLOCK * 2 + 3
    rng = np.random.default_rng(where)
    P, Q = rng.uniform(1, 2, n), rng.uniform(1, 2, n)
    i = mode_module._BLOCK + where  # in the second full block
    if what == "bottom":
        Q[i] = 1e-9
    elif what == "inf_p":
        P[i] = -np.inf
    elif what == "nan_q":
        Q[i] = np.nan
    else:
        P[i], Q[i] = 1e305, 1e-5  # |Q| >= tau_infer, P/Q overflows
    for threads in (1, 2):
        d, b, g = strict_inference(P, Q, InferenceConfig(1e-6, 1e-4), threads=threads)
        assert np.flatnonzero(b).tolist() == [i] and np.isnan(d[i]) and not g.any()
        assert np.isfinite(np.delete(d, i)).all()


def test_block_claims_hand_out_every_block_once():
    from zeroproof.inference.mode import _BlockClaims

    for blocks, threads in ((1, 1), (7, 2), (8, 3), (3, 4), (0, 2)):
        claims = _BlockClaims(blocks, threads)
        got = []
        t = 0
        while True:  # threads take turns, one of them running ahead
            i = claims.take(t % threads)
            if i < 0:
                break
            got.append(i)
            t += 1 if t % 3 else 2
        assert sorted(got) == list(range(blocks))
        assert all(claims.take(u) == -1 for u in range(threads))


def test_threaded_decode_is_bit_identical_to_single_thread():
    # Parallel decoding is the default from 2**18 elements on; it must not change one bit,
    # including signed zeros and where the NaNs are.
    n = mode_module._PARALLEL_MIN * 2 + 4097
    P, Q = _mixed_inputs(n, 2)
    P[1::31] = -0.0
    Q[2::37] = -0.0
    for cfg in (InferenceConfig(1e-6), InferenceConfig(1e-3, 1e-2), InferenceConfig(0.0, 0.0)):
        one = strict_inference(P, Q, cfg, threads=1)
        auto = strict_inference(P, Q, cfg)
        two = strict_inference(P.reshape(-1, 1), Q.reshape(-1, 1), cfg, threads=2)
        for x, y, z in zip(one, auto, two):
            assert x.tobytes() == y.tobytes() == z.reshape(x.shape).tobytes()
    with np.errstate(over="ignore"):  # 1e300 does not fit float32: it becomes inf
        P32, Q32 = P.astype(np.float32), Q.astype(np.float32)
    d32, b32, _ = strict_inference(P32, Q32, threads=2)
    assert d32.dtype == np.float32
    ref32 = strict_inference(P32, Q32, threads=1)
    assert d32.tobytes() == ref32[0].tobytes() and np.array_equal(b32, ref32[1])


def test_threads_argument_is_checked():
    P = Q = np.ones(4)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="threads must be a positive int or None"):
            strict_inference(P, Q, threads=bad)
    for bad in (1.5, "2", True):
        with pytest.raises(TypeError, match="threads must be a positive int or None"):
            strict_inference(P, Q, threads=bad)


# Python 3.12+ warns on every fork() of a process that has threads; forking after the decoder's
# threads ran is exactly what this test checks, so the warning is expected here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_decoder_works_in_a_forked_child_after_parallel_use():
    # The worker pool does not survive fork(); the child must start its own, not hang.
    import multiprocessing as mp
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    n = mode_module._PARALLEL_MIN * 2
    P, Q = _mixed_inputs(n, 3)
    expected = strict_inference(P, Q, threads=2)[1].sum()
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_count_bottoms_threaded, (n,)).get(timeout=60)
    assert got == expected


def _count_bottoms_threaded(n):
    P, Q = _mixed_inputs(n, 3)
    return int(strict_inference(P, Q, threads=2)[1].sum())


def test_mixed_precision_promotes():
    d, _, _ = strict_inference(np.ones(3, np.float32), np.ones(3, np.float64))
    assert d.dtype == np.float64


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        strict_inference(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        strict_inference(np.ones((4, 1)), np.ones(4))
    with pytest.raises(TypeError, match="Q"):
        strict_inference(np.ones(2), np.array([1j, 2j]))
    with pytest.raises(TypeError, match="P"):
        strict_inference(np.array([True, False]), np.ones(2))
    with pytest.raises(TypeError, match="P"):
        strict_inference(np.array(["a"]), np.ones(1))
    with pytest.raises(TypeError, match="config"):
        strict_inference(np.ones(2), np.ones(2), config={"tau_infer": 1e-3})


# -- reject / sentinel / 3-way ------------------------------------------------------------

def test_reject_helpers():
    d = np.array([1.0, 2.0, np.nan, 4.0])
    b = np.array([False, False, True, False])
    g = np.array([False, True, False, False])
    d_gap, acc_gap = reject_on_gap(d, b, g)
    assert acc_gap.tolist() == [True, False, False, True]
    assert np.isnan(d_gap[~acc_gap]).all() and d_gap[0] == 1.0
    d_bot, acc_bot = reject_on_bottom(d, b)
    assert acc_bot.tolist() == [True, True, False, True] and d_bot[1] == 2.0
    assert d[1] == 2.0  # input untouched
    s = safe_sentinel(d, ~acc_gap, sentinel=-99.0)
    assert s.tolist() == [1.0, -99.0, -99.0, 4.0]
    with pytest.raises(ValueError, match="sentinel"):
        safe_sentinel(d.astype(np.float32), b, sentinel=1e300)
    with pytest.raises(TypeError, match="sentinel"):
        safe_sentinel(d, b, sentinel="x")
    with pytest.raises(TypeError, match="bottom_mask"):
        reject_on_bottom(d, b.astype(int))
    with pytest.raises(ValueError, match="gap_mask"):
        reject_on_gap(d, b, g[:2])


def test_3way_sign_rule_and_logits():
    P = np.array([2.0, -2.0, 0.0, -0.0, np.nan, 5.0])
    Q = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    d, b, cls = decode_strict_censored_3way(P, Q, tau_infer=1e-6)
    assert cls.tolist() == [2, 0, 0, 0, 0, 1] and cls.dtype == np.int64
    assert b.tolist() == [True] * 5 + [False] and d[5] == 2.5
    logits = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.0, 3.0], [np.nan, 1.0], [9, 0]])
    _, _, cls2 = decode_strict_censored_3way(P, Q, tau_infer=1e-6, direction_logits=logits)
    assert cls2.tolist() == [2, 0, 0, 2, 0, 1]  # tie and NaN logits -> below
    with pytest.raises(ValueError, match=r"direction_logits.*\(6, 2\)"):
        decode_strict_censored_3way(P, Q, tau_infer=1e-6, direction_logits=logits[:, :1])
    with pytest.raises(ValueError, match="tau_infer"):
        decode_strict_censored_3way(P, Q, tau_infer=-1.0)


# -- wrapper ------------------------------------------------------------------------------

class _Model:
    def __init__(self):
        self.w = np.array([1.0, 2.0])
        self.mode_calls = []

    def __call__(self, x):
        return x * self.w[0], x - self.w[1]

    def parameters(self):
        return [self.w]

    def train(self, mode=True):
        self.mode_calls.append(mode)

    def eval(self):
        self.mode_calls.append("eval")


def test_wrapper_modes_and_forwarding():
    m = _Model()
    w = SCMInferenceWrapper(m, InferenceConfig(tau_infer=1e-3, tau_train=0.5))
    assert w.training is True  # like a PyTorch module: training mode until eval()
    P, Q = w(np.array([2.0]))
    assert Q.tolist() == [0.0]
    assert w.eval() is w and not w.training
    d, b, g = w(np.array([2.0, 3.0, 2.2]))
    assert b.tolist() == [True, False, False] and g.tolist() == [False, False, True]
    assert w.train() is w and w.training
    assert m.mode_calls == ["eval", True]
    assert w.parameters()[0] is m.w
    with pytest.raises(AttributeError):
        w.no_such_attribute
    with pytest.raises(TypeError, match="pair"):
        SCMInferenceWrapper(lambda x: x)(np.ones(2))
    with pytest.raises(TypeError, match="model"):
        SCMInferenceWrapper(3)


# -- monitor ------------------------------------------------------------------------------

def test_monitor_merge_equals_concatenation():
    rng = np.random.default_rng(0)
    batches = []
    for n in (7, 0, 31, 100):
        b = rng.random(n) < 0.2
        g = (rng.random(n) < 0.3)
        batches.append((b, g))
    parts = [StrictInferenceMonitor("m").update(b, g) for b, g in batches]
    merged = StrictInferenceMonitor.merge_all(parts)
    whole = StrictInferenceMonitor("m").update(np.concatenate([b for b, _ in batches]),
                                               np.concatenate([g for _, g in batches]))
    assert merged.rates() == whole.rates() and merged.to_dict() == whole.to_dict()
    assert merged == whole and merged != StrictInferenceMonitor("m")
    r = whole.rates()
    assert r["n_bottom"] + r["n_gap"] + r["n_accept"] == r["n_total"]
    restored = StrictInferenceMonitor.from_dict(merged.to_dict())
    assert restored.rates() == merged.rates()


def test_monitor_errors_and_alerts():
    with pytest.raises(ValueError, match="different bundles"):
        StrictInferenceMonitor("a").merge(StrictInferenceMonitor("b"))
    with pytest.raises(TypeError, match="bottom_mask"):
        StrictInferenceMonitor("a").update(np.array([0, 1]))
    with pytest.raises(ValueError, match="shape"):
        StrictInferenceMonitor("a").update(np.array([True]), np.array([True, False]))
    with pytest.raises(TypeError, match="bundle_id"):
        StrictInferenceMonitor(3)
    mon = StrictInferenceMonitor("a").update(np.array([True, False, False, False]))
    assert mon.check(max_bottom_rate=0.5) == []
    assert len(mon.check(max_bottom_rate=0.1)) == 1


# -- operating points ---------------------------------------------------------------------

def test_operating_points_registry():
    assert set(OPERATING_POINTS) == {"safety_first", "direction_aware", "accuracy_first"}
    for op in OPERATING_POINTS.values():
        assert op.goal and op.tradeoff and op.rejects_bottom
    with pytest.raises(ValueError, match="safety_first"):
        get_operating_point("yolo")
    P = np.array([1.0, 1.0, -1.0, 1.0])
    Q = np.array([1.0, 5e-4, 0.0, 2.0])
    cfg = InferenceConfig(tau_infer=1e-4, tau_train=1e-3)
    safe = get_operating_point("safety_first").apply(P, Q, cfg)
    acc = get_operating_point("accuracy_first").apply(P, Q, cfg)
    dirn = get_operating_point("direction_aware").apply(P, Q, cfg)
    assert safe.accept_mask.tolist() == [True, False, False, True]
    assert acc.accept_mask.tolist() == [True, True, False, True]
    assert dirn.class_id.tolist() == [1, 1, 0, 1]
    # safety_first never accepts more than accuracy_first
    assert not np.any(safe.accept_mask & ~acc.accept_mask)
    with pytest.raises(ValueError, match="direction_aware"):
        get_operating_point("safety_first").apply(P, Q, cfg, direction_logits=np.zeros((4, 2)))


def test_third_round_inference_inputs():
    """Huge ints, a sentinel that rounds to 0, an empty bundle id, NumPy-float limits, generator
    taus and 0-d accept masks (probe findings)."""
    from zeroproof.inference import StrictInferenceMonitor, reject_on_bottom
    from zeroproof.metrics import tau_infer_sweep_from_q_abs

    with pytest.raises(ValueError, match="beyond the float range"):
        InferenceConfig(tau_infer=10 ** 400)
    with pytest.raises(ValueError, match="beyond the float range"):
        InferenceConfig(1e-3, 10 ** 400)
    with pytest.raises(ValueError, match="beyond the float range"):
        safe_sentinel(np.ones(2), np.array([True, False]), sentinel=10 ** 400)
    with pytest.raises(ValueError, match="rounds to 0"):
        safe_sentinel(np.float32([1, 2]), np.array([True, False]), sentinel=1e-50)
    with pytest.raises(ValueError, match="beyond the float range"):
        tau_infer_sweep_from_q_abs(np.ones(3), np.ones(3, bool), taus=[10 ** 400])
    with pytest.raises(ValueError, match="bundle_id"):
        StrictInferenceMonitor("")
    mon = StrictInferenceMonitor("b").update(np.array([True, False]))
    assert mon.check(max_bottom_rate=np.float32(0.25)) == [
        "bundle b: bottom_rate 0.5 > 0.25 (1 of 2 rows)"]
    curves = tau_infer_sweep_from_q_abs(np.ones(3), np.ones(3, bool), (t for t in (1e-3, 2.0)))
    assert curves["taus"] == [1e-3, 2.0]
    _, accept = reject_on_gap(np.float64(1.0), np.bool_(False), np.bool_(True))
    assert isinstance(accept, np.ndarray) and accept.shape == () and not accept
    _, accept = reject_on_bottom(np.float64(1.0), np.bool_(False))
    assert isinstance(accept, np.ndarray) and accept.shape == () and accept


def test_extra_metadata_with_nan_is_a_value_error(tmp_path):
    from zeroproof.inference import export_bundle
    from zeroproof.inference.reference_models import PolynomialRationalHead

    with pytest.raises(ValueError, match="NaN"):
        export_bundle(PolynomialRationalHead(2), tmp_path / "b", InferenceConfig(),
                      extra_metadata={"a": float("nan")})


@pytest.mark.parametrize("p_dtype", [np.float32, np.float64])
def test_thresholds_follow_the_dtype_of_q_whatever_p_is(p_dtype):
    # float32(1e-6) < 1e-6 in float64 but == float32(1e-6): the masks are those of NumPy's own
    # np.abs(Q) < tau for a float32 Q, also next to a float64 P (result dtype float64)
    q = np.array([np.float32(1e-6), np.float32(1e-4), np.float32(5e-7)], dtype=np.float32)
    p = np.ones(3, dtype=p_dtype)
    cfg = InferenceConfig(1e-6, 1e-4)
    d, bottom, gap = strict_inference(p, q, cfg)
    assert d.dtype == np.result_type(p_dtype, np.float32)
    assert bottom.tolist() == (np.abs(q) < cfg.tau_infer).tolist() == [False, False, True]
    assert gap.tolist() == [True, False, False]
    from zeroproof.metrics import tau_infer_sweep_from_q_abs
    sweep = tau_infer_sweep_from_q_abs(np.abs(q), np.ones(3, bool), [cfg.tau_infer])
    assert sweep["n_bottom"] == [int(bottom.sum())]  # the sweep over |Q| agrees
