"""A study's RD points as a partitioned Parquet dataset (DESIGN §6, issue 16).

Layout, under a study folder (a local path or a URI, through :class:`rdlab.storage.Storage`)::

    rd_points/<trial_id>.parquet   one file per trial, replaced whole when the trial reports
    rd_points/+compacted.parquet   many trials' rows, after compact() at the end of a study
    rd_points.parquet              the old single-file layout (read, and migrated on resume)

One file per trial makes a retried or resumed trial's rows exactly-once by construction
(it replaces its own file) and adding a trial O(1): nothing else is read or rewritten.
Each file is written in one atomic step (temp + rename locally, one PUT on an object
store), so readers see a trial's old rows or its new ones, never half.

The study's rows are the trial files plus the rows of the multi-trial files (compacted,
then the old single file) whose trial has no newer file of its own. That precedence makes
:meth:`RDDataset.compact` and :meth:`RDDataset.migrate` crash-safe: each writes its new
files first and deletes the old ones last, so an interrupted run loses nothing, reads
right, and simply runs again.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rdlab.frontier import schema as S
from rdlab.frontier.io import RDPointsError, Rows, read_files, table_bytes, to_table
from rdlab.storage import Storage

POINTS_DIR = "rd_points"
LEGACY_FILE = "rd_points.parquet"
# Where compact() gathers a finished study's rows. A trial file's name never starts with
# "+" (trial_file_name escapes it), so this name is no trial's; readers that list the
# directory (pandas, pyarrow, DuckDB) read it like any other file.
COMPACTED = f"{POINTS_DIR}/+compacted.parquet"
SUFFIX = ".parquet"
# File names keep letters, digits and ``-._`` of a trial id; anything else (``/``, spaces)
# is %XX-escaped, and so is a leading ``.`` or ``_``, which readers treat as hidden.
_SAFE = frozenset(string.ascii_letters + string.digits + "-._")  # never "+"


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
            if name.endswith(SUFFIX)
            and "/" not in name
            and not name.startswith((".", "_"))
            and f"{POINTS_DIR}/{name}" != COMPACTED
        ]

    def segments(self) -> list[str]:
        """Files holding many trials' rows, newest first: the compacted file and the old
        single file. A trial's own file always wins over them."""
        return [rel for rel in (COMPACTED, LEGACY_FILE) if self.storage.is_file(rel)]

    def has_legacy(self) -> bool:
        return self.storage.is_file(LEGACY_FILE)

    def exists(self) -> bool:
        return bool(self.trial_files() or self.segments())

    def _read(
        self, rels: Sequence[str], columns: Sequence[str] | None = None, filters: Any = None
    ) -> pa.Table:
        s = self.storage
        return read_files(
            s.fs, [s.path(r) for r in rels], [s.uri_of(r) for r in rels], columns, filters
        )

    @staticmethod
    def _ids(table: pa.Table) -> set[str]:
        return {str(v) for v in pc.unique(table["trial_id"]).to_pylist() if v is not None}

    def trial_ids(self) -> list[str]:
        """Every trial with rows in the study (its own file or a segment)."""
        ids = {trial_id_of(PurePosixPath(f).name) for f in self.trial_files()}
        for seg in self.segments():
            ids |= self._ids(self._read([seg], ["trial_id"]))
        return sorted(ids)

    def _table(self, columns: Sequence[str] | None, filters: Any) -> pa.Table:
        files, segments = self.trial_files(), self.segments()
        if not files and not segments:
            raise RDPointsError(
                self.storage.uri, f"no RD points: neither {POINTS_DIR}/ nor {LEGACY_FILE}"
            )
        want = None if columns is None else list(dict.fromkeys([*columns, "trial_id"]))
        parts = [self._read(files, want, filters)] if files else []
        covered = {trial_id_of(PurePosixPath(f).name) for f in files}
        for i, seg in enumerate(segments):
            rows = self._read([seg], want, filters)
            keep = pc.invert(
                pc.is_in(rows["trial_id"], value_set=pa.array(sorted(covered), pa.string()))
            )
            parts.append(rows.filter(keep))  # a newer file has these trials' rows
            if i + 1 < len(segments):  # ids before filtering: a filter must not un-cover one
                covered |= self._ids(rows if filters is None else self._read([seg], ["trial_id"]))
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        return table if columns is None else table.select(list(columns))

    def read(self, columns: Sequence[str] | None = None, filters: Any = None) -> pd.DataFrame:
        """All of the study's rows (``columns`` projects, ``filters`` as in
        :func:`rdlab.frontier.io.read_rd_points`); RDPointsError if it has none."""
        return self._table(columns, filters).to_pandas()

    # ------------------------------------------------------------------ maintenance
    def compact(self) -> int:
        """Gather every row into one file, ``rd_points/+compacted.parquet``, and delete the
        trial files it replaces; returns how many. For the end of a study (not while a
        writer is running): reading one file is ~20x faster than thousands of small ones.
        Crash-safe (the trial files go only after the compacted file is whole, and win
        over it until then); :meth:`migrate` undoes it when the study resumes.
        """
        files, segments = self.trial_files(), self.segments()
        if not files and segments in ([], [COMPACTED]):
            return 0
        table = self._table(None, None)
        data = table_bytes(table.replace_schema_metadata(S.rd_points_schema().metadata))
        self.storage.write_bytes(COMPACTED, data)
        for rel in [*files, *(s for s in segments if s != COMPACTED)]:
            self.storage.delete(rel)
        return len(files)

    def migrate(self) -> int:
        """Give every trial its own file again (an old single-file study, or a compacted
        one, that resumes); returns the trials moved.

        Idempotent and crash-safe: trial files are written first (a trial that already
        has its file keeps it: that file is newer), the multi-trial files are deleted last.
        """
        segments = self.segments()
        have = {trial_id_of(PurePosixPath(f).name) for f in self.trial_files()}
        moved = 0
        for seg in segments:  # newest first: its rows win over an older segment's
            rows = self._read([seg]).to_pandas()
            for trial_id, trial in rows.groupby("trial_id", sort=True):
                if str(trial_id) not in have:
                    self.write_trial(str(trial_id), trial)
                    have.add(str(trial_id))
                    moved += 1
        for seg in segments:
            self.storage.delete(seg)
        return moved
