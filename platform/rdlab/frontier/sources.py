"""Where RD points come from (issue 16): study folders, files, globs, URIs, fetched bytes.

:func:`load_sources` turns what a user typed into :class:`Source` objects:

- a study folder (``runs/<study>``, ``s3://bucket/runs/<study>``): its ``rd_points/``
  dataset, or an old single-file study (:mod:`rdlab.frontier.dataset`);
- a directory of RD files (``rd_points/``, a hive-partitioned one) or one rdlab file;
- a Parquet or CSV table written by another tool (:mod:`rdlab.frontier.foreign`);
- a glob of any of these (``runs/*``, ``s3://bucket/runs/beta-*``).

:func:`blobs_source` does the same for RD files fetched as bytes (MLflow run artifacts,
fetched by :mod:`rdlab.track.points`). :func:`combine` stacks sources for one analysis.
Each source keeps its folder, where the ``artifacts`` paths of its rows resolve.
"""

from __future__ import annotations

import fnmatch
import glob
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rdlab.frontier import schema as S
from rdlab.frontier.dataset import LEGACY_FILE, POINTS_DIR, RDDataset
from rdlab.frontier.foreign import conform
from rdlab.frontier.io import (
    RDPointsError,
    check_metadata,
    locate,
    read_rd_points,
    with_schema,
)
from rdlab.storage import Storage, is_uri

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")
KEY = ("study", "trial_id", "split", "epoch", "beta_eval")  # one row per key in a study
_GLOB = ("*", "?", "[")


@dataclass(frozen=True)
class Source:
    """RD points read from one place, the warnings reading them gave, and the folder their
    ``artifacts`` paths are relative to (None when the pictures are elsewhere)."""

    name: str
    points: pd.DataFrame
    notes: tuple[str, ...] = ()
    root: Storage | None = None


@dataclass(frozen=True)
class Blob:
    """One RD file fetched as bytes; ``name`` is how messages refer to it."""

    name: str
    data: bytes
    run_id: str | None = None


# ----------------------------------------------------------------------------- places
def _parent(spec: str) -> str:
    if is_uri(spec):
        return spec.rstrip("/").rsplit("/", 1)[0]
    return str(Path(spec).absolute().parent)


def _name(spec: str) -> str:
    return PurePosixPath(spec.rstrip("/")).name


def expand(specs: Sequence[str]) -> list[str]:
    """Each spec, globs expanded (sorted); RDPointsError for a glob matching nothing."""
    out: list[str] = []
    for spec in specs:
        if not any(ch in spec for ch in _GLOB):
            out.append(spec)
            continue
        found = _glob_uri(spec) if is_uri(spec) else sorted(glob.glob(os.path.expanduser(spec)))
        if not found:
            raise RDPointsError(spec, "matches nothing")
        out.extend(found)
    return list(dict.fromkeys(out))


def _glob_uri(pattern: str) -> list[str]:
    # Object stores have no glob: list below the last wildcard-free folder and match.
    cut = min(pattern.index(ch) for ch in _GLOB if ch in pattern)
    base = pattern[:cut].rsplit("/", 1)[0]
    fs, root = locate(base)
    depth = pattern.count("/") - base.count("/")
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=depth > 1, allow_not_found=True))
    found = []
    for info in infos:
        uri = base + "/" + PurePosixPath(info.path).relative_to(PurePosixPath(root)).as_posix()
        if fnmatch.fnmatchcase(uri, pattern.rstrip("/")):
            found.append(uri)
    return sorted(found)


def is_study_folder(fs: pafs.FileSystem, path: str) -> bool:
    infos = fs.get_file_info([f"{path}/{POINTS_DIR}", f"{path}/{LEGACY_FILE}"])
    return infos[0].type == pafs.FileType.Directory or infos[1].type == pafs.FileType.File


# ----------------------------------------------------------------------------- loading
def load_source(spec: str) -> Source:
    """RD points from one path or URI (no glob); RDPointsError naming it if unreadable."""
    fs, path = locate(spec)
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.NotFound:
        raise RDPointsError(spec, "does not exist")
    if kind == pafs.FileType.Directory:
        # A study's rd_points/ is read as its study (a compacted file's precedence).
        folder = _parent(spec) if _name(spec) == POINTS_DIR else spec
        if is_study_folder(fs, locate(folder)[1]):
            storage = Storage.parse(folder, "path")
            return Source(spec, RDDataset(storage).read(), (), storage)
        return Source(spec, read_rd_points(spec), (), Storage.parse(spec, "path"))
    root = Storage.parse(_parent(spec), "path")
    if spec.lower().endswith(CSV_SUFFIXES):
        with fs.open_input_file(path) as fh:
            data = fh.read()
        frame = _read_csv(data, spec)
        return _foreign(spec, frame, root)
    meta = _metadata(fs, path, spec)
    if meta is not None and S.VERSION_KEY in meta:
        check_metadata(meta, spec)  # a present but unknown version is refused
        return Source(spec, read_rd_points(spec), (), root)
    with fs.open_input_file(path) as fh:
        frame = pq.read_table(fh).to_pandas()
    return _foreign(spec, frame, root)


def _metadata(fs: pafs.FileSystem, path: str, spec: str) -> dict[bytes, bytes] | None:
    try:
        with fs.open_input_file(path) as fh:
            return pq.read_schema(fh).metadata
    except (pa.ArrowInvalid, OSError) as err:
        reason = f"not a readable Parquet file (truncated or corrupt?): {err}"
        raise RDPointsError(spec, reason) from None


def _read_csv(data: bytes, spec: str) -> pd.DataFrame:
    sep = "\t" if spec.lower().endswith(".tsv") else ","
    compression = "gzip" if spec.lower().endswith(".gz") else None
    try:
        return pd.read_csv(io.BytesIO(data), sep=sep, compression=compression)
    except (ValueError, pd.errors.ParserError) as err:
        raise RDPointsError(spec, f"not a readable CSV table: {err}") from None


def _foreign(spec: str, frame: pd.DataFrame, root: Storage | None) -> Source:
    stem = _name(spec).split(".", 1)[0]
    done = conform(frame, spec, stem)
    warning = done.warning(spec)
    return Source(spec, done.points, (warning,) if warning else (), root)


def load_sources(specs: Sequence[str]) -> list[Source]:
    """Every spec (globs expanded) as a Source, in order."""
    return [load_source(s) for s in expand(specs)]


def blobs_source(name: str, blobs: Sequence[Blob], notes: Sequence[str] = ()) -> Source:
    """RD files fetched as bytes (e.g. MLflow artifacts) as one Source.

    Each file's schema version is checked as on disk; a row without an MLflow run id
    gets the id of the run it came from.
    """
    frames = []
    for blob in blobs:
        try:
            pf = pq.ParquetFile(pa.BufferReader(blob.data))
            meta = pf.schema_arrow.metadata
            table = pf.read()
        except (pa.ArrowInvalid, OSError) as err:
            reason = f"not a readable Parquet file (truncated or corrupt?): {err}"
            raise RDPointsError(blob.name, reason) from None
        check_metadata(meta, blob.name)
        frame = with_schema(table, S.rd_points_schema(), blob.name).to_pandas()
        if blob.run_id is not None:
            empty = frame["mlflow_run_id"].isna() | (frame["mlflow_run_id"] == "")
            frame.loc[empty, "mlflow_run_id"] = blob.run_id
        frames.append(frame)
    if not frames:
        raise RDPointsError(name, "no RD points found")
    return Source(name, pd.concat(frames, ignore_index=True), tuple(notes), None)


def combine(sources: Sequence[Source]) -> tuple[pd.DataFrame, list[str]]:
    """All sources' rows in one table, and the notes: every source's warnings, plus one
    when the same row (study, trial, split, epoch, β) came from two sources (kept once,
    from the later source)."""
    notes = [n for s in sources for n in s.notes]
    frames = [s.points for s in sources if len(s.points)]
    if not frames:
        return (sources[0].points if sources else pd.DataFrame(columns=S.COLUMNS)), notes
    points = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1:
        keys = points[list(KEY)].astype("string").fillna("\x00")
        dup = keys.duplicated(keep="last").to_numpy()
        if dup.any():
            notes.append(f"{int(dup.sum())} row(s) read from more than one source kept once")
            points = points.loc[~dup].reset_index(drop=True)
    return points, notes


def artifact_roots(sources: Sequence[Source]) -> dict[str, Storage]:
    """Study name → the folder its rows' ``artifacts`` paths resolve against."""
    roots: dict[str, Storage] = {}
    for s in sources:
        if s.root is None or "study" not in s.points.columns:
            continue
        for study in s.points["study"].dropna().unique():
            roots.setdefault(str(study), s.root)
    return roots
