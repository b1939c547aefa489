"""Mini-batches over NumPy arrays: ``TensorDataset`` and ``DataLoader`` (the PyTorch pattern).

Shuffling is reproducible and resumable: the order of epoch ``e`` is a permutation drawn from
``np.random.default_rng([seed, e])``, so it depends only on the seed and the epoch number (not on
how many epochs ran before in this process). The trainer calls ``loader.set_epoch(e)``; without
it, each new iteration advances the loader's own epoch counter.

>>> import numpy as np
>>> x, y = np.arange(5.0), np.arange(5.0) * 2
>>> loader = DataLoader(TensorDataset(x, y), batch_size=2)
>>> [xb.tolist() for xb, yb in loader]
[[0.0, 1.0], [2.0, 3.0], [4.0]]
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..core._parse import check_bool, check_int, is_integer, rectangular, short_repr

__all__ = ["TensorDataset", "DataLoader"]


def _as_array(a: Any, i: int) -> np.ndarray:
    if hasattr(a, "to_numpy") and callable(a.to_numpy):  # TRArray
        a = a.to_numpy()
    arr = rectangular(f"TensorDataset: array {i}", a)  # masked or ragged: refused, named
    if arr.dtype == object or arr.dtype.kind not in "fiub":
        raise TypeError(f"TensorDataset: array {i} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"TensorDataset: array {i} must have a leading sample axis, got a scalar")
    return arr


class TensorDataset:
    """Arrays that share their first (sample) axis; item ``i`` is the tuple of their rows ``i``.

    >>> ds = TensorDataset(np.zeros((3, 2)), np.ones(3))
    >>> len(ds), [a.shape for a in ds[0]]
    (3, [(2,), ()])
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_as_array(a, i) for i, a in enumerate(arrays))
        n = len(self.arrays[0])
        for i, a in enumerate(self.arrays):
            if len(a) != n:
                raise ValueError(f"TensorDataset: array {i} has {len(a)} samples, array 0 has {n}; "
                                 f"all arrays must share their first axis")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        """The rows ``index`` of every array: an int, a slice, a range, or an int/bool array or
        list of sample indices. ``None``, a bool, a float, a str or a tuple (which NumPy would read as a
        new axis, a mask or several axes) is a ``TypeError``.

        >>> TensorDataset(np.arange(3.0), np.arange(3.0) * 2)[1:]
        (array([1., 2.]), array([2., 4.]))
        """
        if not (is_integer(index) or isinstance(index, (slice, range, list, np.ndarray))):
            raise TypeError(f"TensorDataset index must be an int, a slice, a range, or a list or "
                            f"array of sample indices (ints, or bools of length {len(self)}), got "
                            f"{type(index).__name__} {short_repr(index, 40)}")
        return tuple(a[index] for a in self.arrays)


def shuffle_seed(shuffle: bool, seed: int | None) -> int | None:
    """The seed a loader keeps: ``seed``, or, when shuffling with ``seed=None``, one drawn from
    the OS entropy once (so every epoch's order stays reproducible within the run)."""
    if shuffle and seed is None:
        return int(np.random.SeedSequence().entropy % (2 ** 63))
    return seed


class DataLoader:
    """Batches of a :class:`TensorDataset` (or of a tuple of arrays) as tuples of NumPy arrays.

    ``batch_size=None`` gives one full batch. ``drop_last`` drops a short final batch.

    >>> loader = DataLoader((np.arange(6.0),), batch_size=4, shuffle=True, seed=0)
    >>> len(loader), sorted(np.concatenate([b[0] for b in loader]).tolist())
    (2, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    """

    def __init__(self, dataset: Any, batch_size: int | None = 32, shuffle: bool = False,
                 seed: int | None = 0, drop_last: bool = False) -> None:
        if isinstance(dataset, tuple):
            dataset = TensorDataset(*dataset)
        if not isinstance(dataset, TensorDataset):
            raise TypeError(f"dataset must be a TensorDataset or a tuple of arrays, got "
                            f"{type(dataset).__name__}")
        batch_size = check_int("batch_size", batch_size, 1, allow_none=True)
        shuffle = check_bool("shuffle", shuffle)
        drop_last = check_bool("drop_last", drop_last)
        seed = check_int("seed", seed, 0, allow_none=True)
        seed = shuffle_seed(shuffle, seed)
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.seed = None if seed is None else int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self._epoch_set = False

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` (an int >= 0) for the next iteration."""
        self.epoch = check_int("epoch", epoch, 0)
        self._epoch_set = True

    def order(self, epoch: int) -> np.ndarray:
        """Sample indices of ``epoch`` (an int >= 0; a permutation when shuffling)."""
        epoch = check_int("epoch", epoch, 0)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def __len__(self) -> int:
        n = len(self.dataset)
        b = self.batch_size or max(n, 1)
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        if not self._epoch_set:
            epoch = self.epoch
            self.epoch += 1
        else:
            epoch = self.epoch
            self._epoch_set = False
        idx = self.order(epoch)
        n = len(idx)
        b = self.batch_size or max(n, 1)
        for start in range(0, n, b):
            sel = idx[start:start + b]
            if self.drop_last and len(sel) < b:
                break
            yield self.dataset[sel]
