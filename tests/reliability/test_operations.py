"""What a cluster and its users do to a long study (issue 17): a second driver on the same
study, SIGTERM, a full disk, a trial that hangs. Real drivers, local Ray, sqlite MLflow."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reliability.harness import (
    FAULT_SPEC,
    MAIN_JOB,
    ROOT,
    Study,
    mlflow_runs,
    read_points,
    study_env,
    wait_for,
)

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TINY: dict[str, Any] = {
    "dataset": {"name": "digits"},
    "model": {"name": "mlp_resnet", "latent_dim": 2, "hidden": 16, "blocks": 1},
    "train": {"epochs": 3, "batch_size": 64, "seed": 0},
    "objective": {"sigma": {"policy": "optimal_sample"}},
    "eval": {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False},
    "search": {"algorithm": "grid", "space": {"objective.beta": {"choice": [0.5, 2.0]}}},
    "max_concurrent": 1,
}


def _errors(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("error:")]


def test_a_second_driver_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    spec = {**FAULT_SPEC, "study": "ops-two"}
    a = Study(tmp_path / "race", spec, name="a")
    b = Study(tmp_path / "race", spec, name="b")
    x = Study(tmp_path / "late", spec, name="x")
    y = Study(tmp_path / "late", spec, name="y")
    try:
        # Launched together: both pass the checks, one takes the lease, the other is
        # refused naming it (host, pid, since when), whichever it is.
        pa, pb = a.start(), b.start()
        codes = {a.wait(400), b.wait(400)}
        assert codes == {0, 2}, a.output() + b.output()
        loser, winner = (a, pb) if pa.returncode == 2 else (b, pa)
        err = _errors(loser.stderr.read_text())
        assert len(err) == 1 and "is being run by another driver (pid " in err[0], err
        assert f"pid {winner.pid} on " in err[0] and " since " in err[0]
        assert "Traceback" not in loser.stderr.read_text()
        # A late second launch, with --resume, while a driver runs the study: refused too.
        px = x.start()
        wait_for("the first driver's first epoch", lambda: any(x.marks()), 240, px)
        assert y.run("--resume", timeout=240) == 2, y.output()
        assert "is being run by another driver" in y.stderr.read_text()
        assert x.wait(400) == 0, x.output()
    finally:
        for s in (a, b, x, y):
            s.cleanup()
    for root in (a.root, x.root):
        parent, children = mlflow_runs(f"sqlite:///{root / 'mlflow.db'}", "ops-two")
        assert parent is not None  # exactly one parent run (mlflow_runs asserts it)
        ids = [r.data.tags["rdlab.trial_id"] for r in children]
        assert sorted(ids) == sorted(set(ids)) and len(ids) == 3  # one run per trial, once
        final = read_points(root)
        final = final[final["epoch"].isna()]
        assert len(final) == len(final.drop_duplicates(["trial_id", "split"])) == 6


def test_sigterm_is_a_clean_stop_and_resume_finishes(tmp_path: Path) -> None:
    study = Study(tmp_path, {**FAULT_SPEC, "study": "ops-term"})
    try:
        proc = study.start()
        study.wait_for_mark("epoch", "s0002")
        proc.send_signal(signal.SIGTERM)
        rc = study.wait(180)
        err = study.stderr.read_text()
        assert rc == 143, study.output()
        errors = _errors(err)
        assert len(errors) == 1, err[-3000:]
        assert errors[0].startswith("error: the study was terminated (SIGTERM)")
        assert "--resume" in errors[0]
        assert "SIGTERM received" not in err and "Traceback" not in err  # no abort, no dump
        assert (study.root / "tune").is_dir()
        rc = study.run("--resume", name="resume", timeout=400)
        assert rc == 0, study.output()
    finally:
        study.cleanup()
    points = read_points(study.root)
    final = points[points["epoch"].isna()]
    assert len(final) == len(final.drop_duplicates(["trial_id", "split"]))
    assert set(final["trial_id"]) == {"s0001", "s0002", "s0003"}
    per_epoch = points[points["epoch"].notna()]
    keys = ["trial_id", "split", "epoch"]
    assert len(per_epoch) == len(per_epoch.drop_duplicates(keys))  # every row exactly once


def test_a_driver_killed_before_tunes_first_save_resumes_by_starting_over(
    tmp_path: Path,
) -> None:
    """A driver killed before Tune saved its state (CI's multi-node lease test hit it)
    left a study that exists (a run without --resume is refused) with nothing of Tune's to
    restore, and --resume refused it too. Now --resume starts the search over; the trial
    that had finished is handed its recorded result, not trained again."""
    study = Study(tmp_path, {**TINY, "study": "ops-early"})
    try:
        proc = study.start()
        record = study.root / "trials" / "s0000" / "final_report.json"  # after its end mark
        wait_for("s0000's recorded result", record.is_file, 240, proc)
        study.kill_tree()  # SIGKILL, as the OOM killer would
        killed_at = max(m.t for m in study.marks())
        # Deterministically in the window (on an object store, from the folder's marker to
        # tuner.pkl's PUT, then to the first save): the state Tune had saved is gone, the
        # study and its trials' files stay.
        exp = study.root / "tune" / "search"
        saved = [exp / "tuner.pkl", *exp.glob("experiment_state*")]
        assert len(saved) >= 1 and any(exp.glob("s0000_*"))
        for f in saved:
            f.unlink()
        rc = study.run("--resume", name="resume", timeout=300)
        assert rc == 0, study.output()
    finally:
        study.cleanup()
    assert "the search starts over" in study.stdout.read_text()
    assert len(_errors(study.stderr.read_text())) == 0
    again = [m for m in study.marks() if m.t > killed_at and m.event == "start"]
    assert {m.trial for m in again} == {"s0001"}, again  # s0000 was not trained again
    final = read_points(study.root)
    final = final[final["epoch"].isna()]
    assert sorted(final["trial_id"]) == ["s0000", "s0001"]  # one val row each, once
    assert set(final["status"]) == {"ok"}


def _final_beta(points: Any, trial_id: str) -> float:
    row = points[(points["trial_id"] == trial_id) & points["epoch"].isna()]
    return float(row["beta"].iloc[0])


def test_an_optuna_search_that_starts_over_gives_each_trial_its_own_point_back(
    tmp_path: Path,
) -> None:
    """Starting over recreates trial ids from Tune's counter, while the study's Optuna
    store (sqlite beside it) still held the dead driver's trials: Optuna proposed the first id
    a new point, and it was handed the old point's recorded result. Now the recorded
    points are replayed in id order and the Optuna study is rebuilt from them."""
    import optuna

    spec = {
        **TINY,
        "study": "ops-replay",
        "search": {
            "algorithm": "optuna-tpe",
            "num_samples": 3,
            "space": {"objective.beta": {"loguniform": [0.1, 10.0]}},
        },
    }
    study = Study(tmp_path, spec)
    first = study.root / "trials" / "s0001"  # a searcher counts from 1
    try:
        proc = study.start()
        rows = study.root / "rd_points" / "s0001.parquet"
        wait_for("s0001's rows", rows.is_file, 240, proc)
        study.kill_tree()
        killed_at = max(m.t for m in study.marks())
        assert (first / "final_report.json").is_file()
        ran = _final_beta(read_points(study.root), "s0001")
        (study.root / "tune" / "search" / "tuner.pkl").unlink(missing_ok=True)
        for f in (study.root / "tune" / "search").glob("experiment_state*"):
            f.unlink()
        rc = study.run("--resume", name="resume", timeout=300)
        assert rc == 0, study.output()
    finally:
        study.cleanup()
    again = {m.trial for m in study.marks() if m.t > killed_at and m.event == "start"}
    assert "s0001" not in again  # handed its result ...
    final = read_points(study.root)
    final = final[final["epoch"].isna()]
    assert sorted(final["trial_id"]) == ["s0001", "s0002", "s0003"]
    assert _final_beta(final, "s0001") == pytest.approx(ran)  # ... for its own point
    stored = optuna.load_study(
        study_name="ops-replay", storage=f"sqlite:///{study.root / 'optuna.db'}"
    )
    states = [t.state.name for t in stored.trials]
    assert states == ["COMPLETE"] * 3, states  # no stale RUNNING trial, none twice
    assert stored.trials[0].params["objective.beta"] == pytest.approx(ran)
    for t in stored.trials:  # Optuna learns each point's own result
        beta = t.params["objective.beta"]
        rows = final[(final["beta"] - beta).abs() < 1e-9 * beta]
        assert len(rows) == 1 and rows["rate"].iloc[0] == pytest.approx(t.values[0]), beta
    out = study.stdout.read_text()
    assert "the search starts over" in out and "replaying the points its first" in out, out


def _in_tmpfs(mount: Path, size: str, argv: list[str], env: dict[str, str]) -> list[str]:
    """``argv`` in a private mount namespace where ``mount`` is a tmpfs of ``size``."""
    script = f'mount -t tmpfs -o size={size} tmpfs {mount} && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "bash", "-c", script, "sh", *argv]


def test_a_full_disk_is_named_and_earlier_rows_survive(tmp_path: Path) -> None:
    store = tmp_path / "small"
    store.mkdir()
    spec_a = tmp_path / "a.yaml"
    spec_a.write_text(yaml.safe_dump({**TINY, "study": "ops-a"}))
    spec_b = tmp_path / "b.yaml"
    spec_b.write_text(yaml.safe_dump({**TINY, "study": "ops-b"}))
    track = f"sqlite:///{tmp_path / 'mlflow.db'}"  # the tracking store is elsewhere
    # Short: Ray's unix socket paths must fit in 108 characters.
    ray_tmp = tempfile.mkdtemp(prefix="rr", dir="/tmp")
    env = study_env(RAY_TMPDIR=ray_tmp, PYTHONPATH=str(ROOT))
    job = [sys.executable, str(MAIN_JOB), "--storage", str(store), "--tracking-uri", track]
    # One namespace for both studies: the first finishes, then the disk is filled.
    script = (
        f"{' '.join(job)} --spec {spec_a} > {tmp_path / 'a.out'} 2> {tmp_path / 'a.err'}; "
        f"echo $? > {tmp_path / 'a.rc'}; "
        f"cp -r {store}/ops-a {tmp_path}/ops-a-copy; "
        f"head -c $(( $(df --output=avail -B1 {store} | tail -1) - 262144 )) /dev/zero "
        f"> {store}/filler; "
        f"{' '.join(job)} --spec {spec_b} > {tmp_path / 'b.out'} 2> {tmp_path / 'b.err'}; "
        f"echo $? > {tmp_path / 'b.rc'}; "
        f"cp -r {store}/ops-a {tmp_path}/ops-a-after"
    )
    try:
        proc = subprocess.run(
            _in_tmpfs(store, "24m", ["bash", "-c", script], env),
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert (tmp_path / "a.rc").read_text().strip() == "0", (tmp_path / "a.err").read_text()
    err = (tmp_path / "b.err").read_text()
    assert (tmp_path / "b.rc").read_text().strip() == "75", err[-4000:] + proc.stderr
    errors = _errors(err)
    assert len(errors) == 1, err[-4000:]
    assert errors[0].startswith(f"error: no space left on {store}") and " free)" in errors[0]
    assert "--resume" in errors[0] and "Traceback" not in err
    before = read_points(tmp_path / "ops-a-copy")
    after = read_points(tmp_path / "ops-a-after")
    pd_cols = ["trial_id", "split", "epoch", "rate", "nll_opt"]
    assert before[pd_cols].equals(after[pd_cols])  # the finished study is untouched


def test_a_trial_past_its_time_limit_fails_with_reason_timeout(tmp_path: Path) -> None:
    spec = {
        **TINY,
        "study": "ops-timeout",
        "train": {**TINY["train"], "max_trial_seconds": 20},
        "callbacks": ["tests.hooks:Stall"],
    }
    study = Study(tmp_path, spec, env={"RDLAB_STALL_IF": "objective.beta=2.0"})
    try:
        rc = study.run(timeout=400)
    finally:
        study.cleanup()
    assert rc == 3, study.output()  # one trial failed; the study went on and finished
    final = read_points(study.root)
    final = final[final["epoch"].isna()].set_index("trial_id")
    assert final.loc["s0000", "status"] == "ok"  # a grid's trials count from s0000
    assert final.loc["s0001", "status"] == "failed"
    assert final.loc["s0001", "failure"] == "timeout"
    _, children = mlflow_runs(f"sqlite:///{study.root / 'mlflow.db'}", "ops-timeout")
    run = next(r for r in children if r.data.tags["rdlab.trial_id"] == "s0001")
    assert run.info.status == "FAILED" and run.data.tags["rdlab.failure"] == "timeout"
    assert "timeout" in study.stdout.read_text()  # the progress line says why
