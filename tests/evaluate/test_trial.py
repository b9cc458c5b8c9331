"""evaluate_trial end to end: the metric keys per split, NaN where a metric does not apply,
and the pictures (003 §5.4 σ maps, 004 Fig. 4 scatter, σ curve) listed for MLflow."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rdlab.config import trial_config
from rdlab.evaluate import CachedClassifier, evaluate_subject
from rdlab.evaluate.pictures import image_grid, sigma_curves
from rdlab.train import TrialResult
from rdlab.trial import Trial

PNG = b"\x89PNG\r\n\x1a\n"
FAST = {"iwae_k": 8, "iwae_examples": 64, "gmm_components": 4}
FD_DEFAULTS = {"fd_reference": "split", "fd_samples": None, "fd_bootstrap": 0}


def _trial(tmp_path: Path, cache_root: Path, **sections: Any) -> Trial:
    data: dict[str, Any] = {
        "model": {"name": "mlp_resnet", "latent_dim": 3, "hidden": 32, "blocks": 1},
        "train": {"epochs": 2},
        "eval": dict(FAST),
    }
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v}
    return Trial(
        trial_config(data), tmp_path / "trial", classifier=CachedClassifier(cache_root / "frechet")
    )


def _check_pngs(trial: Trial, result: TrialResult, expected: set[str]) -> None:
    rel = result.artifacts
    assert {Path(p).name for p in rel} == expected
    for p in rel:
        assert not Path(p).is_absolute()
        assert (trial.out_dir / p).read_bytes()[:8] == PNG


def test_digits_learned_vector_trial(tmp_path: Path, cache_root: Path) -> None:
    trial = _trial(tmp_path, cache_root, objective={"sigma": {"policy": "learned_vector"}})
    result = trial.run(resume=False)[0]
    assert set(result.final) == {"val", "test"}
    for m in result.final.values():
        assert all(isinstance(v, float) for v in m.values())
        for key in ("elbo", "bpd", "iwae", "iwae_elbo", "active_units", "agg_kl"):
            assert math.isfinite(m[key]), key
        for key in ("fd_prior", "fd_gmm", "fd_recon"):
            assert m[key] > 0.0, key
        assert m["fd_clf_acc"] > 0.9
        assert m["iwae"] >= m["iwae_elbo"]
        assert [k for k in m if k.startswith("rate_dim_")] == [f"rate_dim_{j}" for j in range(3)]
        assert sum(m[f"rate_dim_{j}"] for j in range(3)) == pytest.approx(m["rate"], rel=1e-4)
        assert "fid_prior" not in m  # no Inception weights: absent, not faked
    _check_pngs(
        trial,
        result,
        {"reconstructions.png", "samples_prior.png", "samples_gmm.png", "sigma_map.png",
         "sigma_curve.png"},
    )  # fmt: skip
    assert (cache_root / "frechet").is_dir()
    assert result.frechet_classifier and len(result.frechet_classifier) == 64  # its sha256


def test_toy_manifold_scatter_and_raw_fd(tmp_path: Path, cache_root: Path) -> None:
    trial = _trial(
        tmp_path,
        cache_root,
        dataset={"name": "toy_manifold", "batches_per_epoch": 10, "n_eval": 300},
        model={"latent_dim": 2},
        objective={"sigma": {"policy": "learned_scalar"}},
    )
    result = trial.run(resume=False)[0]
    m = result.final["val"]
    assert math.isnan(m["fd_clf_acc"]) and "bpd" not in m
    assert all(math.isfinite(m[k]) for k in ("fd_prior", "fd_gmm", "fd_recon", "iwae"))
    _check_pngs(trial, result, {"scatter.png", "sigma_curve.png"})
    assert result.frechet_classifier is None  # unlabelled: the raw data is the feature space


def test_hypersphere_norms_and_optimal_policy_shared_sigma(
    tmp_path: Path, cache_root: Path
) -> None:
    trial = _trial(
        tmp_path,
        cache_root,
        dataset={"name": "hypersphere", "dim": 8, "batches_per_epoch": 10, "n_eval": 200},
        train={"epochs": 1},
        objective={"sigma": {"policy": "optimal_global"}},
    )
    result = trial.run(resume=False)[0]
    ev = trial.evaluate(0)
    assert ev.shared_sigma is not None and ev.shared_sigma > 0.0  # σ* fitted on train
    _check_pngs(trial, result, {"norms.png"})  # one epoch: no σ curve to draw


def test_fd_against_one_reference_split_with_bootstrap_intervals(
    tmp_path: Path, cache_root: Path
) -> None:
    # eval.fd_reference/fd_samples/fd_bootstrap: every split's generated sets against the
    # training split (1,437 digits), 300 prior and GMM samples, 95 % intervals.
    ev = {"fd_reference": "train", "fd_samples": 300, "fd_bootstrap": 20, "pictures": False}
    trial = _trial(tmp_path, cache_root, eval=ev)
    trial.run(resume=False)
    res = evaluate_subject(trial.subject(0), trial.classifier)
    val, test = res.metrics["val"], res.metrics["test"]
    assert val["fd_recon"] == test["fd_recon"]  # the same reference and reconstructions
    for m in (val, test):
        for name in ("prior", "gmm", "recon"):
            lo, fd, hi = m[f"fd_{name}_lo"], m[f"fd_{name}"], m[f"fd_{name}_hi"]
            assert 0.0 < lo < hi and lo < 1.5 * fd and fd < 1.5 * hi, (name, lo, fd, hi)
    default = evaluate_subject(
        trial.subject(0), trial.classifier, trial.members[0].cfg.eval.model_copy(update=FD_DEFAULTS)
    )
    assert "fd_prior_lo" not in default.metrics["test"]  # no bootstrap by default
    assert default.metrics["val"]["fd_recon"] != default.metrics["test"]["fd_recon"]


def test_switches_off_and_not_applicable_metrics(tmp_path: Path, cache_root: Path) -> None:
    trial = _trial(
        tmp_path, cache_root, eval={"iwae_k": 0, "frechet": False, "pictures": False,
                                    "splits": ["test"]},
    )  # fmt: skip
    trial.run(resume=False)
    res = evaluate_subject(trial.subject(0), trial.classifier)
    assert set(res.metrics) == {"test"}
    m = res.metrics["test"]
    for key in ("iwae", "iwae_elbo", "fd_prior", "fd_gmm", "fd_recon"):
        assert math.isnan(m[key]), key
    assert res.artifacts == [] and res.classifier is None


def test_image_grid_and_sigma_curves() -> None:
    imgs = np.zeros((5, 1, 4, 3), dtype=np.float32)
    assert image_grid(imgs, cols=2).shape == (3 * 5 - 1, 2 * 4 - 1)
    rgb = np.full((2, 3, 4, 4), 2.0, dtype=np.float32)
    grid = image_grid(rgb, cols=2)
    assert grid.shape == (4, 9, 3) and grid.max() == 1.0
    hist = [
        {"epoch": 1.0, "val/log_sigma_x": 0.0, "policy/sigma": 0.5, "train/log_sigma_x": 0.1},
        {"epoch": 2.0, "val/log_sigma_x": math.log(0.25), "policy/sigma": 0.4},
        {"epoch": 3.0, "val/log_sigma_x": math.nan, "train/log_sigma_x": 0.1},
    ]
    curves = sigma_curves(hist)
    assert curves["val: exp(mean log σ_x)"] == ([1.0, 2.0], [1.0, pytest.approx(0.25)])
    assert curves["policy: shared σ"] == ([1.0, 2.0], [0.5, 0.4])
    assert "train: exp(mean log σ_x)" not in curves  # constant (a fixed σ): not drawn
    assert sigma_curves([]) == {}
