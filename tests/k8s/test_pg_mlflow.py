"""MLflow on PostgreSQL, run with the k8s manifest's server arguments, over HTTP end to end."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pg_mlflow import MlflowServer, manifest_mlflow_args, mlflow_server_args

pytestmark = [pytest.mark.postgres, pytest.mark.server]


def test_server_args_follow_the_manifest() -> None:
    manifest = manifest_mlflow_args()
    local = mlflow_server_args(manifest, {"--host": "127.0.0.1", "--port": "5001"})
    assert [a for a in local if a.startswith("--")] == [a for a in manifest if a.startswith("--")]
    assert "--serve-artifacts" in local and "--allowed-hosts" in local
    with pytest.raises(KeyError, match="--nope"):
        mlflow_server_args(manifest, {"--nope": "x"})


def test_round_trip_through_postgres(pg_mlflow_server: MlflowServer, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    server = pg_mlflow_server
    assert "--backend-store-uri" in server.args
    assert server.args[server.args.index("--backend-store-uri") + 1].startswith("postgresql")
    client = MlflowClient(tracking_uri=server.tracking_uri)
    experiment_id = client.create_experiment("rdlab-k8s-pg-smoke")
    run = client.create_run(experiment_id, tags={"rdlab.test": "pg"})
    run_id = run.info.run_id
    client.log_param(run_id, "objective.beta", "0.5")
    for step, value in enumerate([3.0, 2.5, 2.25]):
        client.log_metric(run_id, "nll_opt", value, step=step)
    note = tmp_path / "resolved_config.yaml"
    note.write_text("beta: 0.5\n")
    client.log_artifact(run_id, str(note))
    client.set_terminated(run_id)

    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params["objective.beta"] == "0.5"
    assert got.data.metrics["nll_opt"] == 2.25
    history = client.get_metric_history(run_id, "nll_opt")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == [3.0, 2.5, 2.25]
    # Artifacts go through the server's proxy into --artifacts-destination.
    assert got.info.artifact_uri.startswith("mlflow-artifacts:")
    assert [a.path for a in client.list_artifacts(run_id)] == ["resolved_config.yaml"]
    fetched = Path(client.download_artifacts(run_id, "resolved_config.yaml", str(tmp_path / "dl")))
    assert fetched.read_text() == "beta: 0.5\n"
    assert list(server.artifacts_dir.rglob("resolved_config.yaml"))


def test_unknown_host_header_is_refused(pg_mlflow_server: MlflowServer) -> None:
    """--allowed-hosts is in force: the 403 that MLflow 3.x gives a name not listed."""
    url = pg_mlflow_server.tracking_uri + "/api/2.0/mlflow/experiments/search?max_results=1"
    request = urllib.request.Request(url, headers={"Host": "mlflow.elsewhere.example:5000"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 403
    with urllib.request.urlopen(url, timeout=10) as ok:
        assert ok.status == 200
