"""``SCMInferenceWrapper``: run a ``(P, Q)`` model and decode it strictly in eval mode."""
from __future__ import annotations

from typing import Any, Optional

from .mode import InferenceConfig, _resolve_config, strict_inference
from ..core._parse import check_bool

__all__ = ["SCMInferenceWrapper"]


class SCMInferenceWrapper:
    """Wrap a model whose call returns ``(P, Q)``.

    Like a PyTorch module it has a ``training`` flag with :meth:`train` / :meth:`eval`:

    * training mode (the default, as for a PyTorch module): ``wrapper(x)`` returns the model's
      ``(P, Q)`` unchanged, so the wrapper can be trained like the model;
    * eval mode (``wrapper.eval()``): ``wrapper(x)`` returns ``strict_inference(P, Q, config)``,
      i.e. ``(decoded, bottom_mask, gap_mask)``.

    ``train()``/``eval()`` are forwarded to the model when it has them. Every other attribute
    (``parameters``, ``state_dict``, ``get_config``, ...) is looked up on the wrapped model.

    >>> import numpy as np
    >>> from zeroproof.inference import InferenceConfig, SCMInferenceWrapper
    >>> model = lambda x: (x, x - 1.0)
    >>> wrapped = SCMInferenceWrapper(model, InferenceConfig(tau_infer=1e-3))
    >>> P, Q = wrapped(np.array([3.0]))        # training mode: the pair, unchanged
    >>> Q
    array([2.])
    >>> decoded, bottom, gap = wrapped.eval()(np.array([3.0, 1.0]))
    >>> decoded, bottom
    (array([1.5, nan]), array([False,  True]))
    """

    def __init__(self, model: Any, config: Optional[InferenceConfig] = None) -> None:
        if not callable(model):
            raise TypeError(f"model must be callable and return (P, Q), got "
                            f"{type(model).__name__}")
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "config", _resolve_config(config))
        object.__setattr__(self, "training", True)

    def train(self, mode: bool = True) -> "SCMInferenceWrapper":
        """Set training mode (``mode=False`` is eval); returns ``self``.

        >>> from zeroproof.inference import SCMInferenceWrapper
        >>> SCMInferenceWrapper(lambda x: (x, x)).eval().train().training
        True
        """
        mode = check_bool("mode", mode)
        object.__setattr__(self, "training", mode)
        inner = getattr(self.model, "train", None)
        if callable(inner):
            inner(mode)
        return self

    def eval(self) -> "SCMInferenceWrapper":
        """Set eval (strict decoding) mode; returns ``self``.

        >>> from zeroproof.inference import SCMInferenceWrapper
        >>> SCMInferenceWrapper(lambda x: (x, x)).train().eval().training
        False
        """
        object.__setattr__(self, "training", False)
        inner = getattr(self.model, "eval", None)
        if callable(inner):
            inner()
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Training mode: the model's ``(P, Q)``; eval mode: ``strict_inference`` of it."""
        out = model_pq(self.model, *args, training=self.training, **kwargs)
        if self.training:
            return out
        return strict_inference(out[0], out[1], self.config)

    forward = __call__

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: delegate to the wrapped model.
        if name.startswith("__") or name in ("model", "config", "training"):
            raise AttributeError(name)
        return getattr(object.__getattribute__(self, "model"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "config":
            value = _resolve_config(value)
        elif name == "training":
            raise AttributeError("use train() / eval() to switch modes")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        mode = "train" if self.training else "eval"
        return f"SCMInferenceWrapper({self.model!r}, {self.config!r}, mode={mode!r})"


def model_pq(model: Any, *args: Any, training: bool = False, **kwargs: Any) -> Any:
    """The ``(P, Q)`` pair of ``model`` for these inputs, by the bundle model protocol.

    A model whose call returns the pair is called; a model whose call returns something else
    (a :class:`~zeroproof.layers.RationalLayer` gives ``y = P/Q``) is asked through
    ``predict_pq`` (NumPy arrays, for decoding) or, when ``training``, ``forward_pq`` (the
    differentiable pair on the batched tape); in training a model without ``forward_pq`` is
    called, never ``predict_pq``. Anything but a pair is a ``TypeError``.

    >>> from zeroproof.inference.wrapper import model_pq
    >>> model_pq(lambda x: (x, 2 * x), 3.0)
    (3.0, 6.0)
    """
    # training needs the differentiable pair: never the NumPy view (that would detach silently)
    names = ("forward_pq",) if training else ("predict_pq", "forward_pq")
    method = next((m for m in (getattr(model, n, None) for n in names) if callable(m)), None)
    out = method(*args, **kwargs) if method is not None else model(*args, **kwargs)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(
            f"the wrapped model must return a pair (P, Q) (or define predict_pq/forward_pq), got "
            f"{type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    return out
