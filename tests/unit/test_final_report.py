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
from rdlab.storage import Storage
from rdlab.trial import Trial
from rdlab.tune.trainable import FINAL_REPORT, TrialFiles, TuneReporter


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


def _run(files: TrialFiles, tune: FakeTune, n: int = 1) -> None:
    cfgs = [_cfg().model_copy(update={"train": _cfg().train.model_copy(update={"seed": k})})
            for k in range(n)]  # fmt: skip
    ids = [files.trial_id] if n == 1 else [f"{files.trial_id}-m{k}" for k in range(n)]
    points = [{"train.seed": k} for k in range(n)]
    reporter = TuneReporter(tune, files, ids, points)
    Trial(cfgs, files.work, callbacks=[reporter], trial_ids=ids).run()


def test_finished_trial_records_its_last_report(tmp_path: Path) -> None:
    files = TrialFiles(Storage.parse(str(tmp_path)), "s0001")
    tune = FakeTune()
    _run(files, tune)
    assert len(tune.reports) == 3  # two epochs, then the final outcome
    final = tune.reports[-1]
    assert final["trial_status"] == "ok" and final["epochs_done"] == 2
    record = tmp_path / "trials" / "s0001" / FINAL_REPORT
    assert json.loads(record.read_text())["members_json"] == final["members_json"]
    (member,) = json.loads(final["members_json"])
    assert member["trial_id"] == "s0001" and member["status"] == "ok"
    assert _same(files.recorded_final() or {}, final)


def test_unfinished_trial_has_nothing_to_replay(tmp_path: Path) -> None:
    files = TrialFiles(Storage.parse(str(tmp_path)), "s0002")
    assert files.recorded_final() is None


def test_pack_reports_every_member(tmp_path: Path) -> None:
    files = TrialFiles(Storage.parse(str(tmp_path)), "s0003")
    tune = FakeTune()
    _run(files, tune, n=2)
    members = json.loads(tune.reports[-1]["members_json"])
    assert [m["trial_id"] for m in members] == ["s0003-m0", "s0003-m1"]
    assert [m["overrides"] for m in members] == [{"train.seed": 0}, {"train.seed": 1}]
    assert all(m["status"] == "ok" and m["code_version"] for m in members)
