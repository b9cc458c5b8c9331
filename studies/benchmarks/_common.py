"""Shared helpers of the benchmarks in this folder (issue 8): the machine record, the JSON
output, robust summaries of repeated timings, and the closing lines that print ratios.

Benchmarks measure the sides they compare in ONE process run, interleaved where they can be,
so that load from other users of a shared machine falls on both sides alike. They are not
timed tests: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the benchmarks use studies.tools
    sys.path.insert(0, str(ROOT))
BENCH_DIR = ROOT / "runs" / "bench"


def parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{name}.py",
        description=(doc or "").strip().splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--json",
        type=Path,
        default=BENCH_DIR / f"{name}.json",
        help=f"where the JSON record goes (default runs/bench/{name}.json)",
    )
    return p


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return float("nan")


def machine() -> dict[str, Any]:
    """What the numbers were measured on (the README table cites it)."""
    import torch

    versions: dict[str, str] = {"python": platform.python_version(), "torch": torch.__version__}
    for mod in ("ray", "mlflow", "optuna"):
        with contextlib.suppress(ImportError):
            versions[mod] = __import__(mod).__version__
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "mem_gib": _mem_gib(),
        "gpu": bool(torch.cuda.is_available()),
        "blas": "mkl" if torch.backends.mkl.is_available() else "other",
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "load_avg": list(os.getloadavg()),
        "versions": versions,
    }


def write_record(path: Path, record: dict[str, Any]) -> None:
    record = {**record, "machine": machine(), "argv": sys.argv, "unix_time": int(time.time())}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=_jsonable) + "\n")
    tmp.replace(path)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    return repr(v)


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def print_ratios(title: str, lines: list[tuple[str, float, str]]) -> None:
    """The closing block every benchmark prints last: ``name  value  (target/meaning)``."""
    print(f"== {title}: ratios ==")
    for name, value, note in lines:
        print(f"{name:<34} {value:8.3f}   {note}")


@contextmanager
def stopwatch(into: dict[str, float], key: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        into[key] = into.get(key, 0.0) + time.perf_counter() - t0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def one_thread() -> None:
    """Trials run with one intra-op thread (``resources.cpu: 1``); so do the baselines."""
    import torch

    torch.set_num_threads(1)


def git_rev() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip()
    except OSError:
        return ""
