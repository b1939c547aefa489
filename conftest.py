"""Doctest namespace: every docstring example may use NumPy as ``np`` and the public names of
``zeroproof`` without importing them."""
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    import zeroproof
    import zeroproof.core

    doctest_namespace["np"] = np
    doctest_namespace["zp"] = zeroproof
    for name in zeroproof.core.__all__:
        doctest_namespace[name] = getattr(zeroproof.core, name)
    for name in ("from_ieee", "to_ieee", "from_numpy", "to_numpy"):
        doctest_namespace[name] = getattr(zeroproof, name)
