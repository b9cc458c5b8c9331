"""Across nodes for real (issue 13): a two-node Ray cluster whose worker cannot see the
head's disk, an S3-compatible object store, MLflow on PostgreSQL with its artifacts in that
store, and studies submitted with ``ray job submit --working-dir``.

One harness (module fixture) serves every scenario; the trials reserve the custom resource
``worker``, which only worker nodes advertise, so they never run beside the driver.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.cluster.harness import (
    Cluster,
    ObjectStore,
    object_store,
    ray_cluster,
    submitted_tree,
)
from tests.helpers import ROOT, skip_unless_ci, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.server, pytest.mark.postgres, pytest.mark.slow]

K8S_TESTS = ROOT / "tests" / "k8s"


def _spec(study: str, **over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "study": study,
        "dataset": {"name": "digits"},
        "model": {"name": "mlp_resnet", "latent_dim": 4, "hidden": 16, "blocks": 1},
        "train": {"epochs": 1, "batch_size": 256, "seed": 0},
        "objective": {"sigma": {"policy": "optimal_sample"}},
        "eval": {"splits": ["val"], "iwae_k": 4, "iwae_examples": 32, "gmm_components": 2},
        "search": {
            "algorithm": "grid",
            "space": {"objective.beta": {"choice": [0.3, 3.0]}},
        },
        "resources": {"cpu": 1, "custom": {"worker": 1}},
        "max_concurrent": 2,
        "max_failures": 1,
    }
    spec.update(over)
    return spec


@dataclass
class Harness:
    cluster: Cluster
    store: ObjectStore
    tracking_uri: str
    tree: Path  # the submitted working dir (a copy of the project, one comment changed)
    expected_version: str
    env: dict[str, str]

    def spec_file(self, spec: dict[str, Any]) -> str:
        rel = f"specs/{spec['study']}.yaml"
        (self.tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.tree / rel).write_text(yaml.safe_dump(spec, sort_keys=False))
        return rel

    def entrypoint(self, spec: dict[str, Any], *extra: str) -> list[str]:
        return [
            "python",
            "studies/rd_frontier.py",
            "--spec",
            self.spec_file(spec),
            "--storage",
            self.store.uri("runs"),
            "--tracking-uri",
            self.tracking_uri,
            "--resume",
            "auto",
            *extra,
        ]

    def storage(self, study: str) -> Any:
        from rdlab.storage import Storage

        return Storage.parse(self.store.uri(f"runs/{study}"))

    def points(self, study: str) -> pd.DataFrame:
        from rdlab.frontier.io import read_rd_points

        st = self.storage(study)
        local = Path(self.tree.parent / f"points-{study}-{time.monotonic_ns()}")
        st.download("rd_points", local)
        return read_rd_points(local)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    sys.path.insert(0, str(K8S_TESTS))
    from pg_mlflow import mlflow_server, pg_bin_dir, postgres
    from rdlab.version import tree_hash

    if pg_bin_dir() is None:
        skip_unless_ci("PostgreSQL server binaries not installed")
    work = tmp_path_factory.mktemp("cluster")
    with object_store(work) as store:
        saved = {k: os.environ.get(k) for k in store.env}
        os.environ.update(store.env)  # this test process reads the store too
        try:
            with (
                postgres() as pg,
                mlflow_server(pg, work, artifacts_uri=store.uri("mlartifacts")) as server,
                ray_cluster(workers=1, extra_env=store.env) as cluster,
            ):
                tree = submitted_tree(work / "tree", marker=work.name)
                dirs = [
                    ("rdlab", tree / "platform" / "rdlab"),
                    ("rdlab.models", tree / "models"),
                    ("rdlab.dashboards", tree / "dashboards"),
                ]
                version = f"sha256:{tree_hash(dirs)[:16]}"
                yield Harness(cluster, store, server.tracking_uri, tree, version, store.env)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _mlflow(h: Harness, study: str) -> tuple[Any, list[Any], Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(h.tracking_uri)
    exp = client.get_experiment_by_name(study)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("rdlab.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    return parents, children, client


def test_study_on_a_worker_without_the_heads_disk(harness: Harness) -> None:
    h = harness
    spec = _spec("mn-main")
    job = h.cluster.submit(h.tree, h.entrypoint(spec))
    state = h.cluster.wait_job(job)
    logs = h.cluster.job("logs", job)
    assert state == "SUCCEEDED", logs[-6000:]
    final = h.points("mn-main")
    final = final[final["epoch"].isna()]
    assert sorted(final["trial_id"]) == ["s0000", "s0001"]
    assert (final["status"] == "ok").all()
    # the Fréchet classifier: trained once by the driver, one hash in every trial
    assert final["frechet_classifier"].nunique() == 1
    assert final["frechet_classifier"].notna().all()
    # the trials ran the submitted tree, not the installed rdlab
    assert set(final["code_version"]) == {h.expected_version}
    parents, children, client = _mlflow(h, "mn-main")
    assert len(parents) == 1
    assert sorted(r.data.tags["rdlab.trial_id"] for r in children) == ["s0000", "s0001"]
    for run in children:
        assert run.data.tags["rdlab.code_version"] == h.expected_version
        tag = run.data.tags["rdlab.checkpoint"]
        assert tag == f"runs:/{run.info.run_id}/checkpoint/last.pt"
        assert [a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")] == [
            "checkpoint/last.pt"
        ]
    # RD points, frontier and report in the object store; every trial's pictures in it
    st = h.storage("mn-main")
    for name in ("frontier.parquet", "report.html", "rd_plane.png"):
        assert st.is_file(name), name
    html = st.read_bytes("report.html").decode()
    for tid in ("s0000", "s0001"):  # a gallery row each: data, reconstruction, prior, GMM
        row = re.search(rf'<tr data-trial="{tid}">(.*?)</tr>', html, re.S)
        assert row is not None, tid
        kinds = re.findall(r'<td class="cell" data-kind="(\w+)"><img', row.group(1))
        assert kinds == ["data", "reconstruction", "prior", "gmm"], (tid, kinds)
    assert "warning:" not in logs  # no picture listed but missing, no failed write
    assert "Fréchet classifier for digits" in logs


def test_a_study_whose_trials_all_fail_fails_its_job(harness: Harness) -> None:
    h = harness
    # cuda with no GPU reserved: every trial refuses to start, on every attempt
    spec = _spec("mn-fail", train={"epochs": 1, "batch_size": 256, "device": "cuda"})
    job = h.cluster.submit(h.tree, h.entrypoint(spec))
    assert h.cluster.wait_job(job) == "FAILED"
    logs = h.cluster.job("logs", job)
    assert "error: no trial finished (2 failed)" in logs
    assert "train.device: cuda requested but the trial reserved no GPU" in logs


def _driver(h: Harness, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The main job run directly against the cluster (RAY_ADDRESS), as a user's laptop would."""
    run_env = {**h.cluster.env, **env, "RAY_ADDRESS": h.cluster.gcs}
    return subprocess.run(
        [sys.executable, str(h.tree / "studies" / "rd_frontier.py"), *args],
        env=run_env,
        cwd=h.tree,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_an_unreachable_object_store_fails_before_any_trial(harness: Harness) -> None:
    h = harness
    spec = h.tree / h.spec_file(_spec("mn-nostore"))
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens there
    t0 = time.monotonic()
    r = _driver(h, ["--spec", str(spec), "--storage", h.store.uri("runs"),
                    "--tracking-uri", h.tracking_uri], env)  # fmt: skip
    assert r.returncode == 75, r.stdout + r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and err[0].startswith("error: --storage: cannot write to s3://")
    assert "trial" not in r.stdout and time.monotonic() - t0 < 120
    assert not h.storage("mn-nostore").exists()


def test_a_sqlite_tracking_store_is_refused_on_two_nodes(harness: Harness, tmp_path: Path) -> None:
    h = harness
    spec = h.tree / h.spec_file(_spec("mn-sqlite"))
    for extra in ([], ["--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"]):
        r = _driver(h, ["--spec", str(spec), "--storage", str(tmp_path / "runs"), *extra], {})
        assert r.returncode == 2, r.stdout + r.stderr
        err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(err) == 1 and err[0].startswith("error: --tracking-uri: "), r.stderr
        assert "trials run on 2 nodes" in err[0]
        assert not (tmp_path / "runs").exists() and not (tmp_path / "m.db").exists()


def test_a_local_folder_the_worker_cannot_see_is_refused(harness: Harness) -> None:
    h = harness
    spec = h.tree / h.spec_file(_spec("mn-local"))
    storage = h.cluster.hidden / "runs"  # the worker sees an empty tmpfs there
    r = _driver(h, ["--spec", str(spec), "--storage", str(storage),
                    "--tracking-uri", h.tracking_uri], {})  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "cannot see" in err[0] and "s3://" in err[0], r.stderr
    assert not (storage / "mn-local").exists()


def _finished(h: Harness, study: str) -> set[str]:
    st = h.storage(study)
    return {
        p.split("/")[0]
        for p in st.list("trials", recursive=True)
        if p.endswith("final_report.json")
    }


def test_a_resubmitted_job_resumes_without_rerunning_finished_trials(harness: Harness) -> None:
    h = harness
    space = {"objective.beta": {"choice": [0.1, 0.3, 1.0, 3.0]}}
    spec = _spec(
        "mn-resume",
        train={"epochs": 2, "batch_size": 64, "seed": 0},
        search={"algorithm": "grid", "space": space},
        max_concurrent=1,
    )
    entry = h.entrypoint(spec)
    first = h.cluster.submit(h.tree, entry)
    wait_for("a first finished trial", lambda: len(_finished(h, "mn-resume")) >= 1, 400)
    h.cluster.job("stop", first)
    h.cluster.wait_job(first)
    # SIGTERM, then a clean stop: its lease released (a SIGKILL would leave it for 60 s)
    assert not h.storage("mn-resume").exists(".rdlab-lease.json")
    done = _finished(h, "mn-resume")
    _, children, _ = _mlflow(h, "mn-resume")
    ended = {r.data.tags["rdlab.trial_id"]: r.info.end_time for r in children
             if r.data.tags["rdlab.trial_id"] in done}  # fmt: skip
    second = h.cluster.submit(h.tree, entry)  # the same job, resubmitted
    state = h.cluster.wait_job(second)
    assert state == "SUCCEEDED", h.cluster.job("logs", second)[-6000:]
    final = h.points("mn-resume")
    final = final[final["epoch"].isna()]
    assert sorted(final["trial_id"]) == ["s0000", "s0001", "s0002", "s0003"]  # once each
    _, children, _ = _mlflow(h, "mn-resume")
    assert len(children) == 4  # one run per trial, across both submissions
    for r in children:  # a finished trial was not run again: its run never reopened
        tid = r.data.tags["rdlab.trial_id"]
        if tid in ended:
            assert r.info.end_time == ended[tid], tid


def test_a_lost_worker_node_resumes_the_trial_from_the_object_store(harness: Harness) -> None:
    h = harness
    spec = _spec(
        "mn-nodeloss",
        train={"epochs": 6, "batch_size": 16, "seed": 0, "checkpoint_every": 1},
        search={"algorithm": "grid", "space": {"objective.beta": {"choice": [1.0]}}},
        max_failures=3,
        callbacks=["hooks:EpochMarks"],
    )
    (h.tree / "hooks.py").write_text(HOOKS)
    job = h.cluster.submit(h.tree, h.entrypoint(spec), env={"MARKS_URI": h.store.uri("marks")})
    st = h.storage("mn-nodeloss")

    def checkpointed() -> bool:
        # The second checkpoint: the first is then surely registered with Tune (a file in the
        # store is uploaded before the trial reports it, and the raylet may die in between).
        found = re.findall(r"checkpoint_(\d+)", "\n".join(st.list("tune", recursive=True)))
        return any(int(n) >= 1 for n in found)

    wait_for("a second checkpoint in the object store", checkpointed, 400)
    h.cluster.kill_raylet(h.cluster.workers[0])
    h.cluster.add_worker()  # a fresh node, with its own empty disk
    state = h.cluster.wait_job(job, timeout=900)
    assert state == "SUCCEEDED", h.cluster.job("logs", job)[-6000:]
    points = h.points("mn-nodeloss")
    final = points[points["epoch"].isna()]
    assert list(final["trial_id"]) == ["s0000"] and (final["status"] == "ok").all()
    epochs = sorted(points.loc[points["epoch"].notna() & (points["split"] == "val"), "epoch"])
    assert epochs == [1, 2, 3, 4, 5, 6]  # every epoch's row exactly once
    from rdlab.storage import Storage

    starts = sorted(int(p.split("-")[-1]) for p in Storage.parse(h.store.uri("marks")).list())
    assert starts[0] == 0 and starts[-1] > 0, starts  # the retry resumed past epoch 0


HOOKS = '''
import os
from rdlab.storage import Storage
from rdlab.train import Callback


class EpochMarks(Callback):
    """Records, in the object store, the epoch each attempt of a trial starts from."""

    def on_start(self, member):
        store = Storage.parse(os.environ["MARKS_URI"])
        store.write_bytes(f"{member.trial_id}-{os.getpid()}-{member.epoch}", b"")
'''


def test_a_dead_drivers_lease_on_the_object_store_expires(harness: Harness) -> None:
    """Issue 17: a driver killed with SIGKILL leaves its lease object; a --resume is refused
    while the lease is fresh and takes the study over once it has expired."""
    from rdlab.tune.runner import tune_state_saved

    h = harness
    spec = h.tree / h.spec_file(_spec("mn-lease", train={"epochs": 2, "batch_size": 64}))
    args = ["--spec", str(spec), "--storage", h.store.uri("runs"), "--tracking-uri", h.tracking_uri]
    # 60 s: renewed every 20 s, so ≥ 40 s are left at the kill for the early driver's cold
    # start (imports, Ray, the store) to reach its lease check on a loaded machine.
    env = {**h.cluster.env, "RAY_ADDRESS": h.cluster.gcs, "RDLAB_LEASE_S": "60"}
    st = h.storage("mn-lease")
    proc = subprocess.Popen(
        [sys.executable, str(h.tree / "studies" / "rd_frontier.py"), *args],
        env=env,
        cwd=h.tree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Tune's saved state, so that the late --resume resumes it (a driver killed before
        # Tune's first save starts over: test_operations.py).
        exp = st.child("tune", "search")
        wait_for("Tune's state in the object store", lambda: tune_state_saved(exp), 300, proc)
        assert st.is_file(".rdlab-lease.json")
    finally:
        os.killpg(proc.pid, 9)  # SIGKILL: no chance to release the lease
        proc.wait(timeout=60)
    expires = json.loads(st.read_bytes(".rdlab-lease.json"))["expires"]
    early = _driver(h, [*args, "--resume"], {"RDLAB_LEASE_S": "20"})
    assert time.time() < expires, "too slow to try while the lease is fresh"
    assert early.returncode == 2, early.stdout + early.stderr
    assert "is being run by another driver" in early.stderr
    time.sleep(max(0.0, expires - time.time()) + 1.0)
    late = _driver(h, [*args, "--resume"], {"RDLAB_LEASE_S": "20"})
    assert late.returncode == 0, late.stdout[-3000:] + late.stderr[-3000:]
    assert "resuming the Tune experiment" in late.stdout
    assert not st.exists(".rdlab-lease.json")  # released at the end
