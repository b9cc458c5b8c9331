"""``rdlab frontier`` over many sources (issue 16): study folders, globs, s3:// URIs, and
tables written by other tools."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from rdlab.cli.frontier import frontier_main
from rdlab.frontier.dataset import RDDataset
from rdlab.frontier.io import write_rd_points
from rdlab.frontier.sources import combine, expand, load_source
from rdlab.frontier.synthetic import synthetic_rd_points
from rdlab.storage import Storage


def study(root: Path | str, name: str, n: int = 12, seed: int = 0) -> Storage:
    """A study folder written the way a study writes it: one file per trial."""
    storage = Storage.parse(str(root)).child(name)
    points = synthetic_rd_points(n, epochs=2, rng_seed=seed).assign(
        study=name, trial_id=lambda d: name + "-" + d["trial_id"]
    )
    data = RDDataset(storage)
    for trial_id, rows in points.groupby("trial_id"):
        data.write_trial(str(trial_id), rows)
    return storage


def test_a_pandas_table_with_only_the_required_columns_goes_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "theirs.parquet"
    pd.DataFrame(
        {"trial_id": [1, 2, 3, 4], "rate": [1.0, 2.0, 3.0, 4.0], "nll_opt": [9.0, 5.0, 6.0, 2.0]}
    ).to_parquet(table)
    assert frontier_main([str(table), "--by", "none", "--no-png"]) == 0
    out = capsys.readouterr()
    warnings = out.err.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {table}: not written by rdlab")
    for lacking in ("study", "status", "split", "sigma_policy", "beta", "epoch"):
        assert lacking in warnings[0]
    assert "study='theirs'" in warnings[0] and "split='val'" in warnings[0]
    front = pq.read_table(tmp_path / "frontier.parquet").to_pandas()
    assert sorted(front.loc[front["on_frontier"], "trial_id"]) == ["1", "2", "4"]


def test_a_csv_table_goes_through_and_extra_columns_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "export.csv"
    table.write_text("trial_id,rate,mse,colour\na,1,3,red\nb,2,1,blue\n")
    args = [str(table), "--distortion", "mse", "--by", "none", "--no-png"]
    assert frontier_main(args) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ignored unknown column(s) colour" in err[0]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"trial_id": ["a"], "nll_opt": [1.0]}, "missing required column 'rate'"),
        ({"rate": [1.0], "nll_opt": [1.0]}, "missing required column 'trial_id'"),
        ({"trial_id": ["a"], "rate": [1.0]}, "missing a distortion column"),
        ({"trial_id": ["a"], "rate": ["high"], "mse": [1.0]}, "column 'rate': cannot convert"),
    ],
)
def test_a_table_lacking_a_required_column_is_refused_by_name(
    columns: dict[str, list[object]],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = tmp_path / "t.parquet"
    pd.DataFrame(columns).to_parquet(table)
    assert frontier_main([str(table)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {table}: ") and message in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_a_foreign_table_without_the_asked_distortion_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t.csv"
    table.write_text("trial_id,rate,mse\na,1,3\n")
    assert frontier_main([str(table)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --distortion: ") and "has no 'nll_opt' values" in err
    assert "['mse']" in err


def test_two_studies_compared_by_study_from_a_glob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    study(runs, "beta-grid", seed=1)
    study(runs, "mixture", seed=2)
    out = tmp_path / "cmp"
    args = [str(runs / "*"), "--by", "study,sigma_policy", "--out-dir", str(out), "--no-png"]
    assert frontier_main(args) == 0
    printed = capsys.readouterr().out
    assert "beta-grid / fixed" in printed and "mixture / fixed" in printed
    front = pq.read_table(out / "frontier.parquet").to_pandas()
    assert set(front["study"]) == {"beta-grid", "mixture"}
    assert {g.split(" / ")[0] for g in front["group"]} == {"beta-grid", "mixture"}
    html = (out / "report.html").read_text()
    assert "beta-grid / fixed" in html and "mixture / optimal_sample" in html


def test_sources_of_every_kind_read_alike(tmp_path: Path) -> None:
    storage = study(tmp_path, "s")
    folder = load_source(storage.uri)
    assert folder.root is not None and folder.root.uri == storage.uri
    as_dir = load_source(f"{storage.uri}/rd_points")
    assert as_dir.root is not None and as_dir.root.uri == storage.uri
    key = ["trial_id", "split", "epoch"]
    a = folder.points.sort_values(key).reset_index(drop=True)
    b = as_dir.points.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    single = write_rd_points(a, tmp_path / "single" / "rd_points.parquet")
    both, notes = combine([folder, load_source(str(single))])
    assert len(both) == len(a) and notes == [
        f"{len(a)} row(s) read from more than one source kept once"
    ]
    with pytest.raises(ValueError, match="matches nothing"):
        expand([str(tmp_path / "nope*")])


@pytest.mark.server
def test_study_folders_on_s3_and_outputs_there(
    s3_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    study(f"{s3_prefix}/runs", "a", seed=3)
    study(f"{s3_prefix}/runs", "b", seed=4)
    out = f"{s3_prefix}/reports/ab"
    args = [f"{s3_prefix}/runs/*", "--by", "study", "--out-dir", out, "--no-png"]
    assert frontier_main(args) == 0
    assert f"wrote frontier: {out}/frontier.parquet" in capsys.readouterr().out
    written = Storage.parse(out)
    assert written.list() == ["frontier.parquet", "report.html"]
    single = load_source(f"{s3_prefix}/runs/a")
    assert set(single.points["study"]) == {"a"}
