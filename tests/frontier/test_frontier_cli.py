"""``rdlab frontier``: output on a small synthetic table, and exit 2 with nothing written."""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rdlab.cli.frontier import frontier_main, register
from rdlab.dashboards.report import build_report, study_report
from rdlab.frontier.io import check_rdlab_file, write_rd_points
from rdlab.frontier.synthetic import synthetic_rd_points


@pytest.fixture
def points_file(tmp_path: Path) -> Path:
    df = synthetic_rd_points(24, seeds=2, epochs=3, stopped_early=0.2, rng_seed=5)
    return write_rd_points(df, tmp_path / "study" / "rd_points.parquet")


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_prints_frontier_sorted_by_rate_and_writes_outputs(
    points_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert frontier_main([str(points_file), "--no-png"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = lines[0].split()
    assert header == ["group", "trial_id", "beta", "sigma_policy", "rate", "nll_opt",
                      "on_frontier", "on_group_frontier"]  # fmt: skip
    body = [ln.split() for ln in lines[2 : lines.index("")]]
    rates = [float(row[4]) for row in body]
    assert rates == sorted(rates) and len(rates) > 4
    assert "note: excluded" in out and "stopped_early" in out
    frontier = points_file.parent / "frontier.parquet"
    assert check_rdlab_file(frontier) == "frontier"
    table = pq.read_table(frontier).to_pandas()
    assert table["on_frontier"].dtype == bool and table["on_frontier"].any()
    assert table["epoch"].isna().all() and set(table["status"]) == {"ok"}
    assert (points_file.parent / "report.html").exists()
    assert not (points_file.parent / "rd_plane.png").exists()


def test_out_dir_csv_html_and_options(points_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    args = [str(points_file), "--out-dir", str(out), "--csv", str(tmp_path / "f.csv"),
            "--html", str(tmp_path / "r.html"), "--by", "none", "--distortion", "mse",
            "--include-stopped-early"]  # fmt: skip
    assert frontier_main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "elbo_vs_beta.png", "frontier.parquet", "rd_plane.png", "sigma_curves.png",
    ]  # fmt: skip
    assert (tmp_path / "f.csv").stat().st_size > 0 and (tmp_path / "r.html").exists()
    table = pq.read_table(out / "frontier.parquet").to_pandas()
    assert set(table["group"]) == {"all"} and "stopped_early" in set(table["status"])
    assert (table["on_frontier"] == table["on_group_frontier"]).all()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["{missing}"], "does not exist"),
        (["{file}", "--by", "colour"], "error: --by: 'colour' is not one of"),
        (["{file}", "--by", "sigma_policy,trial_id"], "error: --by: 'trial_id'"),
        (["{file}", "--distortion", "elbo"], "error: --distortion: 'elbo' is not one of"),
        (["{file}", "--split", "dev"], "error: --split: 'dev' is not one of"),
        (["{file}", "--split", "test"], "error: --split: no final rows"),
        (["{foreign}"], "foreign.parquet: missing required column 'trial_id'"),
        (["{truncated}"], "truncated or corrupt"),
        (["{file}", "--bogus"], "error: rdlab frontier: unrecognized arguments: --bogus"),
        ([], "error: rdlab frontier: give at least one SOURCE"),
        (["{file}", "--out-dir", "{file}"], "error: --out-dir:"),
        (["{file}", "--html", "{dir}"], "error: --html:"),
        (["{file}", "--csv", "{dir}"], "error: --csv:"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    args: list[str],
    field: str,
    points_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"rate": [1.0]}), foreign)
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(points_file.read_bytes()[:100])
    names = {"file": points_file, "missing": tmp_path / "nope.parquet", "foreign": foreign,
             "truncated": truncated, "dir": tmp_path}  # fmt: skip
    before = listing(tmp_path)
    assert frontier_main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr()
    assert err.out == ""
    assert len(err.err.splitlines()) == 1 and err.err.startswith("error: ")
    assert field in err.err
    assert listing(tmp_path) == before


def test_help_returns_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        frontier_main(["--help"])
    assert exc.value.code == 0 and "--distortion" in capsys.readouterr().out


def test_build_report_returns_paths(tmp_path: Path) -> None:
    df = synthetic_rd_points(12, policies=("fixed", "staged", "learned_vector"), epochs=2)
    paths = build_report(df, tmp_path, "t", by=["sigma_policy", "dataset"], pngs=False)
    assert set(paths) == {"frontier", "html"}
    html = Path(paths["html"]).read_text()
    assert 'id="rd-plane"' in html and '"group":"staged \\u002f digits"' in html
    assert "cdn.plot.ly" not in html.split("</script>", 1)[1]  # figures load nothing remote


def test_registers_as_an_rdlab_subcommand(
    points_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    top = argparse.ArgumentParser(prog="rdlab")
    register(top.add_subparsers(dest="command"), "frontier")
    ok = top.parse_args(["frontier", str(points_file), "--no-png"])
    assert ok.func(ok) == 0
    bad = top.parse_args(["frontier", str(points_file), "--by", "colour"])
    assert bad.func(bad) == 2
    assert capsys.readouterr().err.startswith("error: --by:")


def test_study_report_uses_available_split_and_never_fails(tmp_path: Path) -> None:
    said: list[str] = []
    test_only = synthetic_rd_points(8, split="test")
    path = write_rd_points(test_only, tmp_path / "rd_points.parquet")
    written = study_report(path, tmp_path, title="s", say=said.append)
    assert {Path(p).name for p in written} >= {"frontier.parquet", "report.html", "rd_plane.png"}
    assert "hypervolume" in said[0]
    failed = synthetic_rd_points(3).assign(status="failed")
    path = write_rd_points(failed, tmp_path / "failed" / "rd_points.parquet")
    assert study_report(path, tmp_path / "failed", say=said.append) == []
    assert said[-1].startswith("frontier skipped: --split: no final rows")


def test_a_listed_picture_not_found_is_a_warning_and_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = synthetic_rd_points(6)
    df["artifacts"] = '["trials/x/artifacts/samples_prior.png"]'
    paths = build_report(df, tmp_path, "t", pngs=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("warning: trial ") for line in err)
    assert all("listed but not found" in line and "samples_prior.png" in line for line in err)
    html = Path(paths["html"]).read_text()
    assert "listed but not found" in html.split('<ul class="notes">', 1)[1].split("</ul>")[0]
