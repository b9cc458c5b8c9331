"""Contract of every discriminator plugin (rdlab.model.Discriminator, 002's PatchGAN term)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from rdlab.config import AdversarialConfig
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
    # 002 §3.3: an (h, w) image gets an h/8 × w/8 map of realism scores.
    _, h, w = shape
    assert logits.dim() == 2 and logits.shape == (BATCH, (h // 8) * (w // 8))
    assert bool(torch.isfinite(logits).all())
    assert generator_loss(disc(fake)).shape == (BATCH,)


def test_losses_are_means_over_patches(disc_case: Case) -> None:
    # 002 eq. 22/24 by hand: the cross-entropy against a map of 1s (generator) or of 1s and
    # 0s (discriminator), averaged over the map, so the weight does not scale with patches.
    case, shape = disc_case
    disc = case.build_discriminator(shape)
    real, fake = _real_fake(shape)
    with torch.no_grad():
        lr, lf = disc(real), disc(fake)
    by_hand = [
        sum(-math.log(1.0 / (1.0 + math.exp(-v))) for v in row) / len(row) for row in lf.tolist()
    ]
    torch.testing.assert_close(generator_loss(lf), torch.tensor(by_hand), rtol=1e-5, atol=1e-6)
    n = lr.numel()
    d_by_hand = sum(-math.log(1.0 / (1.0 + math.exp(-v))) for v in lr.flatten().tolist()) / n
    d_by_hand += sum(-math.log(1.0 - 1.0 / (1.0 + math.exp(-v))) for v in lf.flatten().tolist()) / n
    assert float(discriminator_loss(lr, lf)) == pytest.approx(d_by_hand, rel=1e-5)


def test_one_step_lowers_the_discriminator_loss(disc_case: Case) -> None:
    case, shape = disc_case
    disc = case.build_discriminator(shape)
    real, fake = _real_fake(shape)
    adv = AdversarialConfig()  # 002's optimiser, the default: Adam, lr 1e-4
    opt = torch.optim.Adam(disc.parameters(), lr=adv.lr, betas=adv.betas)
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
