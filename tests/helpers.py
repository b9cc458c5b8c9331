"""Helpers shared by the test folders: ports, the project's interpreter, waiting."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_token() -> str:
    """A fresh token for a test's own Ray cluster (Ray 2.60 turns token auth on)."""
    return secrets.token_hex(32)


def project_env(**extra: str) -> dict[str, str]:
    """This interpreter's bin first on PATH, no cluster address inherited."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("RAY_ADDRESS", None)
    env.update(extra)
    return env


def wait_for(what: str, cond: Callable[[], bool], timeout: float, proc: Any = None) -> None:
    """Poll ``cond`` every 0.2 s; fail naming ``what`` on timeout or if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)
