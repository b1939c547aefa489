"""Optimizers on batched-tape parameters: ``SGD`` (momentum, Nesterov), ``Adam`` and ``AdamW``.

Each optimizer takes a list of :class:`~zeroproof.array.TRTensor` leaves (``model.parameters()``)
and writes new values with ``set_value``. The rule for non-REAL numbers, per element:

* an element whose gradient is **not REAL** (``±∞`` or Φ) is **skipped**: its parameter and its
  optimizer state (momentum, moments) keep their previous values;
* an element whose update would write a **non-finite** number (a huge REAL gradient whose square
  overflows in Adam's second moment, a step that overflows the parameter) is skipped the same way;
* a parameter element that is itself non-REAL is never touched (it can only come from the user).

Skipped elements are counted: ``optimizer.last_skipped`` (the last ``step``) and
``optimizer.total_skipped``. Parameters whose ``.gradient`` is None (not reached by backward) are
left alone, as in PyTorch. So no optimizer ever writes NaN or ±inf into a REAL parameter.

>>> import numpy as np
>>> from zeroproof.array import parameter
>>> w = parameter(np.array([1.0, 2.0]))
>>> opt = SGD([w], lr=0.5)
>>> (w * w).sum().backward(); opt.step(), w.value
(0, TRArray([0.0, 0.0], dtype=float64))
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from ..array.tape import TRTensor
from ..core._parse import as_float, check_bool, check_int, is_iterable, is_real_number, short_repr

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


def _number(name: str, value: Any, *, positive: bool = False, lo: float | None = None,
            hi: float | None = None, hi_open: bool = False) -> float:
    if not is_real_number(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} "
                        f"{short_repr(value, 40)}")
    v = as_float(value)  # an int beyond the float range reads as ±inf: refused below
    bad = not math.isfinite(v) or (positive and v <= 0) or (lo is not None and v < lo) or (
        hi is not None and (v >= hi if hi_open else v > hi))
    if bad:
        if positive:
            want = "a finite number > 0"
        elif hi is None or math.isinf(hi):
            want = f"a finite number >= {lo}"
        else:
            want = f"a finite number in [{lo}, {hi}{')' if hi_open else ']'}"
        raise ValueError(f"{name} must be {want}, got {short_repr(value, 40)}")
    return v


def _param_list(params: Any, owner: str) -> list:
    """``params`` as a list; a clear ``TypeError`` for the usual slips (``model.parameters``
    without the call, the model itself, a single tensor, a number)."""
    what = f"{owner}(params, ...): params must be an iterable of TRTensor parameters " \
           "(model.parameters())"
    if isinstance(params, TRTensor):
        raise TypeError(f"{what}, got a single TRTensor; wrap it in a list: [w]")
    if callable(getattr(params, "parameters", None)):
        raise TypeError(f"{what}, got the model ({type(params).__name__}) itself; "
                        "pass model.parameters()")
    if callable(params):
        name = getattr(params, "__qualname__", None) or type(params).__name__
        raise TypeError(f"{what}, got the callable {name!r} (not called); pass "
                        "model.parameters() with the parentheses")
    if not is_iterable(params):
        raise TypeError(f"{what}, got {type(params).__name__} {short_repr(params, 40)}")
    return list(params)


def _betas(value: Any) -> tuple[float, float]:
    try:
        b1, b2 = value
    except (TypeError, ValueError):
        raise TypeError(f"betas must be a pair of numbers in [0, 1), got "
                        f"{short_repr(value, 60)}") from None
    return (_number("betas[0]", b1, lo=0.0, hi=1.0, hi_open=True),
            _number("betas[1]", b2, lo=0.0, hi=1.0, hi_open=True))


# Hyper-parameters are checked on every assignment, in the constructor and afterwards (as
# ``lr`` is), so ``opt.eps = -1`` fails at once instead of corrupting later steps.
_HYPER_CHECKS = {
    "momentum": lambda v: _number("momentum", v, lo=0.0, hi=1.0, hi_open=True),
    "weight_decay": lambda v: _number("weight_decay", v, lo=0.0, hi=float("inf")),
    "eps": lambda v: _number("eps", v, positive=True),
    "betas": _betas,
}


class Optimizer:
    """Base class: parameter list, ``zero_grad``, the non-REAL rule, state for checkpoints.

    Subclasses implement ``_update(i, p, g) -> (new_p, new_state)`` on plain float arrays;
    the base class applies the skip rule and writes the result.

    >>> from zeroproof.array import parameter
    >>> from zeroproof.training.optim import SGD, Optimizer
    >>> opt = SGD([parameter([1.0])], lr=0.1)
    >>> isinstance(opt, Optimizer), opt.step(), opt.step_count  # no gradient yet: nothing to do
    (True, 0, 1)
    """

    _state_keys: tuple[str, ...] = ()

    def __init__(self, params: Iterable[TRTensor], lr: float) -> None:
        plist = _param_list(params, type(self).__name__)
        if not plist:
            raise ValueError("params is empty: pass model.parameters() (a non-empty list of "
                             "TRTensor parameters)")
        for i, p in enumerate(plist):
            if not isinstance(p, TRTensor) or not p.is_leaf or not p._param:
                raise TypeError(f"params[{i}] must be a TRTensor parameter (a leaf made by "
                                f"parameter(), frozen or not), got {short_repr(p, 60)}")
        if len({id(p) for p in plist}) != len(plist):
            raise ValueError("params lists the same parameter more than once")
        self.params = plist
        self.lr = lr  # checked by the property
        self.step_count = 0
        self.last_skipped = 0
        self.total_skipped = 0
        self.state: list[dict[str, np.ndarray]] = [
            {k: np.zeros(p.shape) for k in self._state_keys} for p in plist]

    @property
    def lr(self) -> float:
        """Learning rate; may be changed between steps (a finite number > 0).

        >>> opt = SGD([TRTensor.parameter(np.array([1.0]))], lr=0.1); opt.lr = 0.05; opt.lr
        0.05
        """
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _number("lr", value, positive=True)

    def __setattr__(self, name: str, value: Any) -> None:
        check = _HYPER_CHECKS.get(name)
        object.__setattr__(self, name, value if check is None else check(value))

    def zero_grad(self) -> None:
        """Forget the accumulated gradients of every parameter."""
        for p in self.params:
            p.zero_grad()

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    def step(self) -> int:
        """Apply one update; returns the number of skipped elements (non-REAL gradient, or an
        update that would not be finite)."""
        self.step_count += 1
        skipped = 0
        with np.errstate(all="ignore"):
            for i, p in enumerate(self.params):
                grad = p.gradient
                if grad is None:
                    continue
                g = np.asarray(grad.codes, dtype=np.float64)
                if grad.bottom is not None:
                    g = np.where(grad.bottom, np.nan, g)
                old = np.asarray(p.codes, dtype=np.float64)
                ok = np.isfinite(g) & np.isfinite(old)
                g0 = np.where(ok, g, 0.0)
                new_p, new_state = self._update(i, old, g0)
                with np.errstate(over="ignore"):  # finite in float64 but not in the dtype: skip
                    ok &= np.isfinite(new_p.astype(p.dtype, copy=False))
                for v in new_state.values():
                    ok &= np.isfinite(v)
                skipped += int(ok.size - np.count_nonzero(ok))
                st = self.state[i]
                for k, v in new_state.items():
                    st[k] = np.where(ok, v, st[k])
                if not ok.all() or not np.array_equal(new_p, old):
                    p.set_value(np.where(ok, new_p, old).astype(p.dtype))
        self.last_skipped = skipped
        self.total_skipped += skipped
        return skipped

    # checkpoints ------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Hyper-parameters (JSON-able)."""
        return {"lr": self.lr}

    def state_dict(self) -> dict[str, Any]:
        """``{"config", "step_count", "total_skipped", "arrays": {"<i>.<key>": array}}``."""
        arrays = {f"{i}.{k}": np.array(v, copy=True) for i, st in enumerate(self.state)
                  for k, v in st.items()}
        return {"type": type(self).__name__, "config": self.get_config(),
                "step_count": self.step_count, "total_skipped": self.total_skipped,
                "arrays": arrays}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (same optimizer type and parameter shapes).
        The hyper-parameters are checked as the constructor checks them; nothing changes unless
        the whole state is valid."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        if state.get("type") != type(self).__name__:
            raise ValueError(f"optimizer state is for {state.get('type')!r}, this optimizer is "
                             f"{type(self).__name__!r}")
        arrays = state.get("arrays", {})
        want = {f"{i}.{k}": p.shape for i, p in enumerate(self.params) for k in self._state_keys}
        if set(arrays) != set(want):
            raise ValueError(f"optimizer state holds {sorted(arrays)}, this optimizer needs "
                             f"{sorted(want)}")
        for key, shape in want.items():
            if np.shape(arrays[key]) != shape:
                raise ValueError(f"optimizer state {key!r} has shape {np.shape(arrays[key])}, "
                                 f"the parameter has {shape}")
        config = state.get("config", {})
        if not isinstance(config, dict) or set(config) != set(self.get_config()):
            raise ValueError(f"optimizer state config must have the keys "
                             f"{sorted(self.get_config())}, got {short_repr(config, 80)}")
        checked = type(self)(self.params, **config)  # the constructor's checks, on a scratch copy
        loaded = {}
        for key in want:  # every array converted and checked before anything is changed
            try:
                a = np.array(arrays[key], dtype=np.float64, copy=True)
            except (TypeError, ValueError):
                raise TypeError(f"optimizer state {key!r} must hold real numbers, got "
                                f"{np.asarray(arrays[key]).dtype}") from None
            if not np.isfinite(a).all():
                raise ValueError(f"optimizer state {key!r} holds non-finite values (NaN or ±inf); "
                                 f"a moment must be a finite number")
            loaded[key] = a
        counts = {}
        for name in ("step_count", "total_skipped"):  # checked before anything changes, too
            counts[name] = check_int(f"optimizer state {name!r}", state.get(name, 0), 0)
        for key, a in loaded.items():
            i, k = key.split(".", 1)
            self.state[int(i)][k] = a
        for k in config:
            setattr(self, k, getattr(checked, k))
        self.step_count = counts["step_count"]
        self.total_skipped = counts["total_skipped"]

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {cfg})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (``v ← μv + g; p ← p − lr·v``),
    Nesterov momentum and L2 weight decay (added to the gradient).

    >>> import numpy as np
    >>> from zeroproof.array import parameter
    >>> w = parameter(np.array([1.0]))
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w * w).sum().backward(); _ = opt.step()
    >>> round(float(w.value.codes[0]), 6)      # 1 − 0.2 = 0.8, then 0.8 − 0.1·(0.9·2 + 1.6)
    0.46
    """

    _state_keys = ("momentum_buffer",)

    def __init__(self, params: Iterable[TRTensor], lr: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = momentum            # checked by __setattr__
        self.weight_decay = weight_decay
        nesterov = check_bool("nesterov", nesterov)
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0, got momentum=0.0")
        self.nesterov = nesterov

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum == 0.0:
            return p - self.lr * g, {"momentum_buffer": self.state[i]["momentum_buffer"]}
        buf = self.state[i]["momentum_buffer"]
        buf = self.momentum * buf + g  # the buffer starts at 0, so step 1 gives buf = g
        d = g + self.momentum * buf if self.nesterov else buf
        return p - self.lr * d, {"momentum_buffer": buf}

    def get_config(self) -> dict[str, Any]:
        """Hyper-parameters ``lr``, ``momentum``, ``nesterov`` and ``weight_decay`` (JSON-able).

        >>> SGD([TRTensor.parameter(np.array([1.0]))], lr=0.1, momentum=0.9).get_config()
        {'lr': 0.1, 'momentum': 0.9, 'nesterov': False, 'weight_decay': 0.0}
        """
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` is L2 added to the gradient.

    >>> import numpy as np
    >>> from zeroproof.array import parameter
    >>> w = parameter(np.array([1.0, -1.0]))
    >>> opt = Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); _ = opt.step()
    >>> np.round(w.value.codes, 6).tolist()   # the first Adam step moves each weight by lr
    [0.9, -0.9]
    """

    # "step": per element, how many updates it received (PyTorch counts per parameter; an
    # element skipped for a non-REAL gradient keeps its count, so its bias correction stays right)
    _state_keys = ("exp_avg", "exp_avg_sq", "step")
    _decoupled = False

    def __init__(self, params: Iterable[TRTensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.betas = betas                  # checked by __setattr__
        self.eps = eps
        self.weight_decay = weight_decay

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        b1, b2 = self.betas
        st = self.state[i]
        if self.weight_decay and not self._decoupled:
            g = g + self.weight_decay * p
        m = b1 * st["exp_avg"] + (1.0 - b1) * g
        v = b2 * st["exp_avg_sq"] + (1.0 - b2) * (g * g)
        t = st["step"] + 1.0
        m_hat = m / (1.0 - b1 ** t)
        v_hat = v / (1.0 - b2 ** t)
        new = p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        if self.weight_decay and self._decoupled:
            new = new - self.lr * self.weight_decay * p
        return new, {"exp_avg": m, "exp_avg_sq": v, "step": t}

    def get_config(self) -> dict[str, Any]:
        """Hyper-parameters ``lr``, ``betas`` (a list), ``eps`` and ``weight_decay`` (JSON-able)."""
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """As :meth:`Optimizer.load_state_dict`, then ``betas`` (a list in the config) is made a
        tuple again.

        >>> w = TRTensor.parameter(np.array([1.0]))
        >>> opt = Adam([w], lr=0.1); (w * w).sum().backward(); _ = opt.step()
        >>> opt2 = Adam([w]); opt2.load_state_dict(opt.state_dict())
        >>> opt2.lr, opt2.betas, opt2.step_count
        (0.1, (0.9, 0.999), 1)
        """
        if isinstance(state, dict) and isinstance(state.get("arrays"), dict) and not any(
                k.endswith(".step") for k in state["arrays"]):
            # a state saved before per-element step counts: every element has taken step_count
            state = dict(state)
            arrays = dict(state["arrays"])
            count = float(state.get("step_count", 0))
            for key in list(arrays):
                if key.endswith(".exp_avg"):
                    arrays[key[:-len("exp_avg")] + "step"] = np.full(np.shape(arrays[key]), count)
            state["arrays"] = arrays
        super().load_state_dict(state)
        self.betas = tuple(self.betas)  # type: ignore[assignment]


class AdamW(Adam):
    """Adam with decoupled weight decay (``p ← p − lr·wd·p`` besides the Adam step; default
    ``weight_decay=0.01``, as in PyTorch).

    >>> import numpy as np
    >>> from zeroproof.array import parameter
    >>> w = parameter(np.array([2.0]))
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * 0.0).sum().backward(); _ = opt.step(); w.value     # zero gradient: decay only
    TRArray([1.9], dtype=float64)
    """

    _decoupled = True

    def __init__(self, params: Iterable[TRTensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
