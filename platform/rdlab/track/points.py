"""RD points as MLflow artifacts (issue 16): each trial's child run carries its own rows.

A trial's rows are logged to its child run as ``rd_points/<trial_id>.parquet`` (the name
of its file in the study folder, :func:`rdlab.frontier.dataset.trial_points_path`, until
the study's writer gathers it into a chunk), so any
selection of runs, across studies and servers, gives a frontier without the study folder.
:func:`fetch_points` finds the runs of some experiments (optionally an MLflow search
filter) and downloads those files, several at a time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdlab.errors import SpecError
from rdlab.frontier.dataset import POINTS_DIR, trial_file_name, trial_points_path
from rdlab.frontier.io import Rows, trial_points_bytes
from rdlab.frontier.sources import Blob
from rdlab.track.uri import client, redact_uri

TRIAL_TAG = "rdlab.trial_id"
PAGE = 1000  # runs per search request


def log_trial_points(client: Any, run_id: str, trial_id: str, rows: Rows) -> str:
    """Log a trial's rows to its run as ``rd_points/<trial_id>.parquet``; returns that path."""
    with tempfile.TemporaryDirectory(prefix="rdlab-points-") as tmp:
        local = Path(tmp) / trial_file_name(trial_id)
        local.write_bytes(trial_points_bytes(rows))
        client.log_artifact(run_id, str(local), POINTS_DIR)
    return trial_points_path(trial_id)


@dataclass
class Fetched:
    """The RD files found, and what a user should know about the runs without one."""

    blobs: list[Blob] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: int = 0


def _experiment_ids(client: Any, names: Sequence[str], uri: str) -> list[str]:
    ids = []
    for name in names:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise SpecError("--experiment", f"no experiment {name!r} at {redact_uri(uri)}")
        ids.append(exp.experiment_id)
    return ids


def _trial_runs(client: Any, ids: list[str], filter_string: str | None) -> list[Any]:
    from mlflow.exceptions import MlflowException

    runs: list[Any] = []
    token = None
    while True:
        try:
            page = client.search_runs(
                ids, filter_string=filter_string or "", max_results=PAGE, page_token=token
            )
        except MlflowException as err:
            msg = f"MLflow refused {filter_string!r}: {err.message}"
            raise SpecError("--filter", msg) from None
        runs += [r for r in page if TRIAL_TAG in r.data.tags]  # parents carry no rows
        token = page.token
        if not token:
            return runs


def _download(client: Any, run: Any, tmp: Path) -> Blob | None:
    from mlflow.exceptions import MlflowException

    rel = trial_points_path(run.data.tags[TRIAL_TAG])
    try:
        local = client.download_artifacts(run.info.run_id, rel, str(tmp / run.info.run_id))
    except (MlflowException, OSError):
        return None  # reported by the caller as a run without rows
    return Blob(f"mlflow run {run.info.run_id}: {rel}", Path(local).read_bytes(), run.info.run_id)


def fetch_points(
    tracking_uri: str,
    experiments: Sequence[str],
    filter_string: str | None = None,
    workers: int = 8,
) -> Fetched:
    """The RD files of every trial run of ``experiments`` matching ``filter_string``.

    Unknown experiments and filters MLflow refuses raise SpecError naming the option;
    runs without the artifact (trials logged before rdlab wrote it, or that died first)
    are counted in a note, not an error.
    """
    mlflow = client(tracking_uri)
    runs = _trial_runs(mlflow, _experiment_ids(mlflow, experiments, tracking_uri), filter_string)
    out = Fetched(runs=len(runs))
    with (
        tempfile.TemporaryDirectory(prefix="rdlab-fetch-") as tmp,
        ThreadPoolExecutor(max(1, min(workers, len(runs) or 1))) as pool,
    ):
        got = list(pool.map(lambda r: _download(mlflow, r, Path(tmp)), runs))
    out.blobs = [b for b in got if b is not None]
    missing = len(runs) - len(out.blobs)
    if missing:
        out.notes.append(f"{missing} of {len(runs)} trial run(s) have no {POINTS_DIR}/ artifact")
    return out
