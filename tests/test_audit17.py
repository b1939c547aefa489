"""Seventeenth-session regressions (audit findings and consistency fixes)."""
from __future__ import annotations

import numpy as np
import pytest

from zeroproof.layers import AngularProjectiveHead, ProjectiveRationalHead, RationalLayer


@pytest.mark.parametrize("model, shape", [(RationalLayer(1, 1, seed=0), (3,)),
                                          (RationalLayer(2, 1, out_features=2, seed=0), (3, 1)),
                                          (ProjectiveRationalHead(2, 1, seed=0), (3, 2)),
                                          (AngularProjectiveHead(2, 1, seed=0), (3, 2))])
def test_predict_pq_reads_input_like_the_deployment_side(model, shape):
    # predict_pq is what a bundle records: bool/str/complex inputs are refused by name, as
    # strict_inference refuses them; ints and float32 are read as float64 values.
    with pytest.raises(TypeError, match=r"must be an array of real numbers .*dtype bool"):
        model.predict_pq(np.ones(shape, dtype=bool))
    with pytest.raises(TypeError, match="complex"):
        model.predict_pq(np.ones(shape, dtype=complex))
    P, Q = model.predict_pq(np.ones(shape, dtype=np.int64))
    P2, Q2 = model.predict_pq(np.ones(shape))
    assert np.array_equal(P, P2) and np.array_equal(Q, Q2)
