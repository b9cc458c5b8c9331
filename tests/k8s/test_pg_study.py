"""A smoke study against MLflow on PostgreSQL, run with the k8s manifest's server arguments:
the cluster configuration of DESIGN §8, on this machine, over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pg_mlflow import MlflowServer
from rdlab.frontier.io import read_rd_points

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.ray, pytest.mark.server, pytest.mark.slow]


def test_smoke_study_tracks_into_postgres(pg_mlflow_server: MlflowServer, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = pg_mlflow_server.tracking_uri
    storage = tmp_path / "runs"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "studies/rd_frontier.py"),
            "--smoke-test",
            "--storage",
            str(storage),
            "--tracking-uri",
            uri,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    study = yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text())["study"]
    assert not (storage / study / "mlflow.db").exists()  # nothing fell back to sqlite

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(study)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("rdlab.role") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}

    points = read_rd_points(storage / study / "rd_points")
    final = points[points["epoch"].isna()]
    assert set(final["mlflow_run_id"]) == {c.info.run_id for c in children}
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params["objective.sigma.policy"]
        history = client.get_metric_history(child.info.run_id, "val/nll_opt")
        assert sorted(m.step for m in history) == [1, 2]
        names = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert "trial_config.yaml" in names  # proxied to the server's artifact store
    parent_files = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert "report.html" in parent_files
