"""Utilities; :mod:`zeroproof.utils.ieee_bridge` re-exports the IEEE bridge."""
