"""Losses for projective tuples: the implicit fit, margin, sign consistency, coverage and
rejection (see ``docs/projective.md``).

>>> from zeroproof.losses import implicit_loss
>>> implicit_loss(2.0, 1.0, 4.0, 2.0)
0.0
"""
from . import coverage as _coverage_module
from .coverage import coverage, coverage_loss, rejection_loss
from .implicit import implicit_loss, implicit_residual
from .margin import margin_loss
from .sign_consistency import sign_consistency_loss

__all__ = ["implicit_loss", "implicit_residual", "margin_loss", "sign_consistency_loss",
           "coverage", "coverage_loss", "rejection_loss"]

# ``zeroproof.losses.coverage`` is the function (it hides its module, as the import above binds
# the name); the inference safety checklist spells it ``losses.coverage.coverage`` (module, then
# function), so the function also answers for the module's public names.
for _name in _coverage_module.__all__:
    setattr(coverage, _name, getattr(_coverage_module, _name))
del _name
