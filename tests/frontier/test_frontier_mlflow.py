"""Frontiers from MLflow (issue 16) against a real ``mlflow server``: each trial's child
run carries its rows as ``rd_points/<trial_id>.parquet``; ``rdlab frontier --tracking-uri …
--experiment …`` gives the same frontier as the study folder, and compares studies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from rdlab.cli.frontier import frontier_main
from rdlab.frontier.dataset import RDDataset
from rdlab.frontier.synthetic import synthetic_rd_points
from rdlab.storage import Storage
from rdlab.track.points import fetch_points, log_trial_points

from tests.reliability.harness import mlflow_server

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as uri:
        yield uri


def log_study(uri: str, name: str, folder: Path, seed: int) -> pd.DataFrame:
    """A study as the platform records it: a parent run, one child run per trial carrying
    its rows as an artifact, and the same rows in the study folder's dataset."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment(name)
    parent = client.create_run(exp, tags={"rdlab.role": "parent", "rdlab.study": name})
    points = synthetic_rd_points(10, epochs=2, rng_seed=seed).assign(study=name)
    data = RDDataset(Storage.parse(folder))
    for trial_id, rows in points.groupby("trial_id"):
        run = client.create_run(
            exp,
            tags={
                "mlflow.parentRunId": parent.info.run_id,
                "rdlab.trial_id": str(trial_id),
                "rdlab.study": name,
                "rdlab.role": "trial",
            },
        )
        rows = rows.assign(mlflow_run_id=run.info.run_id)
        client.log_param(run.info.run_id, "objective.sigma.policy", rows["sigma_policy"].iloc[0])
        log_trial_points(client, run.info.run_id, str(trial_id), rows)
        data.write_trial(str(trial_id), rows)
    # The parent's copy of every row must not be counted a second time.
    log_trial_points(client, parent.info.run_id, "all", points.assign(trial_id="all"))
    return points


def frontier_of(path: Path) -> pd.DataFrame:
    table = pq.read_table(path / "frontier.parquet").to_pandas()
    return table.sort_values(["study", "trial_id", "split"]).reset_index(drop=True)


def test_mlflow_gives_the_same_frontier_as_the_study_folder(server: str, tmp_path: Path) -> None:
    log_study(server, "beta-grid", tmp_path / "beta-grid", seed=1)
    args = ["--by", "sigma_policy", "--no-png"]
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert frontier_main([str(tmp_path / "beta-grid"), "--out-dir", str(local), *args]) == 0
    cmd = ["--tracking-uri", server, "--experiment", "beta-grid", "--out-dir", str(remote)]
    assert frontier_main([*cmd, *args]) == 0
    pd.testing.assert_frame_equal(frontier_of(local), frontier_of(remote))
    assert frontier_of(remote)["on_frontier"].any()


def test_two_studies_compared_by_study_and_a_filter(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_study(server, "study-a", tmp_path / "a", seed=2)
    log_study(server, "study-b", tmp_path / "b", seed=3)
    out = tmp_path / "ab"
    cmd = ["--tracking-uri", server, "--experiment", "study-a", "--experiment", "study-b"]
    assert frontier_main([*cmd, "--by", "study", "--out-dir", str(out), "--no-png"]) == 0
    front = frontier_of(out)
    assert set(front["group"]) == {"study-a", "study-b"}
    assert len(front) == 20  # ten trials each, the parents' copies left out
    assert "study-a" in capsys.readouterr().out
    fixed = "params.`objective.sigma.policy` = 'fixed'"
    got = fetch_points(server, ["study-a", "study-b"], fixed)
    assert got.runs == len(got.blobs) == 6  # 3 of 10 trials per study are 'fixed'


def test_unknown_experiment_and_bad_filter_exit_2(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cmd = ["--tracking-uri", server, "--out-dir", str(tmp_path / "x")]
    assert frontier_main([*cmd, "--experiment", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: --experiment: no experiment 'nope'")
    log_study(server, "study-c", tmp_path / "c", seed=4)
    assert frontier_main([*cmd, "--experiment", "study-c", "--filter", "colour ~ 1"]) == 2
    assert capsys.readouterr().err.startswith("error: --filter: MLflow refused")
    assert not (tmp_path / "x").exists()
