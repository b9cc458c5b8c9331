"""Contract of every discriminator plugin (rdlab.model.Discriminator, 002's PatchGAN term)."""

from __future__ import annotations

from pathlib import Path

import torch
from rdlab.model import Discriminator
from rdlab.objectives.adversarial import discriminator_loss, generator_loss
from rdlab.train.checkpoint import load_checkpoint, save_checkpoint
from torch import Tensor

from tests.contracts.plugin_cases import BATCH, Case, discriminators


def test_there_is_a_discriminator_case() -> None:
    assert discriminators(), "the adversarial term needs at least one discriminator plugin"


def _real_fake(shape: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    real = torch.rand(BATCH, *shape, generator=g)
    fake = (real + 0.3 * torch.randn(BATCH, *shape, generator=g)).clamp(0, 1)
    return real, fake


def test_logits_per_patch(disc_case: Case) -> None:
    case, shape = disc_case
    disc = case.build_discriminator(shape)
    assert isinstance(disc, Discriminator) and disc.kind == "discriminator"
    real, fake = _real_fake(shape)
    logits = disc(real)
    assert logits.dim() == 2 and logits.shape[0] == BATCH and logits.shape[1] >= 1
    assert bool(torch.isfinite(logits).all())
    assert generator_loss(disc(fake)).shape == (BATCH,)


def test_one_step_lowers_the_discriminator_loss(disc_case: Case) -> None:
    case, shape = disc_case
    disc = case.build_discriminator(shape)
    real, fake = _real_fake(shape)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.5, 0.999))
    before = discriminator_loss(disc(real), disc(fake))
    assert bool(torch.isfinite(before))
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = discriminator_loss(disc(real), disc(fake))
    assert after.item() < before.item()


def test_checkpoint_round_trip(disc_case: Case, tmp_path: Path) -> None:
    case, shape = disc_case
    disc = case.build_discriminator(shape)
    save_checkpoint(tmp_path, {"format": "rdlab-checkpoint-1", "disc": disc.state_dict()})
    fresh = case.build_discriminator(shape, seed=1)
    real, _ = _real_fake(shape)
    assert not torch.equal(fresh(real), disc(real))
    fresh.load_state_dict(load_checkpoint(tmp_path)["disc"])
    assert torch.equal(fresh(real), disc(real))
