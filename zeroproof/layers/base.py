"""Modules on the batched tape: ``Module`` (parameters, train/eval, state dicts), ``Linear``,
``ReLU`` and ``Sequential`` — the PyTorch habits, over :class:`~zeroproof.array.TRTensor`.

Parameters are batched leaves that require grad, found by walking the module's attributes in
definition order (sub-modules recursively), as ``torch.nn.Module`` does.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

import numpy as np

from ..core._parse import check_bool, check_seed, short_repr

from ..array.tape import TRTensor, as_tensor, relu
from ..inference.reference_models import check_dim

__all__ = ["Module", "Linear", "ReLU", "Sequential", "as_input"]


def as_input(x: Any, argname: str = "x") -> TRTensor:
    """Model input as a batched constant (NumPy arrays: NaN → Φ, ±inf → ±∞; ints → float64).

    >>> from zeroproof.layers.base import as_input
    >>> as_input(np.array([1.0, np.nan, -np.inf])).value, as_input(np.array([1, 2])).value
    (TRArray([1.0, Φ, −∞], dtype=float64), TRArray([1.0, 2.0], dtype=float64))
    """
    return as_tensor(x, argname)


class Module:
    """Base class of layers and models.

    >>> class Scale(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = TRTensor.parameter(np.array([2.0]))
    ...     def forward(self, x):
    ...         return as_input(x) * self.w
    >>> m = Scale()
    >>> [name for name, _ in m.named_parameters()], m(np.array([3.0])).value
    (['w'], TRArray([6.0], dtype=float64))
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The module's computation; subclasses define it and ``module(...)`` calls it. The base
        class raises ``NotImplementedError``."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # structure --------------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """``(name, module)`` for each direct sub-module, in definition order: attributes that
        are modules, and modules inside list or tuple attributes (named ``attr.i``, as in
        ``Sequential.layers``)."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def children(self) -> Iterator["Module"]:
        """The sub-modules of :meth:`named_children`, without names."""
        for _, m in self.named_children():
            yield m

    def modules(self) -> Iterator["Module"]:
        """This module, then every module reached through :meth:`children`, depth first."""
        yield self
        for child in self.children():
            yield from child.modules()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, TRTensor]]:
        """``(dotted_name, parameter)`` pairs, each parameter once, in PyTorch's order: a
        module's own parameters in definition order, then each sub-module's (depth first, in
        :meth:`named_children` order)."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            pre, mod = stack.pop()
            for name, value in vars(mod).items():
                if isinstance(value, TRTensor) and value._param and value.is_leaf:
                    if id(value) not in seen:
                        seen.add(id(value))
                        yield f"{pre}{name}", value
            stack.extend((f"{pre}{name}.", child)
                         for name, child in reversed(list(mod.named_children())))

    def parameters(self) -> list[TRTensor]:
        """The trainable leaves of this module and its sub-modules."""
        return [p for _, p in self.named_parameters()]

    def train(self, mode: bool = True) -> "Module":
        """Set training mode on this module and every sub-module; returns self."""
        mode = check_bool("mode", mode)
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        """``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Drop the accumulated gradient of every parameter in :meth:`parameters`.

        >>> lin = Linear(2, 1, seed=0)
        >>> lin(np.ones((3, 2))).sum().backward()
        >>> lin.weight.gradient is None
        False
        >>> lin.zero_grad(); lin.weight.gradient is None
        True
        """
        for p in self.parameters():
            p.zero_grad()

    # state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameter name → a copy of its values (IEEE codes) as a NumPy array."""
        return {name: np.array(p.codes, copy=True) for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load parameter values by name; missing/unexpected names and shape mismatches raise
        ``ValueError`` naming the parameter."""
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict: state must be a dict of arrays by parameter name "
                            f"(from state_dict()), got {type(state).__name__} "
                            f"{short_repr(state, 40)}")
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in state]
        unexpected = [n for n in state if n not in params]
        if missing or unexpected:
            raise ValueError(
                f"load_state_dict: state does not match {type(self).__name__}: "
                f"missing {missing}, unexpected {unexpected}"
            )
        arrays = {}
        for name, p in params.items():  # everything checked before any parameter changes
            arr = np.asarray(state[name])
            if arr.dtype.kind not in "fiu":
                raise TypeError(f"load_state_dict: parameter {name!r} must be given as real "
                                f"numbers, the state gives dtype {arr.dtype}")
            if arr.shape != p.shape:
                raise ValueError(
                    f"load_state_dict: parameter {name!r} has shape {p.shape}, the state gives {arr.shape}"
                )
            arrays[name] = arr
        for name, p in params.items():
            p.set_value(arrays[name])

    def num_parameters(self) -> int:
        """Total number of elements in :meth:`parameters`.

        >>> Linear(3, 2).num_parameters()     # 3·2 weights + 2 biases
        8
        """
        return int(sum(p.size for p in self.parameters()))

    def extra_repr(self) -> str:
        """The hyper-parameters shown by ``repr(module)``: ``get_config()`` as ``key=value``
        (empty for a module without ``get_config``). Override it to show something else.

        >>> Linear(2, 3).extra_repr()
        'in_features=2, out_features=3, bias=True'
        """
        get_config = getattr(self, "get_config", None)
        config = get_config() if callable(get_config) else None
        if not isinstance(config, dict):
            return ""
        return ", ".join(f"{k}={v!r}" for k, v in config.items())

    def __repr__(self) -> str:
        """PyTorch-style: ``Name(extra_repr)``, sub-modules one per line and indented.

        >>> print(Sequential(Linear(2, 8), ReLU(), Linear(8, 1, bias=False)))
        Sequential(
          (layers.0): Linear(in_features=2, out_features=8, bias=True)
          (layers.1): ReLU()
          (layers.2): Linear(in_features=8, out_features=1, bias=False)
        )
        """
        extra = self.extra_repr()
        children = [f"({name}): " + repr(child).replace("\n", "\n  ")
                    for name, child in self.named_children()]
        if not children:
            return f"{type(self).__name__}({extra})"
        body = ([extra.replace("\n", "\n  ")] if extra else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(body) + "\n)"


def _float_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as float64 or float32 (the parameter dtypes of the batched tape)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be numpy.float64 or numpy.float32, got "
                        f"{short_repr(dtype, 40)}") from None
    if dt not in (np.float64, np.float32):
        raise TypeError(f"dtype must be numpy.float64 or numpy.float32, got {dt}")
    return dt


def _rng(seed: Any) -> np.random.Generator:
    seed = check_seed("seed", seed)
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


_dim = check_dim  # a dimension in [1, 2**31 - 1]: beyond any array this machine could hold


class Linear(Module):
    """``y = x @ W + b`` with ``W`` of shape (in_features, out_features), initialised uniformly in
    ``±1/√in_features`` (PyTorch's default) from ``seed``.

    >>> lin = Linear(3, 2, seed=0)
    >>> lin(np.ones((4, 3))).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, seed: Any = None,
                 dtype: Any = np.float64) -> None:
        super().__init__()
        self.in_features = _dim("in_features", in_features)
        self.out_features = _dim("out_features", out_features)
        bias = check_bool("bias", bias)
        dtype = _float_dtype(dtype)
        rng = _rng(seed)
        bound = 1.0 / np.sqrt(self.in_features)
        self.weight = TRTensor.parameter(
            rng.uniform(-bound, bound, (self.in_features, self.out_features)).astype(dtype))
        self.bias = (TRTensor.parameter(rng.uniform(-bound, bound, (self.out_features,)).astype(dtype))
                     if bias else None)

    def forward(self, x: Any) -> TRTensor:
        """``x @ weight + bias`` for ``x`` of shape (batch, in_features) (array-like or
        TRTensor); returns shape (batch, out_features). Other shapes raise ``ValueError``.

        >>> lin = Linear(2, 3, bias=False, seed=0)
        >>> np.allclose(lin.forward(np.eye(2)).numpy(), lin.weight.numpy())
        True
        """
        x = as_input(x)
        if x.ndim != 2 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear({self.in_features}, {self.out_features}): input must have shape "
                f"(batch, {self.in_features}), got {x.shape}"
            )
        y = x @ self.weight
        return y + self.bias if self.bias is not None else y

    def get_config(self) -> dict[str, Any]:
        """The constructor's ``in_features``, ``out_features`` and ``bias`` (whether the layer
        has one), JSON-able; ``seed`` and ``dtype`` are not included.

        >>> Linear(3, 2, bias=False).get_config()
        {'in_features': 3, 'out_features': 2, 'bias': False}
        """
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None}


class ReLU(Module):
    """Transreal rectifier ``max(x, 0)`` (``+∞ → +∞``, ``−∞ → 0``, Φ stays Φ).

    >>> from zeroproof.layers.base import ReLU
    >>> ReLU()(np.array([-1.0, np.inf, np.nan])).value
    TRArray([0.0, +∞, Φ], dtype=float64)
    """

    def forward(self, x: Any) -> TRTensor:
        """Elementwise transreal ``max(x, 0)`` of ``x`` (array-like or TRTensor), same shape.

        >>> ReLU()(np.array([-1.0, 2.0, -np.inf])).value
        TRArray([0.0, 2.0, 0.0], dtype=float64)
        """
        return relu(as_input(x))

    def get_config(self) -> dict[str, Any]:
        """``{}``: the layer has no hyper-parameters."""
        return {}


class Sequential(Module):
    """Apply modules in order.

    >>> net = Sequential(Linear(1, 8, seed=0), ReLU(), Linear(8, 1, seed=1))
    >>> len(net.parameters()), net(np.zeros((5, 1))).shape
    (4, (5, 1))
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} must be a Module, got {type(layer).__name__}")
        self.layers = list(layers)

    def forward(self, x: Any) -> Any:
        """Pass ``x`` through the layers in order; returns the last layer's output."""
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)
