"""plan_study: what a study is about to write, decided before anything is written."""

from __future__ import annotations

from pathlib import Path

import yaml
from rdlab.driver.preflight import plan_study

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text())


def test_mlflow_artifacts_stay_beside_a_sqlite_store_never_in_the_working_folder(
    tmp_path: Path,
) -> None:
    # Without an artifact location MLflow writes ./mlruns wherever the driver started.
    local = plan_study(SPEC, str(tmp_path / "runs"), None, False, None)
    study = tmp_path / "runs" / str(SPEC["study"])
    assert local.tracking_uri == f"sqlite:///{study / 'mlflow.db'}"
    assert local.artifact_dir == study / "mlartifacts"
    given = plan_study(SPEC, str(tmp_path / "runs"), f"sqlite:///{tmp_path}/t/m.db", False, None)
    assert given.artifact_dir == tmp_path / "t" / "mlartifacts"
    server = plan_study(SPEC, str(tmp_path / "runs"), "http://127.0.0.1:5000", False, None)
    assert server.artifact_dir is None  # the server's --artifacts-destination decides
    assert not study.exists()  # planning writes nothing
