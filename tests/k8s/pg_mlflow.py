"""A real PostgreSQL and an ``mlflow server`` in front of it, started the way k8s/ runs them.

``postgres_mlflow(tmp)`` starts PostgreSQL on a free loopback port in a temporary cluster,
creates the ``mlflow`` database, then starts ``mlflow server`` with the arguments of the
MLflow container in k8s/base/mlflow.yaml, only the machine-specific values replaced (backend
URI, local artifact directory, host, port, allowed hosts, worker count). As in the manifest,
the database credentials reach libpq through PGUSER/PGPASSWORD, not the URI. It yields the
tracking URI and stops both servers on exit.

PostgreSQL refuses to run as root; as root, the helper runs initdb/postgres as the
``postgres`` system user (or ``nobody``) in a directory it hands over to that user.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
MLFLOW_MANIFEST = REPO / "k8s" / "base" / "mlflow.yaml"
START_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def env(self) -> dict[str, str]:
        """libpq's variables, as the MLflow container gets them from the Secret."""
        return {"PGUSER": self.user, "PGPASSWORD": self.password}

    @property
    def uri(self) -> str:
        """The backend store URI, with no credentials in it (like the manifest's)."""
        return f"postgresql+psycopg://{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class MlflowServer:
    tracking_uri: str
    args: list[str]
    artifacts_dir: Path
    log: Path


def pg_bin_dir() -> Path | None:
    """The directory holding initdb/postgres/pg_ctl, or None when PostgreSQL is missing."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts)
    return candidates[-1].parent if candidates else None


def _run_as() -> dict[str, Any]:
    """Popen arguments that drop root to an unprivileged user; empty when not root."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root and no `postgres` or `nobody` user to run PostgreSQL as")


def _wait(ready: Any, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if ready():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {START_TIMEOUT_S:.0f}s:\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen[bytes], sig: int, group: bool = False) -> None:
    if proc.poll() is not None:
        return
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL) if group else proc.kill()
        proc.wait(timeout=10)


def _initdb(bin_dir: Path, base: Path, user: str, password: str, as_user: dict[str, Any]) -> Path:
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    if as_user:
        for path in (base, pwfile):
            os.chown(path, as_user["user"], as_user["group"])
    data = base / "data"
    cmd = [
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        user,
        f"--pwfile={pwfile}",
        "--auth=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=base, check=False, **as_user)
    pwfile.unlink()
    if proc.returncode != 0:
        raise RuntimeError(f"initdb failed: {proc.stderr.strip()}")
    return data


@contextmanager
def postgres(database: str = "mlflow", user: str = "mlflow") -> Iterator[Postgres]:
    """A throwaway PostgreSQL on 127.0.0.1 with ``database`` created, owned by ``user``."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, postgres) not found")
    as_user = _run_as()
    base = Path(tempfile.mkdtemp(prefix="rdlab-pg-"))
    server = Postgres("127.0.0.1", free_port(), user, secrets.token_hex(16), database)
    log = base / "postgres.log"
    try:
        data = _initdb(bin_dir, base, user, server.password, as_user)
        cmd = [
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-h",
            server.host,
            "-p",
            str(server.port),
            "-k",
            str(base),
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=base, **as_user)
        try:
            ready = [str(bin_dir / "pg_isready"), "-q", "-h", server.host, "-p", str(server.port)]
            _wait(lambda: subprocess.run(ready, check=False).returncode == 0, "postgres", proc, log)
            createdb = [
                str(bin_dir / "createdb"),
                "-h",
                server.host,
                "-p",
                str(server.port),
                database,
            ]
            subprocess.run(
                createdb, env={**os.environ, **server.env}, check=True, capture_output=True
            )
            yield server
        finally:
            _stop(proc, signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown
    finally:
        shutil.rmtree(base, ignore_errors=True)


def manifest_mlflow_args(manifest: Path = MLFLOW_MANIFEST) -> list[str]:
    """The ``args`` of the ``mlflow`` container of the ``mlflow`` Deployment in k8s/base."""
    for doc in yaml.safe_load_all(manifest.read_text()):
        if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "mlflow":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                if container["name"] == "mlflow":
                    return [str(a) for a in container["args"]]
    raise LookupError(f"no mlflow container in a Deployment `mlflow` in {manifest}")


def mlflow_server_args(manifest_args: list[str], overrides: dict[str, str]) -> list[str]:
    """``manifest_args`` with the values of the given flags replaced; every flag must exist."""
    args = list(manifest_args)
    for flag, value in overrides.items():
        if flag not in args:
            raise KeyError(
                f"{flag} is not among the manifest's mlflow server args: {manifest_args}"
            )
        args[args.index(flag) + 1] = value
    return args


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextmanager
def mlflow_server(
    pg: Postgres, workdir: Path, workers: int = 1, artifacts_uri: str | None = None
) -> Iterator[MlflowServer]:
    """``mlflow server`` on 127.0.0.1 against ``pg``, artifacts proxied into ``workdir`` (or
    ``artifacts_uri``, e.g. an S3 bucket: the AWS variables of this process reach it)."""
    port = free_port()
    artifacts = workdir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    args = mlflow_server_args(
        manifest_mlflow_args(),
        {
            "--backend-store-uri": pg.uri,
            "--artifacts-destination": artifacts_uri or artifacts.as_uri(),
            "--host": "127.0.0.1",
            "--port": str(port),
            "--workers": str(workers),
            "--allowed-hosts": f"127.0.0.1:{port},localhost:{port}",
        },
    )
    log = workdir / "mlflow-server.log"
    env = {**os.environ, **pg.env}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
            start_new_session=True,
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _healthy(uri + "/health"), "mlflow server", proc, log)
        yield MlflowServer(uri, args, artifacts, log)
    finally:
        _stop(proc, signal.SIGTERM, group=True)


@contextmanager
def postgres_mlflow(workdir: Path) -> Iterator[MlflowServer]:
    """PostgreSQL plus ``mlflow server`` as in k8s/, for integration tests; yields the server."""
    with postgres() as pg, mlflow_server(pg, workdir) as server:
        yield server
