"""A real ``mlflow server`` on loopback for tools and benchmarks: a sqlite store, served
artifacts, one worker, the Host check MLflow 3 does, stopped by its process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

# Loopback only: no proxy from the environment.
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes], group: bool) -> None:
    """Stop a process started here (with group: the process group it leads), by its id."""
    if proc.poll() is not None:
        return

    def kill(sig: int) -> None:
        with suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)

    kill(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        kill(signal.SIGKILL)
        proc.wait()


@contextmanager
def mlflow_server(db: Path, work: Path) -> Iterator[str]:
    port = free_port()
    host = f"127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{db}",
        "--artifacts-destination", (work / "artifacts").as_uri(),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
        "--allowed-hosts", f"{host},localhost:{port}",
    ]  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    log_path = work / "server.log"
    with log_path.open("wb") as log:
        # Its own session: uvicorn's workers are in the group that stop() ends.
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        uri = f"http://{host}"
        try:
            deadline = time.monotonic() + 180
            while not _healthy(uri):
                if proc.poll() is not None:
                    raise RuntimeError("mlflow server exited:\n" + log_path.read_text()[-3000:])
                if time.monotonic() > deadline:
                    raise TimeoutError("mlflow server did not start in 180 s")
                time.sleep(0.5)
            yield uri
        finally:
            stop(proc, group=True)


def _healthy(uri: str) -> bool:
    try:
        with LOOPBACK.open(uri + "/health", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False
