"""What the dashboard plots show (rdlab.dashboards.data), checked without drawing anything."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdlab.dashboards.data import (
    elbo_vs_beta,
    policy_colors,
    rd_plane,
    sample_images,
    sigma_curves,
)
from rdlab.frontier.synthetic import synthetic_rd_points
from rdlab.frontier.table import frontier_table


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


def test_sample_images_only_existing_pngs_frontier_first(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG fake")
    t = table(8)
    t["artifacts"] = json.dumps(["a.png", "missing.png", "config.yaml"])
    images = sample_images(t, tmp_path, max_images=3)
    assert len(images) == 3 and all(i.path == tmp_path / "a.png" for i in images)
    first = t.loc[t["trial_id"] == images[0].trial_id].iloc[0]
    assert first["on_frontier"] or first["on_group_frontier"]


def test_policy_colours_are_stable() -> None:
    a = policy_colors(["fixed", "zzz_custom"])
    b = policy_colors(["optimal_sample", "fixed", "zzz_custom"])
    assert a["fixed"] == b["fixed"] and a["zzz_custom"] == b["zzz_custom"]
    assert len(set(policy_colors([f"p{i}" for i in range(3)]).values())) == 3
