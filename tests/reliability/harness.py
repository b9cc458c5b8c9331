"""Fault-injection harness: run the real main job as a process, watch its trials, break things.

- :class:`Study` starts ``studies/rd_frontier.py`` in its own session (so the test can kill
  the driver, or the whole tree on teardown) with its Ray session under a private
  ``RAY_TMPDIR`` (so its logs can be searched) and the test callback
  ``tests.hooks:ProgressMarks`` in its spec: every trial appends
  ``<trial id> <pid> <start|epoch|end> <epoch> <time>`` lines to ``marks.log``.
- :class:`TcpProxy` sits between the study and an MLflow server, so a test can take the
  server off the network (connections refused) and bring it back without a slow restart.
- Readers for what a study leaves behind: final and per-epoch Parquet rows, MLflow runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import ROOT, free_port, venv_env

MAIN_JOB = ROOT / "studies" / "rd_frontier.py"

# A study small enough for 2 cores. Optuna-TPE with seed 2 proposes, in this order
# (checked by test_crash_resume.py): s0001 learned_scalar without a σ floor at lr 1 — it
# diverges at epoch 3, after two finite epochs — then optimal_sample trials whose batch
# size of 8 makes an epoch last a second or more, long enough to be killed inside.
FAULT_SPEC: dict[str, Any] = {
    "study": "rel-faults",
    "dataset": {"name": "digits"},
    "model": {"name": "mlp_resnet", "latent_dim": 8, "hidden": 64, "blocks": 2},
    "train": {"epochs": 4, "batch_size": 8, "lr": 1.0e-3, "seed": 0, "checkpoint_every": 1},
    "objective": {"sigma": {"policy": "optimal_sample"}},
    "eval": {
        "iwae_k": 4,
        "iwae_examples": 32,
        "gmm_components": 2,
        "frechet": False,
        "pictures": False,
    },
    "search": {
        "algorithm": "optuna-tpe",
        "num_samples": 3,
        "seed": 2,
        "space": {
            "objective.beta": {"loguniform": [0.5, 2.0]},
            "objective.sigma.policy": {"choice": ["optimal_sample", "learned_scalar"]},
            "objective.sigma.min_log_sigma": {
                "choice": [None],
                "when": {"objective.sigma.policy": "learned_scalar"},
            },
            "train.lr": {"choice": [1.0], "when": {"objective.sigma.policy": "learned_scalar"}},
            "train.batch_size": {
                "choice": [2048],
                "when": {"objective.sigma.policy": "learned_scalar"},
            },
        },
    },
    "max_concurrent": 2,
    "max_failures": 1,
}
DIVERGING = "s0001"
EPOCHS = 4


def study_env(**extra: str) -> dict[str, str]:
    """The test's environment for a study process: this venv first on PATH, no cluster
    address (a local Ray head is started), Ray's token-auth default left alone."""
    env = venv_env()
    for var in ("RAY_AUTH_MODE", "RDLAB_FAIL_IF", "RDLAB_FAIL_LOG"):
        env.pop(var, None)
    env.update(extra)
    return env


def wait_for(what: str, cond: Callable[[], bool], timeout: float, proc: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"study exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


@dataclass(frozen=True)
class Mark:
    trial: str
    pid: int
    event: str  # start | epoch | end
    epoch: int
    t: float


class Study:
    """One run of the main job in its own process session."""

    def __init__(
        self,
        workdir: Path,
        spec: dict[str, Any],
        *args: str,
        env: dict[str, str] | None = None,
        name: str = "driver",
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.storage = workdir / "runs"
        self.spec_path = workdir / "spec.yaml"
        spec = {**spec, "callbacks": [*spec.get("callbacks", []), "tests.hooks:ProgressMarks"]}
        self.spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        self.marks_path = workdir / "marks.log"
        # Short: Ray's unix socket paths must fit in 108 characters.
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="rr", dir="/tmp"))
        self.root = self.storage / str(spec["study"])
        self.args = list(args)
        self.env = env or {}
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.stdout = workdir / f"{name}.out"
        self.stderr = workdir / f"{name}.err"

    def start(self, *more: str, name: str | None = None) -> subprocess.Popen[bytes]:
        if name is not None:
            self.name = name
            self.stdout = self.workdir / f"{name}.out"
            self.stderr = self.workdir / f"{name}.err"
        cmd = [sys.executable, str(MAIN_JOB), "--spec", str(self.spec_path)]
        cmd += ["--storage", str(self.storage), *self.args, *more]
        env = study_env(
            RAY_TMPDIR=str(self.ray_tmp), RDLAB_TRIAL_MARKS=str(self.marks_path), **self.env
        )
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
            )
        return self.proc

    def run(self, *more: str, name: str | None = None, timeout: float = 300.0) -> int:
        self.start(*more, name=name)
        return self.wait(timeout)

    def wait(self, timeout: float = 300.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_tree()
            msg = f"study did not finish in {timeout:.0f}s\n{self.output()}"
            raise AssertionError(msg) from None

    def output(self) -> str:
        out = self.stdout.read_text(errors="replace") if self.stdout.exists() else ""
        err = self.stderr.read_text(errors="replace") if self.stderr.exists() else ""
        return f"--- stdout\n{out[-3000:]}\n--- stderr\n{err[-5000:]}"

    def marks(self) -> list[Mark]:
        if not self.marks_path.exists():
            return []
        out = []
        for line in self.marks_path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 5:
                out.append(Mark(parts[0], int(parts[1]), parts[2], int(parts[3]), float(parts[4])))
        return out

    def wait_for_mark(self, event: str, trial: str, timeout: float = 240.0) -> None:
        """Until trial ``trial`` has marked ``event`` (start, epoch, end); fails if the
        study exits first."""
        wait_for(
            f"trial {trial}'s {event}",
            lambda: any(m.event == event and m.trial == trial for m in self.marks()),
            timeout,
            self.proc,
        )

    def kill_tree(self) -> None:
        """SIGKILL whatever is left of this study's session: driver, Ray, workers."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        for pid in session_pids(self.proc.pid if self.proc else -1):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def cleanup(self) -> None:
        self.kill_tree()
        shutil.rmtree(self.ray_tmp, ignore_errors=True)

    def session_logs(self) -> list[Path]:
        return [p for p in self.ray_tmp.rglob("*") if p.is_file() and not p.is_symlink()]


def session_pids(sid: int) -> list[int]:
    """Live processes in session ``sid`` (Ray's processes inherit the driver's session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields[3]: session id
            pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# ----------------------------------------------------------------------------- outputs
def read_points(root: Path) -> Any:
    from rdlab.frontier.io import read_rd_points

    return read_rd_points(root / "rd_points")


def mlflow_runs(uri: str, study: str) -> tuple[Any, list[Any]]:
    """(parent run, child runs) of a study, through MLflow's public client."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(study)
    assert exp is not None, f"no MLflow experiment {study!r} at {uri}"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("rdlab.role") == "parent"]
    assert len(parents) == 1, f"expected one parent run, got {len(parents)}"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    return parents[0], children


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    from mlflow.tracking import MlflowClient

    hist = MlflowClient(tracking_uri=uri).get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in hist)


# ----------------------------------------------------------------------------- servers
@contextlib.contextmanager
def mlflow_server(workdir: Path, timeout: float = 120.0) -> Iterator[str]:
    """``mlflow server`` on a sqlite store, bound to 127.0.0.1; yields its http URI."""
    port = free_port()
    log = workdir / "mlflow-server.log"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'server-mlflow.db'}",
        "--artifacts-destination",
        (workdir / "server-artifacts").as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
        )
    uri = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    try:
        wait_for("mlflow server", healthy, timeout, proc)
        yield uri
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


class TcpProxy:
    """127.0.0.1:port → target. ``down()`` refuses new connections and cuts open ones,
    as a stopped server does; ``up()`` listens again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.refused_since: float | None = None

    def up(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.listener = sock
        self.refused_since = None
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def down(self) -> None:
        with self.lock:
            if self.listener is not None:
                # shutdown first: close() alone leaves the socket listening while _accept's
                # thread is blocked in accept() on it (Linux), so the port stays taken (up()
                # fails: "Address already in use") and new clients are still accepted.
                with contextlib.suppress(OSError):
                    self.listener.shutdown(socket.SHUT_RDWR)
                self.listener.close()
                self.listener = None
            for c in self.conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self.conns.clear()
        self.refused_since = time.time()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
