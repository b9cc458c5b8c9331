"""Parquet I/O for the RD-points table (DESIGN §6): coerce, encode, write atomically, read.

A reader never sees half a file: every local write goes through ``atomic.atomic_path``
(temp file in the same directory, fsync, ``os.replace``); bytes for a Storage or an MLflow
artifact come from :func:`trial_points_bytes`. Readers take a file, a directory of files
(``rd_points/`` of a study, or a hive-partitioned one) or a URI such as ``s3://…``; the
layout of a study's folder is :mod:`rdlab.frontier.dataset`'s business.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, TypeAlias

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rdlab.frontier import schema as S
from rdlab.frontier.atomic import atomic_path

Rows: TypeAlias = Sequence[Mapping[str, Any]] | pd.DataFrame
_JSON_COLUMNS = ("params", "artifacts")
ROW_GROUP_ROWS = 65_536


class RDPointsError(ValueError):
    """A path that is not a readable rdlab RD-points table; names the path and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


# ----------------------------------------------------------------------------- coercion
def _json_text(value: Any) -> Any:
    # Callers may hand us the config dict / artifact list itself; store canonical JSON.
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def _column(rows: Rows, name: str) -> Any:
    if isinstance(rows, pd.DataFrame):
        values: Any = rows[name]
        if name in _JSON_COLUMNS and values.dtype == object:
            values = values.map(_json_text)
        return values
    values = [row.get(name) for row in rows]
    return [_json_text(v) for v in values] if name in _JSON_COLUMNS else values


def _present(rows: Rows) -> list[str]:
    if isinstance(rows, pd.DataFrame):
        return [str(c) for c in rows.columns]
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _to_arrow(values: Any, typ: pa.DataType) -> pa.Array:
    if not pa.types.is_integer(typ):
        return pa.array(values, type=typ, from_pandas=True)
    # pyarrow truncates Python floats into int columns silently (1.5 -> 1); a safe cast
    # from the inferred type refuses that, while 3.0 or a float column with NaNs is fine.
    arr = pa.array(values, from_pandas=True)
    if pa.types.is_string(arr.type):
        raise TypeError(f"got strings, expected {typ}")
    return arr.cast(typ, safe=True)


def _check_values(name: str, arr: pa.Array) -> None:
    if name in S.REQUIRED and arr.null_count:
        raise ValueError(f"column {name!r}: {arr.null_count} missing value(s); it is required")
    allowed = {"status": S.STATUSES, "split": S.SPLITS}.get(name)
    if allowed is not None:
        bad = pc.filter(arr, pc.invert(pc.is_in(arr, value_set=pa.array(allowed))))
        if len(bad):
            raise ValueError(f"column {name!r}: {bad[0].as_py()!r} is not one of {list(allowed)}")


def to_table(rows: Rows, schema: pa.Schema | None = None) -> pa.Table:
    """Coerce rows (dicts or a DataFrame) to ``schema`` (default: RD points).

    Missing optional columns become null; missing required columns, unknown columns, values
    that do not convert (e.g. 1.5 for an int column) and bad status/split values raise
    ValueError naming the column: silently kept or dropped columns would hide a typo.
    """
    schema = schema or S.rd_points_schema()
    present = _present(rows)
    unknown = [c for c in present if c not in schema.names]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; allowed columns: {list(schema.names)}")
    missing = [c for c in S.REQUIRED if c not in present]
    if missing:
        raise ValueError(f"missing required column(s) {missing}")
    n = len(rows)
    arrays = []
    for field in schema:
        if field.name not in present:
            arrays.append(pa.nulls(n, field.type))
            continue
        try:
            arr = _to_arrow(_column(rows, field.name), field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
            msg = f"column {field.name!r}: cannot convert to {field.type}: {err}"
            raise ValueError(msg) from err
        _check_values(field.name, arr)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


# ----------------------------------------------------------------------------- writing
def _write_options(table: pa.Table) -> dict[str, Any]:
    # Tuned on a million rows (`rdlab frontier` reads the table whole): snappy reads and
    # writes ~2x faster than zstd for ~30% more bytes; 64k-row groups read ~2x faster than
    # one huge group and give filters finer statistics; dictionaries and statistics only
    # where they pay (not on unique JSON/id strings) save another ~40% of the write.
    return {
        "compression": "snappy",
        "row_group_size": ROW_GROUP_ROWS,
        "use_dictionary": [c for c in S.DICTIONARY_COLUMNS if c in table.column_names],
        "write_statistics": [c for c in table.column_names if c not in S.UNIQUE_TEXT],
    }


def table_bytes(table: pa.Table) -> bytes:
    """``table`` as the bytes of one Parquet file (for a Storage or an MLflow artifact)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **_write_options(table))
    return bytes(sink.getvalue())


def _write(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    if Path(path).is_dir():
        raise RDPointsError(path, "is a directory (a partitioned dataset?); write a file in it")
    with atomic_path(path) as tmp:
        # Written by path, so pyarrow writes natively rather than through a Python file.
        pq.write_table(table, tmp, **_write_options(table))
    return Path(path)


def write_rd_points(rows: Rows, path: str | os.PathLike[str]) -> Path:
    """Write RD points to one Parquet file, atomically, with the schema version in metadata."""
    return _write(to_table(rows), path)


def trial_points_bytes(rows: Rows) -> bytes:
    """One trial's RD rows as the bytes of a Parquet file (schema version in its metadata):
    what ``rd_points/<trial_id>.parquet`` holds, in the study folder and in the trial's
    MLflow run, so a selection of runs gives a frontier."""
    return table_bytes(to_table(rows))


def write_frontier(points: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the frontier table (RD points + group/on_frontier/on_group_frontier)."""
    return _write(to_table(points, S.frontier_schema()), path)


# ----------------------------------------------------------------------------- checking
def check_metadata(meta: Mapping[bytes, bytes] | None, where: str) -> str:
    """The table kind named by a Parquet file's metadata, or RDPointsError saying why not."""
    version = (meta or {}).get(S.VERSION_KEY)
    if version is None:
        raise RDPointsError(
            where, "not an rdlab RD-points file: no 'rdlab.schema_version' in its metadata"
        )
    if version.decode() != S.SCHEMA_VERSION:
        raise RDPointsError(
            where, f"schema version {version.decode()!r}; this rdlab reads {S.SCHEMA_VERSION!r}"
        )
    kind = (meta or {}).get(S.TABLE_KEY, S.RD_POINTS_TABLE.encode()).decode()
    if kind not in (S.RD_POINTS_TABLE, S.FRONTIER_TABLE):
        raise RDPointsError(where, f"an rdlab {kind!r} table, not RD points")
    return kind


def _unreadable(where: str, err: BaseException) -> RDPointsError:
    return RDPointsError(where, f"not a readable Parquet file (truncated or corrupt?): {err}")


def check_rdlab_file(path: str | os.PathLike[str]) -> str:
    """Return the table kind of an rdlab Parquet file, or raise RDPointsError saying why not."""
    try:
        meta = pq.read_schema(path).metadata
    except (pa.ArrowInvalid, OSError) as err:
        raise _unreadable(str(path), err) from err
    return check_metadata(meta, str(path))


# ----------------------------------------------------------------------------- reading
def locate(path: str | os.PathLike[str]) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem and path for a local path or a URI (``s3://bucket/key``)."""
    text = os.fspath(path)
    if "://" in text and not text.startswith("file://"):
        try:
            fs, where = pafs.FileSystem.from_uri(text)
        except (pa.ArrowException, ValueError) as err:
            raise RDPointsError(text, f"not a location pyarrow can open ({err})") from None
        return fs, where
    if text.startswith("file://"):
        text = text[len("file://") :]
    return pafs.LocalFileSystem(), Path(text).expanduser().absolute().as_posix()


def _hidden(part: str) -> bool:
    return part.startswith((".", "_"))


def _display(path: str | os.PathLike[str], root: str, found: str) -> str:
    """How an error names ``found``: beside what the user typed (a path or a URI)."""
    rel = PurePosixPath(found).relative_to(PurePosixPath(root)).as_posix()
    text = os.fspath(path).rstrip("/")
    return text if rel == "." else f"{text}/{rel}"


def parquet_files(fs: pafs.FileSystem, root: str) -> tuple[list[str], bool]:
    """The Parquet files of a file or a directory (recursively, hidden names skipped) and
    whether ``root`` is a directory; RDPointsError if there is nothing to read."""
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise RDPointsError(root, "does not exist")
    if info.type == pafs.FileType.File:
        return [root], False
    selector = pafs.FileSelector(root, recursive=True)
    base = PurePosixPath(root)
    files = sorted(
        i.path
        for i in fs.get_file_info(selector)
        if i.type == pafs.FileType.File
        and i.path.endswith(".parquet")
        and not any(_hidden(p) for p in PurePosixPath(i.path).relative_to(base).parts)
    )
    if not files:
        raise RDPointsError(root, "is a directory without any .parquet file")
    return files, True


def _filter_expression(filters: Any) -> ds.Expression | None:
    if filters is None or isinstance(filters, ds.Expression):
        return filters
    return pq.filters_to_expression(filters)  # DNF list of (column, op, value) tuples


def _check_columns(columns: Sequence[str] | None, schema: pa.Schema) -> None:
    unknown = [c for c in columns or () if c not in schema.names]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; allowed columns: {list(schema.names)}")


def _read_one(fs: pafs.FileSystem, path: str, where: str, schema: pa.Schema) -> pa.Table:
    # The whole (small) file in one read, footer and columns parsed from memory: on a
    # study of thousands of per-trial files this is ~2x faster than pyarrow's dataset
    # scanner, whose per-fragment scheduling dominates files of a few dozen rows, and the
    # schema version is checked from the same footer (no second open).
    try:
        with fs.open_input_file(path) as fh:
            buf = fh.read_buffer()
        pf = pq.ParquetFile(pa.BufferReader(buf), pre_buffer=False)
        check_metadata(pf.schema_arrow.metadata, where)
        table = pf.read(use_threads=False)
    except (pa.ArrowInvalid, OSError) as err:
        raise _unreadable(where, err) from err
    return with_schema(table, schema, where)


def with_schema(table: pa.Table, schema: pa.Schema, where: str) -> pa.Table:
    """``table`` with exactly ``schema``'s columns (absent ones null, extra ones dropped)."""
    if table.schema.remove_metadata() == schema.remove_metadata():
        return table.replace_schema_metadata(schema.metadata)
    arrays = []
    for field in schema:
        if field.name not in table.column_names:
            arrays.append(pa.nulls(len(table), field.type))
            continue
        try:
            arrays.append(table[field.name].cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise RDPointsError(where, f"column {field.name!r}: {err}") from err
    return pa.Table.from_arrays(arrays, schema=schema)


def read_files(
    fs: pafs.FileSystem,
    paths: Sequence[str],
    names: Sequence[str],
    columns: Sequence[str] | None = None,
    filters: Any = None,
    workers: int = 4,
) -> pa.Table:
    """Read rdlab Parquet files (``names``: how errors name them) into one RD-points table.

    Threads overlap the reads (local disk or an object store); the decoding itself
    releases the GIL.
    """
    schema = S.rd_points_schema()
    _check_columns(columns, schema)
    jobs = list(zip(paths, names, strict=True))
    if len(jobs) == 1:
        parts = [_read_one(fs, jobs[0][0], jobs[0][1], schema)]
    else:
        with ThreadPoolExecutor(max(1, min(workers, len(jobs)))) as pool:
            parts = list(pool.map(lambda j: _read_one(fs, j[0], j[1], schema), jobs))
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    expr = _filter_expression(filters)
    if expr is not None:
        table = table.filter(expr)
    if columns is not None:
        table = table.select(list(columns))
    return table.replace_schema_metadata(None)


def _read_partitioned(
    fs: pafs.FileSystem,
    root: str,
    files: list[str],
    names: list[str],
    columns: Sequence[str] | None,
    filters: Any,
) -> pa.Table:
    # Hive-partitioned directories (``split=val/…``) written by other tools: partition
    # columns may be absent from the files and come from the path, which pyarrow's
    # dataset discovery does; every file's version is still checked first.
    for path, where in zip(files, names, strict=True):
        try:
            meta = pq.read_schema(path, filesystem=fs).metadata
        except (pa.ArrowInvalid, OSError) as err:
            raise _unreadable(where, err) from err
        check_metadata(meta, where)
    dataset = ds.dataset(
        files,
        schema=S.rd_points_schema(),
        format="parquet",
        filesystem=fs,
        partitioning="hive",
        partition_base_dir=root,
    )
    table = dataset.to_table(
        columns=list(columns) if columns is not None else None,
        filter=_filter_expression(filters),
    )
    return table.replace_schema_metadata(None)


def read_rd_points(
    path: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    filters: Any = None,
) -> pd.DataFrame:
    """Read an RD-points file or a directory of them: local, or a URI such as ``s3://…``.

    A flat directory is a study's ``rd_points/`` (one file per trial); nested
    ``key=value`` directories are read as hive partitions. ``columns`` projects,
    ``filters`` (a pyarrow Expression or pyarrow's DNF tuples, e.g.
    ``[("split", "=", "val")]``) selects rows. Every file's schema version is checked; a
    truncated, foreign or newer file raises RDPointsError naming the path and the reason.
    """
    fs, root = locate(path)
    try:
        files, is_dir = parquet_files(fs, root)
    except RDPointsError as err:
        raise RDPointsError(path, err.reason) from None
    names = [_display(path, root, f) for f in files]
    _check_columns(columns, S.rd_points_schema())
    nested = is_dir and any("/" in n[len(os.fspath(path).rstrip("/")) + 1 :] for n in names)
    try:
        if nested:
            table = _read_partitioned(fs, root, files, names, columns, filters)
        else:
            table = read_files(fs, files, names, columns, filters)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as err:
        raise RDPointsError(path, f"cannot read as RD points: {err}") from err
    return table.to_pandas()
