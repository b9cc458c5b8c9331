"""A finished trial's last Tune report is recorded, and a rerun hands it back (issue 7 §2).

Tune saves its experiment state every few seconds; a driver killed between a trial's end
and the next save restores that trial as unfinished. The rerun must replay the recorded
result rather than train (and log to MLflow) again.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rdlab.config import trial_config
from rdlab.train import Trainer
from rdlab.tune.trainable import FINAL_REPORT, TuneReporter, replay_final


class FakeTune:
    """Records what a trainable reports, as ``ray.tune`` would receive it."""

    class Checkpoint:
        @staticmethod
        def from_directory(path: str) -> str:
            return path

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def report(self, metrics: dict[str, Any], checkpoint: Any = None) -> None:
        self.reports.append(metrics)


def _cfg() -> Any:
    return trial_config(
        {
            "dataset": {"name": "toy_manifold", "batches_per_epoch": 5, "n_eval": 200},
            "model": {"name": "mlp_resnet", "latent_dim": 2, "hidden": 16, "blocks": 1},
            "train": {"epochs": 2, "batch_size": 50, "seed": 0, "device": "cpu"},
            "eval": {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False},
        }
    )


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def eq(x: Any, y: Any) -> bool:
        both_nan = isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)
        return both_nan or x == y

    return a.keys() == b.keys() and all(eq(a[k], b[k]) for k in a)


def test_finished_trial_replays_its_last_report(tmp_path: Path) -> None:
    work = tmp_path / "trials" / "s0001"
    tune = FakeTune()
    Trainer(_cfg(), work, callbacks=[TuneReporter(tune, str(tmp_path))]).run()
    assert len(tune.reports) == 3  # two epochs, then the final outcome
    final = tune.reports[-1]
    assert final["trial_status"] == "ok" and final["epochs_done"] == 2
    assert json.loads((work / FINAL_REPORT).read_text())["final_json"] == final["final_json"]

    again = FakeTune()
    assert replay_final(again, work)
    assert len(again.reports) == 1 and _same(again.reports[0], final)


def test_unfinished_trial_has_nothing_to_replay(tmp_path: Path) -> None:
    tune = FakeTune()
    assert not replay_final(tune, tmp_path / "trials" / "s0002")
    assert not replay_final(tune, None)  # no study folder: nothing was recorded
    assert tune.reports == []


def test_no_record_without_a_study_folder(tmp_path: Path) -> None:
    """``rdlab train``-style runs (no study folder) keep their work dirs clean."""
    tune = FakeTune()
    Trainer(_cfg(), tmp_path, callbacks=[TuneReporter(tune)]).run()
    assert tune.reports[-1]["trial_status"] == "ok"
    assert not (tmp_path / FINAL_REPORT).exists()
