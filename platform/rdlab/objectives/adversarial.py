"""002's PatchGAN term: a non-saturating GAN loss on the decoder mean, per patch.

Pure functions of discriminator logits; the trainer alternates one discriminator step
with each VAE step.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def generator_loss(fake_logits: Tensor) -> Tensor:
    """−log D(x̂) summed over patches, per example ([B]): pushes x̂ toward 'real'."""
    return F.softplus(-fake_logits).sum(dim=1)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Binary cross-entropy, real → 1 and fake → 0, averaged over examples and patches."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
