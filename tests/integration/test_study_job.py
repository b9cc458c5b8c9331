"""The main job end to end on real parts: a local Ray head, ``ray job submit``, MLflow on
sqlite, Optuna, Parquet. And a trial that keeps failing: retried, then marked failed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rdlab.frontier.io import read_rd_points

from tests.integration.ray_head import ray_env, ray_head

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.ray, pytest.mark.slow]

METRICS = ["rate", "mse", "nll", "nll_opt"]


def _mlflow_runs(db: Path, study: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    df = mlflow.search_runs(experiment_names=[study], output_format="pandas")
    recs = df.to_dict("records")
    parents = [r for r in recs if r.get("tags.rdlab.role") == "parent"]
    # pandas fills a missing tag with NaN (truthy), so test for a string id.
    children = [r for r in recs if isinstance(r.get("tags.mlflow.parentRunId"), str)]
    return parents, children


def test_ray_job_submit_smoke_study(tmp_path: Path) -> None:
    storage = tmp_path / "runs"
    with ray_head() as address:
        for _ in range(12):
            proc = subprocess.run(
                [
                    str(Path(sys.executable).parent / "ray"),
                    "job",
                    "submit",
                    "--address",
                    address,
                    "--working-dir",
                    str(ROOT),
                    "--",
                    "python",
                    "studies/rd_frontier.py",
                    "--smoke-test",
                    "--storage",
                    str(storage),
                ],
                env=ray_env(),
                capture_output=True,
                text=True,
                timeout=900,
                cwd=ROOT,
            )
            # The head answers `ray job list` a little before its job agent is up.
            if "No available agent to submit job" not in proc.stderr:
                break
            time.sleep(5.0)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "frontier" in proc.stdout.lower()
    study = yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text())["study"]
    root = storage / study
    parents, children = _mlflow_runs(root / "mlflow.db", study)
    table = read_rd_points(root / "rd_points")
    final = table[table["epoch"].isna()]
    trials = sorted(final["trial_id"].unique())
    assert len(trials) == 2
    assert len(parents) == 1
    assert sorted(r["tags.rdlab.trial_id"] for r in children) == trials  # exactly one each
    assert {r["tags.mlflow.parentRunId"] for r in children} == {parents[0]["run_id"]}
    assert sorted(final["split"]) == ["test", "test", "train", "train", "val", "val"]
    ok = final[final["status"] == "ok"]
    assert len(ok) == 6
    assert ok[METRICS].notna().all().all()
    assert set(final["mlflow_run_id"]) == {r["run_id"] for r in children}
    assert (table["epoch"].dropna() >= 1).all()
    # The driver trained the Fréchet classifier once, before the trials, where they look.
    assert "Fréchet classifier for digits: test accuracy" in proc.stdout
    assert len(list((root / "trials" / ".cache" / "frechet").glob("digits-*.pt"))) == 1
    assert final["frechet_classifier"].nunique() == 1  # one feature space for every trial


def test_failing_trial_is_retried_then_marked_failed(tmp_path: Path) -> None:
    spec = yaml.safe_load((ROOT / "studies/specs/beta_grid.yaml").read_text())
    spec["train"]["epochs"] = 2
    spec["model"].update(hidden=32, blocks=1)
    spec["eval"] = {"iwae_k": 4, "iwae_examples": 32, "gmm_components": 2}
    spec["search"]["space"] = {"objective.beta": {"choice": [0.1, 1.0]}}
    spec["max_failures"] = 1
    spec["callbacks"] = ["tests.hooks:FailIf"]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    log = tmp_path / "attempts.log"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "studies/rd_frontier.py"),
            "--spec",
            str(path),
            "--storage",
            str(tmp_path / "runs"),
        ],
        env=ray_env(
            RDLAB_FAIL_IF="objective.beta=0.1", RDLAB_FAIL_LOG=str(log), PYTHONPATH=str(ROOT)
        ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    # One trial failed after its retry: the study says so and exits 3 (the other is kept).
    assert proc.returncode == 3, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "error: 1 of 2 trials failed" in proc.stderr
    attempts = log.read_text().split()
    assert len(attempts) == 2 and len(set(attempts)) == 1  # first try + one retry
    root = tmp_path / "runs" / spec["study"]
    final = read_rd_points(root / "rd_points")
    final = final[final["epoch"].isna()]
    by_status = final.groupby("status")["trial_id"].nunique().to_dict()
    assert by_status == {"failed": 1, "ok": 1}
    failed = final[final["status"] == "failed"]
    assert set(failed["trial_id"]) == set(attempts)
    assert (failed["beta"] == 0.1).all()
    assert sorted(failed["split"]) == ["test", "val"]
    _, children = _mlflow_runs(root / "mlflow.db", spec["study"])
    # one run per trial: the retry reopened the failing trial's run, which ends FAILED
    by_trial = {r["tags.rdlab.trial_id"]: r for r in children}
    assert len(children) == 2 and len(by_trial) == 2
    (bad,) = set(failed["trial_id"])
    assert by_trial[bad]["status"] == "FAILED" and by_trial[bad]["tags.rdlab.status"] == "failed"
