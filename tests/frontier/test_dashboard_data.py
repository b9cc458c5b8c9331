"""What the dashboard plots show (rdlab.dashboards.data), checked without drawing anything."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdlab.dashboards.data import (
    IMAGE_COLUMNS,
    VECTOR_COLUMNS,
    elbo_vs_beta,
    gallery,
    policy_colors,
    rd_plane,
    sigma_curves,
)
from rdlab.dashboards.gallery import load_gallery, png_size, split_halves
from rdlab.frontier.synthetic import synthetic_rd_points
from rdlab.frontier.table import frontier_table
from rdlab.storage import Storage


def table(n: int = 40, **kw: object) -> pd.DataFrame:
    df = synthetic_rd_points(n, **kw)  # type: ignore[arg-type]
    return frontier_table(df[df["epoch"].isna()], "nll_opt", "sigma_policy")


def test_one_point_series_per_policy_and_one_line_per_group() -> None:
    rd = rd_plane(table(), "nll_opt")
    names = [s.name for s in rd.points]
    assert names == ["fixed", "learned_scalar", "optimal_global", "optimal_sample"]
    assert [f.group for f in rd.frontiers] == [*names, "overall"]
    assert [f.policy for f in rd.frontiers] == [*names, None]
    assert sum(len(s.rate) for s in rd.points) == 40 and not rd.sampled
    for line in rd.frontiers:
        assert np.all(np.diff(line.rate) > 0) and np.all(np.diff(line.distortion) < 0)
    hover = rd.points[0].hover
    assert {"beta", "kl_g", "kl_i", "trial_id", "mlflow_run_id"} <= set(hover.columns)


def test_sampling_keeps_every_frontier_point() -> None:
    t = table(2000)
    rd = rd_plane(t, "nll_opt", max_points=100)
    assert rd.sampled
    n_front = t[t["on_frontier"] | t["on_group_frontier"]].groupby("sigma_policy").size()
    for s in rd.points:  # the sample tops up the frontier points to max_points at most
        assert len(s.rate) == max(100, n_front[s.name]) < s.n_total
    shown = {tid for s in rd.points for tid in s.hover["trial_id"]}
    front = set(t.loc[t["on_frontier"] | t["on_group_frontier"], "trial_id"])
    assert front <= shown
    again = rd_plane(t, "nll_opt", max_points=100)  # seeded: the same sample
    assert again.points[0].hover["trial_id"].tolist() == rd.points[0].hover["trial_id"].tolist()


def test_elbo_vs_beta_mean_and_std_over_seeds() -> None:
    series = {s.name: s for s in elbo_vs_beta(table(24, seeds=3))}
    fixed = series["fixed"]
    assert np.all(np.diff(fixed.beta) > 0) and set(fixed.n) == {3}
    t = table(24, seeds=3)
    beta0 = t[t["sigma_policy"] == "fixed"]
    first = beta0[beta0["beta"] == fixed.beta[0]]["elbo"]
    assert fixed.mean[0] == pytest.approx(first.mean())
    assert fixed.std[0] == pytest.approx(first.std())


def test_sigma_curves_from_per_epoch_rows_with_split_fallback() -> None:
    df = synthetic_rd_points(6, epochs=4)
    curves = sigma_curves(df, "val")
    assert len(curves) == 6 and all(c.epoch.tolist() == [1, 2, 3, 4] for c in curves)
    train_only = df.assign(split="train")
    assert len(sigma_curves(train_only, "val")) == 6  # falls back to the split recorded
    assert sigma_curves(df[df["epoch"].isna()], "val") == []
    assert len(sigma_curves(df, "val", max_trials=2)) == 2


def _grid_png(path: Path, tiles: int = 4, rows: int = 2, k: int = 3) -> Path:
    """A two-row grid drawn like rdlab.evaluate.render: 8×8 tiles, white 1-px padding,
    upscaled ×k; the top row dark, the bottom row mid-grey."""
    from PIL import Image

    h = rows * 9 - 1
    grid = np.full((h, tiles * 9 - 1), 255, dtype=np.uint8)
    for r in range(rows):
        grid[r * 9 : r * 9 + 8, :] = np.where(np.arange(tiles * 9 - 1) % 9 == 8, 255, 40 + 100 * r)
    Image.fromarray(np.repeat(np.repeat(grid, k, axis=0), k, axis=1)).save(path)
    return path


def _gallery_table(tmp_path: Path) -> pd.DataFrame:
    t = table(8)
    names = ("reconstructions", "samples_prior", "samples_gmm", "sigma_curve")
    listed = [f"trials/a/artifacts/{n}.png" for n in names]
    t["artifacts"] = json.dumps(listed)
    return t


def test_gallery_has_one_row_per_frontier_trial_with_fixed_columns(tmp_path: Path) -> None:
    t = _gallery_table(tmp_path)
    sigma = t.index[t["on_frontier"] | t["on_group_frontier"]][0]
    t.loc[sigma, "artifacts"] = json.dumps(["x/reconstructions.png", "x/sigma_map.png"])
    [g] = gallery(t)
    front = t[t["on_frontier"] | t["on_group_frontier"]].sort_values("rate")
    assert g.columns == IMAGE_COLUMNS
    assert [c.title for c in g.columns] == [
        "data", "reconstruction", "prior samples", "GMM-posterior samples", "σ map",
    ]  # fmt: skip
    assert [r.trial_id for r in g.rows] == front["trial_id"].tolist()
    for row in g.rows:
        assert len(row.cells) == 5 and "β=" in row.label and "KL_G=" in row.label
        assert "σ policy" in row.label and "KL_I=" in row.label
        names = [c.rel.rsplit("/", 1)[1] if c else None for c in row.cells]
        if row.trial_id == t.loc[sigma, "trial_id"]:
            assert names == ["reconstructions.png", "reconstructions.png", None, None,
                             "sigma_map.png"]  # fmt: skip
        else:  # sigma_curve.png (a training curve) is never a gallery cell
            assert names[:4] == ["reconstructions.png", "reconstructions.png",
                                 "samples_prior.png", "samples_gmm.png"]  # fmt: skip
            assert names[4] is None
        assert [c.part for c in row.cells[:2] if c] == ["top", "bottom"]


def test_vector_data_trials_get_their_own_table() -> None:
    t = table(8)
    t["artifacts"] = json.dumps(["a/scatter.png", "a/sigma_curve.png"])
    [g] = gallery(t)
    assert g.columns == VECTOR_COLUMNS and all(r.cells[1] is None for r in g.rows)


def test_loading_splits_reconstructions_and_warns_about_missing_pictures(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "trials" / "a" / "artifacts"
    folder.mkdir(parents=True)
    _grid_png(folder / "reconstructions.png")
    _grid_png(folder / "samples_prior.png", tiles=8, rows=8, k=2)  # samples_gmm.png missing
    [g] = gallery(_gallery_table(tmp_path))
    root = Storage.parse(tmp_path)
    [loaded], warnings = load_gallery([g], lambda study: root)
    assert len(warnings) == len(g.rows)
    assert all("listed but not found" in w and "samples_gmm.png" in w for w in warnings)
    data, recon, prior, gmm, sigma = loaded.pictures[0]
    assert data is not None and recon is not None and prior is not None
    assert gmm is None and sigma is None
    assert (data.width, data.height) == (recon.width, recon.height) == (4 * 9 * 3 - 3, 8 * 3)
    assert loaded.boxes[0] == loaded.boxes[1]  # data and reconstructions: one size
    assert len({rows[2] for rows in loaded.pictures}) == 1  # one picture file, read once


def test_split_halves_cuts_out_the_padding_band(tmp_path: Path) -> None:
    from PIL import Image

    for k in (1, 2, 3, 4):
        top, bottom = split_halves(_grid_png(tmp_path / f"g{k}.png", k=k).read_bytes())
        assert png_size(top) == png_size(bottom) == ((4 * 9 - 1) * k, 8 * k)
        assert Image.open(io.BytesIO(top)).convert("L").getpixel((0, 0)) == 40
        assert Image.open(io.BytesIO(bottom)).convert("L").getpixel((0, 0)) == 140


def test_policy_colours_are_stable() -> None:
    a = policy_colors(["fixed", "zzz_custom"])
    b = policy_colors(["optimal_sample", "fixed", "zzz_custom"])
    assert a["fixed"] == b["fixed"] and a["zzz_custom"] == b["zzz_custom"]
    assert len(set(policy_colors([f"p{i}" for i in range(3)]).values())) == 3
