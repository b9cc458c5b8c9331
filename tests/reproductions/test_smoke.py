"""A tiny reproduction end to end, as CI runs it: the runner drives the real study driver
(local Ray, MLflow, Parquet), probes the checkpoints, checks the claims and writes the
report. Two 2-epoch trials of the hypersphere reproduction: about 40 s on two cores."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_all(*args: str, storage: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    script = ROOT / "studies" / "reproductions" / "run_all.py"
    return subprocess.run(
        [sys.executable, str(script), "--smoke-test", *args, "--storage", str(storage)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_smoke_reproduction_end_to_end(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    proc = _run_all("--only", "hypersphere", storage=tmp_path, timeout=170)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    study = tmp_path / "repro-004-hypersphere"
    points = pd.read_parquet(study / "rd_points")
    assert points["trial_id"].nunique() == 2
    probes = pd.read_parquet(study / "probes.parquet")
    assert len(probes) == 2 and (probes["radius_prior"] >= 0).all()
    report = (tmp_path / "reproductions.md").read_text()
    assert "004 Theorem 1" in report and "**Verdict:" in report
    assert "| claim (as tested) | holds | measured |" in report
    assert (tmp_path / "reproductions" / "hypersphere_1.png").exists()
    verdicts = json.loads((tmp_path / "reproductions.json").read_text())
    assert "hypersphere" in verdicts["verdicts"]
    assert "steps per trial" in report and "Budget." in report
    print(f"smoke reproduction: {wall:.0f}s")

    # Rerunning another reproduction alone re-renders the whole report: the ones not rerun
    # keep their stored results (they were dropped from the report under --rerun before).
    rerender = _run_all("--only", "toy_table1", "--rerun", "--report-only", storage=tmp_path)
    assert rerender.returncode == 0, rerender.stderr[-2000:]
    assert "004 Theorem 1" in (tmp_path / "reproductions.md").read_text()
