"""Regressions found by the thirteenth session's audits (new-user, SPEC §2–§8), one test per
finding, next to the behaviour the docs now state."""
from __future__ import annotations

import math

import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import TRNode, grad


def test_grad_refuses_a_source_that_does_not_require_grad():
    # as za.grad and torch.autograd.grad: a constant source is a mistake, not a silent 0
    x = TRNode.parameter(2.0)
    c = TRNode.constant(5.0)
    y = x * c
    with pytest.raises(ValueError, match=r"sources\[1\] does not require grad"):
        grad(y, [x, c])
    # a watched constant on a tape is the supported way, and still differentiates
    from zeroproof.autodiff import gradient_tape
    k = TRNode.constant(3.0)
    with gradient_tape() as tape:
        tape.watch(k)
        z = k * k
    assert tape.gradient(z, k).value == 6.0
    # a tape source it never watched stays a fresh R(0), as documented
    with gradient_tape(persistent=True) as tape:
        z = x * x
    assert tape.gradient(z, c).value == 0.0


@pytest.mark.parametrize("make", [np.array, za.array, lambda v: za.parameter(np.array([v, 0.0])).sum()])
def test_decode_of_a_zero_d_tuple_at_bottom(make):
    from zeroproof.autodiff.projective import decode, decode_masked

    out = decode(make(1.0), make(0.0))
    value = out.value if hasattr(out, "requires_grad") else out
    assert value.shape == () and value.tag_counts()["BOTTOM"] == 1
    if make is np.array:
        vals, mask = decode_masked(make(1.0), make(0.0))
        assert math.isnan(float(vals)) and bool(mask) and mask.shape == ()


def test_renormalize_a_tuple_whose_norm_exceeds_the_float_range():
    from zeroproof.autodiff.projective import renormalize

    n, d = renormalize(1.5e308, 1.5e308)
    assert (n, d) == (0.7071067811865476, 0.7071067811865476)
    n32, _ = renormalize(np.array([3e38], np.float32), np.array([3e38], np.float32))
    assert n32.dtype == np.float32 and abs(float(n32[0]) - 0.70710677) < 1e-7
    # the gradient is 1/S, exactly as for any other tuple; the normal element is untouched
    t = za.parameter(np.array([1.5e308, 3.0]))
    u = za.parameter(np.array([1e308, 4.0]))
    a, b = renormalize(t, u)
    (a + b).sum().backward()
    s = 2.0 * math.hypot(0.75e308, 0.5e308)  # (beyond the float range as one number)
    assert float(a.value.codes[0]) == 1.5e308 / 2 / math.hypot(0.75e308, 0.5e308)
    # 1/S is subnormal here: equal to the exact value within a few subnormal steps
    assert abs(float(t.gradient.codes[0]) - 0.5 / math.hypot(0.75e308, 0.5e308)) <= 4 * 5e-324
    assert s == math.inf
    assert float(a.value.codes[1]) == 3.0 / (5.0 + 1e-9)
    x = TRNode.parameter(1.5e308)
    y = TRNode.parameter(1e308)
    p, q = renormalize(x, y)
    (p + q).backward()
    assert p.value.value == float(a.value.codes[0]) and x.gradient.value == float(t.gradient.codes[0])


def test_operating_point_sentinel_is_checked_like_safe_sentinel():
    from zeroproof.inference import InferenceConfig, get_operating_point

    P = np.ones(3, np.float32)
    Q = np.array([1.0, 5e-4, 0.0], np.float32)
    op = get_operating_point("safety_first")
    cfg = InferenceConfig(1e-4, 1e-3)
    for bad, err in [(True, TypeError), (None, TypeError), ("x", TypeError), (1e-300, ValueError),
                     (1e300, ValueError)]:
        with pytest.raises(err, match="sentinel"):
            op.apply(P, Q, cfg, sentinel=bad)
    res = op.apply(P, Q, cfg, sentinel=-1.0)
    assert res.decoded.tolist() == [1.0, -1.0, -1.0] and res.decoded.dtype == np.float32
    assert res.accept_mask.tolist() == [True, False, False]
    zero_d = get_operating_point("accuracy_first").apply(np.array(1.0), np.array(0.0), sentinel=7.0)
    assert zero_d.decoded.shape == () and float(zero_d.decoded) == 7.0


@pytest.mark.parametrize("edit, needle", [
    (lambda s: s.replace('"tau_infer": 1e-06', '"tau_infer": 1e400'), "beyond the float range"),
    (lambda s: s.replace('"extra": {}', '"extra": ' + "[" * 100000 + "]" * 100000),
     "nested too deeply"),
])
def test_validate_bundle_names_malformed_metadata_json(tmp_path, edit, needle):
    from zeroproof.inference import BundleValidationError, export_bundle, validate_bundle
    from zeroproof.layers import RationalLayer

    d = export_bundle(RationalLayer(1, 1, seed=0), tmp_path / "b")
    meta = d / "metadata.json"
    text = meta.read_text()
    assert '"extra": {}' in text and '"tau_infer": 1e-06' in text
    meta.write_text(edit(text))
    with pytest.raises(BundleValidationError, match=needle) as info:
        validate_bundle(d)
    assert info.value.code == "metadata_unreadable" and info.value.file == "metadata.json"


def test_coverage_of_an_ieee_tuple_is_the_strict_decoders_coverage():
    from zeroproof.inference import InferenceConfig, strict_inference
    from zeroproof.losses import coverage

    P = np.array([1.0, np.inf, np.nan, 1.0, 1e300, 1.0])
    Q = np.array([1.0, 1.0, 1.0, np.nan, 1e-10, 1e-9])
    bottom = strict_inference(P, Q, InferenceConfig(1e-6))[1]
    assert bottom.tolist() == [False, True, True, True, True, True]
    assert coverage(P, Q, tau=1e-6) == 1 / 6
    # transreal tuples keep decode's rule: (+∞, 1) is +∞ and Φ is not ⊥; only |D| < tau is
    assert coverage(za.array(P), za.array(Q), tau=1e-6) == 4 / 6


def _tiny_trainer(loader, **cfg):
    from zeroproof.layers import RationalLayer
    from zeroproof.training import Adam, SCMTrainer, TrainingConfig

    m = RationalLayer(1, 1, seed=0)

    def loss(out, y):
        return ((out - y) * (out - y)).mean()

    return SCMTrainer(m, Adam(m.parameters(), lr=0.01), loss, loader,
                      TrainingConfig(progress="none", **cfg))


def test_trainer_applies_batching_edits_between_fit_calls():
    x = np.linspace(-1, 1, 64).reshape(-1, 1)
    y = 2 * x
    tr = _tiny_trainer((x, y), epochs=1, batch_size=32, shuffle=True, seed=3)
    tr.fit()
    assert tr.history[-1]["batches"] == 2
    order_seed3 = tr.train_loader.order(5)
    tr.config.batch_size = 8
    tr.config.epochs = 2
    tr.fit()
    assert tr.history[-1]["batches"] == 8 and tr.train_loader.batch_size == 8
    assert np.array_equal(tr.train_loader.order(5), order_seed3)  # seed unchanged: same orders
    tr.config.seed = 4
    tr.config.shuffle = False
    tr.config.epochs = 3
    tr.fit()
    assert tr.train_loader.seed == 4 and tr.train_loader.shuffle is False
    tr.config.batch_size = 0
    with pytest.raises(ValueError, match="batch_size"):
        tr.fit(4)


def test_trainer_refuses_a_tuple_of_one_array_when_built():
    x = np.linspace(-1, 1, 8).reshape(-1, 1)
    with pytest.raises(TypeError, match=r"holds 1 array\(s\)"):
        _tiny_trainer((x,), epochs=1)


def test_batched_backward_passes_in_threads_sharing_a_parameter():
    import threading

    w = za.parameter(np.ones(20000))
    wrong = []

    def work(x):
        for _ in range(30):
            y = w * x + w * x
            (g,) = za.grad(y, [w], grad_output=np.ones(20000))
            if not np.all(g.codes == 2 * x):
                wrong.append(x)

    threads = [threading.Thread(target=work, args=(x,)) for x in (2.0, 3.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_batched_tape_copies_index_and_x_value_buffers():
    W = za.parameter(np.array([1.0, 2.0, 3.0]))
    idx = np.array([0, 1])
    y = W[idx] * np.array([10.0, 20.0])
    idx[:] = [2, 1]  # a reused index buffer
    (y * np.array([0.1, 0.1])).sum().backward()
    assert W.gradient.codes.tolist() == [1.0, 2.0, 0.0]
    V = za.parameter(np.array([1.0, 2.0, 3.0]))
    lst = [0, 0]
    z = V[lst]
    lst[1] = 2
    z.sum().backward()
    assert V.gradient.codes.tolist() == [2.0, 0.0, 0.0]
    q = za.parameter(np.array([0.5, 2.0]))
    node = 1.0 / q
    xs = np.array([0.1, 0.2])
    node.x_value = xs
    xs[:] = 9.0
    assert node.x_value.tolist() == [0.1, 0.2]


def test_batched_backward_skips_a_leaf_frozen_after_the_forward_pass():
    w = za.parameter(np.array([1.0, 2.0]))
    y = (w * w).sum()
    w.requires_grad = False
    y.backward()
    assert w.gradient is None  # as on the scalar tape


def test_za_grad_returns_the_sources_dtype():
    w = za.parameter(np.array([1.0, 2.0], np.float32))
    assert za.grad((w * np.ones(2)).sum(), [w])[0].codes.dtype == np.float32  # promoted pass
    masked = (w / 0.0 * 0.0).sum()  # every element non-REAL: reached, nothing received
    assert za.grad(masked, [w])[0].codes.dtype == np.float32


def test_trarray_equality_with_foreign_objects_never_raises():
    A = za.array([1.0, 2.0])
    assert (A == None) is False and (A != "auto") is True  # noqa: E711
    assert (A == True) is False  # noqa: E712
    assert A not in (None, "auto")
    assert (A == float("nan")).tolist() == [False, False]
    assert (A == float("inf")).tolist() == [False, False]
    assert (A == 2.0).tolist() == [False, True]


def test_tr_sum_of_a_list_of_tensors_says_what_to_do():
    w = za.parameter(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"tr_sum\(values\): values is a list holding TRTensors"):
        zp.tr_sum([(w * w).sum(), w.sum()])
    assert sum([(w * w).sum(), w.sum()]).value.codes.tolist() == 8.0


def test_tensor_equality_with_a_value_is_refused_and_orderings_say_what_to_do():
    t = za.parameter(np.array([0.0, 9.0]))
    u = za.parameter(np.array([0.0, 9.0]))
    for value in (0.0, 0, np.array([0.0, 9.0]), za.array([0.0, 9.0]), [0.0, 9.0], zp.real(0.0)):
        with pytest.raises(TypeError, match=r"t\.value == x"):
            t == value  # noqa: B015
        with pytest.raises(TypeError, match=r"t\.value == x"):
            t != value  # noqa: B015
    assert t == t and t != u and not (t == u) and t in [u, t] and {t: 1}[t] == 1
    assert (t == None) is False  # noqa: E711
    assert (t.value == 0.0).tolist() == [True, False]
    for op in ("__lt__", "__le__", "__gt__", "__ge__"):
        with pytest.raises(TypeError, match="no ordering"):
            getattr(t, op)(0)
    n = TRNode.parameter(1.0)
    with pytest.raises(TypeError, match=r"node\.value < 1"):
        max([n, n * 2])
    assert (n == 1.0) is False and n == n  # identity, as SPEC §4.1


def test_tape_gradients_stay_connected_for_nested_tapes_and_penalties():
    from zeroproof.autodiff import gradient_tape

    x = TRNode.constant(3.0)
    with gradient_tape() as outer:
        outer.watch(x)
        with gradient_tape() as inner:
            inner.watch(x)
            y = x * x * x
        dy = inner.gradient(y, x)
    assert dy.value.value == 27.0 and dy.requires_grad
    assert outer.gradient(dy, x).value.value == 18.0
    w = TRNode.parameter(2.0)
    c = TRNode.constant(3.0)
    with gradient_tape() as t:
        t.watch(c)
        z = w * c * c
    g = t.gradient(z, c)  # 2wc = 12, a function of w
    ((g - 1.0) ** 2).backward()
    assert g.value.value == 12.0 and w.gradient.value == 2 * 11 * 6  # d/dw (2wc − 1)² = 132
    # nothing to connect to: constants, as before
    k = TRNode.constant(2.0)
    with gradient_tape() as t2:
        t2.watch(k)
        u = k * k
    assert not t2.gradient(u, k).requires_grad


def test_compute_input_gradients_inside_no_grad():
    from zeroproof.autodiff import no_grad
    from zeroproof.autodiff.backward import compute_input_gradients

    a = TRNode.parameter(2.0)
    b = TRNode.parameter(4.0)
    q = a / b
    outside = compute_input_gradients(q)
    with no_grad():
        assert compute_input_gradients(q) == outside == (zp.real(0.25), zp.real(-0.125))


def test_x_value_is_refused_on_a_reduction_node():
    a = TRNode.parameter(1.0)
    m = zp.tr_mean([a, a * 2])
    assert m.x_value is None
    with pytest.raises(ValueError, match="mean node"):
        m.x_value = 0.5
    m.backward()
    assert a.gradient.value == 1.5  # the node is intact


def test_format_specs_on_non_real_values_and_nodes():
    vals = {"+∞": zp.pinf(), "−∞": zp.ninf(), "Φ": zp.phi(), "⊥": zp.bottom()}
    for sym, v in vals.items():
        assert f"{v:.1f}" == f"{v:.0f}" == f"{v:+.3f}" == f"{v:,.2f}" == f"{v:#.2f}" == sym
        assert f"{v:8.2f}" == sym.rjust(8) and f"{v:<8}" == sym.ljust(8)
        assert f"{v:*^9.3e}" == format(sym, "*^9")
        with pytest.raises(ValueError):
            format(v, "q")  # an invalid spec fails as for a float
    assert f"{zp.real(1.5):+.2f}" == "+1.50"
    x = TRNode.parameter(2.0)
    assert f"{x:.2f}" == "2.00" and f"{x / 0.0:+.3f}" == "+∞" and f"{x}" == str(x)


def test_tags_are_not_numbers():
    from zeroproof import TRTag

    assert (zp.real(3.0) == TRTag.PHI) is False and zp.real(3.0) != TRTag.PHI
    with pytest.raises(TypeError):
        zp.real(TRTag.PINF)
    with pytest.raises(TypeError):
        zp.real(1.0) + TRTag.PINF
    with pytest.raises(TypeError, match="exponent k must be an int"):
        zp.tr_pow_int(zp.real(2.0), TRTag.PINF)


def test_context_managers_check_their_arguments_when_called():
    from zeroproof.autodiff import HybridGradientSchedule, gradient_mode
    from zeroproof.autodiff.projective import gradient_policy
    from zeroproof.core import arithmetic_mode

    with pytest.raises(ValueError, match="mode must be one of"):
        gradient_mode("fast")  # no `with` needed: a decorator fails at definition time
    with pytest.raises(ValueError, match="saturation_bound"):
        gradient_mode("saturating", -1.0)
    with pytest.raises(TypeError, match="epoch must be an int"):
        HybridGradientSchedule().apply(1.5)
    with pytest.raises(ValueError, match="mode must be one of"):
        arithmetic_mode("whee")
    with pytest.raises(ValueError, match="tau"):
        gradient_policy(tau=-1)
    with pytest.raises(TypeError, match="epoch must be an int"):
        HybridGradientSchedule(enable=False).get_mode_description("abc")
    with gradient_mode("saturating", 0.5) as m:  # good arguments still work as before
        assert str(m) == "saturating"


def test_trscalar_init_cannot_rebuild_a_value():
    from zeroproof import TRScalar, TRTag

    with pytest.raises(TypeError, match="immutable"):
        zp.pinf().__init__(tag=TRTag.PHI)
    assert zp.pinf().tag is TRTag.PINF and TRScalar(1.5).value == 1.5


def test_history_names_the_mode_and_reports_no_regions_during_warm_up():
    from zeroproof.autodiff import GradientModeConfig, HybridGradientSchedule

    x = np.linspace(-1, 1, 32).reshape(-1, 1)
    tr = _tiny_trainer((x, 2 * x), epochs=1)
    GradientModeConfig.set_mode("saturating")
    try:
        tr.fit()
    finally:
        GradientModeConfig.reset()
    assert tr.history[-1]["mode"] == "current mode: saturating"
    sched = HybridGradientSchedule(warmup_epochs=2, transition_epochs=4)
    sched.update_detected_poles([0.5], 0)
    tr2 = _tiny_trainer((x, 2 * x), epochs=3, schedule=sched)
    tr2.fit()
    regions = [(rec["hybrid"] or {}).get("exploration_regions") for rec in tr2.history]
    assert regions[0] is None and regions[1] is None  # warm-up: HYBRID is exactly MASK_REAL


def test_log_tuples_reads_a_strict_decoders_nan_as_bottom(caplog):
    import logging

    from zeroproof.autodiff.projective import log_tuples
    from zeroproof.inference import InferenceConfig, strict_inference

    N, D = np.array([1.0, 1.0]), np.array([0.0, 2.0])
    decoded, bottom, _ = strict_inference(N, D, InferenceConfig(1e-6))
    with caplog.at_level(logging.DEBUG, logger="zeroproof.projective"):
        log_tuples(N, D, decoded=decoded)
    assert "bottom=1" in caplog.text and "→ ⊥" in caplog.text and "Φ" not in caplog.text
