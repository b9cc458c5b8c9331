"""The RD-points Parquet contract: coercion, atomic writes, merges, refusals, partitions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from rdlab.frontier import schema as S
from rdlab.frontier.io import (
    RDPointsError,
    read_rd_points,
    to_table,
    write_rd_points,
)
from rdlab.frontier.synthetic import synthetic_rd_points


def rows() -> list[dict[str, Any]]:
    base = {"study": "s", "status": "ok", "sigma_policy": "fixed", "seed": 0, "rate": 1.0}
    return [
        {**base, "trial_id": "t0", "split": "val", "nll_opt": 3.0, "params": {"beta": 1}},
        {**base, "trial_id": "t0", "split": "val", "epoch": 2, "nll_opt": 4.0},
        {**base, "trial_id": "t1", "split": "train", "artifacts": ["grid.png"], "rate": 2.0},
    ]


def test_round_trip_fills_missing_columns_with_null(tmp_path: Path) -> None:
    path = write_rd_points(rows(), tmp_path / "rd_points.parquet")
    back = read_rd_points(path)
    assert list(back.columns) == list(S.COLUMNS)
    assert back["trial_id"].tolist() == ["t0", "t0", "t1"]
    assert back["epoch"].isna().tolist() == [True, False, True]
    assert back["beta"].isna().all() and back["mlflow_run_id"].isna().all()
    assert json.loads(back["params"].iloc[0]) == {"beta": 1}  # dicts stored as JSON
    assert json.loads(back["artifacts"].iloc[2]) == ["grid.png"]
    meta = pq.read_schema(path).metadata
    assert meta[b"rdlab.schema_version"] == b"1"


def test_dataframe_round_trip_is_stable(tmp_path: Path) -> None:
    df = synthetic_rd_points(20, epochs=2)
    first = read_rd_points(write_rd_points(df, tmp_path / "a.parquet"))
    second = read_rd_points(write_rd_points(first, tmp_path / "b.parquet"))
    pd.testing.assert_frame_equal(first, second)
    written = pq.read_schema(tmp_path / "a.parquet").remove_metadata()
    assert written == S.rd_points_schema().remove_metadata()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown column"),
        ({"status": "exploded"}, "'exploded' is not one of"),
        ({"split": "dev"}, "'dev' is not one of"),
        ({"latent_dim": 1.5}, "column 'latent_dim': cannot convert"),
        ({"rate": "high"}, "column 'rate': cannot convert"),
        ({"trial_id": None}, "column 'trial_id': 1 missing"),
    ],
)
def test_bad_rows_are_refused(change: dict[str, Any], message: str, tmp_path: Path) -> None:
    bad = [{**rows()[0], **change}]
    with pytest.raises(ValueError, match=message):
        write_rd_points(bad, tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_missing_required_column() -> None:
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['split'\]"):
        to_table([{"study": "s", "trial_id": "t", "status": "ok"}])


def test_failed_write_leaves_previous_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_rd_points(rows(), tmp_path / "rd_points.parquet")
    before = path.read_bytes()

    def crash(table: pa.Table, where: str, **kwargs: Any) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        write_rd_points(rows()[:1], path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rd_points.parquet"]  # no temp left


def test_written_file_has_ordinary_permissions(tmp_path: Path) -> None:
    path = write_rd_points(rows(), tmp_path / "p.parquet")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    good = write_rd_points(rows(), tmp_path / "good.parquet").read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(RDPointsError, match="truncated or corrupt") as err:
        read_rd_points(cut)
    assert str(cut) in str(err.value)


def test_foreign_parquet_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "other.parquet"
    pq.write_table(pa.table({"rate": [1.0]}), foreign)
    with pytest.raises(RDPointsError, match=r"no 'rdlab\.schema_version'"):
        read_rd_points(foreign)


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.parquet"
    table = to_table(rows())
    meta = {**table.schema.metadata, S.VERSION_KEY: b"99"}
    pq.write_table(table.replace_schema_metadata(meta), newer)
    with pytest.raises(RDPointsError, match="schema version '99'"):
        read_rd_points(newer)


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(RDPointsError, match="does not exist"):
        read_rd_points(tmp_path / "nope.parquet")
    with pytest.raises(RDPointsError, match=r"without any \.parquet"):
        read_rd_points(tmp_path)


def partitioned(root: Path) -> Path:
    df = synthetic_rd_points(12, rng_seed=1)
    df["split"] = ["val", "train", "test"] * 4
    for split, part in df.groupby("split"):
        write_rd_points(part, root / f"split={split}" / "part-0.parquet")
    (root / "split=val" / ".part-1.parquet.123.tmp").write_bytes(b"in progress")
    (root / "_SUCCESS").write_text("")
    (root / "README.txt").write_text("not parquet")
    return root


def test_partitioned_directory_with_filter_and_projection(tmp_path: Path) -> None:
    root = partitioned(tmp_path / "rd_points.parquet")
    cols = ["trial_id", "split", "rate"]
    val = read_rd_points(root, columns=cols, filters=[("split", "=", "val")])
    assert list(val.columns) == ["trial_id", "split", "rate"]
    assert sorted(val["trial_id"]) == ["t0000000", "t0000003", "t0000006", "t0000009"]
    assert set(val["split"]) == {"val"}
    expr = read_rd_points(root, filters=ds.field("rate") > 0)
    assert len(expr) == 12


def test_partition_columns_dropped_from_files_come_from_the_path(tmp_path: Path) -> None:
    table = to_table(synthetic_rd_points(6).assign(split=["val", "test"] * 3))
    hive = {"partitioning": ["split"], "partitioning_flavor": "hive"}
    ds.write_dataset(table, tmp_path / "rd", format="parquet", **hive)
    back = read_rd_points(tmp_path / "rd", filters=[("split", "=", "test")])
    assert len(back) == 3 and set(back["split"]) == {"test"}


def test_corrupt_part_inside_directory_is_named(tmp_path: Path) -> None:
    root = partitioned(tmp_path / "rd")
    bad = root / "split=val" / "part-9.parquet"
    bad.write_bytes(b"PAR1 nope")
    with pytest.raises(RDPointsError) as err:
        read_rd_points(root)
    assert err.value.path == str(bad)


def test_unknown_projection_column(tmp_path: Path) -> None:
    path = write_rd_points(rows(), tmp_path / "p.parquet")
    with pytest.raises(ValueError, match="unknown column"):
        read_rd_points(path, columns=["colour"])
