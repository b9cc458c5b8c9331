"""Active units, rate per dimension and the GMM aggregate-posterior gap (003 §3.5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rdlab.config import trial_config
from rdlab.evaluate.latent import (
    active_units,
    encode_split,
    fit_gmm,
    gmm_prior_kl,
    posterior_codes,
    rate_per_dim,
    sample_gmm,
)
from rdlab.objectives import terms
from rdlab.trial import Trial

from tests.evaluate.linear_vae import linear_vae


def test_active_units_counts_dimensions_with_varying_means() -> None:
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(500, 4, generator=g) * torch.tensor([1.0, 0.5, 0.05, 0.0])
    assert active_units(mu) == 2  # variances 1, 0.25, 0.0025, 0 against 0.01
    assert active_units(mu[:1]) == 0


def test_encoder_ignoring_its_input_has_no_active_units() -> None:
    model = linear_vae(mean_scale=0.0)  # μ_z = 0 whatever x is
    mu, _ = encode_split(model, model.sample(300), batch_size=64)
    assert active_units(mu) == 0


def test_trained_toy_manifold_model_uses_both_latents(tmp_path: Path) -> None:
    # σ = 0.02 is below the data's noise in two of the three regions: the second
    # latent has to carry the off-manifold noise, so both units are active.
    cfg = trial_config(
        {
            "dataset": {"name": "toy_manifold", "batches_per_epoch": 50},
            "model": {"name": "mlp_resnet", "latent_dim": 2, "hidden": 64, "blocks": 2},
            "train": {"epochs": 2, "batch_size": 100},
            "objective": {"sigma": {"policy": "fixed", "value": 0.02}},
            "eval": {"frechet": False, "pictures": False, "iwae_k": 0},
        }
    )
    trial = Trial(cfg, tmp_path / "trial")
    result = trial.run(resume=False)[0]
    assert result.final["val"]["active_units"] == 2.0
    m = trial.members[0]
    mu, _ = encode_split(m.model, m.data.split("val"), 1024)
    assert active_units(mu) == 2


def test_rate_per_dim_sums_to_the_rate() -> None:
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(64, 5, generator=g), torch.randn(64, 5, generator=g)
    per_dim = rate_per_dim(mu, logvar)
    assert len(per_dim) == 5
    assert sum(per_dim) == pytest.approx(float(terms.rate(mu, logvar).mean()), rel=1e-6)


def test_agg_kl_matches_closed_form_for_a_gaussian() -> None:
    # Codes from N(m, diag s²): one component recovers it, KL to N(0, I) is closed form.
    rng = np.random.default_rng(0)
    m, s = np.array([1.0, -0.5, 0.0]), np.array([0.5, 1.0, 2.0])
    z = m + s * rng.standard_normal((20_000, 3))
    exact = 0.5 * float(np.sum(s**2 + m**2 - 1.0 - np.log(s**2)))
    assert gmm_prior_kl(fit_gmm(z, 1, seed=0), seed=0) == pytest.approx(exact, abs=0.05)


def test_agg_kl_small_for_prior_codes_and_seeded() -> None:
    z = np.random.default_rng(1).standard_normal((2000, 4))
    gmm = fit_gmm(z, 8, seed=0)
    kl = gmm_prior_kl(gmm, seed=0)
    assert 0.0 <= kl < 0.2
    assert gmm_prior_kl(gmm, seed=0) == kl  # fixed samples: the same number every time


def test_collapsed_posterior_has_no_aggregate_gap() -> None:
    # μ_z ≡ 0, σ_z = 1: q(z) is exactly the prior. Codes drawn from q(z|x) show it; a
    # mixture fitted to the means alone would be a spike and report a large gap.
    mu, logvar = torch.zeros(180, 4), torch.zeros(180, 4)
    codes = posterior_codes(mu, logvar, seed=0)
    assert codes.shape == (180 * 12, 4)  # ≥ 2048 codes, 12 per example
    assert gmm_prior_kl(fit_gmm(codes, 32, seed=0), seed=0) < 0.3
    assert active_units(mu) == 0


def test_gmm_components_capped_and_samples_shuffled() -> None:
    z = np.random.default_rng(2).standard_normal((5, 2)) * 3
    gmm = fit_gmm(z, 32, seed=0)
    assert gmm.n_components == 5
    s = sample_gmm(fit_gmm(np.concatenate([z - 20, z + 20]), 2, seed=0), 400, seed=0)
    assert s.shape == (400, 2)
    signs = np.sign(s[:, 0])
    assert 0 < (signs[:200] > 0).sum() < 200  # not grouped by component
    with pytest.raises(ValueError, match="at least 2"):
        fit_gmm(z[:1], 4)
