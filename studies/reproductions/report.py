"""Render reproduction verdicts: ``reproductions.md`` (a summary table with the papers'
numbers beside ours, then per reproduction its budget, claims with their tests, tables,
notes, plots and what changed since the previous report) and ``reproductions.json`` (the
verdicts by claim key, the next report's baseline). Numbers come from
:class:`~studies.reproductions.checks.common.Verdict` and the RD rows' configs
(:mod:`~studies.reproductions.budget`); this module only formats and draws.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    selected: bool = False  # evaluated at each trial's best validation epoch (selection.py)


@dataclass
class Outcome:
    repro: Reproduction
    verdict: Verdict | None
    phases: list[PhaseRun] = field(default_factory=list)
    budget: list[str] = field(default_factory=list)  # budget.describe lines, per dataset

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


def verdict_record(v: Verdict) -> dict[str, Any]:
    """What the next report compares with: status, counts and each claim's outcome by key."""
    return {
        "status": v.status,
        "held": v.held,
        "counted": len(v.counted),
        "claims": {c.key: c.holds for c in v.claims if c.key},
    }


def change_line(v: Verdict, previous: dict[str, Any] | None, reason: str) -> str:
    """One line: unchanged, or "changed from <previous> (<claims that flipped>): because
    <reason>"; empty when there is no previous verdict to compare with."""
    if not previous:
        return ""
    before = f"{previous['status']}, {previous['held']}/{previous['counted']}"
    was = previous.get("claims", {})
    counted = [c for c in v.claims if c.key and c.counted]
    flips = [
        f"{c.key}: {_mark(was[c.key])} → {_mark(c.holds)}"
        for c in counted
        if c.key in was and was[c.key] != c.holds
    ]
    added = [c.key for c in counted if c.key not in was]
    if v.status == previous["status"] and not flips and not added:
        return f"**Unchanged** from the previous report ({before})."
    detail = "; ".join(flips + [f"{k}: new" for k in added])
    return (
        f"**Changed from {before}** ({detail or 'same claims, different counting'}): because "
        f"{reason or 'see the notes'}"
    )


def _mark(h: bool | None) -> str:
    return {True: "yes", False: "no", None: "n/a"}[h]


def section(
    i: int, o: Outcome, fig_dir: Path, md_dir: Path, baseline: dict[str, Any] | None = None
) -> str:
    v = o.verdict
    r = o.repro
    out = [
        f"## {i}. {v.title if v else r.name}\n",
        f"Paper: {r.paper}. Check: `checks/{r.name}.py`.\n",
    ]
    if r.budget_note or o.budget:
        out.append("**Budget.** " + r.budget_note + "\n")
        out += [f"- {line}" for line in o.budget]
        out.append("")
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
    out.append(
        f"**Verdict: {v.status}** ({v.held} of {len(v.counted)} claims hold; each decided by "
        "the one-sided test in its row at α = 0.05).\n"
    )
    base = baseline or {}
    line = change_line(
        v, base.get("verdicts", {}).get(r.name), base.get("changes", {}).get(r.name, "")
    )
    if line:
        out.append(line + "\n")
    out.append("| claim (as tested) | holds | measured | test |\n|---|---|---|---|")
    out += [
        f"| {_cell(c.text)} | {c.mark} | {_cell(c.detail)} | {_cell(c.test)} |" for c in v.claims
    ]
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


def render(
    outcomes: list[Outcome],
    md_path: Path,
    fig_dir: Path,
    command: str,
    baseline: dict[str, Any] | None = None,
) -> Path:
    """Write ``md_path`` and, beside it, the verdicts as JSON (``<stem>.json``)."""
    md_dir = md_path.parent
    total = sum(o.wall_s for o in outcomes if math.isfinite(o.wall_s))
    default = sum(o.wall_s for o in outcomes if o.repro.default and math.isfinite(o.wall_s))
    lines = [
        "# Reproductions of the seed papers at CPU scale\n",
        f"Rendered by `{command}` on {time.strftime('%Y-%m-%d %H:%M')} from the studies in "
        "its storage (each section names the command that reruns it); every verdict below is "
        "computed from the measured numbers by the check named in its section "
        "(`studies/reproductions/checks/`), each claim by a stated one-sided test over "
        "training seeds at α = 0.05 (`checks/stats.py`: Welch's t, one-sample or paired t, "
        "or a bootstrap over seeds for numbers computed from whole curves). A claim that does "
        "not hold at this scale is a valid outcome; the notes say why where the data can "
        "tell. Each section states the steps per trial, the seeds and the evaluation sample "
        "sizes, and what changed since the previous report. Specs and GPU-scale versions: "
        "`studies/reproductions/README.md`.\n",
        f"Wall time of the studies shown: {_minutes(total)}, of which `make reproduce`'s "
        f"(1–5): {_minutes(default)}; 2 CPU cores, no GPU.\n",
        "| # | reproduction | paper reports | we measure | verdict | claims held | wall |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, o in enumerate(outcomes, 1):
        v = o.verdict
        held = "–" if v is None else f"{v.held}/{len(v.counted)}"
        status = "no results" if v is None else v.status
        title = v.title if v else o.repro.name
        paper = _cell(v.paper) if v else o.repro.paper
        ours = _cell(v.headline) if v else "–"
        wall = _minutes(o.wall_s)
        lines.append(f"| {i} | {title} | {paper} | {ours} | {status} | {held} | {wall} |")
    lines.append("")
    for i, o in enumerate(outcomes, 1):
        lines.append(section(i, o, fig_dir, md_dir, baseline))
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text("\n".join(lines), encoding="utf-8")
    records = {o.repro.name: verdict_record(o.verdict) for o in outcomes if o.verdict}
    md_path.with_suffix(".json").write_text(
        json.dumps({"report": md_path.name, "verdicts": records}, indent=2, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    return md_path
