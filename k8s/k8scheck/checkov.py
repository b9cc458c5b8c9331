"""The checkov security scanner, run offline from its own pinned virtualenv.

checkov pins many libraries of its own, so it never goes into the project's .venv; it gets
``.venv/checkov`` (inside the already-ignored .venv), created on first use with
``pip install checkov==CHECKOV_VERSION``. Offline, checkov knows no severities (those come
from Prisma Cloud's API), so every failed check counts: fixed, or accepted with a reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from k8scheck.findings import Finding

CHECKOV_VERSION = "3.3.30"
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 300


class CheckovError(RuntimeError):
    """checkov could not be installed or did not produce a report."""


def default_venv(repo: Path) -> Path:
    return repo / ".venv" / "checkov"


def ensure_checkov(venv: Path) -> Path:
    """The checkov executable in ``venv``, installing the pinned version if missing."""
    exe = venv / "bin" / "checkov"
    stamp = venv / f".checkov-{CHECKOV_VERSION}"
    if exe.exists() and stamp.exists():
        return exe
    print(f"k8s-check: installing checkov=={CHECKOV_VERSION} into {venv} (once)", flush=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"checkov=={CHECKOV_VERSION}",
        ],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if proc.returncode != 0:
            raise CheckovError(f"{' '.join(cmd)} failed:\n{proc.stderr.strip()[-2000:]}")
    stamp.touch()
    return exe


def run_checkov(exe: Path, files: list[Path], workdir: Path) -> list[dict[str, Any]]:
    """checkov's JSON reports (one per framework) for Kubernetes YAML and Dockerfiles."""
    cmd = [
        str(exe),
        "--quiet",
        "--compact",
        "--output",
        "json",
        "--skip-download",
        "--framework",
        "kubernetes",
        "dockerfile",
        "secrets",
    ]
    for path in files:
        cmd += ["--file", str(path)]
    # No phone-home: no guideline download, no version check, no results upload.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}
    env["LOG_LEVEL"] = "ERROR"
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=workdir, env=env, timeout=RUN_TIMEOUT_S
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as err:
        raise CheckovError(
            f"checkov gave no JSON report (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        ) from err
    reports = report if isinstance(report, list) else [report]
    for rep in reports:
        if rep.get("summary", {}).get("parsing_errors"):
            raise CheckovError(
                f"checkov could not parse some files: {rep['results'].get('parsing_errors')}"
            )
    return reports


def checkov_findings(reports: list[dict[str, Any]], sources: dict[str, str]) -> list[Finding]:
    """Failed checks as findings; ``sources`` maps checkov's file paths to overlay names."""
    out = []
    for rep in reports:
        for check in rep.get("results", {}).get("failed_checks", []):
            path = str(check.get("file_path", "")).lstrip("/")
            source = sources.get(path, path)
            message = f"{check.get('check_name')} ({check.get('guideline') or 'checkov'})"
            resource = _object_id(str(check.get("resource", "")))
            out.append(Finding(source, resource, check["check_id"], message, True))
    return out


def _object_id(resource: str) -> str:
    """checkov's ``Kind.namespace.name`` as ``Kind/namespace/name`` (names may hold dots)."""
    parts = resource.split(".", 2)
    return "/".join(parts) if len(parts) == 3 else resource


def passed_count(reports: list[dict[str, Any]]) -> int:
    return sum(int(rep.get("summary", {}).get("passed", 0)) for rep in reports)
