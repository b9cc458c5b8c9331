"""What a study writes, through its storage (a local folder or an object store).

- ``rd_points/<trial id>.parquet``: each trial's RD rows, written as soon as it ends; a
  retried or resumed trial replaces its own file, so every trial counts exactly once.
- ``frontier.parquet``, ``report.html`` and the PNGs at the end. The report is built in a
  local folder (the study's own, or a scratch copy holding the pictures it shows) and
  copied to the storage.
- ``trials/.cache/frechet/<dataset>.pt``: the Fréchet classifier every trial shares.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from rdlab.config import TrialConfig
from rdlab.dashboards.report import study_report
from rdlab.evaluate.classifier import dataset_key
from rdlab.frontier.io import read_rd_points, trial_points_bytes
from rdlab.storage import Storage
from rdlab.study.spec import StudySpec
from rdlab.tune.outcome import TrialOutcome
from rdlab.tune.runner import TUNE_DIR, outcome_rows

POINTS_DIR = "rd_points"
CLASSIFIER_DIR = "trials/.cache/frechet"
REPORT_FILES = (
    "frontier.parquet",
    "report.html",
    "rd_plane.png",
    "elbo_vs_beta.png",
    "sigma_curves.png",
)


class StudyOutputs:
    def __init__(self, study: Storage) -> None:
        self.study = study
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ the storage
    def probe(self) -> None:
        """An object store must answer and accept writes before anything starts."""
        if not self.study.is_local:
            self.study.probe()

    def started(self) -> bool:
        try:
            return self.study.exists(TUNE_DIR)
        except OSError:
            return False

    @property
    def points_uri(self) -> str:
        return self.study.uri_of(POINTS_DIR)

    # ------------------------------------------------------------------ RD points
    def open(self, resume: bool) -> None:
        """Ready to take trials' rows (an old single-file table is kept and still read)."""

    def write_trial(self, trial_id: str, rows: list[dict[str, Any]]) -> None:
        self.study.write_bytes(f"{POINTS_DIR}/{trial_id}.parquet", trial_points_bytes(rows))

    def sink(self, spec: StudySpec) -> Callable[[TrialOutcome], None]:
        def write(outcome: TrialOutcome) -> None:
            with self.lock:
                try:
                    self.write_trial(outcome.trial_id, outcome_rows(spec, outcome))
                except (OSError, ValueError) as err:
                    # Raised inside a Tune callback it would end a days-long study; every
                    # trial's rows are written again when the study ends.
                    print(
                        f"warning: could not write trial {outcome.trial_id}'s RD points to "
                        f"{self.points_uri} ({err}); they are written when the study ends",
                        file=sys.stderr,
                        flush=True,
                    )

        return write

    def close(self) -> None:
        """Wait for rows still being written."""

    def write_all(self, rows: list[dict[str, Any]]) -> None:
        """Every trial's rows once more, from Tune's results (each replaces its own file)."""
        by_trial: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_trial.setdefault(str(r["trial_id"]), []).append(r)
        for tid, trial_rows in by_trial.items():
            self.write_trial(tid, trial_rows)

    def read_points(self) -> pd.DataFrame:
        if self.study.is_local:
            return read_rd_points(self.study.local_path(POINTS_DIR))
        with tempfile.TemporaryDirectory(prefix="rdlab-points-") as tmp:
            self.study.download(POINTS_DIR, Path(tmp))
            return read_rd_points(Path(tmp))

    # ------------------------------------------------------------------ the report
    def report(self, spec: StudySpec, say: Callable[[str], None]) -> list[Path]:
        """frontier.parquet, report.html and PNGs; returns local paths (for MLflow)."""
        points = self.read_points()
        if self.study.is_local:
            return study_report(points, self.study.local_path(), title=spec.name, say=say)
        work = Path(tempfile.mkdtemp(prefix="rdlab-report-"))
        for rel in _picture_paths(points):
            try:
                self.study.download(rel, work / rel)
            except OSError as err:
                say(f"warning: picture {self.study.uri_of(rel)} not found ({err})")
        written = study_report(points, work, title=spec.name, say=say)
        for p in written:
            self.study.upload(p, p.name)
        return written

    # ------------------------------------------------------------------ the classifier
    def fetch_classifier(self, cache: Path, cfg: TrialConfig) -> bool:
        """Copy a stored classifier into the driver's cache; True if there was one."""
        if self.study.is_local:
            return (cache / f"{dataset_key(cfg.dataset.flat())}.pt").is_file()
        rel = f"{CLASSIFIER_DIR}/{dataset_key(cfg.dataset.flat())}.pt"
        if not self.study.is_file(rel):
            return False
        self.study.download(rel, cache / f"{dataset_key(cfg.dataset.flat())}.pt")
        return True

    def store_classifier(self, cfg: TrialConfig, raw: bytes) -> None:
        if not self.study.is_local:
            self.study.write_bytes(f"{CLASSIFIER_DIR}/{dataset_key(cfg.dataset.flat())}.pt", raw)


def _picture_paths(points: pd.DataFrame) -> list[str]:
    import json

    out: list[str] = []
    if "artifacts" not in points.columns:
        return out
    for text in points["artifacts"].dropna().unique():
        try:
            out += [p for p in json.loads(text) if isinstance(p, str)]
        except ValueError:
            continue
    return sorted(set(out))


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
