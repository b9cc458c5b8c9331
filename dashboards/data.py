"""What each dashboard plot shows, as plain data (pure functions, tested; no drawing here).

Input is the frontier table (rdlab.frontier.table.frontier_table: selected final points with
``group``, ``on_frontier``, ``on_group_frontier``) and, for σ curves, the raw RD points with
their per-epoch rows. Renderers (plotly_figures, png) only draw what these return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rdlab.frontier.table import effective_beta

# Fixed colours for the built-in σ policies so a policy looks the same in every report
# (matplotlib's tab10, which plotly's D3 palette also uses).
_TAB10 = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
KNOWN_POLICIES = (
    "fixed", "learned_scalar", "learned_pixel", "learned_vector",
    "optimal_global", "optimal_sample", "staged",
)  # fmt: skip
HOVER_COLUMNS = (
    "beta", "sigma_policy", "sigma_value", "kl_g", "kl_i", "l1", "adversarial",
    "trial_id", "mlflow_run_id", "group",
)  # fmt: skip
NO_POLICY = "none"


def policy_colors(names: list[str]) -> dict[str, str]:
    """Colour per σ policy: built-ins keep theirs, others take the remaining colours in order."""
    spare = iter(c for i, c in enumerate(_TAB10) if i >= len(KNOWN_POLICIES))
    out = {}
    for name in sorted(names):
        if name in KNOWN_POLICIES:
            out[name] = _TAB10[KNOWN_POLICIES.index(name)]
        else:
            out[name] = next(spare, "#444444")
    return out


def policy_of(points: pd.DataFrame) -> pd.Series:
    return points["sigma_policy"].astype("object").fillna(NO_POLICY).astype(str)


@dataclass(frozen=True)
class PointSeries:
    """The points of one σ policy on the RD plane (possibly a sample of them)."""

    name: str
    rate: np.ndarray
    distortion: np.ndarray
    hover: pd.DataFrame  # HOVER_COLUMNS, one row per point
    n_total: int


@dataclass(frozen=True)
class FrontierLine:
    """One frontier: distinct vertices sorted by rate; ``group`` "overall" for all groups."""

    group: str
    rate: np.ndarray
    distortion: np.ndarray
    policy: str | None  # the one σ policy of the group's frontier points, else None


@dataclass(frozen=True)
class RDPlane:
    distortion: str
    points: list[PointSeries]
    frontiers: list[FrontierLine]

    @property
    def sampled(self) -> bool:
        return any(len(s.rate) < s.n_total for s in self.points)


def _sample(rows: np.ndarray, front: np.ndarray, max_points: int, seed: int) -> np.ndarray:
    """Row positions to show: every frontier point, topped up with a seeded uniform sample.

    Keeps a million-row study's report small enough for a browser to open.
    """
    if rows.size <= max_points:
        return rows
    rest = rows[~front[rows]]
    take = min(max(max_points - (rows.size - rest.size), 0), rest.size)
    picked = np.random.default_rng(seed).choice(rest, size=take, replace=False)
    return np.sort(np.concatenate([rows[front[rows]], picked]))


def _line(group: str, rows: pd.DataFrame, distortion: str) -> FrontierLine:
    pairs = np.unique(rows[["rate", distortion]].to_numpy(float), axis=0)
    policies = policy_of(rows).unique()
    # A line gets its policy's colour only when it belongs to one policy (e.g. --by
    # sigma_policy or sigma_policy,dataset); mixed groups are drawn in neutral styles.
    only = str(policies[0]) if len(policies) == 1 and group != "overall" else None
    return FrontierLine(group, pairs[:, 0], pairs[:, 1], only)


def rd_plane(
    table: pd.DataFrame, distortion: str, max_points: int = 4000, seed: int = 0
) -> RDPlane:
    """One point series per σ policy, one frontier line per group (+ overall if >1 group)."""
    codes, names = pd.factorize(table["sigma_policy"], sort=True, use_na_sentinel=False)
    front = (table["on_frontier"] | table["on_group_frontier"]).to_numpy(bool)
    series = []
    for k, name in enumerate(names):
        rows = np.flatnonzero(codes == k)
        # Select rows by position first; only the few shown rows get their hover columns.
        shown = table.iloc[_sample(rows, front, max_points, seed)]
        shown = shown.sort_values(["rate", distortion], kind="stable")
        hover = shown.reindex(columns=list(HOVER_COLUMNS)).assign(
            beta=effective_beta(shown), sigma_policy=policy_of(shown)
        )
        label = NO_POLICY if pd.isna(name) else str(name)
        series.append(
            PointSeries(
                label,
                shown["rate"].to_numpy(float),
                shown[distortion].to_numpy(float),
                hover.reset_index(drop=True),
                rows.size,
            )
        )
    on_group = table[table["on_group_frontier"].to_numpy(bool)]
    lines = [_line(str(g), rows, distortion) for g, rows in on_group.groupby("group", sort=True)]
    if len(lines) > 1:
        lines.append(_line("overall", table[table["on_frontier"].to_numpy(bool)], distortion))
    return RDPlane(distortion, series, lines)


@dataclass(frozen=True)
class ElboSeries:
    """Mean ± std (over trials/seeds at the same β) of the ELBO of one σ policy."""

    name: str
    beta: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray


def _beta_bins(beta: pd.Series, max_betas: int) -> pd.Series:
    """β itself, or the geometric centre of its log-spaced bin when there are too many."""
    if beta.nunique() <= max_betas:
        return beta
    log_b = np.log(beta.to_numpy(float))
    edges = np.linspace(log_b.min(), log_b.max(), max_betas + 1)
    which = np.clip(np.searchsorted(edges, log_b, side="right") - 1, 0, max_betas - 1)
    centre = pd.Series(log_b).groupby(which).transform("mean").to_numpy()
    return pd.Series(np.exp(centre), index=beta.index)


def elbo_vs_beta(table: pd.DataFrame, max_betas: int = 40) -> list[ElboSeries]:
    """ELBO (= −(nll + rate), β-free; DESIGN §2) against β, per σ policy, sorted by β.

    Trials sharing a β (seeds, grid searches) give mean ± std. A policy with more than
    ``max_betas`` distinct β (a continuous search space) is binned log-uniformly so the plot
    stays readable. β ≤ 0 has no place on the log axis and is left out.
    """
    frame = pd.DataFrame(
        {"policy": policy_of(table), "beta": effective_beta(table), "elbo": table["elbo"]}
    ).dropna(subset=["beta", "elbo"])
    frame = frame[frame["beta"] > 0]
    out = []
    for name, rows in frame.groupby("policy", sort=True):
        beta = _beta_bins(rows["beta"], max_betas)
        stats = rows["elbo"].groupby(beta, sort=True).agg(["mean", "std", "size"])
        out.append(
            ElboSeries(
                str(name),
                stats.index.to_numpy(float),
                stats["mean"].to_numpy(float),
                stats["std"].to_numpy(float),
                stats["size"].to_numpy(int),
            )
        )
    return out


@dataclass(frozen=True)
class SigmaCurve:
    """log σ_x against epoch for one trial."""

    trial_id: str
    policy: str
    epoch: np.ndarray
    log_sigma_x: np.ndarray


def sigma_curves(
    points: pd.DataFrame, split: str = "val", max_trials: int = 60
) -> list[SigmaCurve]:
    """Per-epoch log σ_x of each trial (rows with ``epoch`` set), preferring ``split``.

    Falls back to whichever split the per-epoch rows were recorded on (often ``train``).
    At most ``max_trials`` curves, in trial-id order, so the plot stays readable.
    """
    if "epoch" not in points.columns or "log_sigma_x" not in points.columns:
        return []
    rows = points[points["epoch"].notna() & np.isfinite(points["log_sigma_x"].to_numpy(float))]
    if rows.empty:
        return []
    splits = set(rows["split"])
    use = split if split in splits else sorted(splits)[0]
    rows = rows[rows["split"] == use].assign(policy=policy_of(rows[rows["split"] == use]))
    curves: list[SigmaCurve] = []
    for trial, r in rows.sort_values(["trial_id", "epoch"]).groupby("trial_id", sort=True):
        if len(curves) >= max_trials:
            break
        curves.append(
            SigmaCurve(
                str(trial),
                str(r["policy"].iloc[0]),
                r["epoch"].to_numpy(float),
                r["log_sigma_x"].to_numpy(float),
            )
        )
    return curves


@dataclass(frozen=True)
class SampleImage:
    trial_id: str
    caption: str
    path: Path


def _png_paths(artifacts: object, root: Path) -> list[Path]:
    if not isinstance(artifacts, str) or not artifacts:
        return []
    try:
        listed = json.loads(artifacts)
    except json.JSONDecodeError:
        return []
    paths = [root / p for p in listed if isinstance(p, str) and p.lower().endswith(".png")]
    return [p for p in paths if p.is_file()]


def sample_images(table: pd.DataFrame, root: Path, max_images: int = 12) -> list[SampleImage]:
    """Existing PNG artifacts of the rows, frontier rows first then by rate."""
    if "artifacts" not in table.columns:
        return []
    has_png = table["artifacts"].astype("str").str.contains(".png", case=False, regex=False)
    rows = table[has_png.fillna(False).to_numpy(bool)]
    rows = rows.assign(_front=~(rows["on_frontier"] | rows["on_group_frontier"]))
    out: list[SampleImage] = []
    for row in rows.sort_values(["_front", "rate"], kind="stable").itertuples(index=False):
        for path in _png_paths(row.artifacts, root):
            caption = f"{row.trial_id} · {row.sigma_policy} · β={effective_beta_of(row):.3g}"
            out.append(SampleImage(str(row.trial_id), caption, path))
            if len(out) >= max_images:
                return out
    return out


def effective_beta_of(row: Any) -> float:
    """β of one itertuples row: ``beta_eval`` for multi-rate rows, else ``beta``."""
    beta_eval = getattr(row, "beta_eval", float("nan"))
    return float(row.beta if pd.isna(beta_eval) else beta_eval)


@dataclass(frozen=True)
class ReportViews:
    """Everything the report draws, computed once for both the HTML and the PNGs."""

    rd: RDPlane
    colors: dict[str, str]
    elbo: list[ElboSeries]
    sigma: list[SigmaCurve]
    images: list[SampleImage]


def report_views(
    table: pd.DataFrame, points: pd.DataFrame, distortion: str, split: str, artifact_root: Path
) -> ReportViews:
    """Compute every plot's data from the frontier table and the raw (per-epoch) points."""
    rd = rd_plane(table, distortion)
    return ReportViews(
        rd=rd,
        colors=policy_colors([s.name for s in rd.points]),
        elbo=elbo_vs_beta(table),
        sigma=sigma_curves(points, split),
        images=sample_images(table, artifact_root),
    )
