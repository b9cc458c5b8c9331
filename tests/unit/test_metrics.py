"""Reported metrics against hand computations: bits per dimension with each dataset's own
bin width (dequantised discrete data) and ``sigma_gap`` of a learned σ (DESIGN §2)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from rdlab.config import trial_config
from rdlab.model import VAEModel, build_model
from rdlab.objectives.sigma import build_policy
from rdlab.train.metrics import bits_per_dim, evaluate_split, log_sigma_optimum, summarise
from rdlab.trial import Trial


def test_bits_per_dim_uses_the_bin_width() -> None:
    # −ELBO = 50 nats over D = 64 digits pixels, bins 1/16 wide: (50/64 + ln 16)/ln 2.
    assert bits_per_dim(50.0, 64, 1 / 16) == pytest.approx((50 / 64 + math.log(16)) / math.log(2))
    # 8-bit images scaled k/255: bins 1/255 wide.
    assert bits_per_dim(-3000.0, 784, 1 / 255) == pytest.approx(
        (-3000 / 784 + math.log(255)) / math.log(2)
    )


def test_sigma_optimum_by_hand() -> None:
    # Two dimensions over n = 2 examples: Σ_i e² = (0.02, 0.08), so σ*_d² = (0.01, 0.04).
    sse = torch.tensor([0.02, 0.08])
    # A scalar σ: σ*² = mse/D = 0.025 (003 eq. 10).
    assert log_sigma_optimum(sse, 2, scalar=True) == pytest.approx(0.5 * math.log(0.025))
    # Per-dimension σ: geometric mean of σ*_d = (0.1, 0.2) → log √0.02.
    assert log_sigma_optimum(sse, 2, scalar=False) == pytest.approx(0.5 * math.log(0.02))


def test_summarise_reports_bpd_and_sigma_gap_only_where_they_apply() -> None:
    sums = {"n": 2.0, "nll": -20.0, "rate": 6.0, "sq_err": 1.28, "log_sigma": -3.0}
    plain = summarise(sums, 64)
    assert "bpd" not in plain and "sigma_gap" not in plain
    full = summarise(sums, 64, bin_width=1 / 16, log_sigma_star=-2.0)
    assert full["bpd"] == pytest.approx((-7.0 / 64 + math.log(16)) / math.log(2))
    assert full["sigma_gap"] == pytest.approx(-1.5 + 2.0)  # σ: e^-1.5, σ*: e^-2


def _model_and_data() -> tuple[VAEModel, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model("mlp_resnet", (1, 4, 4), 2, {"hidden": 8, "blocks": 1})
    return model, torch.rand(50, 1, 4, 4)


def _errors(model: VAEModel, x: torch.Tensor, seed: int) -> torch.Tensor:
    """(x − μ_x)² per example and dimension, with evaluate_split's draws of z."""
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        return torch.cat(
            [(xb - model(xb).x_mean).pow(2).reshape(xb.shape[0], -1) for xb in x.split(16)]
        )


def test_evaluate_split_sigma_gap_of_a_learned_scalar() -> None:
    model, x = _model_and_data()
    policy = build_policy("learned_scalar", None, {"init": -1.3})
    m = evaluate_split(model, policy, x, 16, seed=3)
    e2 = _errors(model, x, seed=3)
    assert m["log_sigma_x"] == pytest.approx(-1.3)
    assert m["sigma_gap"] == pytest.approx(-1.3 - 0.5 * math.log(float(e2.mean())), rel=1e-5)
    fixed = build_policy("fixed", None, {"value": 0.3})
    assert "sigma_gap" not in evaluate_split(model, fixed, x, 16, seed=3)


def test_evaluate_split_sigma_gap_of_per_pixel_sigma_uses_geometric_means() -> None:
    model, x = _model_and_data()
    policy = build_policy("learned_pixel", None, {})
    policy.setup(model, epochs=1)
    raw = next(policy.parameters())  # the per-pixel log σ, [1, 1, 4, 4]
    with torch.no_grad():
        raw.copy_(torch.linspace(-2.0, -0.5, 16).reshape(1, 1, 4, 4))
    m = evaluate_split(model, policy, x, 16, seed=3)
    star_d = 0.5 * torch.log(_errors(model, x, seed=3).mean(dim=0))  # log σ*_d per pixel
    want = float(torch.linspace(-2.0, -0.5, 16).mean() - star_d.mean())
    assert m["sigma_gap"] == pytest.approx(want, rel=1e-5)
    # When each pixel's σ is its own optimum the gap is 0, though the pooled σ* differs.
    with torch.no_grad():
        raw.copy_(star_d.reshape(1, 1, 4, 4))
    assert evaluate_split(model, policy, x, 16, seed=3)["sigma_gap"] == pytest.approx(0, abs=1e-6)


def test_digits_bpd_counts_four_bits_per_pixel_for_the_bins(tmp_path: Path) -> None:
    cfg = trial_config(
        {
            "model": {"latent_dim": 2, "hidden": 16, "blocks": 1},
            "train": {"device": "cpu"},
            "objective": {"sigma": {"policy": "learned_scalar"}},
        }
    )
    m = Trial(cfg, tmp_path).members[0].validate("val")
    assert m["bpd"] == pytest.approx((-m["elbo"] / 64 + math.log(16)) / math.log(2))
    assert "sigma_gap" in m
