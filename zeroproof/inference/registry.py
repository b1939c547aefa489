"""Model registry for deployment bundles (import has no side effects and no heavy imports).

A class that satisfies :class:`BundleModel` is registered under a stable name::

    from zeroproof.inference.registry import register_model

    @register_model("my_project.RationalHead")
    class RationalHead: ...

A bundle records both the registered name and ``"module:qualname"``. When a bundle is loaded the
name is looked up first; if it is not registered yet and the recorded module starts with
``"zeroproof."``, that module is imported (registering its classes as a side effect of its own
import) and the lookup is retried. Modules outside ``zeroproof`` are never imported from a
bundle: import them yourself before loading (a bundle must not be able to run arbitrary code).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol, TypeVar, runtime_checkable

import numpy as np
from ..core._parse import short_repr

__all__ = ["BundleModel", "register_model", "registered_models", "resolve_model_class",
           "model_class_path"]

_REGISTRY: dict[str, type] = {}
_PROTOCOL_METHODS = ("get_config", "state_dict", "load_state_dict", "from_config", "__call__")

T = TypeVar("T", bound=type)


@runtime_checkable
class BundleModel(Protocol):
    """What :func:`~zeroproof.inference.export_bundle` needs from a model.

    * ``get_config() -> dict``: JSON-able, everything ``from_config`` needs to rebuild the
      architecture (no parameters).
    * ``state_dict() -> dict[str, np.ndarray]``: every parameter, as real-valued arrays.
    * ``load_state_dict(d)``: load such a dict; raise ``ValueError`` on missing/extra keys or
      wrong shapes.
    * ``from_config(config)`` (classmethod): a fresh model of that architecture.
    * ``__call__(x: np.ndarray) -> (P, Q)``: NumPy arrays of the same shape. A model whose call
      returns something else (e.g. :class:`zeroproof.layers.RationalLayer`, whose call gives
      ``y = P/Q`` on the batched tape) defines ``predict_pq(x) -> (P, Q)`` instead; bundles use
      it when present.

    >>> from zeroproof.inference.registry import BundleModel
    >>> from zeroproof.inference.reference_models import PolynomialRationalHead
    >>> isinstance(PolynomialRationalHead(2), BundleModel), isinstance(object(), BundleModel)
    (True, False)
    """

    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON-able data: everything ``from_config`` needs, no parameters."""
        ...

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter by name, as a real-valued NumPy array."""
        ...

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Load a dict like the one :meth:`state_dict` returns into the parameters; raise
        ``ValueError`` on missing or extra keys or wrong shapes."""
        ...

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "BundleModel":
        """A fresh model of the architecture in ``config`` (a :meth:`get_config` result)."""
        ...

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def model_class_path(cls: type) -> str:
    """``"module:qualname"`` of a class.

    >>> from zeroproof.inference.registry import model_class_path
    >>> model_class_path(dict)
    'builtins:dict'
    """
    return f"{cls.__module__}:{cls.__qualname__}"


def register_model(name: str) -> Callable[[T], T]:
    """Class decorator: register a :class:`BundleModel` class under ``name``.

    Re-registering the same class (same ``module:qualname``, e.g. after a module reload) is
    allowed; a different class under a taken name is a ``ValueError``.

    >>> from zeroproof.inference.registry import register_model, registered_models
    >>> @register_model("doc.Identity")
    ... class Identity:
    ...     def get_config(self): return {}
    ...     def state_dict(self): return {}
    ...     def load_state_dict(self, d): pass
    ...     @classmethod
    ...     def from_config(cls, config): return cls()
    ...     def __call__(self, x): return x, x * 0 + 1
    >>> registered_models()["doc.Identity"].endswith(":Identity")
    True
    """
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"register_model(name): name must be a non-empty str, got "
                        f"{short_repr(name, 60)}")

    def decorate(cls: T) -> T:
        if not isinstance(cls, type):
            raise TypeError(f"register_model({name!r}) decorates classes, got "
                            f"{type(cls).__name__}")
        missing = missing_methods(cls)
        if missing:
            raise TypeError(f"register_model({name!r}): class {cls.__qualname__} does not satisfy "
                            f"the BundleModel protocol, missing {missing}")
        old = _REGISTRY.get(name)
        if old is not None and old is not cls and model_class_path(old) != model_class_path(cls):
            raise ValueError(f"register_model: name {name!r} is already registered for "
                             f"{model_class_path(old)}, cannot register {model_class_path(cls)}")
        _REGISTRY[name] = cls
        cls.__zeroproof_model_name__ = name  # type: ignore[attr-defined]
        return cls

    return decorate


def registered_models() -> dict[str, str]:
    """Registered names → ``"module:qualname"``.

    >>> from zeroproof.inference.registry import registered_models
    >>> isinstance(registered_models(), dict)
    True
    """
    return {k: model_class_path(v) for k, v in sorted(_REGISTRY.items())}


def missing_methods(cls: type) -> list[str]:
    """The methods of the :class:`BundleModel` protocol that ``cls`` lacks (empty: it follows it).

    >>> missing_methods(int)
    ['get_config', 'state_dict', 'load_state_dict', 'from_config', '__call__']
    """
    return [m for m in _PROTOCOL_METHODS  # (defined by the class: type's own __call__ is not
            if not (any(m in vars(k) for k in cls.__mro__)  # the model's)
                    and callable(getattr(cls, m, None)))]


def registered_name(cls: type) -> str | None:
    """The name ``cls`` is registered under, or None."""
    name = getattr(cls, "__zeroproof_model_name__", None)
    if name is not None and _REGISTRY.get(name) is cls:
        return name
    return None


def resolve_model_class(name: str, class_path: str | None = None) -> type:
    """The registered class for ``name``; may import a ``zeroproof.*`` module named in
    ``class_path`` (``"module:qualname"``) to get it registered. Raises ``LookupError``.

    >>> from zeroproof.inference.registry import resolve_model_class
    >>> resolve_model_class("zeroproof.PolynomialRationalHead",
    ...     "zeroproof.inference.reference_models:PolynomialRationalHead").__name__
    'PolynomialRationalHead'
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if class_path:
        module = class_path.split(":", 1)[0]
        if module.startswith("zeroproof."):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise LookupError(f"model {name!r}: importing {module!r} failed: {exc}") from exc
            if name in _REGISTRY:
                return _REGISTRY[name]
        else:
            raise LookupError(
                f"model {name!r} ({class_path}) is not registered; bundles only import "
                f"zeroproof.* modules, so import {module!r} before loading the bundle")
    raise LookupError(f"model {name!r} is not registered (known: {sorted(_REGISTRY)})")
