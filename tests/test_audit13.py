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
