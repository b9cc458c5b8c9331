"""Plain helpers shared by test directories (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # this venv's bin: python, rdlab, ray, mlflow
# One token for the Ray clusters a test session starts itself and for their clients: a
# fresh machine has no ~/.ray/auth_token, and Ray 2.60 turns token authentication on.
RAY_TOKEN = secrets.token_hex(32)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ray_token() -> str:
    """A fresh token for a test's own Ray cluster."""
    return secrets.token_hex(32)


def venv_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this venv's bin first on PATH (so ``python``,
    ``ray`` and ``mlflow`` are the project's) and no Ray cluster address, plus ``extra``."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("RAY_ADDRESS", None)
    env.update(extra)
    return env


project_env = venv_env


def wait_for(what: str, cond: Callable[[], bool], timeout: float, proc: Any = None) -> None:
    """Poll ``cond`` every 0.2 s; fail naming ``what`` on timeout or if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def skip_unless_ci(why: str) -> NoReturn:
    """Skip for a missing tool on a developer's machine; fail under CI (``CI=true``), where
    .ci/run installs every tool and a skip would hide a broken install step."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why} (CI=true: .ci/run should have installed it)")
    pytest.skip(why)
