"""Reported metrics against hand computations: bits per dimension with each dataset's own
bin width (dequantised discrete data) and ``sigma_gap`` of a learned σ (DESIGN §2)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from rdlab.config import trial_config
from rdlab.model import build_model
from rdlab.objectives.sigma import build_policy
from rdlab.train import Trainer
from rdlab.train.metrics import bits_per_dim, evaluate_split, sigma_gap, summarise


def test_bits_per_dim_uses_the_bin_width() -> None:
    # −ELBO = 50 nats over D = 64 digits pixels, bins 1/16 wide: (50/64 + ln 16)/ln 2.
    assert bits_per_dim(50.0, 64, 1 / 16) == pytest.approx((50 / 64 + math.log(16)) / math.log(2))
    # 8-bit images scaled k/255: bins 1/255 wide.
    assert bits_per_dim(-3000.0, 784, 1 / 255) == pytest.approx(
        (-3000 / 784 + math.log(255)) / math.log(2)
    )


def test_sigma_gap_by_hand() -> None:
    # σ_learned = 0.2, mse/D = 0.01 (σ* = 0.1): log 0.2 − log 0.1 = log 2.
    assert sigma_gap(math.log(0.2), 0.01 * 64, 64) == pytest.approx(math.log(2.0))


def test_summarise_reports_bpd_and_sigma_gap_only_where_they_apply() -> None:
    sums = {"n": 2.0, "nll": -20.0, "rate": 6.0, "sq_err": 1.28, "log_sigma": -3.0}
    plain = summarise(sums, 64)
    assert "bpd" not in plain and "sigma_gap" not in plain
    full = summarise(sums, 64, bin_width=1 / 16, learned_sigma=True)
    assert full["bpd"] == pytest.approx((-7.0 / 64 + math.log(16)) / math.log(2))
    assert full["sigma_gap"] == pytest.approx(-1.5 - 0.5 * math.log(0.64 / 64))


def test_evaluate_split_sigma_gap_is_the_learned_sigma_against_the_split_optimum() -> None:
    torch.manual_seed(0)
    model = build_model("mlp_resnet", (1, 4, 4), 2, {"hidden": 8, "blocks": 1})
    x = torch.rand(50, 1, 4, 4)
    policy = build_policy("learned_scalar", None, {"init": -1.3})
    policy.setup(model, epochs=1)
    m = evaluate_split(model, policy, x, 16, seed=3)
    assert m["log_sigma_x"] == pytest.approx(-1.3)
    assert m["sigma_gap"] == pytest.approx(-1.3 - 0.5 * math.log(m["mse"] / 16))
    fixed = build_policy("fixed", None, {"value": 0.3})
    assert "sigma_gap" not in evaluate_split(model, fixed, x, 16, seed=3)


def test_digits_bpd_counts_four_bits_per_pixel_for_the_bins(tmp_path: Path) -> None:
    cfg = trial_config(
        {
            "model": {"latent_dim": 2, "hidden": 16, "blocks": 1},
            "train": {"device": "cpu"},
            "objective": {"sigma": {"policy": "learned_scalar"}},
        }
    )
    m = Trainer(cfg, tmp_path).evaluate("val")
    assert m["bpd"] == pytest.approx((-m["elbo"] / 64 + math.log(16)) / math.log(2))
    assert "sigma_gap" in m
