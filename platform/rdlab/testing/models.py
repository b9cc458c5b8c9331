"""Contracts of model plugins: VAE models (:class:`rdlab.model.VAEModel`) and
discriminators (:class:`rdlab.model.Discriminator`, 002's PatchGAN term).

A VAE model is tested on every data shape of ``shapes`` it accepts, and must refuse the
others with a SpecError that names the field and the shape: it returns one
:class:`~rdlab.model.VAEOutput` of the right shapes, a step lowers the loss, a
checkpoint restores it exactly, evaluation does not depend on batching, and the same seed
builds the same model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from pydantic import ValidationError
from torch import Tensor

from rdlab.config import AdversarialConfig, ModelConfig, ObjectiveConfig, SigmaConfig, TrialConfig
from rdlab.errors import SpecError
from rdlab.model import Discriminator, VAEModel, VAEOutput
from rdlab.objectives.adversarial import discriminator_loss, generator_loss
from rdlab.objectives.loss import compose
from rdlab.objectives.sigma import build_policy
from rdlab.testing.cases import (
    BATCH,
    LATENT,
    SHAPES,
    ModelCase,
    Options,
    Shape,
    batch,
    model_cases,
    one_torch_thread,
    params,
    shape_id,
)
from rdlab.train.checkpoint import load_checkpoint, save_checkpoint

FORMAT = "rdlab-checkpoint-1"
Case = tuple[ModelCase, Shape]  # a model plugin and one data shape


class _ModelSuite:
    """What both model contracts share: which plugins, their options, the shapes tried."""

    kind: ClassVar[str]
    models: ClassVar[Sequence[str] | None] = None  # default: every registered one of kind
    options: ClassVar[Options] = {}  # small options keep the suite fast
    shapes: ClassVar[Sequence[Shape]] = SHAPES

    @classmethod
    def model_cases(cls) -> list[ModelCase]:
        return model_cases(cls.models, cls.options, cls.kind)

    @classmethod
    def _cases(cls, accepted: bool) -> list[Any]:
        cases = [(c, s) for c in cls.model_cases() for s in cls.shapes if c.accepts(s) == accepted]
        return params(cases, [f"{c.name}-{shape_id(s)}" for c, s in cases])

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        names = metafunc.fixturenames
        if "model_case" in names:
            cases = self.model_cases()
            metafunc.parametrize("model_case", params(cases, [c.name for c in cases]))
        if "accepted_case" in names:
            metafunc.parametrize("accepted_case", self._cases(accepted=True))
        if "refused_case" in names:
            metafunc.parametrize("refused_case", self._cases(accepted=False))

    @pytest.fixture(autouse=True)
    def _one_thread(self) -> Iterator[None]:
        with one_torch_thread():
            yield

    def test_accepts_a_data_shape(self, model_case: ModelCase) -> None:
        assert any(model_case.accepts(s) for s in self.shapes), (
            f"{model_case.name!r} refuses every data shape of {list(self.shapes)}"
        )

    def test_refuses_unsupported_data_shapes_by_name(self, refused_case: Case) -> None:
        case, shape = refused_case
        with pytest.raises(SpecError) as err:
            case.build_any(shape)
        assert err.value.field in ("model.name", "objective.adversarial.discriminator")
        assert str(shape) in err.value.message


def _loss(model: VAEModel, x: Tensor, seed: int = 1) -> Tensor:
    """One batch's training objective; the seed fixes z's noise so losses compare."""
    torch.manual_seed(seed)
    out = model(x)
    policy = build_policy("fixed", -6.0, {"value": 0.3})
    return compose(x, out, policy, ObjectiveConfig(sigma=SigmaConfig(policy="fixed"))).loss


def _trained(case: ModelCase, shape: Shape) -> VAEModel:
    """A model one step away from its init, so running statistics are not defaults."""
    model = case.build(shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    _loss(model, batch(shape, 3)).backward()
    opt.step()
    return model


class ModelContract(_ModelSuite):
    """Subclass as ``Test…``; set ``models`` to test only those (default: all registered)."""

    kind = "vae"

    def test_a_trial_config_accepts_it_with_closed_options(self, model_case: ModelCase) -> None:
        cfg = TrialConfig(model=ModelConfig(name=model_case.name, **model_case.options))
        assert cfg.model.name == model_case.name
        with pytest.raises(ValidationError):
            ModelConfig(name=model_case.name, no_such_option=1)

    def test_forward_returns_vae_output_of_the_right_shapes(self, accepted_case: Case) -> None:
        case, shape = accepted_case
        model = case.build(shape)
        assert model.data_shape == shape and model.latent_dim == LATENT
        x = batch(shape)
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

    def test_loss_finite_and_one_step_lowers_it(self, accepted_case: Case) -> None:
        case, shape = accepted_case
        model = case.build(shape)
        model.train()
        x = batch(shape)
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

    def test_checkpoint_round_trip_gives_identical_outputs(
        self, accepted_case: Case, tmp_path: Path
    ) -> None:
        case, shape = accepted_case
        model = _trained(case, shape)
        save_checkpoint(tmp_path, {"format": FORMAT, "model": model.state_dict()})
        fresh = case.build(shape, seed=1)
        x = batch(shape)
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

    def test_eval_output_does_not_depend_on_the_batch(self, accepted_case: Case) -> None:
        # A split's metrics must not depend on how it is batched.
        case, shape = accepted_case
        model = _trained(case, shape).eval()
        x = batch(shape)
        with torch.no_grad():
            whole = model(x, sample=False).x_mean
            parts = torch.cat([model(x[i : i + 1], sample=False).x_mean for i in range(BATCH)])
        torch.testing.assert_close(parts, whole, rtol=1e-5, atol=1e-5)

    def test_same_seed_same_model(self, accepted_case: Case) -> None:
        case, shape = accepted_case
        a, b = case.build(shape, seed=7), case.build(shape, seed=7)
        for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert na == nb and torch.equal(pa, pb), na


def _real_fake(shape: Shape) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    real = torch.rand(BATCH, *shape, generator=g)
    fake = (real + 0.3 * torch.randn(BATCH, *shape, generator=g)).clamp(0, 1)
    return real, fake


class DiscriminatorContract(_ModelSuite):
    """Subclass as ``Test…``; set ``models`` to test only those (default: all registered)."""

    kind = "discriminator"

    def test_logits_per_patch(self, accepted_case: Case) -> None:
        case, shape = accepted_case
        disc = case.build_discriminator(shape)
        assert isinstance(disc, Discriminator) and disc.kind == "discriminator"
        real, fake = _real_fake(shape)
        logits = disc(real)
        assert logits.dim() == 2 and logits.shape[0] == BATCH and logits.shape[1] >= 1
        assert bool(torch.isfinite(logits).all())
        assert generator_loss(disc(fake)).shape == (BATCH,)

    def test_one_step_lowers_the_discriminator_loss(self, accepted_case: Case) -> None:
        case, shape = accepted_case
        disc = case.build_discriminator(shape)
        real, fake = _real_fake(shape)
        adv = AdversarialConfig()  # 002's optimiser, rdlab's default: Adam, lr 1e-4
        opt = torch.optim.Adam(disc.parameters(), lr=adv.lr, betas=adv.betas)
        before = discriminator_loss(disc(real), disc(fake))
        assert bool(torch.isfinite(before))
        opt.zero_grad()
        before.backward()
        opt.step()
        with torch.no_grad():
            after = discriminator_loss(disc(real), disc(fake))
        assert after.item() < before.item()

    def test_checkpoint_round_trip(self, accepted_case: Case, tmp_path: Path) -> None:
        case, shape = accepted_case
        disc = case.build_discriminator(shape)
        save_checkpoint(tmp_path, {"format": FORMAT, "disc": disc.state_dict()})
        fresh = case.build_discriminator(shape, seed=1)
        real, _ = _real_fake(shape)
        assert not torch.equal(fresh(real), disc(real))
        fresh.load_state_dict(load_checkpoint(tmp_path)["disc"])
        assert torch.equal(fresh(real), disc(real))
