"""Contract of every VAE model plugin (rdlab.model.VAEModel), from the table in plugin_cases."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rdlab.config import ObjectiveConfig, SigmaConfig
from rdlab.errors import SpecError
from rdlab.model import VAEModel, VAEOutput
from rdlab.objectives.loss import compose
from rdlab.objectives.sigma import build_policy
from rdlab.plugins import model_registry
from rdlab.train.checkpoint import load_checkpoint, save_checkpoint

from tests.contracts.plugin_cases import BATCH, LATENT, MODELS, Case, ModelCase

FORMAT = "rdlab-checkpoint-1"


def test_every_registered_model_has_a_case() -> None:
    missing = set(model_registry().names()) - {c.name for c in MODELS}
    assert not missing, f"add a ModelCase for {sorted(missing)} in tests/contracts/plugin_cases.py"


def _batch(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.rand(BATCH, *shape, generator=torch.Generator().manual_seed(seed))


def _loss(model: VAEModel, x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """One batch's training objective; the seed fixes z's noise so losses compare."""
    torch.manual_seed(seed)
    out = model(x)
    policy = build_policy("fixed", -6.0, {"value": 0.3})
    return compose(x, out, policy, ObjectiveConfig(sigma=SigmaConfig(policy="fixed"))).loss


def test_forward_returns_vae_output_of_the_right_shapes(vae_case: Case) -> None:
    case, shape = vae_case
    model = case.build(shape)
    assert model.data_shape == shape and model.latent_dim == LATENT
    x = _batch(shape)
    out = model(x)
    assert isinstance(out, VAEOutput)
    for name in ("mu_z", "logvar_z", "z"):
        assert getattr(out, name).shape == (BATCH, LATENT), name
    assert out.x_mean.shape == (BATCH, *shape)
    assert out.features.shape[0] == BATCH
    for t in (out.mu_z, out.logvar_z, out.z, out.x_mean, out.features):
        assert bool(torch.isfinite(t).all())
    assert not torch.equal(out.z, out.mu_z)  # z is sampled by default
    assert torch.equal(model(x, sample=False).z, model(x, sample=False).mu_z)
    # σ policies build extra heads from the same features (learned_vector, staged).
    head = model.make_output_head()
    assert head is not model.mean_head
    assert head(out.features).shape == (BATCH, *shape)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (BATCH, LATENT)


def test_loss_finite_and_one_step_lowers_it(vae_case: Case) -> None:
    case, shape = vae_case
    model = case.build(shape)
    model.train()
    x = _batch(shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = _loss(model, x)
    assert bool(torch.isfinite(before))
    opt.zero_grad()
    before.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    opt.step()
    with torch.no_grad():
        after = _loss(model, x)
    assert after.item() < before.item()


def _trained(case: ModelCase, shape: tuple[int, ...]) -> VAEModel:
    """A model one step away from its init, so running statistics are not defaults."""
    model = case.build(shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    _loss(model, _batch(shape, 3)).backward()
    opt.step()
    return model


def test_checkpoint_round_trip_gives_identical_outputs(vae_case: Case, tmp_path: Path) -> None:
    case, shape = vae_case
    model = _trained(case, shape)
    save_checkpoint(tmp_path, {"format": FORMAT, "model": model.state_dict()})
    fresh = case.build(shape, seed=1)
    x = _batch(shape)
    model.eval()
    fresh.eval()
    assert not torch.equal(fresh(x, sample=False).x_mean, model(x, sample=False).x_mean)
    fresh.load_state_dict(load_checkpoint(tmp_path)["model"])
    for train in (False, True):
        model.train(train)
        fresh.train(train)
        torch.manual_seed(5)
        a = model(x)
        torch.manual_seed(5)
        b = fresh(x)
        for name in ("mu_z", "logvar_z", "z", "x_mean", "features"):
            assert torch.equal(getattr(a, name), getattr(b, name)), (train, name)


def test_eval_output_does_not_depend_on_the_batch(vae_case: Case) -> None:
    # A split's metrics must not depend on how it is batched.
    case, shape = vae_case
    model = _trained(case, shape).eval()
    x = _batch(shape)
    with torch.no_grad():
        whole = model(x, sample=False).x_mean
        parts = torch.cat([model(x[i : i + 1], sample=False).x_mean for i in range(BATCH)])
    torch.testing.assert_close(parts, whole, rtol=1e-5, atol=1e-5)


def test_same_seed_same_model(vae_case: Case) -> None:
    case, shape = vae_case
    a, b = case.build(shape, seed=7), case.build(shape, seed=7)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert na == nb and torch.equal(pa, pb), na


def test_refuses_unsupported_data_shapes(refused_case: Case) -> None:
    case, shape = refused_case
    with pytest.raises(SpecError) as err:
        case.build_any(shape)
    assert err.value.field == "model.name" or err.value.field.startswith("objective.")
    assert str(shape) in err.value.message
