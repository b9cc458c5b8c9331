"""The two studies every slow reliability test reads, each run once per session.

``reference_study``: FAULT_SPEC run start to finish by one driver, tracked on a real
``mlflow server`` behind a proxy, with a password in the tracking URI and fake secrets in
the environment. The server goes away twice: while trials train, and while the driver
closes the study. It is the *uninterrupted* study the crash scenario is compared with.

``crash_study``: the same spec on the default sqlite store; the process of a trial is
SIGKILLed inside an epoch, later the driver is SIGKILLed mid-study, then ``--resume``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tests.reliability.harness import (
    FAULT_SPEC,
    Mark,
    Study,
    TcpProxy,
    alive,
    cmdline,
    mlflow_server,
    session_pids,
    study_env,
    wait_for,
)

USER, PASSWORD = "rdlab-bot", "pw-URI-4f9c2e7a"
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-FAKE-9d8c7b6a5f4e",
    "MLFLOW_TRACKING_PASSWORD": "mlflow-FAKE-1a2b3c4d",
}
N_TRIALS = int(FAULT_SPEC["search"]["num_samples"])
KILLED = "s0002"  # the first slow trial (s0001 diverges within a second)


@dataclass
class Reference:
    study: Study
    returncode: int
    server_uri: str  # the server itself, for reading back
    workdir: Path
    first: tuple[float, float]  # (down, up) wall-clock times while trials trained
    second: tuple[float, float]  # while the driver closed the study
    listeners: str  # `ss -ltnp` while the study ran
    study_procs: dict[int, str]  # pid → command line, while the study ran
    auth_probe: str  # what a Ray client with a wrong token got


@dataclass
class Crash:
    study: Study
    returncode: int  # of the --resume run
    killed_pid: int
    killed_after_epoch: int  # the trial died inside the next epoch
    driver_killed_at: float
    leftovers: list[str] = field(default_factory=list)  # processes outliving the driver

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.study.root / 'mlflow.db'}"


def _has(marks: list[Mark], event: str) -> bool:
    return any(m.event == event for m in marks)


def _gcs_address(procs: dict[int, str], listeners: str) -> str | None:
    gcs = {pid for pid, cmd in procs.items() if "gcs_server" in cmd}
    for line in listeners.splitlines():
        found = re.search(r"pid=(\d+)", line)
        if found and int(found.group(1)) in gcs:
            return "127.0.0.1:" + line.split()[3].rsplit(":", 1)[1]
    return None


_PROBE = """
import sys, ray
try:
    ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
except Exception as err:
    print("refused:", type(err).__name__, str(err)[:300])
    sys.exit(0)
print("connected"); sys.exit(1)
"""


@contextmanager
def reference_study(workdir: Path) -> Iterator[Reference]:
    with mlflow_server(workdir) as server_uri:
        proxy = TcpProxy(int(urlsplit(server_uri).port or 0))
        proxy.up()
        uri = f"http://{USER}:{PASSWORD}@127.0.0.1:{proxy.port}"
        env = {**SECRETS, "RDLAB_TRACKING_RETRY_S": "90"}
        study = Study(workdir, FAULT_SPEC, "--tracking-uri", uri, env=env)
        probe: subprocess.Popen[str] | None = None
        try:
            proc = study.start()
            wait_for("a trial's first epoch", lambda: _has(study.marks(), "epoch"), 240, proc)
            # Security while it runs: who listens where, and does Ray refuse a wrong token?
            procs = {pid: cmdline(pid) for pid in session_pids(proc.pid)}
            listeners = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
            gcs = _gcs_address(procs, listeners)
            assert gcs, f"no gcs_server among the study's processes: {procs}"
            probe = subprocess.Popen(
                [sys.executable, "-c", _PROBE, gcs],
                env=study_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="not-the-token"),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            down1 = time.time()
            proxy.down()
            # Back once trials have finished four more epochs without MLflow.
            wait_for(
                "four epochs during the outage",
                lambda: sum(m.event == "epoch" and m.t > down1 for m in study.marks()) >= 4,
                180,
                proc,
            )
            up1 = time.time()
            proxy.up()
            wait_for(
                "every trial to end",
                lambda: sum(m.event == "end" for m in study.marks()) >= N_TRIALS,
                300,
                proc,
            )
            seen = len(study.stderr.read_text(errors="replace"))
            down2 = time.time()
            proxy.down()  # the driver now lists runs, uploads the report, closes the parent
            # Until the driver meets the outage (after Tune's shutdown and the report, which
            # take longer on a loaded machine), not a fixed time that may end before it.
            wait_for(
                "the driver to meet the second outage",
                lambda: "unreachable while" in study.stderr.read_text(errors="replace")[seen:],
                120,
                proc,
            )
            up2 = time.time()
            proxy.up()
            rc = study.wait(300)
            try:
                auth, _ = probe.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                # Under load Ray may keep retrying the handshake instead of refusing at once;
                # a client that never connects within the window was still kept out.
                probe.kill()
                probe.wait()
                auth = "refused: timed out without connecting"
            yield Reference(
                study, rc, server_uri, workdir, (down1, up1), (down2, up2), listeners, procs, auth
            )
        finally:
            if probe is not None and probe.poll() is None:
                probe.kill()
                probe.wait()
            proxy.down()
            study.cleanup()


def _kill_worker_mid_epoch(study: Study, proc: subprocess.Popen[bytes]) -> tuple[int, int]:
    """SIGKILL the process training KILLED about 40% into its third epoch."""
    wait_for(
        f"{KILLED} to finish epoch 2",
        lambda: any(
            m.trial == KILLED and m.event == "epoch" and m.epoch == 2 for m in study.marks()
        ),
        240,
        proc,
    )
    mine = [m for m in study.marks() if m.trial == KILLED and m.event == "epoch"]
    epoch_s = mine[1].t - mine[0].t
    pid = mine[1].pid
    time.sleep(0.4 * epoch_s)
    assert cmdline(pid).startswith("ray::"), f"pid {pid} is not a Ray worker: {cmdline(pid)!r}"
    os.kill(pid, signal.SIGKILL)
    # After the kill: an epoch that ended just before it counts as done.
    done = max(m.epoch for m in study.marks() if m.trial == KILLED and m.pid == pid)
    return pid, done


@contextmanager
def crash_study(workdir: Path) -> Iterator[Crash]:
    study = Study(workdir, FAULT_SPEC)
    try:
        proc = study.start()
        pid, done = _kill_worker_mid_epoch(study, proc)

        def retried_after_another_ended() -> bool:
            marks = study.marks()
            again = [m for m in marks if m.trial == KILLED and m.pid != pid]
            return _has(again, "start") and any(
                m.trial != KILLED and m.event == "end" for m in marks
            )

        wait_for(f"{KILLED} to start again after the kill", retried_after_another_ended, 240, proc)
        # Inside the retried trial's first epoch: its last epochs (~0.4 s each on an idle
        # machine) are left for the resumed study, and a trial that ended moments ago may
        # not be in Tune's saved experiment state yet (the case report_final covers).
        time.sleep(0.2)
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)  # the driver only; Ray's processes share its fate
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(p) for p in session_pids(proc.pid)):
            time.sleep(0.5)
        leftovers = [cmdline(p) for p in session_pids(proc.pid)]
        study.kill_tree()  # whatever outlived the driver must not serve the resumed run
        rc = study.run("--resume", name="resume", timeout=400)
        yield Crash(study, rc, pid, done, killed_at, leftovers)
    finally:
        study.cleanup()
