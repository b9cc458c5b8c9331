"""What each dashboard plot shows, as plain data (pure functions, tested; no drawing here).

Input is the frontier table (rdlab.frontier.table.frontier_table: selected final points with
``group``, ``on_frontier``, ``on_group_frontier``) and, for σ curves, the raw RD points with
their per-epoch rows. Renderers (plotly_figures, png) only draw what these return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
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
class GalleryColumn:
    """One column of the sample gallery: a picture a trial writes (rdlab.evaluate.render),
    or one half of it (``part``: the top or bottom half of ``reconstructions.png``)."""

    kind: str
    title: str
    file: str
    part: str = ""  # "" | "top" | "bottom"


# Image data: the same five columns, in this order, for every trial (an empty cell where a
# trial has no such picture, e.g. the σ map of a policy whose σ is not per-dimension).
# reconstructions.png holds the inputs in its top half and their reconstructions below.
IMAGE_COLUMNS = (
    GalleryColumn("data", "data", "reconstructions.png", "top"),
    GalleryColumn("reconstruction", "reconstruction", "reconstructions.png", "bottom"),
    GalleryColumn("prior", "prior samples", "samples_prior.png"),
    GalleryColumn("gmm", "GMM-posterior samples", "samples_gmm.png"),
    GalleryColumn("sigma_map", "σ map", "sigma_map.png"),
)
# 2-D and other vector data draw their reconstructions and samples as plots instead.
VECTOR_COLUMNS = (
    GalleryColumn("scatter", "reconstruction and generation", "scatter.png"),
    GalleryColumn("norms", "‖x‖ of data, reconstructions, samples", "norms.png"),
)
# sigma_curve.png (σ against epoch) is a training curve, not a sample: the report's
# "Decoder σ during training" plot shows it for every trial, so the gallery leaves it out.


@dataclass(frozen=True)
class PictureRef:
    """A listed picture: the study whose folder ``rel`` is relative to, and which half."""

    study: str
    rel: str
    part: str = ""


@dataclass(frozen=True)
class GalleryRow:
    study: str
    trial_id: str
    label: str
    cells: tuple[PictureRef | None, ...]  # one per column, None: the trial has no such picture


@dataclass(frozen=True)
class GalleryTable:
    columns: tuple[GalleryColumn, ...]
    rows: tuple[GalleryRow, ...]


def _listed(artifacts: object) -> list[str]:
    if not isinstance(artifacts, str) or not artifacts:
        return []
    try:
        listed = json.loads(artifacts)
    except json.JSONDecodeError:
        return []
    return [p for p in listed if isinstance(p, str)] if isinstance(listed, list) else []


def _weight(value: object) -> str:
    return "–" if value is None or pd.isna(value) else f"{float(value):.3g}"  # type: ignore[arg-type]


def trial_label(row: Any) -> str:
    """β, σ policy (and σ for ``fixed``) and the mixture weights of one itertuples row."""
    policy = str(row.sigma_policy) if not pd.isna(row.sigma_policy) else NO_POLICY
    if policy == "fixed" and not pd.isna(getattr(row, "sigma_value", None)):
        policy += f" (σ={float(row.sigma_value):.3g})"
    parts = [f"β={effective_beta_of(row):.3g}", f"σ policy {policy}"]
    parts.append(f"KL_G={_weight(row.kl_g)}, KL_I={_weight(row.kl_i)}")
    for name, title in (("l1", "L1"), ("adversarial", "adv")):
        value = getattr(row, name, None)
        if value is not None and not pd.isna(value) and float(value) != 0.0:
            parts.append(f"{title}={float(value):.3g}")
    return " · ".join(parts)


def _row(row: Any, columns: tuple[GalleryColumn, ...], listed: list[str]) -> GalleryRow:
    by_name = {PurePosixPath(p).name: p for p in listed}
    study = "" if pd.isna(row.study) else str(row.study)
    cells = tuple(
        PictureRef(study, by_name[c.file], c.part) if c.file in by_name else None for c in columns
    )
    return GalleryRow(study, str(row.trial_id), trial_label(row), cells)


def gallery(table: pd.DataFrame, max_rows: int = 12) -> list[GalleryTable]:
    """The sample gallery: one row per frontier trial (lowest rate first) that listed
    pictures, image trials and vector-data trials in separate tables. Pure: whether a
    listed picture exists is for the loader to find out (and to report)."""
    if "artifacts" not in table.columns:
        return []
    front = table[(table["on_frontier"] | table["on_group_frontier"]).to_numpy(bool)]
    front = front.sort_values(["rate", "trial_id"], kind="stable").drop_duplicates("trial_id")
    layouts: dict[tuple[GalleryColumn, ...], list[GalleryRow]] = {
        IMAGE_COLUMNS: [],
        VECTOR_COLUMNS: [],
    }
    for row in front.itertuples(index=False):
        listed = _listed(row.artifacts)
        names = {PurePosixPath(p).name for p in listed}
        for columns, rows in layouts.items():
            if names & {c.file for c in columns} and len(rows) < max_rows:
                rows.append(_row(row, columns, listed))
                break
    return [GalleryTable(cols, tuple(rows)) for cols, rows in layouts.items() if rows]


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
    gallery: list[GalleryTable]


def report_views(
    table: pd.DataFrame, points: pd.DataFrame, distortion: str, split: str
) -> ReportViews:
    """Compute every plot's data from the frontier table and the raw (per-epoch) points."""
    rd = rd_plane(table, distortion)
    return ReportViews(
        rd=rd,
        colors=policy_colors([s.name for s in rd.points]),
        elbo=elbo_vs_beta(table),
        sigma=sigma_curves(points, split),
        gallery=gallery(table),
    )
