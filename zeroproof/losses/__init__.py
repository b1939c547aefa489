"""Losses for projective tuples: the implicit fit, margin, sign consistency, coverage and
rejection (see ``docs/projective.md``).

>>> from zeroproof.losses import implicit_loss
>>> implicit_loss(2.0, 1.0, 4.0, 2.0)
0.0
"""
from .coverage import coverage, coverage_loss, rejection_loss
from .implicit import implicit_loss, implicit_residual
from .margin import margin_loss
from .sign_consistency import sign_consistency_loss

__all__ = ["implicit_loss", "implicit_residual", "margin_loss", "sign_consistency_loss",
           "coverage", "coverage_loss", "rejection_loss"]
