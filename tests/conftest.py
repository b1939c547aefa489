"""Shared test configuration: hypothesis profiles (deterministic in CI) and the fixture that
resets this thread's gradient mode and hybrid state around a test."""
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def fresh_gradient_state():
    """MASK_REAL, the default bound and no hybrid schedule or statistics, before and after the
    test (modules opt in with ``pytestmark = pytest.mark.usefixtures("fresh_gradient_state")``)."""
    from zeroproof.autodiff import GradientModeConfig, HybridGradientContext

    GradientModeConfig.reset()
    HybridGradientContext.reset()
    yield
    GradientModeConfig.reset()
    HybridGradientContext.reset()
