"""Plain helpers shared by test directories (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # this venv's bin: python, rdlab, ray, mlflow


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this venv's bin first on PATH (so ``python``,
    ``ray`` and ``mlflow`` are the project's) and no Ray cluster address, plus ``extra``."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("RAY_ADDRESS", None)
    env.update(extra)
    return env
