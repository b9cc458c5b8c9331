"""002's PatchGAN term: a non-saturating GAN loss on the decoder mean, per patch.

Pure functions of discriminator logits [B, P] (P patches); the trainer alternates one
discriminator step with each VAE step. Both losses are **means over patches** (002 eq. 22,
24: the cross-entropy H[1, p_γ(r | x̂)] against an h/8 × w/8 map of targets), so the
weight w_adv (002's β₄ = 100) does not grow with the number of patches.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def generator_loss(fake_logits: Tensor) -> Tensor:
    """−log D(x̂) averaged over patches, per example ([B]): pushes x̂ toward 'real'."""
    return F.softplus(-fake_logits).mean(dim=1)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Binary cross-entropy, real → 1 and fake → 0, averaged over examples and patches."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
