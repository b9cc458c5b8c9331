"""A study's RD points as a partitioned Parquet dataset (DESIGN §6, issue 16).

Layout, under a study folder (a local path or a URI, through :class:`rdlab.storage.Storage`)::

    rd_points/<trial_id>.parquet   one file per trial, replaced whole when the trial reports
    rd_points.parquet              the old single-file layout (read, and migrated on resume)

One file per trial makes a retried or resumed trial's rows exactly-once by construction
(it replaces its own file) and adding a trial O(1): nothing else is read or rewritten.
Each file is written in one atomic step (temp + rename locally, one PUT on an object
store), so readers see a trial's old rows or its new ones, never half.

The study's rows are the trial files plus the rows of the old single file whose trial has
no file of its own (a trial file is always the newer). That precedence also makes
:meth:`RDDataset.migrate` crash-safe: it writes the missing trial files first and deletes
the single file last, so an interrupted migration loses nothing and simply runs again.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

import pandas as pd
import pyarrow as pa

from rdlab.frontier.io import RDPointsError, Rows, read_files, table_bytes, to_table
from rdlab.storage import Storage

POINTS_DIR = "rd_points"
LEGACY_FILE = "rd_points.parquet"
SUFFIX = ".parquet"
# File names keep letters, digits and ``-._`` of a trial id; anything else (``/``, spaces)
# is %XX-escaped, and so is a leading ``.`` or ``_``, which readers treat as hidden.
_SAFE = frozenset(string.ascii_letters + string.digits + "-._")


def trial_file_name(trial_id: str) -> str:
    """``<trial_id>.parquet``, escaped so any id is one visible file name."""
    if not trial_id:
        raise ValueError("trial_id is empty")
    chars = [c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in trial_id]
    if chars[0] in (".", "_"):
        chars[0] = f"%{ord(chars[0]):02X}"
    return "".join(chars) + SUFFIX


def trial_id_of(file_name: str) -> str:
    """The trial id a :func:`trial_file_name` stands for."""
    return unquote(file_name[: -len(SUFFIX)])


def trial_points_path(trial_id: str) -> str:
    """Where a trial's rows live relative to a study folder, and in its MLflow child run:
    ``rd_points/<trial_id>.parquet``."""
    return f"{POINTS_DIR}/{trial_file_name(trial_id)}"


def _one_trial(trial_id: str, rows: Rows) -> pa.Table:
    table = to_table(rows)
    ids = set(table["trial_id"].unique().to_pylist())
    if ids - {trial_id}:
        # A file named by one trial must hold only that trial's rows, or a retry of the
        # other trial could never replace them: exactly-once would be lost.
        raise ValueError(f"rows of trial(s) {sorted(ids - {trial_id})} given for {trial_id!r}")
    return table


class RDDataset:
    """The RD points of one study folder: write a trial, list trials, read, migrate."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @classmethod
    def open(cls, location: str) -> RDDataset:
        """A study folder given as a local path or a URI (``s3://bucket/runs/study``)."""
        return cls(Storage.parse(location, "study folder"))

    def __repr__(self) -> str:
        return f"RDDataset({self.storage.uri!r})"

    # ------------------------------------------------------------------ writing
    def write_trial(self, trial_id: str, rows: Rows) -> str:
        """Replace the trial's file with ``rows`` (all of that trial); returns its URI.

        Reads nothing and touches no other trial's file.
        """
        data = table_bytes(_one_trial(trial_id, rows))
        return self.storage.write_bytes(trial_points_path(trial_id), data)

    def trial_uri(self, trial_id: str) -> str:
        return self.storage.uri_of(trial_points_path(trial_id))

    # ------------------------------------------------------------------ reading
    def trial_files(self) -> list[str]:
        """The trial files' paths relative to the study folder, sorted."""
        return [
            f"{POINTS_DIR}/{name}"
            for name in self.storage.list(POINTS_DIR)
            if name.endswith(SUFFIX) and "/" not in name and not name.startswith((".", "_"))
        ]

    def has_legacy(self) -> bool:
        return self.storage.is_file(LEGACY_FILE)

    def trial_ids(self) -> list[str]:
        """Every trial with rows in the study (its own file or the old single file)."""
        ids = {trial_id_of(PurePosixPath(f).name) for f in self.trial_files()}
        if self.has_legacy():
            ids |= set(self._legacy(["trial_id"], None)["trial_id"].dropna())
        return sorted(ids)

    def exists(self) -> bool:
        return bool(self.trial_files()) or self.has_legacy()

    def _read(self, rels: Sequence[str], columns: Sequence[str] | None, filters: Any) -> pa.Table:
        s = self.storage
        return read_files(
            s.fs, [s.path(r) for r in rels], [s.uri_of(r) for r in rels], columns, filters
        )

    def _legacy(self, columns: Sequence[str] | None, filters: Any) -> pd.DataFrame:
        return self._read([LEGACY_FILE], columns, filters).to_pandas()

    def read(self, columns: Sequence[str] | None = None, filters: Any = None) -> pd.DataFrame:
        """All of the study's rows (``columns`` projects, ``filters`` as in
        :func:`rdlab.frontier.io.read_rd_points`); RDPointsError if it has none."""
        files = self.trial_files()
        if not files and not self.has_legacy():
            raise RDPointsError(
                self.storage.uri, f"no RD points: neither {POINTS_DIR}/ nor {LEGACY_FILE}"
            )
        want = None if columns is None else list(dict.fromkeys([*columns, "trial_id"]))
        parts = [self._read(files, want, filters).to_pandas()] if files else []
        if self.has_legacy():
            old = self._legacy(want, filters)
            have = {trial_id_of(PurePosixPath(f).name) for f in files}
            parts.append(old[~old["trial_id"].isin(have)])  # a trial's own file is newer
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return frame if columns is None else frame[list(columns)]

    # ------------------------------------------------------------------ migration
    def migrate(self) -> int:
        """Turn an old single-file study into the dataset; returns the trials moved.

        Idempotent and crash-safe: trial files are written first (a trial that already
        has its file keeps it: that file is newer), the single file is deleted last.
        """
        if not self.has_legacy():
            return 0
        old = self._legacy(None, None)
        have = {trial_id_of(PurePosixPath(f).name) for f in self.trial_files()}
        moved = 0
        for trial_id, rows in old.groupby("trial_id", sort=True):
            if str(trial_id) not in have:
                self.write_trial(str(trial_id), rows)
                moved += 1
        self.storage.delete(LEGACY_FILE)
        return moved
