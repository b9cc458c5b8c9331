"""The training objective, composed by weights from pure terms (DESIGN §2, §4):

    NLL_policy + β·R + w_G·KL_G + w_I·KL_I + w_L1·‖x − μ_x‖₁ + w_adv·L_adv

β multiplies only the rate R. Every term is a sum over dimensions and a mean over examples;
L_adv, 002's PatchGAN term, is a mean over patches (eq. 22) and examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rdlab.config import ObjectiveConfig
from rdlab.model import Discriminator, VAEOutput
from rdlab.objectives import adversarial, terms
from rdlab.objectives.sigma.base import SigmaPolicy


@dataclass
class LossTerms:
    loss: Tensor  # scalar, what the optimiser minimises
    nll: Tensor  # [B]
    rate: Tensor  # [B]
    sq_err: Tensor  # [B], Σ_d (x − μ)²
    log_sigma: Tensor  # scalar: mean log σ over examples and dimensions
    kl_g: Tensor  # scalar
    kl_i: Tensor  # [B]
    l1: Tensor  # [B]
    adv: Tensor  # scalar (0 when off)


def compose(
    x: Tensor,
    out: VAEOutput,
    policy: SigmaPolicy,
    obj: ObjectiveConfig,
    disc: Discriminator | None = None,
    beta: float | Tensor | None = None,
) -> LossTerms:
    """Every term for one batch, and the weighted sum. ``beta`` overrides ``obj.beta``
    (the multi-rate VAE draws β per batch)."""
    nll, ls = policy.nll(x, out)
    rate = terms.rate(out.mu_z, out.logvar_z)
    mix = obj.mixture
    zero = x.new_zeros(())
    kl_g = terms.kl_aggregate(out.z, out.mu_z, mix.aggregate) if mix.kl_g > 0 else zero
    kl_i = terms.kl_individual(out.logvar_z) if mix.kl_i > 0 else x.new_zeros(x.shape[0])
    l1 = terms.l1(x, out.x_mean) if obj.l1 > 0 else x.new_zeros(x.shape[0])
    adv = zero
    if disc is not None and obj.adversarial.weight > 0:
        adv = adversarial.generator_loss(disc(out.x_mean)).mean()
    b = obj.beta if beta is None else beta
    loss = (
        nll.mean()
        + b * rate.mean()
        + mix.kl_g * kl_g
        + mix.kl_i * kl_i.mean()
        + obj.l1 * l1.mean()
        + obj.adversarial.weight * adv
    )
    return LossTerms(
        loss=loss,
        nll=nll,
        rate=rate,
        sq_err=terms.squared_error(x, out.x_mean),
        log_sigma=ls.detach().expand_as(x).mean(),
        kl_g=kl_g,
        kl_i=kl_i,
        l1=l1,
        adv=adv,
    )


def finite(t: Tensor) -> bool:
    return bool(torch.isfinite(t).all())
