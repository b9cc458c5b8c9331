"""What a study writes, through its storage (a local folder or an object store).

- ``rd_points/<trial id>.parquet`` (:class:`rdlab.frontier.dataset.RDDataset`): each
  trial's RD rows, handed to a background writer as soon as it ends (Tune's event loop
  never waits on the disk or the object store); a retried or resumed trial replaces its
  own file, so every trial counts exactly once, and adding one never reads the others.
  The writer gathers every 256 files it wrote into a chunk (reading only those); the end
  of the study tidies what an interrupted gathering left twice and compacts a large
  study into one file. An old single-file study is migrated on ``--resume``.
- ``frontier.parquet``, ``report.html`` and the PNGs at the end. The report is built in a
  local folder (the study's own, or a scratch copy holding the pictures it shows) and
  copied to the storage.
- ``trials/.cache/frechet/<dataset>.pt``: the Fréchet classifier every trial shares.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from rdlab.config import TrialConfig
from rdlab.dashboards.report import study_report
from rdlab.evaluate.classifier import dataset_key
from rdlab.frontier.dataset import POINTS_DIR, RDDataset
from rdlab.frontier.writer import PointsWriter, WriteError
from rdlab.storage import Storage
from rdlab.study.spec import StudySpec
from rdlab.tune.outcome import TrialOutcome
from rdlab.tune.runner import TUNE_DIR, outcome_rows

CLASSIFIER_DIR = "trials/.cache/frechet"
# From this many trials a finished study's rd_points/ is compacted into one file. While it
# runs, the writer gathers every 256 trial files into a chunk (16,000 trials: ~60 chunks,
# ~1 s to read, where 16,000 small files take ~10 s: studies/benchmarks/bench_frontier.py);
# the compacted file is what reads fastest. Below it the chunks and files stay as they are.
COMPACT_FROM = 1000
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
        self.data = RDDataset(study)
        self.writer: PointsWriter | None = None
        self.written: frozenset[str] = frozenset()  # by the last writer, when it closed
        self.failed: frozenset[str] = frozenset()  # its writes that failed

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
        """Ready to take trials' rows; on resume an old single-file table becomes one file
        per trial first (RDDataset.migrate)."""
        if resume:
            self.data.migrate()
        self.writer = PointsWriter(self.data, on_error=_warn)

    def sink(self, spec: StudySpec) -> Callable[[TrialOutcome], None]:
        def write(outcome: TrialOutcome) -> None:
            assert self.writer is not None, "open() first"
            # A queue put: the rows are built here, the write happens off Tune's loop.
            self.writer.submit(outcome.trial_id, outcome_rows(spec, outcome))

        return write

    def close(self, timeout: float | None = None) -> list[WriteError]:
        """Wait for the rows still being written (up to ``timeout`` seconds); the writes
        that failed."""
        if self.writer is None:
            return []
        errors = self.writer.close(timeout)
        self.written = self.writer.written_ids
        self.failed = frozenset(e.trial_id for e in errors)
        self.writer = None
        return errors

    def write_missing(self, spec: StudySpec, outcomes: list[TrialOutcome]) -> int:
        """The rows of every trial neither this driver's writer nor an earlier driver of
        the study wrote, from Tune's results (each replaces its own file): a failed
        background write, a trial that ended before a driver crash. The others are not
        written twice (5,000 trials: ~30 s of writes at the end, issue 16). One listing of
        the study's files and the trial ids of its chunks. Returns how many trials were
        written."""
        have = self.written | set(self.data.trial_ids())
        missing = [o for o in outcomes if o.trial_id not in have or o.trial_id in self.failed]
        for o in missing:
            self.data.write_trial(o.trial_id, outcome_rows(spec, o))
        return len(missing)

    def finish(
        self, spec: StudySpec, outcomes: list[TrialOutcome], say: Callable[[str], None]
    ) -> None:
        """The end of a study: wait for the writer, write what it missed, and gather a
        large study's files into one, which reads fastest."""
        self.close()
        self.write_missing(spec, outcomes)
        self.data.tidy()  # what an interrupted or failed gathering left twice
        if len(outcomes) >= COMPACT_FROM:
            say(f"compacting {len(outcomes)} trials' RD points into one file")
            self.data.compact()

    def read_points(self) -> pd.DataFrame:
        return self.data.read()

    # ------------------------------------------------------------------ the report
    def report(self, spec: StudySpec, say: Callable[[str], None]) -> list[Path]:
        """frontier.parquet, report.html and PNGs; returns local paths (for MLflow)."""
        points = self.read_points()
        if self.study.is_local:
            return study_report(points, self.study.local_path(), title=spec.name, say=say)
        work = Path(tempfile.mkdtemp(prefix="rdlab-report-"))
        # pictures are read from the object store, where the trials published them
        written = study_report(points, work, title=spec.name, say=say, artifact_root=self.study)
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


def _warn(err: WriteError) -> None:
    print(
        f"warning: could not write trial {err.trial_id}'s RD points to {err.uri} ({err.reason}); "
        "they are written again when the study ends",
        file=sys.stderr,
        flush=True,
    )
