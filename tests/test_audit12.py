"""Regressions found by the twelfth session's SPEC audits (one test per finding)."""
from __future__ import annotations

import numpy as np
import pytest

from zeroproof.training import TrainingConfig, lift_semantic_targets, lift_targets


@pytest.mark.parametrize("y,where", [
    ([1.0, None], r"y\[1\] is NoneType None"),
    ([[1.0], [None]], r"y\[1\]\[0\] is NoneType None"),
    ((1.0, "a"), r"y\[1\] is str 'a'"),
])
def test_lift_targets_names_the_entry_that_is_not_a_number(y, where):
    with pytest.raises(TypeError, match=r"lift_targets: y must hold real numbers, but " + where):
        lift_targets(y)


def test_lift_targets_ragged_and_string_arrays_name_y():
    with pytest.raises(ValueError, match="lift_targets: y is a ragged nested sequence"):
        lift_targets([[1.0], [2.0, 3.0]])
    with pytest.raises(TypeError, match="lift_targets: y must hold real numbers, got ndarray of "
                                        "dtype <U1"):
        lift_targets(np.array(["x"]))


def test_lift_semantic_targets_ignored_values_must_still_be_numbers():
    n, d = lift_semantic_targets([float("nan"), 1.0], ["bottom", "finite"])  # NaN is fine
    assert n.tolist() == [1.0, 1.0] and d.tolist() == [0.0, 1.0]
    with pytest.raises(TypeError, match=r"values\[0\] is NoneType None"):
        lift_semantic_targets([None, 1.0], ["bottom", "finite"])


@pytest.mark.parametrize("field,value,shown", [("shuffle", 1, "int 1"),
                                               ("detect_poles", "yes", "str 'yes'")])
def test_training_config_bool_fields_name_the_type_given(field, value, shown):
    with pytest.raises(TypeError, match=f"{field} must be a bool \\(True or False\\), got {shown}"):
        TrainingConfig(**{field: value})
