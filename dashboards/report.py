"""Write a study's frontier outputs: frontier.parquet, report.html and the PNG plots.

``build_report`` is the one call the study runner makes at the end of a study and the one
``rdlab frontier`` makes; the request is validated (``analyse``) before anything is written.
Every output goes through a :class:`rdlab.storage.Storage` (a local folder or a URI such
as ``s3://…``); the returned locations are absolute paths or URIs.
Plotly and matplotlib are imported lazily: reading and ranking points does not need them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import pandas as pd
from rdlab.dashboards.data import ReportViews, report_views
from rdlab.errors import SpecError
from rdlab.frontier import schema as S
from rdlab.frontier.analysis import Analysis, analyse
from rdlab.frontier.io import table_bytes, to_table
from rdlab.frontier.pareto import By
from rdlab.frontier.select import default_split
from rdlab.frontier.sources import load_source
from rdlab.frontier.table import effective_beta, seed_summary, summary_text
from rdlab.storage import Storage, is_uri

if TYPE_CHECKING:
    from rdlab.dashboards.data import ReportViews
    from rdlab.dashboards.gallery import LoadedGallery
    from rdlab.dashboards.html_report import Section

Place: TypeAlias = "str | os.PathLike[str] | Storage"

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


def _sections(a: Analysis, v: ReportViews, galleries: list[LoadedGallery]) -> list[Section]:
    from rdlab.dashboards import plotly_figures as P  # lazy: plotly
    from rdlab.dashboards.html_report import (  # lazy: plotly
        RD_PLANE_ID,
        figure_section,
        gallery_section,
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
    for g in galleries:
        sections.append(
            gallery_section(
                "Samples of the frontier trials",
                g,
                "One row per frontier trial, lowest rate first. Pictures in a column share "
                "one size; an empty cell: the trial has no such picture (a σ map needs a "
                "per-dimension σ that does not depend on x).",
            )
        )
    return sections


def _storage(place: Place) -> Storage:
    return place if isinstance(place, Storage) else Storage.parse(place, "--out-dir")


def _file_target(place: str | os.PathLike[str], flag: str) -> tuple[Storage, str]:
    """A file given as a path or a URI: the Storage of its folder and its name."""
    text = os.fspath(place)
    if is_uri(text):
        folder, _, name = text.rstrip("/").rpartition("/")
        return Storage.parse(folder, flag), name
    path = Path(text).absolute()
    return Storage.parse(path.parent, flag), path.name


def _write_pngs(v: ReportViews, out: Storage) -> dict[str, str]:
    from rdlab.dashboards import png  # lazy: matplotlib

    return {
        "rd_plane": out.write_bytes(PNG_FILES["rd_plane"], png.rd_plane_png(v.rd, v.colors)),
        "elbo_vs_beta": out.write_bytes(PNG_FILES["elbo_vs_beta"], png.elbo_png(v.elbo, v.colors)),
        "sigma_curves": out.write_bytes(
            PNG_FILES["sigma_curves"], png.sigma_png(v.sigma, v.colors)
        ),
    }


def render_html(
    a: Analysis, v: ReportViews, title: str, root_of: Callable[[str], Storage | None]
) -> tuple[str, list[str]]:
    """The self-contained report and the warnings found making it (missing pictures)."""
    from rdlab.dashboards.gallery import load_gallery  # lazy: numpy image decoding
    from rdlab.dashboards.html_report import render_page  # lazy: plotly

    galleries, missing = load_gallery(v.gallery, root_of)
    notes = list(a.notes)
    if v.rd.sampled:
        notes.append("the RD plane shows every frontier point and a seeded sample of the rest")
    notes += missing
    return render_page(title, notes, _sections(a, v, galleries)), missing


def _roots(
    roots: Mapping[str, Storage] | None, artifact_root: Place | None, out: Storage
) -> Callable[[str], Storage | None]:
    default = _storage(artifact_root) if artifact_root is not None else None
    if roots is None and default is None:
        default = out
    known = dict(roots or {})
    return lambda study: known.get(study, default)


def write_outputs(
    analysis: Analysis,
    points_df: pd.DataFrame,
    out_dir: Place,
    title: str = "rdlab frontier",
    *,
    html_path: str | os.PathLike[str] | None = None,
    csv_path: str | os.PathLike[str] | None = None,
    artifact_root: Place | None = None,
    roots: Mapping[str, Storage] | None = None,
    pngs: bool = True,
    warn: Callable[[str], object] | None = None,
) -> dict[str, str]:
    """Write frontier.parquet, the CSV (if asked), report.html and the PNGs of an analysis.

    Pictures listed in the ``artifacts`` column resolve against ``roots[study]`` (several
    studies), else ``artifact_root``, else ``out_dir``; each one listed but not found is a
    note in the report and a ``warning:`` line (``warn``, default stderr).
    """
    out = _storage(out_dir)
    frontier = table_bytes(to_table(analysis.table, S.frontier_schema()))
    paths = {"frontier": out.write_bytes(FRONTIER_FILE, frontier)}
    if csv_path is not None:
        folder, name = _file_target(csv_path, "--csv")
        paths["csv"] = folder.write_bytes(name, analysis.table.to_csv(index=False).encode())

    views = report_views(analysis.table, points_df, analysis.distortion, analysis.split)
    text, missing = render_html(analysis, views, title, _roots(roots, artifact_root, out))
    for line in missing:
        (warn or _stderr)(f"warning: {line}")
    folder, name = _file_target(html_path, "--html") if html_path else (out, REPORT_FILE)
    paths["html"] = folder.write_bytes(name, text.encode("utf-8"))
    if pngs:
        paths.update(_write_pngs(views, out))
    return paths


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build_report(
    points_df: pd.DataFrame,
    out_dir: Place,
    title: str = "rdlab frontier",
    distortion: str = "nll_opt",
    by: By = "sigma_policy",
    *,
    split: str = "val",
    include_stopped_early: bool = False,
    html_path: str | os.PathLike[str] | None = None,
    csv_path: str | os.PathLike[str] | None = None,
    artifact_root: Place | None = None,
    pngs: bool = True,
) -> dict[str, str]:
    """Analyse ``points_df`` (all RD rows, per-epoch included) and write the outputs.

    Returns the written locations keyed ``frontier``, ``html``, ``csv`` (if asked),
    ``rd_plane``, ``elbo_vs_beta`` and ``sigma_curves``. Relative paths in the
    ``artifacts`` column resolve against ``artifact_root`` (default ``out_dir``). Raises
    SpecError (field, message) before writing anything if the request is invalid.
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


def study_report(
    points: pd.DataFrame | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    title: str = "rdlab frontier",
    say: Callable[[str], object] = print,
    distortion: str = "nll_opt",
    by: By = "sigma_policy",
    artifact_root: Place | None = None,
) -> list[Path]:
    """End-of-study report for the study driver: returns the written paths.

    ``points``: the study's RD points, or where to read them (a study folder with its
    ``rd_points/`` dataset or an old single file, an RD file or directory, local or a
    URI). ``out_dir`` is a local folder; pictures listed in the rows resolve against
    ``artifact_root`` (the study's storage, local or an object store), default ``out_dir``.
    Never fails a finished study: if no trial produced a rankable point (all failed,
    say), the reason is reported through ``say`` and nothing is written.
    """
    if not isinstance(points, pd.DataFrame):
        points = load_source(os.fspath(points)).points
    try:
        analysis = analyse(points, distortion, by, default_split(points))
    except SpecError as err:
        say(f"frontier skipped: {err}")
        return []
    say(summary_text(analysis))
    root = artifact_root if artifact_root is not None else out_dir
    written = write_outputs(analysis, points, out_dir, title, artifact_root=root)
    return [Path(p) for p in written.values()]  # a local folder: the driver uploads them
