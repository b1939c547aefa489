"""Regressions found in the fourteenth session (check_gradient at large |x|, audits), one test
per finding, next to the behaviour the docs now state."""
from __future__ import annotations

import math

import numpy as np
import pytest

import zeroproof as zp
from zeroproof.autodiff import TRNode, check_gradient


def test_check_gradient_divides_by_the_steps_actually_taken():
    # at x = 1e10 the grid spacing is ~1.9e-6, so x ± 1e-5 is not x ± 1e-5: dividing by 2·eps
    # made an exact derivative look 5 % off
    r = check_gradient(lambda x: x - 1e10, 1e10)
    assert r.passed and r.numerical == 1.0 and r.reason == "ok"
    r = check_gradient(lambda x: (x - 1e10) * (x - 1e10) + 2 * (x - 1e10), 1e10)
    assert r.passed and r.numerical == 2.0


def test_check_gradient_reports_rounding_noise_instead_of_a_verdict():
    # f(x ± 1e-5) of x*x at 1e10 differ by a few ulps of 1e20: neither pass nor mismatch
    r = check_gradient(lambda x: x * x, 1e10)
    assert not r.passed and r.reason.startswith("not compared")
    assert "use a larger eps, e.g. eps=" in r.reason
    suggested = float(r.reason.rsplit("eps=", 1)[1])
    assert check_gradient(lambda x: x * x, 1e10, eps=suggested).passed
    r = check_gradient(lambda x: x * x + 1e12, 1.0)  # large constant offset, same story
    assert not r.passed and "rounding noise" in r.reason
    # a wrong gradient is still caught where the difference resolves it
    from zeroproof.autodiff import stop_gradient
    wrong = check_gradient(lambda x: x * stop_gradient(x), 1e4)  # tape says x, truth is 2x
    assert not wrong.passed and wrong.reason.startswith("mismatch")


@pytest.mark.parametrize("x", [1e4, 1e6, 3e7, 1e8])
def test_check_gradient_passes_a_right_gradient_across_magnitudes(x):
    for f in (lambda t: t * 3.0, lambda t: t * t, lambda t: zp.autodiff.tr_log(t),
              lambda t: 1 / t):
        r = check_gradient(f, x)
        assert r.passed, (x, r)
