"""A real multi-node Ray cluster on one machine, an S3-compatible object store and an MLflow
server on PostgreSQL with its artifacts in that store (issue 13's acceptance harness).

- :func:`object_store`: ``moto`` in server mode on a free loopback port, one bucket; the
  standard AWS variables (``AWS_ENDPOINT_URL`` …) point every client at it.
- :class:`Cluster`: ``ray start --head`` advertising no CPUs (so no trial runs there) plus
  worker nodes, each in its own mount namespace (``unshare --mount``) with a private tmpfs
  over ``hidden``: a worker cannot see what the head writes there, as on separate machines.
  Workers advertise a custom resource ``worker`` that the studies' trials reserve. Every
  node gets the same random token (Ray 2.60's token authentication) and its own
  ``--temp-dir``; teardown stops exactly the processes this cluster started, by PID.
- ``ray job submit`` / ``status`` / ``stop`` / ``logs`` against the head's job server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import BIN, ROOT, free_port, project_env, ray_token, wait_for

BUCKET = "rdlab-test"


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str
    bucket: str

    @property
    def env(self) -> dict[str, str]:
        """What every process that talks to the store gets (the usual AWS chain)."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,  # MLflow's own S3 client reads this
        }

    def uri(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"


@contextmanager
def object_store(workdir: Path) -> Iterator[ObjectStore]:
    port = free_port()
    log = (workdir / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    store = ObjectStore(f"http://127.0.0.1:{port}", BUCKET)
    try:
        wait_for("moto", lambda: _http_ok(store.endpoint + "/moto-api/"), 60, proc)
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=store.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing-secret",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket=BUCKET)
        yield store
    finally:
        _stop_group(proc)
        log.close()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _stop_group(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def pids_with(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and int(d.name) != os.getpid():
            out.append(int(d.name))
    return out


@dataclass
class Worker:
    name: str
    temp_dir: Path
    proc: subprocess.Popen[Any]


@dataclass
class Cluster:
    root: Path  # short: Ray's unix sockets must fit in 108 characters
    hidden: Path  # what worker nodes see as an empty tmpfs
    env: dict[str, str]
    port: int = 0
    dashboard: int = 0
    head: subprocess.Popen[Any] | None = None
    workers: list[Worker] = field(default_factory=list)

    @property
    def gcs(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard}"

    def _ray(self) -> str:
        return str(BIN / "ray")

    def start_head(self) -> None:
        self.port, self.dashboard = free_port(), free_port()
        self.head = subprocess.Popen(
            [
                self._ray(),
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={self.port}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard}",
                "--include-dashboard=true",
                "--num-cpus=0",  # no trial runs on the head
                "--disable-usage-stats",
                f"--temp-dir={self.root / 'h'}",
            ],
            env=self.env,
            stdout=(self.root / "head.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for("the Ray head's job server", self._jobs_answer, 120, self.head)

    def _jobs_answer(self) -> bool:
        r = subprocess.run(
            [self._ray(), "job", "list", "--address", self.address],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        return r.returncode == 0

    def add_worker(self) -> Worker:
        name = f"w{len(self.workers)}"
        temp = self.root / name
        self.hidden.mkdir(parents=True, exist_ok=True)
        start = " ".join(
            [
                self._ray(),
                "start",
                "--block",
                f"--address={self.gcs}",
                "--node-ip-address=127.0.0.1",
                "--num-cpus=2",
                "--resources='{\"worker\": 2}'",
                "--disable-usage-stats",
                f"--temp-dir={temp}",
            ]
        )
        proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "bash",
                "-c",
                f"mount -t tmpfs tmpfs {self.hidden} && exec {start}",
            ],
            env=self.env,
            stdout=(self.root / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(name, temp, proc)
        self.workers.append(worker)
        return worker

    def nodes(self) -> int:
        r = subprocess.run(
            [self._ray(), "status", f"--address={self.gcs}"],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        head = r.stdout.split("Active:", 1)[-1].split("Pending:", 1)[0]
        return sum(1 for line in head.splitlines() if "node_" in line)

    def wait_nodes(self, n: int, timeout: float = 120) -> None:
        wait_for(f"{n} live Ray nodes", lambda: self.nodes() == n, timeout)

    def kill_raylet(self, worker: Worker) -> None:
        """SIGKILL the worker node's raylet, as when a machine is lost."""
        pids = [p for p in pids_with(str(worker.temp_dir)) if _is_raylet(p)]
        assert pids, f"no raylet found for {worker.name}"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        procs = [w.proc for w in self.workers] + ([self.head] if self.head else [])
        for p in procs:
            _stop_group(p)
        # Stray Ray processes of this cluster (workers, agents) die by PID, never `ray stop`.
        for pid in pids_with(str(self.root)):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # ------------------------------------------------------------------ jobs
    def submit(
        self, working_dir: Path, entrypoint: list[str], env: dict[str, str] | None = None
    ) -> str:
        cmd = [
            self._ray(),
            "job",
            "submit",
            "--address",
            self.address,
            "--working-dir",
            str(working_dir),
            "--no-wait",
        ]
        if env:
            cmd += ["--runtime-env-json", json.dumps({"env_vars": env})]
        for _ in range(24):
            r = subprocess.run(
                [*cmd, "--", *entrypoint],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            # The head answers a little before its job agent is up (test_study_job.py).
            if "No available agent to submit job" not in r.stderr:
                break
            time.sleep(5.0)
        assert r.returncode == 0, r.stdout + r.stderr
        for word in (r.stdout + r.stderr).split():
            if word.startswith("'raysubmit_") or word.startswith("raysubmit_"):
                return word.strip("'.")
        raise AssertionError(f"no submission id in: {r.stdout}{r.stderr}")

    def job(self, verb: str, job_id: str) -> str:
        r = subprocess.run(
            [self._ray(), "job", verb, "--address", self.address, job_id],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        return r.stdout + r.stderr

    def status(self, job_id: str) -> str:
        """SUCCEEDED, FAILED, STOPPED, RUNNING, PENDING, from ``ray job status``'s own status
        line (``Job '…' succeeded``, ``Status for job '…': RUNNING``); UNKNOWN otherwise (a
        "Failed to connect" of a busy dashboard is not the job failing)."""
        text = self.job("status", job_id)
        done = re.search(rf"Job '{re.escape(job_id)}' (succeeded|failed|was stopped)", text)
        if done:
            return {"succeeded": "SUCCEEDED", "failed": "FAILED"}.get(done[1], "STOPPED")
        other = re.search(rf"Status for job '{re.escape(job_id)}': (\w+)", text)
        return other[1] if other else "UNKNOWN"

    def wait_job(self, job_id: str, timeout: float = 600) -> str:
        end = ("SUCCEEDED", "FAILED", "STOPPED")
        wait_for(f"job {job_id} to end", lambda: self.status(job_id) in end, timeout)
        return self.status(job_id)


def _is_raylet(pid: int) -> bool:
    try:
        exe = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return exe.endswith(b"raylet")


@contextmanager
def ray_cluster(workers: int = 1, extra_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))
    env = project_env(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=ray_token(),
        RAY_USAGE_STATS_ENABLED="0",
        # `ray job stop` sends SIGTERM, then SIGKILL after this long (Ray's default: 3 s,
        # too short for a driver to save Tune's state and release its lease on a loaded
        # machine); the KubeRay manifests set it too.
        RAY_JOB_STOP_WAIT_TIME_S="60",
        **(extra_env or {}),
    )
    cluster = Cluster(root=root, hidden=root / "hidden", env=env)
    try:
        cluster.start_head()
        for _ in range(workers):
            cluster.add_worker()
        cluster.wait_nodes(1 + workers)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def submitted_tree(dest: Path, marker: str) -> Path:
    """A copy of the project's source, as a user would submit it, with one comment line
    changed (``marker``), so its code version differs from the installed rdlab's."""
    for part in ("platform", "models", "dashboards", "studies"):
        shutil.copytree(
            ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "runs")
        )
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    version = dest / "platform" / "rdlab" / "version.py"
    version.write_text(version.read_text() + f"\n# submitted: {marker}\n")
    return dest
