"""Training on the batched tape: optimizers, mini-batches, ``SCMTrainer`` and ``TrainingConfig``.

``lift_targets`` / ``lift_semantic_targets`` live in :mod:`zeroproof.training.targets` and are
loaded on first access (``from zeroproof.training import lift_targets``).

>>> import numpy as np
>>> from zeroproof.layers import RationalLayer
>>> from zeroproof.training import Adam, SCMTrainer, TrainingConfig
>>> model = RationalLayer(1, 1, seed=0)
>>> trainer = SCMTrainer(model, Adam(model.parameters(), lr=1e-2),
...                      lambda out, y: (out - y) ** 2, (np.linspace(-1, 1, 32), np.ones(32)),
...                      TrainingConfig(epochs=3, progress=False))
>>> [sorted(r)[:3] for r in trainer.fit()][0]
['batches', 'coverage', 'delta']
"""
from __future__ import annotations

import importlib
from typing import Any

from .._lazy import load_submodule
from .config import TrainingConfig
from .data import DataLoader, TensorDataset
from .objectives import chordal_loss, squared_error
from .optim import SGD, Adam, AdamW, Optimizer
from .trainer import SCMTrainer

__all__ = ["TrainingConfig", "SCMTrainer", "DataLoader", "TensorDataset", "Optimizer", "SGD",
           "Adam", "AdamW", "chordal_loss", "squared_error", "lift_targets",
           "lift_semantic_targets", "plot_training"]

_LAZY = {"lift_targets": ".targets", "lift_semantic_targets": ".targets",
         "plot_training": ".plotting"}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        return load_submodule(__name__, name)  # zp.training.targets, zp.training.plotting
    return getattr(importlib.import_module(mod, __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
