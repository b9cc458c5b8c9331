"""A real local Ray head for integration tests: ``ray start --head --block`` on loopback,
token authentication on (Ray 2.60's default for local clusters), torn down with the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import RAY_TOKEN, free_port, venv_env


def ray_env(**extra: str) -> dict[str, str]:
    """:func:`venv_env` with Ray's token authentication on, as on a real cluster, and
    this session's token (a fresh machine has no ~/.ray/auth_token)."""
    return venv_env(**{"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": RAY_TOKEN, **extra})


@contextmanager
def ray_head(num_cpus: int = 2, timeout: float = 90.0) -> Iterator[str]:
    """Yields the job-submission address (http://127.0.0.1:PORT)."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray, "the ray CLI is not installed beside this interpreter"
    port, dash = free_port(), free_port()
    # Short temp dir: Ray's unix sockets must fit in 108 characters.
    tmp = tempfile.mkdtemp(prefix="rh", dir="/tmp")
    env = ray_env()
    proc = subprocess.Popen(
        [
            ray,
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dash}",
            f"--num-cpus={num_cpus}",
            "--disable-usage-stats",
            f"--temp-dir={tmp}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"ray start exited: {proc.stdout.read() if proc.stdout else ''}")
            r = subprocess.run(
                [ray, "job", "list", "--address", address], env=env, capture_output=True, text=True
            )
            if r.returncode == 0:
                break
            time.sleep(2.0)
        else:
            raise RuntimeError("Ray head did not come up in time")
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        shutil.rmtree(tmp, ignore_errors=True)
