"""A study's RD points as a partitioned Parquet dataset (DESIGN §6, issue 16).

Layout, under a study folder (a local path or a URI, through :class:`rdlab.storage.Storage`)::

    rd_points/<trial_id>.parquet   one file per trial, replaced whole when the trial reports
    rd_points/+chunk-<n>.parquet   the trial files the writer gathered, a few hundred at a time
    rd_points/+compacted.parquet   many trials' rows, after compact() at the end of a study
    rd_points.parquet              the old single-file layout (read, and migrated on resume)

One file per trial makes a retried or resumed trial's rows exactly-once by construction
(it replaces its own file) and adding a trial O(1): nothing else is read or rewritten
(but for the periodic gathering below).
Each file is written in one atomic step (temp + rename locally, one PUT on an object
store), so readers see a trial's old rows or its new ones, never half.

Thousands of small files read slowly (16,000 take ~10 s, one file ~1 s), so the study's
writer :meth:`RDDataset.gather` s every ``GATHER_EVERY`` files it wrote into one numbered
chunk: it reads only those files, once, so a trial still costs O(1) on average, and a
study is a chunk per 256 trials plus the files of its last, failed or resumed trials.

The study's rows are the trial files plus the rows of the multi-trial files ("segments":
chunks, newest first, then the compacted file, then the old single file) whose trial has
no file of its own, nor rows in a newer segment: rdlab's readers take each trial's newest
rows exactly once at every moment. That precedence makes :meth:`~RDDataset.gather`,
:meth:`~RDDataset.compact` and :meth:`~RDDataset.migrate` crash-safe: each writes its new
file first and deletes the old ones last (oldest first), so an interrupted run loses
nothing and reads right. What it leaves twice for a plain reader of the folder (pandas,
DuckDB), :meth:`~RDDataset.tidy` removes at the study's end and on resume.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
CHUNK = "+chunk-"  # + a 6-digit sequence number: a larger one is newer
SUFFIX = ".parquet"
# How many trial files the study's writer gathers into one chunk. 16,000 trials become ~60
# chunks and at most 255 loose files: their frontier reads in ~1 s, where 16,000 small
# files take ~10 s (studies/benchmarks/bench_frontier.py). Each gathering reads 256
# freshly written files once (~0.2 s on the writer thread, off Tune's event loop).
GATHER_EVERY = 256
STATUS_UNSETTLED = "failed"  # rdlab.tune.outcome.STATUS_FAILED; frontier imports no tune
READ_ATTEMPTS = 3  # a read that races a gathering lists and reads again
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


def _chunk_number(name: str) -> int:
    digits = name[len(CHUNK) : -len(SUFFIX)]
    return int(digits) if digits.isdigit() else -1


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
    def _listing(self) -> tuple[list[str], list[str]]:
        """One listing of ``rd_points/``: (trial files sorted, chunks newest first)."""
        names = [
            name
            for name in self.storage.list(POINTS_DIR)
            if name.endswith(SUFFIX) and "/" not in name and not name.startswith((".", "_"))
        ]
        files = [f"{POINTS_DIR}/{n}" for n in sorted(names) if not n.startswith("+")]
        chunks = sorted((n for n in names if n.startswith(CHUNK)), key=_chunk_number)
        return files, [f"{POINTS_DIR}/{n}" for n in reversed(chunks)]

    def trial_files(self) -> list[str]:
        """The trial files' paths relative to the study folder, sorted."""
        return self._listing()[0]

    def chunks(self) -> list[str]:
        """The gathered chunks' paths relative to the study folder, newest first."""
        return self._listing()[1]

    def _segments(self, chunks: list[str]) -> list[str]:
        rest = [rel for rel in (COMPACTED, LEGACY_FILE) if self.storage.is_file(rel)]
        return [*chunks, *rest]

    def segments(self) -> list[str]:
        """Files holding many trials' rows, newest first: the chunks, the compacted file
        and the old single file. A trial's own file always wins over them."""
        return self._segments(self.chunks())

    def has_legacy(self) -> bool:
        return self.storage.is_file(LEGACY_FILE)

    def exists(self) -> bool:
        files, chunks = self._listing()
        return bool(files or self._segments(chunks))

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
        files, chunks = self._listing()
        ids = {trial_id_of(PurePosixPath(f).name) for f in files}
        for seg in self._segments(chunks):
            ids |= self._ids(self._read([seg], ["trial_id"]))
        return sorted(ids)

    def _table(self, columns: Sequence[str] | None, filters: Any) -> pa.Table:
        for attempt in range(READ_ATTEMPTS):
            files, chunks = self._listing()
            segments = self._segments(chunks)
            if not files and not segments:
                raise RDPointsError(
                    self.storage.uri, f"no RD points: neither {POINTS_DIR}/ nor {LEGACY_FILE}"
                )
            try:
                return self._resolve(files, segments, columns, filters)
            except RDPointsError:
                # A running study's writer gathers files into a chunk, then deletes them: a
                # file listed a moment ago may be gone, its rows already in the new chunk.
                gone = any(not self.storage.is_file(r) for r in [*files, *segments])
                if not gone or attempt + 1 == READ_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _resolve(
        self,
        files: list[str],
        segments: list[str],
        columns: Sequence[str] | None,
        filters: Any,
    ) -> pa.Table:
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
    @staticmethod
    def _unsettled(table: pa.Table) -> set[str]:
        """Trials whose rows will likely change: Tune retries a failed trial (and
        --resume does), so it keeps its own file for the retry to replace, and gathering
        never has to rewrite a chunk for it. A trial that ended otherwise runs again only
        if the driver died before Tune saved its state; :meth:`tidy` handles that."""
        failed = table.filter(pc.equal(table["status"], STATUS_UNSETTLED))
        return RDDataset._ids(failed)

    def _without(self, table: pa.Table, ids: set[str]) -> pa.Table:
        if not ids:
            return table
        mask = pc.is_in(table["trial_id"], value_set=pa.array(sorted(ids), pa.string()))
        return table.filter(pc.invert(mask))

    def _write_segment(self, rel: str, table: pa.Table) -> None:
        metadata = S.rd_points_schema().metadata
        self.storage.write_bytes(rel, table_bytes(table.replace_schema_metadata(metadata)))

    def _delete_all(self, rels: Sequence[str]) -> None:
        """Delete files in order (one at a time: the order is what keeps an interrupted
        delete safe)."""
        for rel in rels:
            self.storage.delete(rel)

    def compact(self) -> int:
        """Gather the rows of every trial that ended for good into one file,
        ``rd_points/+compacted.parquet``, and delete the files it replaces; returns how
        many trial files went. For the end of a study (not while a writer is running):
        reading one file is ~10x faster than thousands of small ones. Failed trials keep
        their own files. Crash-safe (files go only once the compacted file is whole, oldest
        first, trial files last, and a newer file wins until it goes). A study that resumes
        keeps the compacted file: a retried trial writes its own file, which wins.
        """
        files, chunks = self._listing()
        segments = self._segments(chunks)
        if not files and segments in ([], [COMPACTED]):
            return 0
        table = self._resolve(files, segments, None, None)
        open_ids = self._unsettled(table)
        own = {trial_id_of(PurePosixPath(f).name) for f in files}
        for trial_id in sorted(open_ids - own):  # a failed trial's rows only in a segment
            self.write_trial(trial_id, table.filter(pc.equal(table["trial_id"], trial_id)))
        self._write_segment(COMPACTED, self._without(table, open_ids))
        settled = [f for f in files if trial_id_of(PurePosixPath(f).name) not in open_ids]
        # Oldest first, trial files last: whatever an interruption leaves is never older
        # than what it still overrides, so the study reads the same at every step.
        self._delete_all([*(s for s in reversed(segments) if s != COMPACTED), *settled])
        return len(settled)

    def gather(self, rels: Sequence[str]) -> str | None:
        """Move the rows of the trial files ``rels`` into the next chunk, one file, and
        delete them; returns the chunk's path. Reads only those files. A failed trial's
        file stays (see :meth:`_unsettled`); None if every one was.

        For the study's writer, between its writes. Crash-safe: the trial files go only
        once the chunk is whole, and win over it until then (:meth:`tidy` removes what an
        interrupted gathering leaves twice).
        """
        if not rels:
            return None
        table = self._read(rels)
        open_ids = self._unsettled(table)
        moving = [r for r in rels if trial_id_of(PurePosixPath(r).name) not in open_ids]
        if not moving:
            return None
        numbers = [_chunk_number(PurePosixPath(c).name) for c in self.chunks()]
        rel = f"{POINTS_DIR}/{CHUNK}{max(numbers, default=0) + 1:06d}{SUFFIX}"
        self._write_segment(rel, self._without(table, open_ids))
        # Any order: each file's rows are in the chunk already. Threads, because on an
        # object store each delete is a round trip.
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self.storage.delete, moving))
        return rel

    def tidy(self) -> int:
        """Keep each trial's rows in one place, the one a reader takes them from (its own
        file, else the newest segment holding it): rewrite every other segment that holds
        the trial without it (or delete it, when nothing is left). Returns the segments
        changed. Undoes what an interrupted gathering or compaction left twice, and the
        old rows of a trial that ran again after a driver crash, so that a plain reader of
        the folder sees every row once. Reads the segments' trial ids, and rewrites only
        segments that hold a trial twice. Crash-safe: each step keeps the rows a reader
        takes.
        """
        files, chunks = self._listing()
        taken = {trial_id_of(PurePosixPath(f).name) for f in files}
        changed = 0
        for seg in self._segments(chunks):  # newest first
            ids = self._ids(self._read([seg], ["trial_id"]))
            stale = ids & taken
            taken |= ids
            if not stale:
                continue
            rest = self._without(self._read([seg]), stale)
            if rest.num_rows:
                self._write_segment(seg, rest)
            else:
                self.storage.delete(seg)
            changed += 1
        return changed

    def migrate(self) -> int:
        """Ready a study to resume; returns the trials moved. Each trial of an old
        single-file study (``rd_points.parquet``) gets its own file; chunks and the
        compacted file are part of the layout and stay (a retried trial's new file wins),
        and :meth:`tidy` runs.

        Idempotent and crash-safe: trial files are written first (a trial that already
        has its file, or rows in a newer segment, keeps them), the old file deleted last.
        """
        moved = 0
        if self.has_legacy():
            files, chunks = self._listing()
            have = {trial_id_of(PurePosixPath(f).name) for f in files}
            for seg in self._segments(chunks)[:-1]:  # all but the old file itself (last)
                have |= self._ids(self._read([seg], ["trial_id"]))
            rows = self._read([LEGACY_FILE]).to_pandas()
            for trial_id, trial in rows.groupby("trial_id", sort=True):
                if str(trial_id) not in have:
                    self.write_trial(str(trial_id), trial)
                    moved += 1
            self.storage.delete(LEGACY_FILE)
        self.tidy()
        return moved
