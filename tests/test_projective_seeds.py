"""Every snippet of seeds/projective_learning_mode.txt and seeds/projective_training_guide.txt,
verbatim, with NumPy arrays or scalar nodes in place of tensors (``zeroproofml`` read as
``zeroproof``; ``torch`` replaced by a small shim over zeroproof's layers and NumPy)."""
import types

import numpy as np
import pytest

import zeroproof.array as za
from zeroproof.autodiff import TRNode, no_grad, stop_gradient


# ---- projective_learning_mode.txt ----------------------------------------------------------
@pytest.mark.parametrize("kind", ["numpy", "tensor", "node"])
def test_gauge_policy_snippet(kind):
    P, Q = {"numpy": (np.array([3.0, -1.0]), np.array([4.0, 2.0])),
            "tensor": (za.parameter([3.0, -1.0]), za.parameter([4.0, 2.0])),
            "node": (TRNode.parameter(3.0), TRNode.parameter(4.0))}[kind]
    from zeroproof.autodiff.projective import GaugePolicy, ProjectiveNormalize
    normalize = ProjectiveNormalize(GaugePolicy.UNIT_L2_PROJECTIVE)
    P_hat, Q_hat = normalize(P, Q)
    p, q = (np.asarray(float(v.value)) if kind == "node" else
            (v.numpy() if kind == "tensor" else v) for v in (P_hat, Q_hat))
    assert np.allclose(p ** 2 + q ** 2, 1.0)


class _Array(np.ndarray):
    """NumPy array with torch's ``unsqueeze`` (the only tensor method the snippet uses on data)."""

    def unsqueeze(self, dim):
        return np.expand_dims(np.asarray(self), dim).view(_Array)


def _torch_shim():
    from zeroproof.array import TRTensor
    from zeroproof.layers import Linear, Module, ReLU, Sequential
    from zeroproof.training import AdamW
    nn = types.SimpleNamespace(Module=Module, Sequential=Sequential, Linear=Linear, ReLU=ReLU)
    torch = types.SimpleNamespace(
        Tensor=TRTensor, nn=nn, optim=types.SimpleNamespace(AdamW=AdamW),
        linspace=lambda a, b, n: np.linspace(a, b, n).view(_Array))
    return torch, nn


def test_toy_angular_projective_snippet():
    try:
        from zeroproof.training import SCMTrainer, TrainingConfig  # noqa: F401
        from zeroproof.training import DataLoader, TensorDataset  # noqa: F401
    except ImportError:
        pytest.skip("zeroproof.training.SCMTrainer/TrainingConfig/DataLoader (issue 8) do not exist yet")
    torch, nn = _torch_shim()
    # ---- snippet (imports of torch / torch.nn / torch.utils.data replaced by the shim) ----
    from zeroproof.inference import InferenceConfig, SCMInferenceWrapper
    from zeroproof.layers.angular_projective import AngularProjectiveHead
    from zeroproof.losses.implicit import implicit_loss
    from zeroproof.training import SCMTrainer, TrainingConfig
    from zeroproof.training import DataLoader, TensorDataset

    class ToyAngularProjective(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
            self.head = AngularProjectiveHead(input_dim=32, output_dim=1, theta_scale=1.0)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.backbone(x)
            p, q = self.head(h)
            return p.squeeze(-1), q.squeeze(-1)

    model = ToyAngularProjective()
    wrapped = SCMInferenceWrapper(model, config=InferenceConfig(tau_infer=1e-6, tau_train=1e-4))

    # Train on smooth tuples (wrapper in train mode passes (P, Q) through unchanged).
    x = torch.linspace(-1.0, 1.0, 512).unsqueeze(-1)
    y = 1.0 / (x + 0.1)  # may include large-magnitude targets near the pole
    train_loader = DataLoader(TensorDataset(x, y.squeeze(-1)), batch_size=128, shuffle=True)

    def loss_fn(outputs, lifted_targets):
        p, q = outputs
        y_n, y_d = lifted_targets
        return implicit_loss(p, q, y_n, y_d)

    opt = torch.optim.AdamW(wrapped.parameters(), lr=1e-3)
    trainer = SCMTrainer(model=wrapped, optimizer=opt, loss_fn=loss_fn, train_loader=train_loader)
    trainer.fit()

    # Infer on strict (wrapper in eval mode decodes + emits masks).
    wrapped.eval()
    decoded, bottom_mask, gap_mask = wrapped(x)
    # ---- end of snippet ----
    assert decoded.shape == bottom_mask.shape == gap_mask.shape == (512,)
    assert np.isfinite(trainer.history[-1]["loss"])


# ---- projective_training_guide.txt -----------------------------------------------------------
@pytest.mark.parametrize("kind", ["numpy", "tensor", "node"])
def test_detached_renormalization_snippet(kind):
    gamma = 1e-9
    if kind == "numpy":
        N, D, sqrt, sg = np.array([3.0, 0.0]), np.array([4.0, 2.0]), np.sqrt, lambda v: v
    elif kind == "tensor":
        N, D, sqrt, sg = za.parameter([3.0, 0.0]), za.parameter([4.0, 2.0]), za.tape.sqrt, stop_gradient
    else:
        from zeroproof.autodiff import tr_sqrt
        N, D, sqrt, sg = TRNode.parameter(3.0), TRNode.parameter(4.0), tr_sqrt, stop_gradient
    torch = types.SimpleNamespace(sqrt=sqrt)
    S = sg(torch.sqrt(N ** 2 + D ** 2)) + gamma
    N_hat, D_hat = N / S, D / S
    from zeroproof.autodiff import projective
    ref = projective.renormalize(N, D, gamma=gamma)
    val = (lambda v: np.asarray(float(v.value)) if kind == "node" else
           (v.numpy() if kind == "tensor" else v))
    assert np.array_equal(val(N_hat), val(ref[0])) and np.array_equal(val(D_hat), val(ref[1]))


@pytest.mark.parametrize("kind", ["numpy", "tensor", "node"])
def test_denominator_anchoring_snippet(kind):
    from zeroproof.autodiff import projective
    P, delta_Q = {"numpy": (np.array([0.5, 2.0]), np.array([0.01, -0.2])),
                  "tensor": (za.parameter([0.5, 2.0]), za.parameter([0.01, -0.2])),
                  "node": (TRNode.parameter(0.5), TRNode.parameter(0.01))}[kind]
    Q = 1 + delta_Q
    P, Q = projective.renormalize(P, Q, gamma=1e-9)
    assert projective.tuple_norm(P, Q) == pytest.approx(1.0) if kind == "node" else \
        np.allclose(projective.tuple_norm(P, Q), 1.0)


@pytest.mark.parametrize("kind", ["numpy", "tensor", "node"])
def test_minimal_training_skeleton_snippet(kind):
    batch = {"numpy": np.array([0.5, np.inf, 2.0]), "tensor": za.parameter([0.5, 1.0, 2.0]),
             "node": TRNode.parameter(0.5)}[kind]
    targets = {"numpy": np.array([0.5, 0.0, 2.0]), "tensor": np.array([1.0, 1.0, 1.0]),
               "node": 1.0}[kind]

    def loss_fn(out, tgt):
        if kind == "numpy":
            return types.SimpleNamespace(backward=lambda: None, value=out)
        diff = out - tgt
        return (diff * diff).sum() if kind == "tensor" else diff * diff

    torch = types.SimpleNamespace(no_grad=no_grad)
    from zeroproof.autodiff import projective

    # Forward: lift and renormalize
    N, D = projective.encode(batch)  # φ(x)
    N, D = projective.renormalize(N, D, gamma=1e-9)

    # Losses on tuples or decoded SCM values
    outputs = projective.decode(N, D)  # φ⁻¹(N, D)
    loss = loss_fn(outputs, targets)
    loss.backward()

    # Inference: decode only
    with torch.no_grad():
        outputs = projective.decode(N, D)
    if kind == "numpy":
        assert outputs.bottom.tolist() == [False, True, False]
        assert np.allclose(outputs.to_numpy()[[0, 2]], [0.5, 2.0])
    elif kind == "tensor":
        assert not outputs.requires_grad and np.allclose(outputs.numpy(), [0.5, 1.0, 2.0])
        assert np.allclose(batch.gradient.to_numpy(), [-1.0, 0.0, 2.0])
    else:
        assert float(outputs.value) == pytest.approx(0.5) and float(batch.gradient) == pytest.approx(-1.0)


@pytest.mark.parametrize("kind", ["numpy", "tensor", "node"])
def test_implicit_loss_scale_snippet(kind):
    from zeroproof.losses import implicit_loss
    vals = (np.array([0.3, -1.0]), np.array([0.8, 0.1]), np.array([2.0, 1.0]), np.array([1.0, 0.0]))
    gamma = 1e-9
    if kind == "numpy":
        P, Q, Y_n, Y_d = vals
        mean = np.mean
    elif kind == "tensor":
        P, Q = za.parameter(vals[0]), za.parameter(vals[1]); Y_n, Y_d = vals[2], vals[3]
        mean = lambda t: t.mean()
    else:
        P, Q = TRNode.parameter(0.3), TRNode.parameter(0.8); Y_n, Y_d = 2.0, 1.0
        mean = lambda t: t
    cross = P * Y_d - Q * Y_n
    scale_sq = Q**2 * Y_d**2 + P**2 * Y_n**2 + gamma
    loss = mean((cross**2) / scale_sq)
    ours = implicit_loss(P, Q, Y_n, Y_d, gamma=gamma)
    value = (lambda v: float(v) if kind == "numpy" else
             (float(v.numpy()) if kind == "tensor" else float(v.value)))
    assert value(loss) == pytest.approx(value(ours), rel=1e-14)
