"""Render reproduction verdicts: ``reproductions.md`` (tables, claims, notes, plots) and a
short summary for the README, the papers' numbers beside ours. Numbers come from
:class:`~studies.reproductions.checks.common.Verdict`; this module only formats and draws.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from studies.reproductions.catalog import Reproduction
from studies.reproductions.checks.common import Plot, Verdict


@dataclass
class PhaseRun:
    """What happened to one spec of a reproduction in this invocation (or an earlier one)."""

    study: str
    spec: str
    status: str  # ran | reused | skipped
    wall_s: float = math.nan
    trials: int = 0
    trial_epochs: int = 0
    note: str = ""


@dataclass
class Outcome:
    repro: Reproduction
    verdict: Verdict | None
    phases: list[PhaseRun] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        walls = [p.wall_s for p in self.phases if math.isfinite(p.wall_s)]
        return float(sum(walls)) if walls else math.nan


def md_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no tabulate dependency)."""
    if df is None or df.empty:
        return "_(no rows)_\n"
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = [_cell(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(v: object) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def _minutes(s: float) -> str:
    return "n/a" if not math.isfinite(s) else f"{s / 60:.1f} min"


def draw(plot: Plot, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    for s in plot.series:
        if s.yerr is not None:
            ax.errorbar(s.x, s.y, yerr=s.yerr, fmt=s.style, label=s.label, capsize=3, ms=5)
        else:
            ax.plot(s.x, s.y, s.style, label=s.label, ms=5)
        for x, y, text in zip(s.x, s.y, s.labels or (), strict=False):
            if math.isfinite(x) and math.isfinite(y):
                ax.annotate(text, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for y, label in plot.hlines:
        ax.axhline(y, color="gray", ls=":", lw=1)
        ax.annotate(label, (0.01, y), xycoords=("axes fraction", "data"), fontsize=7, color="gray")
    for x, label in plot.vlines:
        ax.axvline(x, color="gray", ls=":", lw=1)
        ax.annotate(label, (x, 0.02), xycoords=("data", "axes fraction"), fontsize=7, color="gray")
    if plot.logx:
        ax.set_xscale("log")
    ax.set_title(plot.title, fontsize=9)
    ax.set_xlabel(plot.xlabel)
    ax.set_ylabel(plot.ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def section(i: int, o: Outcome, fig_dir: Path, md_dir: Path) -> str:
    v = o.verdict
    r = o.repro
    out = [
        f"## {i}. {v.title if v else r.name}\n",
        f"Paper: {r.paper}. Check: `checks/{r.name}.py`.\n",
    ]
    ran = [p for p in o.phases if p.status != "skipped"]
    trials = sum(p.trials for p in ran)
    epochs = sum(p.trial_epochs for p in ran)
    out.append(
        f"Ran {trials} trials ({epochs} trial-epochs) in {_minutes(o.wall_s)} of wall time: "
        + ", ".join(f"`{p.spec}` ({_minutes(p.wall_s)})" for p in ran)
        + f". Rerun: `python studies/reproductions/run_all.py --only {r.name}`.\n"
    )
    for p in o.phases:
        if p.status == "skipped":
            out.append(f"Skipped `{p.spec}`: {p.note}\n")
    if v is None:
        out.append("**No results yet.**\n")
        return "\n".join(out)
    held = sum(c.holds is True for c in v.claims)
    out.append(f"**Verdict: {v.status}** ({held} of {len(v.claims)} claims hold).\n")
    out.append("| claim (as tested) | holds | measured |\n|---|---|---|")
    out += [f"| {_cell(c.text)} | {c.mark} | {_cell(c.detail)} |" for c in v.claims]
    out.append("")
    out.append("### Measured\n")
    out.append(md_table(v.table))
    for caption, table in v.extra_tables:
        out.append(f"**{caption}**\n")
        out.append(md_table(table))
    if v.notes:
        out.append("### Why it differs at this scale\n")
        out += [f"- {n}" for n in v.notes]
        out.append("")
    for k, plot in enumerate(v.plots, 1):
        png = draw(plot, fig_dir / f"{r.name}_{k}.png")
        out.append(f"![{plot.title}]({_rel(png, md_dir)})\n")
    return "\n".join(out)


def _rel(p: Path, root: Path) -> str:
    try:
        return str(p.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p)


def render(outcomes: list[Outcome], md_path: Path, fig_dir: Path, command: str) -> Path:
    md_dir = md_path.parent
    total = sum(o.wall_s for o in outcomes if math.isfinite(o.wall_s))
    default = sum(o.wall_s for o in outcomes if o.repro.default and math.isfinite(o.wall_s))
    lines = [
        "# Reproductions of the seed papers at CPU scale\n",
        f"Rendered by `{command}` on {time.strftime('%Y-%m-%d %H:%M')} from the studies in "
        "its storage (each section names the command that reruns it); every verdict below is "
        "computed from the measured numbers by the check named in its section "
        "(`studies/reproductions/checks/`). A claim that does not hold at this scale is a "
        "valid outcome; the notes say why where the data can tell. Specs and GPU-scale "
        "versions: `studies/reproductions/README.md`.\n",
        f"Wall time of the studies shown: {_minutes(total)}, of which `make reproduce`'s "
        f"(1–5): {_minutes(default)}; 2 CPU cores shared with other work, no GPU.\n",
        "| # | reproduction | paper | verdict | claims held | wall |",
        "|---|---|---|---|---|---|",
    ]
    for i, o in enumerate(outcomes, 1):
        v = o.verdict
        held = "–" if v is None else f"{sum(c.holds is True for c in v.claims)}/{len(v.claims)}"
        status = "no results" if v is None else v.status
        title = v.title if v else o.repro.name
        wall = _minutes(o.wall_s)
        lines.append(f"| {i} | {title} | {o.repro.paper} | {status} | {held} | {wall} |")
    lines.append("")
    for i, o in enumerate(outcomes, 1):
        lines.append(section(i, o, fig_dir, md_dir))
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text("\n".join(lines), encoding="utf-8")
    return md_path


def render_summary(outcomes: list[Outcome], path: Path, report_name: str) -> Path:
    """The README section: per reproduction, the paper's numbers beside ours and the verdict."""
    lines = [
        "## Reproductions\n",
        "`make reproduce` re-runs the seed papers' central claims at CPU scale (each also alone: "
        "`python studies/reproductions/run_all.py --only NAME`) and writes "
        f"[{report_name}]({report_name}) with the measured tables, plots and verdicts. "
        "Verdicts are computed from the measurements; where a claim does not hold at this "
        "scale the report says so and why.\n",
        "| reproduction | paper reports | we measure | verdict |",
        "|---|---|---|---|",
    ]
    for o in outcomes:
        v = o.verdict
        if v is None:
            continue
        held = f"{v.status} ({sum(c.holds is True for c in v.claims)}/{len(v.claims)})"
        lines.append(f"| {v.title} | {_cell(v.paper)} | {_cell(v.headline)} | {held} |")
    lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
