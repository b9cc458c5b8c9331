"""The notebook API (issue 16): the README's marked notebook example runs on a small study."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import rdlab
from rdlab.frontier.dataset import RDDataset
from rdlab.frontier.synthetic import synthetic_rd_points
from rdlab.storage import Storage

README = Path(__file__).resolve().parents[2] / "README.md"
MARK = "<!-- notebook-example"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    assert MARK in text, "the README has no marked notebook example"
    after = text.split(MARK, 1)[1]
    found = re.search(r"\A[^\n]*\n```python\n(.*?)```", after, re.S)
    assert found, "the notebook-example mark is not followed by a python block"
    return found.group(1)


def write_study(root: Path, name: str, seed: int) -> None:
    points = synthetic_rd_points(16, epochs=2, rng_seed=seed).assign(study=name)
    data = RDDataset(Storage.parse(root / name))
    for trial_id, rows in points.groupby("trial_id"):
        data.write_trial(str(trial_id), rows)


def test_the_readme_example_runs(tmp_path: Path) -> None:
    write_study(tmp_path / "runs", "digits-sigma-policies", seed=0)
    write_study(tmp_path / "runs", "beta-grid", seed=1)
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "hypervolume" in done.stdout and "fraction_a_below" in done.stdout
    assert "beta-grid" in done.stdout  # the second open_study compares both studies
    report = tmp_path / "runs" / "digits-sigma-policies" / "notebook"
    assert {"report.html", "frontier.parquet", "rd_plane.png"} <= {p.name for p in report.iterdir()}


def test_the_view_answers_like_the_analysis(tmp_path: Path) -> None:
    write_study(tmp_path, "s", seed=2)
    study = rdlab.open_study(tmp_path / "s")
    assert "16 trials" in repr(study)
    front = study.frontier(by="sigma_policy")
    assert front["on_group_frontier"].all() and set(front["epoch"].isna()) == {True}
    for _, rows in front.groupby("group"):
        assert rows["rate"].is_monotonic_increasing
    hv = study.hypervolume(by="sigma_policy")
    assert len(hv) == 4
    d = study.dominance("optimal_global", "fixed")
    assert d.a == "optimal_global" and 0.0 <= d.fraction_a_below <= 1.0
    with pytest.raises(KeyError, match="no group 'nope'"):
        study.dominance("nope", "fixed")
    before = len(study.points())
    RDDataset(Storage.parse(tmp_path / "s")).write_trial(
        "late", synthetic_rd_points(1, rng_seed=9).assign(study="s", trial_id="late")
    )
    assert len(study.points()) == before and len(study.reload().points()) == before + 1


def test_import_rdlab_stays_light() -> None:
    heavy = "('pandas', 'pyarrow', 'mlflow')"
    code = f"import sys, rdlab; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
