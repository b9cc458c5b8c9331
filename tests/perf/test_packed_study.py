"""``pack: K`` in a real study (local Ray, MLflow on sqlite, Parquet): every packed member
is its own trial — its own MLflow child run and its own RD rows — and its numbers are the
ones the same trial gives when run alone (rdlab train)."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from rdlab.config import trial_config
from rdlab.config_io import set_path
from rdlab.driver.runner import run_study
from rdlab.frontier.io import read_rd_points
from rdlab.trial import run_trial

pytestmark = [pytest.mark.ray, pytest.mark.slow]

BASE: dict[str, Any] = {
    "dataset": {"name": "digits"},
    "model": {"name": "mlp_resnet", "latent_dim": 4, "hidden": 16, "blocks": 1},
    "train": {"epochs": 2, "batch_size": 256, "seed": 0},
    "eval": {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": True},
}


def test_packed_grid_study_gives_one_trial_per_member(tmp_path: Path) -> None:
    spec = {
        "study": "pack-study",
        **BASE,
        "search": {
            "algorithm": "grid",
            "space": {
                "objective.beta": {"choice": [0.3, 3.0]},
                "objective.sigma.policy": {"choice": ["optimal_sample", "learned_scalar"]},
            },
        },
        "pack": 2,
        "max_concurrent": 2,
    }
    assert run_study(spec, str(tmp_path), out=io.StringIO()) == 0
    root = tmp_path / "pack-study"
    table = read_rd_points(root / "rd_points")
    final = table[table["epoch"].isna()]
    assert len(final) == 4 and (final["status"] == "ok").all()
    ids = sorted(final["trial_id"])
    assert ids == ["s0000-m0", "s0000-m1", "s0001-m0", "s0001-m1"]
    assert final["mlflow_run_id"].nunique() == 4
    assert set(table.dropna(subset=["epoch"])["trial_id"]) == set(ids)  # per-epoch rows too
    # Every member's pictures are in the study folder, where the report finds them: its
    # gallery has a row, with pictures, for each member on a frontier.
    html = (root / "report.html").read_text()
    for row in final.itertuples():
        listed = json.loads(row.artifacts)
        assert listed and all((root / p).is_file() for p in listed), row.trial_id
        assert all(p.startswith(f"trials/{row.trial_id[:5]}/m") for p in listed)
    shown = re.findall(r'<tr data-trial="(s\d{4}-m\d)">(.*?)</tr>', html, re.S)
    assert shown and all('data-kind="data"><img' in cells for _, cells in shown)

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["pack-study"], output_format="list")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert sorted(r.data.tags["rdlab.trial_id"] for r in children) == ids
    assert {r.info.run_id for r in children} == set(final["mlflow_run_id"])
    assert all(r.info.status == "FINISHED" for r in children)

    # A member's numbers are its unpacked run's (tolerance as in test_packed.py).
    row = final.sort_values("trial_id").iloc[0]
    data: dict[str, Any] = dict(BASE)
    data = set_path(data, "objective.beta", float(row["beta"]))
    data = set_path(data, "objective.sigma.policy", str(row["sigma_policy"]))
    alone = run_trial(trial_config(data), tmp_path / "alone")
    for key in ("rate", "nll", "nll_opt", "mse"):
        a, b = alone.final["val"][key], float(row[key])
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-5), (key, a, b)
