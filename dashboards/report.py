"""Write a study's frontier outputs: frontier.parquet, report.html and the PNG plots.

``build_report`` is the one call the study runner makes at the end of a study and the one
``rdlab frontier`` makes; the request is validated (``analyse``) before anything is written.
Plotly and matplotlib are imported lazily: reading and ranking points does not need them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rdlab.dashboards.data import ReportViews, report_views
from rdlab.errors import SpecError
from rdlab.frontier.analysis import Analysis, analyse
from rdlab.frontier.atomic import atomic_output
from rdlab.frontier.io import read_rd_points, write_frontier
from rdlab.frontier.pareto import By
from rdlab.frontier.table import effective_beta, seed_summary, summary_text

if TYPE_CHECKING:
    from rdlab.dashboards.html_report import Section

FRONTIER_FILE = "frontier.parquet"
REPORT_FILE = "report.html"
PNG_FILES = {
    "rd_plane": "rd_plane.png",
    "elbo_vs_beta": "elbo_vs_beta.png",
    "sigma_curves": "sigma_curves.png",
}
_FRONT_COLUMNS = ["group", "trial_id", "sigma_policy", "beta", "rate"]


def _frontier_rows(a: Analysis, limit: int = 60) -> pd.DataFrame:
    rows = a.table[a.table["on_frontier"] | a.table["on_group_frontier"]]
    rows = rows.assign(beta=effective_beta(rows)).sort_values(["rate", a.distortion])
    cols = [*_FRONT_COLUMNS, a.distortion, "on_frontier", "on_group_frontier", "mlflow_run_id"]
    return rows[cols].head(limit)


def _rd_caption(a: Analysis) -> str:
    groups = " / ".join(a.by) or "none (overall only)"
    return (
        f"Final {a.split} points, one trace per σ policy; solid lines: frontier per group "
        f"({groups}); dotted: overall frontier. Distortion: {a.distortion}, nats per example."
    )


def _table_sections(a: Analysis) -> list[Section]:
    from rdlab.dashboards.html_report import table_section  # lazy: plotly

    sections = [
        table_section("Frontier points", _frontier_rows(a), index=False),
        table_section(
            "Hypervolume per group",
            a.hypervolume,
            "Larger is better; one shared reference point for all groups.",
            index=False,
        ),
        table_section(
            f"{a.distortion} at matched rates",
            a.matched.set_axis(a.matched.index.map(lambda r: f"{r:.4g}"), axis=0),
            "Each group's frontier interpolated linearly; – outside the group's rate range.",
        ),
        table_section(
            "Dominance",
            a.dominance,
            "Over the shared rate range; mean_gap = mean of d_B − d_A in nats (> 0: A lower).",
            index=False,
        ),
    ]
    seeds = seed_summary(a.seeds, a.distortion)
    if not seeds.empty:
        sections.append(table_section("Repeated seeds: frontier on the means", seeds, index=False))
    return sections


def _sections(a: Analysis, v: ReportViews) -> list[Section]:
    from rdlab.dashboards import plotly_figures as P  # lazy: plotly
    from rdlab.dashboards.html_report import (  # lazy: plotly
        RD_PLANE_ID,
        figure_section,
        images_section,
    )

    rd_fig = P.rd_plane_figure(v.rd, v.colors)
    sections = [
        figure_section("Rate–distortion plane", rd_fig, RD_PLANE_ID, _rd_caption(a)),
        *_table_sections(a),
        figure_section(
            "ELBO vs β", P.elbo_figure(v.elbo, v.colors), "elbo-vs-beta", "Mean ± std at each β."
        ),
        figure_section(
            "Decoder σ during training", P.sigma_figure(v.sigma, v.colors), "sigma-curves"
        ),
    ]
    if v.images:
        sections.append(images_section("Sample grids (frontier trials first)", v.images))
    return sections


def _write_pngs(v: ReportViews, out_dir: Path) -> dict[str, Path]:
    from rdlab.dashboards import png  # lazy: matplotlib

    return {
        "rd_plane": png.rd_plane_png(v.rd, v.colors, out_dir / PNG_FILES["rd_plane"]),
        "elbo_vs_beta": png.elbo_png(v.elbo, v.colors, out_dir / PNG_FILES["elbo_vs_beta"]),
        "sigma_curves": png.sigma_png(v.sigma, v.colors, out_dir / PNG_FILES["sigma_curves"]),
    }


def write_html(a: Analysis, v: ReportViews, path: Path, title: str) -> Path:
    """Render the self-contained report to ``path`` (atomically)."""
    from rdlab.dashboards.html_report import render_page  # lazy: plotly

    notes = list(a.notes)
    if v.rd.sampled:
        notes.append("the RD plane shows every frontier point and a seeded sample of the rest")
    text = render_page(title, notes, _sections(a, v))
    with atomic_output(path) as fh:
        fh.write(text.encode("utf-8"))
    return path


def write_outputs(
    analysis: Analysis,
    points_df: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    title: str = "rdlab frontier",
    *,
    html_path: str | os.PathLike[str] | None = None,
    csv_path: str | os.PathLike[str] | None = None,
    artifact_root: str | os.PathLike[str] | None = None,
    pngs: bool = True,
) -> dict[str, Path]:
    """Write frontier.parquet, the CSV (if asked), report.html and the PNGs of an analysis."""
    out = Path(out_dir)
    paths = {"frontier": write_frontier(analysis.table, out / FRONTIER_FILE)}
    if csv_path is not None:
        with atomic_output(csv_path) as fh:
            analysis.table.to_csv(fh, index=False)
        paths["csv"] = Path(csv_path)
    root = Path(artifact_root) if artifact_root is not None else out
    views = report_views(analysis.table, points_df, analysis.distortion, analysis.split, root)
    html = Path(html_path) if html_path is not None else out / REPORT_FILE
    paths["html"] = write_html(analysis, views, html, title)
    if pngs:
        paths.update(_write_pngs(views, out))
    return paths


def build_report(
    points_df: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    title: str = "rdlab frontier",
    distortion: str = "nll_opt",
    by: By = "sigma_policy",
    *,
    split: str = "val",
    include_stopped_early: bool = False,
    html_path: str | os.PathLike[str] | None = None,
    csv_path: str | os.PathLike[str] | None = None,
    artifact_root: str | os.PathLike[str] | None = None,
    pngs: bool = True,
) -> dict[str, Path]:
    """Analyse ``points_df`` (all RD rows, per-epoch included) and write the outputs.

    Returns the written paths keyed ``frontier``, ``html``, ``csv`` (if asked), ``rd_plane``,
    ``elbo_vs_beta`` and ``sigma_curves``. Relative paths in the ``artifacts`` column resolve
    against ``artifact_root`` (default ``out_dir``). Raises SpecError (field, message)
    before writing anything if the request is invalid.
    """
    analysis = analyse(points_df, distortion, by, split, include_stopped_early)
    return write_outputs(
        analysis,
        points_df,
        out_dir,
        title,
        html_path=html_path,
        csv_path=csv_path,
        artifact_root=artifact_root,
        pngs=pngs,
    )


def default_split(points: pd.DataFrame) -> str:
    """The split a study's frontier uses: val if it has final rows, else test, else train."""
    final = points[points["epoch"].isna()] if "epoch" in points.columns else points
    present = set(final["split"].dropna())
    return next((s for s in ("val", "test", "train") if s in present), "val")


def study_report(
    points_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    title: str = "rdlab frontier",
    say: Callable[[str], object] = print,
    distortion: str = "nll_opt",
    by: By = "sigma_policy",
) -> list[Path]:
    """End-of-study report for the study runner: returns the written paths.

    Never fails a finished study: if no trial produced a rankable point (all failed, say),
    the reason is reported through ``say`` and nothing is written.
    """
    points = read_rd_points(points_path)
    try:
        analysis = analyse(points, distortion, by, default_split(points))
    except SpecError as err:
        say(f"frontier skipped: {err}")
        return []
    say(summary_text(analysis))
    written = write_outputs(analysis, points, out_dir, title, artifact_root=out_dir)
    return list(written.values())
