"""Worker crash, driver crash and divergence (issue 7 §1–3) on a real local Ray.

scenarios.crash_study kills the process of trial s0002 inside its third epoch, later kills
the driver mid-study, and reruns with ``--resume``; scenarios.reference_study runs the same
spec (same seeds) with one uninterrupted driver. Trial s0001 of that spec diverges.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from tests.reliability.harness import DIVERGING, EPOCHS, FAULT_SPEC, mlflow_runs, read_points
from tests.reliability.scenarios import KILLED, N_TRIALS, Crash, Reference

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPLITS = ["test", "val"]
# Run-specific by nature: wall-clock time, MLflow's random run ids, artifact locations.
RUN_SPECIFIC = ["wall_s", "mlflow_run_id", "artifacts"]
HISTORIES = ("val/rate", "val/nll_opt", "train/loss", "epoch")


def _finals(points: pd.DataFrame, trial: str) -> pd.DataFrame:
    return points[(points["trial_id"] == trial) & points["epoch"].isna()]


def _comparable(points: pd.DataFrame) -> pd.DataFrame:
    df = points.drop(columns=RUN_SPECIFIC)
    df = df.sort_values(["trial_id", "split", "epoch"], na_position="last")
    return df.reset_index(drop=True)


def test_spec_premise(reference: Reference) -> None:
    """The scenarios assume Optuna's seed-2 order: s0001 is the diverging configuration."""
    points = read_points(reference.study.root)
    policies = points.groupby("trial_id")["sigma_policy"].first().to_dict()
    assert policies[DIVERGING] == "learned_scalar", policies
    assert policies[KILLED] == "optimal_sample", policies


# ----------------------------------------------------------------------------- §1 worker
def test_killed_worker_resumes_from_its_checkpoint(crash: Crash) -> None:
    marks = [m for m in crash.study.marks() if m.trial == KILLED]
    first = [m for m in marks if m.pid == crash.killed_pid]
    assert first[0].event == "start" and first[0].epoch == 0
    assert max(m.epoch for m in first) == crash.killed_after_epoch >= 2
    assert not any(m.event == "end" for m in first)  # it really died inside an epoch
    restarts = [m for m in marks if m.event == "start" and m.pid != crash.killed_pid]
    assert restarts, "the killed trial never ran again"
    # Back from its last reported checkpoint, not from epoch 0.
    assert 1 <= restarts[0].epoch <= crash.killed_after_epoch, restarts
    ends = [m for m in marks if m.event == "end"]
    assert ends and ends[-1].epoch == EPOCHS


def test_killed_trial_has_one_run_and_one_final_row_per_split(crash: Crash) -> None:
    assert crash.returncode == 0, crash.study.output()
    _, children = mlflow_runs(crash.uri, str(FAULT_SPEC["study"]))
    mine = [r for r in children if r.data.tags["rdlab.trial_id"] == KILLED]
    assert len(mine) == 1, [r.info.run_id for r in mine]
    assert mine[0].info.status == "FINISHED"
    points = read_points(crash.study.root)
    final = _finals(points, KILLED)
    assert sorted(final["split"]) == SPLITS
    assert set(final["status"]) == {"ok"}
    assert set(final["mlflow_run_id"]) == {mine[0].info.run_id}
    per_epoch = points[(points["trial_id"] == KILLED) & points["epoch"].notna()]
    assert sorted(per_epoch[per_epoch["split"] == "val"]["epoch"]) == list(range(1, EPOCHS + 1))


# ----------------------------------------------------------------------------- §2 driver
def test_trials_die_with_the_driver(crash: Crash) -> None:
    """Workers, raylet and GCS share the driver's fate: nothing keeps training or holds
    a GPU. Ray's two idle node agents outlive a SIGKILLed driver (documented; the test
    harness reaps them)."""
    idle_agents = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")
    working = [c for c in crash.leftovers if not c.startswith(idle_agents)]
    assert working == [], f"processes outlived the killed driver: {working}"


def test_resume_skipped_finished_trials(crash: Crash) -> None:
    marks = crash.study.marks()
    out = crash.study.stdout.read_text()
    assert "resuming the Tune experiment" in out, crash.study.output()
    # A trial that had ended before the kill does not train again, even when it ended
    # after Tune last saved its experiment state (it does so every few seconds): its
    # recorded final report is handed back instead (rdlab.tune.trainable.report_final).
    ended = {m.trial for m in marks if m.event == "end" and m.t < crash.driver_killed_at}
    assert ended - {KILLED}, "the scenario kills the driver after another trial ended"
    again = {m.trial for m in marks if m.event == "start" and m.t > crash.driver_killed_at}
    assert not ended & again, f"finished trials ran again: {ended & again}"
    assert again, "nothing was left to resume; the driver was killed too late"


def test_resumed_parquet_equals_uninterrupted(crash: Crash, reference: Reference) -> None:
    assert crash.returncode == 0, crash.study.output()
    assert reference.returncode == 0, reference.study.output()
    got = _comparable(read_points(crash.study.root))
    want = _comparable(read_points(reference.study.root))
    assert sorted(got["trial_id"].unique()) == [f"s{i:04d}" for i in range(1, N_TRIALS + 1)]
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-6)


def _runs(uri: str) -> dict[str, Any]:
    _, children = mlflow_runs(uri, str(FAULT_SPEC["study"]))
    by_trial = {r.data.tags["rdlab.trial_id"]: r for r in children}
    assert len(by_trial) == len(children), "a trial has more than one MLflow run"
    return by_trial


def _history(uri: str, run_id: str, key: str) -> dict[int, float]:
    from mlflow.tracking import MlflowClient

    values: dict[int, set[float]] = {}
    for m in MlflowClient(tracking_uri=uri).get_metric_history(run_id, key):
        values.setdefault(m.step, set()).add(m.value)
    # An epoch recomputed after a crash may be logged twice, never with another value.
    assert all(len(v) == 1 for v in values.values()), (key, values)
    return {step: v.pop() for step, v in values.items()}


def test_resumed_mlflow_equals_uninterrupted(crash: Crash, reference: Reference) -> None:
    got, want = _runs(crash.uri), _runs(reference.server_uri)
    assert sorted(got) == sorted(want) == [f"s{i:04d}" for i in range(1, N_TRIALS + 1)]
    for tid, run in got.items():
        ref = want[tid]
        assert run.data.params == ref.data.params, tid
        assert run.info.status == ref.info.status, tid
        for tag in ("rdlab.status", "rdlab.diverged_epoch"):
            assert run.data.tags.get(tag) == ref.data.tags.get(tag), (tid, tag)
        assert sorted(run.data.metrics) == sorted(ref.data.metrics), tid
        for key, value in run.data.metrics.items():
            if key != "wall_s":
                assert value == pytest.approx(ref.data.metrics[key], rel=1e-6, nan_ok=True), key
        for key in HISTORIES:
            a = _history(crash.uri, run.info.run_id, key)
            b = _history(reference.server_uri, ref.info.run_id, key)
            assert a == pytest.approx(b, rel=1e-6), (tid, key)


# ----------------------------------------------------------------------------- §3 divergence
def test_divergence_is_recorded_with_last_finite_metrics(reference: Reference) -> None:
    points = read_points(reference.study.root)
    mine = points[points["trial_id"] == DIVERGING]
    final = _finals(points, DIVERGING)
    assert sorted(final["split"]) == SPLITS and set(final["status"]) == {"diverged"}
    # The last finite epoch is 2 (it diverged in the 3rd): per-epoch rows stop there and
    # the final val row carries exactly those values; no test split was evaluated.
    epochs = mine[(mine["split"] == "val") & mine["epoch"].notna()]
    assert sorted(epochs["epoch"]) == [1, 2]
    last = epochs[epochs["epoch"] == 2].iloc[0]
    val = final[final["split"] == "val"].iloc[0]
    for col in ("rate", "mse", "nll", "nll_opt", "elbo", "log_sigma_x"):
        assert math.isfinite(val[col]) and val[col] == pytest.approx(last[col]), col
    assert final[final["split"] == "test"][["rate", "nll_opt"]].isna().all().all()
    out = reference.study.stdout.read_text()
    assert f"trial {DIVERGING} diverged at epoch 3" in out
    runs = _runs(reference.server_uri)
    run = runs[DIVERGING]
    assert run.info.status == "FAILED"
    assert run.data.tags["rdlab.status"] == "diverged"
    assert run.data.tags["rdlab.diverged_epoch"] == "3"
    # The other trials completed.
    others = points[(points["trial_id"] != DIVERGING) & points["epoch"].isna()]
    assert set(others["status"]) == {"ok"}
    assert others["trial_id"].nunique() == N_TRIALS - 1


def test_optuna_told_fail_and_kept_searching(reference: Reference) -> None:
    import optuna

    storage = f"sqlite:///{reference.study.root / 'optuna.db'}"
    trials = optuna.load_study(study_name=str(FAULT_SPEC["study"]), storage=storage).trials
    assert len(trials) == N_TRIALS
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 1 and failed[0].values is None  # FAIL, not a NaN objective
    assert failed[0].params["objective.sigma.policy"] == "learned_scalar"
    # The search went on: every other proposal ran to the end with finite objectives.
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == N_TRIALS - 1
    assert all(v is not None and all(map(math.isfinite, v)) for v in (t.values for t in done))
