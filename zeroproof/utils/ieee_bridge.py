"""IEEE-754 bridge (same functions as :mod:`zeroproof.bridge`)."""
from ..bridge import from_ieee, from_numpy, to_ieee, to_numpy

__all__ = ["from_ieee", "to_ieee", "from_numpy", "to_numpy"]
