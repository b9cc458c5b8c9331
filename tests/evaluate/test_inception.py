"""Standard FID plumbing: InceptionV3 only from a local weights file, never downloaded."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from rdlab.config import trial_config
from rdlab.errors import SpecError
from rdlab.evaluate.frechet import raw_features
from rdlab.evaluate.inception import inception_features, load_inception
from rdlab.evaluate.trial import frechet_metrics, trial_context
from rdlab.trial import Trial


def test_missing_or_foreign_weights_are_refused(tmp_path: Path) -> None:
    cpu = torch.device("cpu")
    with pytest.raises(SpecError, match=r"eval\.inception_weights.*no such file"):
        load_inception(tmp_path / "nope.pth", cpu)
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(SpecError, match="not InceptionV3 weights"):
        load_inception(bad, cpu)


def test_local_weights_load_and_give_2048_features(tmp_path: Path) -> None:
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    net = inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path / "inception.pth"
    torch.save(net.state_dict(), path)  # a local file, as a user would provide
    loaded = load_inception(path, torch.device("cpu"))
    with torch.no_grad():
        f = inception_features(loaded, torch.rand(2, 1, 8, 8))
    assert f.shape == (2, 2048) and torch.isfinite(f).all()


def test_fid_keys_appear_only_with_an_inception_feature_space(tmp_path: Path) -> None:
    cfg = trial_config(
        {
            "model": {"hidden": 16, "blocks": 1},
            "eval": {"frechet": False, "pictures": False, "gmm_components": 4},
        }
    )
    subject = Trial(cfg, tmp_path).subject(0)
    ctx = trial_context(subject, cfg.eval, None)
    x = subject.data.split("val")[:32]
    mu, _ = subject.model.encode(x)
    assert "fid_prior" not in frechet_metrics(subject, ctx, x, mu.detach(), seed=0)
    # Any feature function takes Inception's slot; the real one needs a weights file.
    m = frechet_metrics(subject, replace(ctx, inception=raw_features), x, mu.detach(), seed=0)
    assert all(m[k] > 0 for k in ("fid_prior", "fid_gmm", "fid_recon"))
    assert math.isnan(m["fd_prior"])
