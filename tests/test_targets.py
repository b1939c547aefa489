"""zeroproof.training.targets: lift_targets (sentinels) and lift_semantic_targets (labels)."""
import numpy as np
import pytest

import zeroproof as zp
import zeroproof.array as za
from zeroproof.autodiff import TRNode
from zeroproof.autodiff.projective import decode
from zeroproof.training.targets import (
    LiftedTargets, TargetKind, lift_semantic_targets, lift_targets,
)


def test_sentinels():
    t = lift_targets(np.array([[1.5], [np.inf], [-np.inf], [np.nan], [-0.0]]))
    y_n, y_d = t
    assert isinstance(t, LiftedTargets) and isinstance(t, tuple) and len(t) == 2
    assert y_n.ravel().tolist() == [1.5, 1.0, -1.0, 1.0, -0.0] and y_n.shape == (5, 1)
    assert y_d.ravel().tolist() == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert t.kinds.ravel().tolist() == [0, 1, 2, 3, 0]
    assert t.signs.ravel().tolist() == [0.0, 1.0, -1.0, 0.0, 0.0]
    assert t.finite_mask.ravel().tolist() == [True, False, False, False, True]
    dec = decode(y_n, y_d)
    assert dec.to_numpy()[0, 0] == 1.5 and dec.bottom.ravel().tolist() == [False, True, True, True, False]


def test_kinds_of_inputs():
    assert lift_targets(2.0) == (2.0, 1.0) and lift_targets(float("-inf")) == (-1.0, 0.0)
    assert lift_targets([1, 2])[0].dtype == np.float64
    t = lift_targets(za.array([1.0, zp.bottom(), zp.phi(), zp.pinf()]))
    assert t.kinds.tolist() == [0, 3, 3, 1]
    tt = lift_targets(za.constant([3.0, np.inf]))
    assert type(tt[0]).__name__ == "TRTensor" and not tt[0].requires_grad
    assert tt[1].numpy().tolist() == [1.0, 0.0]
    tn = lift_targets(TRNode.constant(4.0))
    assert isinstance(tn[0], TRNode) and tn[0].value == zp.real(4.0)
    assert lift_targets(np.array([1.0], dtype=np.float32))[0].dtype == np.float32
    with pytest.raises(TypeError):
        lift_targets("1.0")


def test_semantic_labels():
    vals = np.array([0.5, 7.0, np.nan, 3.0])
    t = lift_semantic_targets(vals, ["finite", "+inf", "bottom", TargetKind.NEG_INF])
    assert t[0].tolist() == [0.5, 1.0, 1.0, -1.0] and t[1].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert t.signs.tolist() == [0.0, 1.0, 0.0, -1.0]
    t2 = lift_semantic_targets(vals[:2], [0, 2])
    assert t2[0].tolist() == [0.5, -1.0]
    t3 = lift_semantic_targets([1.0, 2.0], "finite")
    assert t3[1].tolist() == [1.0, 1.0]
    for lab in ("⊥", "bottom", "BOTTOM", 3):
        assert TargetKind.coerce(lab) is TargetKind.BOTTOM


def test_semantic_bad_input():
    with pytest.raises(ValueError, match="labels"):
        lift_semantic_targets([1.0], ["maybe"])
    with pytest.raises(ValueError, match="labels"):
        lift_semantic_targets([1.0, 2.0], ["finite"])
    with pytest.raises(ValueError, match="values"):
        lift_semantic_targets([np.nan], ["finite"])
    with pytest.raises(ValueError, match="labels"):
        lift_semantic_targets([1.0], [7])


def test_both_lifts_keep_float32_and_widen_ints():
    import numpy as np

    from zeroproof.training import lift_semantic_targets, lift_targets

    v = np.array([1.0, np.inf, np.nan], dtype=np.float32)
    a = lift_targets(v)
    b = lift_semantic_targets(v, ["finite", "+inf", "bottom"])
    assert a[0].dtype == a[1].dtype == b[0].dtype == b[1].dtype == np.float32
    assert lift_semantic_targets(np.array([1, 2]), "finite")[0].dtype == np.float64
