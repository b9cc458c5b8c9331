"""The multi-rate VAE (Bae et al. 2023): β conditioning, the trainer's per-batch β, the
evaluation's β sweep and its one-row-per-β Parquet rows."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from rdlab.config import TrialConfig, trial_config
from rdlab.errors import SpecError
from rdlab.frontier.rows import sweep_entries, sweep_key, trial_rows
from rdlab.model import as_beta_conditioned, build_model
from rdlab.train import Callback, EpochReport, Member
from rdlab.train import single as trainer_module
from rdlab.trial import Trial, run_trial

QUICK_EVAL: dict[str, Any] = {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False}


def _cfg(model: str = "multirate_mlp", epochs: int = 2, **opts: Any) -> TrialConfig:
    return trial_config(
        {
            "dataset": {"name": "digits"},
            "model": {"name": model, "latent_dim": 4, "hidden": 16, "blocks": 1, **opts},
            "train": {
                "epochs": epochs,
                "batch_size": 256,
                "seed": 3,
                "device": "cpu",
                "checkpoint_every": 1,
            },
            "objective": {"sigma": {"policy": "fixed", "value": 0.7071}},
            "eval": QUICK_EVAL,
        }
    )


def test_beta_changes_the_network_and_conditioning_is_scoped() -> None:
    torch.manual_seed(0)
    model = build_model("multirate_mlp", (1, 8, 8), 4, {"hidden": 16, "blocks": 1})
    mr = as_beta_conditioned(model)
    assert mr is not None and model.beta_conditioned
    x = torch.rand(5, 1, 8, 8)
    lo = model(x, sample=False, log_beta=math.log(0.01)).x_mean
    hi = model(x, sample=False, log_beta=math.log(10.0)).x_mean
    default = model(x, sample=False).x_mean
    assert not torch.allclose(lo, hi)
    with mr.conditioned(math.log(0.01)):
        torch.testing.assert_close(model(x, sample=False).x_mean, lo)
    torch.testing.assert_close(model(x, sample=False).x_mean, default)  # restored
    per_example = torch.full((5,), math.log(0.01))
    torch.testing.assert_close(model(x, sample=False, log_beta=per_example).x_mean, lo)


def test_sweep_grid_and_option_validation() -> None:
    model = build_model("multirate_mlp", (2,), 2, {"sweep_points": 4, "beta_max": 1.0})
    mr = as_beta_conditioned(model)
    assert mr is not None
    assert mr.sweep_betas() == pytest.approx([0.01, 0.01 ** (2 / 3), 0.01 ** (1 / 3), 1.0])
    assert mr.log_beta_range() == pytest.approx((math.log(0.01), 0.0))
    assert as_beta_conditioned(build_model("mlp_resnet", (2,), 2, {})) is None
    with pytest.raises(SpecError, match="beta_min"):
        trial_config({"model": {"name": "multirate_mlp", "beta_min": 2.0, "beta_max": 1.0}})


def _record_betas(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    real = trainer_module.compose

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("beta"))
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "compose", spy)
    return seen


def test_trainer_draws_one_log_uniform_beta_per_batch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, one_torch_thread: None
) -> None:
    seen = _record_betas(monkeypatch)
    trial = Trial(_cfg(epochs=1), tmp_path)
    trial.loop.engine.train_epoch(0)
    n_batches = math.ceil(trial.members[0].data.num_train() / 256)  # type: ignore[attr-defined]
    assert len(seen) == n_batches and len(set(seen)) == n_batches
    assert all(0.01 <= b <= 10.0 for b in seen)
    first = list(seen)
    again = _record_betas(monkeypatch)
    Trial(_cfg(epochs=1), tmp_path / "again").loop.engine.train_epoch(0)
    assert again == first  # seeded: the same β sequence


def test_ordinary_models_keep_the_configs_beta(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, one_torch_thread: None
) -> None:
    seen = _record_betas(monkeypatch)
    Trial(_cfg("mlp_resnet", epochs=1), tmp_path).loop.engine.train_epoch(0)
    assert seen and all(b is None for b in seen)


class _Interrupt(Exception):
    pass


class _StopAfterFirstEpoch(Callback):
    def on_epoch_end(self, member: Member, report: EpochReport) -> None:
        raise _Interrupt


def test_resumed_multirate_trial_matches_an_uninterrupted_one(
    tmp_path: Path, one_torch_thread: None
) -> None:
    whole = run_trial(_cfg(epochs=3), tmp_path / "whole")
    with pytest.raises(_Interrupt):  # killed after epoch 1's checkpoint
        run_trial(_cfg(epochs=3), tmp_path / "part", callbacks=[_StopAfterFirstEpoch()])
    resumed = run_trial(_cfg(epochs=3), tmp_path / "part")
    assert resumed.history[0] == whole.history[0]
    assert resumed.final == whole.final  # the β sequence of epochs 2–3 was redrawn exactly


def test_evaluation_sweeps_beta_and_rows_have_one_row_per_beta(
    tmp_path: Path, one_torch_thread: None
) -> None:
    cfg = _cfg(epochs=1, sweep_points=3)
    result = run_trial(cfg, tmp_path)
    entries = sweep_entries(result.final, "val")
    assert [b for b, _ in entries] == pytest.approx([0.01, 0.01**0.5 * 10**0.5, 10.0])
    assert all(m["beta_eval"] == b for b, m in entries)
    assert "val" in result.final  # the default β's metrics stay for progress and Tune
    rows = trial_rows(
        study="s",
        trial_id="t",
        run_id=None,
        status="ok",
        cfg=cfg.to_dict(),
        history=result.history,
        final=result.final,
        splits=["val"],
        wall_s=1.0,
    )
    finals = [r for r in rows if r["epoch"] is None]
    assert [r["beta_eval"] for r in finals] == pytest.approx([b for b, _ in entries])
    assert all(math.isfinite(r["rate"]) and r["split"] == "val" for r in finals)


def test_sweep_keys_round_trip_and_are_valid_mlflow_names() -> None:
    final = {"val": {"rate": 1.0}, sweep_key("val", 0.1): {"rate": 2.0}}
    final[sweep_key("val", 0.01)] = {"rate": 3.0}
    final[sweep_key("test", 0.5)] = {"rate": 4.0}
    assert [b for b, _ in sweep_entries(final, "val")] == [0.01, 0.1]
    assert sweep_entries({"val": {}}, "val") == []
    for key in final:
        assert all(c.isalnum() or c in "_-./: " for c in f"final/{key}/rate"), key
