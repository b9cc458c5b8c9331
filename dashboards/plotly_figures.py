"""Plotly renderers for the interactive report: they draw what dashboards.data computed.

Every trace carries ``meta.kind`` ("points", "frontier", "elbo", "sigma") so tests and
scripts can tell the σ-policy point traces from the frontier lines in the rendered page.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from rdlab.dashboards.data import HOVER_COLUMNS, ElboSeries, FrontierLine, RDPlane, SigmaCurve

RATE_TITLE = "rate R = KL(q(z|x) ‖ N(0, I))  [nats / example]"
_HOVER = (
    "<b>trial {trial_id}</b><br>MLflow run {mlflow_run_id}<br>"
    "σ policy {sigma_policy} (σ value {sigma_value})<br>β {beta}<br>"
    "mixture: KL_G {kl_g}, KL_I {kl_i}, L1 {l1}, adv {adversarial}<br>"
)
SIGMA_HOVER = "epoch %{x}, log σ %{y:.3f}<extra></extra>"
# customdata holds HOVER_COLUMNS in order; plotly addresses them by index.
HOVER_TEMPLATE = (
    _HOVER.format(**{name: f"%{{customdata[{i}]}}" for i, name in enumerate(HOVER_COLUMNS)})
    + "rate %{x:.4g}, distortion %{y:.4g} nats<extra></extra>"
)


def _cell(value: object) -> str:
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, float | np.floating):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _customdata(hover: pd.DataFrame) -> np.ndarray:
    # A 2-D string array: plotly validates numpy arrays wholesale, nested lists per element.
    cells = [[_cell(v) for v in hover[c].tolist()] for c in hover.columns]
    return np.array(cells, dtype=str).T if cells and len(hover) else np.empty((0, 0), dtype=str)


_NEUTRAL_DASHES = ("dash", "dashdot", "longdash", "longdashdot")


def _frontier_style(line: FrontierLine, index: int, colors: dict[str, str]) -> dict[str, object]:
    if line.group == "overall":
        return {"color": "#111111", "dash": "dot", "width": 2}
    if line.policy is not None:
        return {"color": colors.get(line.policy, "#333333"), "width": 2.5}
    return {"color": "#333333", "dash": _NEUTRAL_DASHES[index % len(_NEUTRAL_DASHES)], "width": 2}


def rd_plane_figure(rd: RDPlane, colors: dict[str, str]) -> go.Figure:
    """Points coloured by σ policy (one trace each) and one line per group frontier."""
    fig = go.Figure()
    for s in rd.points:
        fig.add_trace(
            go.Scatter(
                x=s.rate,
                y=s.distortion,
                mode="markers",
                name=s.name,
                legendgroup=s.name,
                marker={"color": colors.get(s.name, "#444444"), "size": 7, "opacity": 0.75},
                customdata=_customdata(s.hover),
                hovertemplate=HOVER_TEMPLATE,
                meta={"kind": "points", "sigma_policy": s.name, "n_total": s.n_total},
            )
        )
    for i, line in enumerate(rd.frontiers):
        fig.add_trace(
            go.Scatter(
                x=line.rate,
                y=line.distortion,
                mode="lines",
                name=f"frontier · {line.group}",
                line=_frontier_style(line, i, colors),
                hoverinfo="skip",
                meta={"kind": "frontier", "group": line.group},
            )
        )
    fig.update_layout(
        template="plotly_white",
        xaxis_title=RATE_TITLE,
        yaxis_title=f"{rd.distortion}  [nats / example]",
        legend_title_text="σ policy",
        margin={"l": 70, "r": 20, "t": 30, "b": 60},
    )
    return fig


def elbo_figure(series: list[ElboSeries], colors: dict[str, str]) -> go.Figure:
    """ELBO against β (log axis) per σ policy; error bars = std over trials at that β."""
    fig = go.Figure()
    for s in series:
        fig.add_trace(
            go.Scatter(
                x=s.beta,
                y=s.mean,
                error_y={"type": "data", "array": np.nan_to_num(s.std), "visible": True},
                mode="lines+markers",
                name=s.name,
                line={"color": colors.get(s.name, "#444444")},
                meta={"kind": "elbo", "sigma_policy": s.name},
            )
        )
    fig.update_layout(
        template="plotly_white",
        xaxis={"title": "β (KL weight)", "type": "log"},
        yaxis_title="ELBO = −(nll + R)  [nats / example]",
        legend_title_text="σ policy",
        margin={"l": 70, "r": 20, "t": 30, "b": 60},
    )
    return fig


def sigma_figure(curves: list[SigmaCurve], colors: dict[str, str]) -> go.Figure:
    """log σ_x against epoch, one line per trial, coloured by σ policy (legend per policy)."""
    fig = go.Figure()
    seen: set[str] = set()
    for c in curves:
        fig.add_trace(
            go.Scatter(
                x=c.epoch,
                y=c.log_sigma_x,
                mode="lines",
                name=c.policy,
                legendgroup=c.policy,
                showlegend=c.policy not in seen,
                line={"color": colors.get(c.policy, "#444444"), "width": 1.5},
                hovertemplate=f"trial {c.trial_id}<br>ep.  %{{x}}, log σ %{{y:.3f}}<extra></extra>",
                meta={"kind": "sigma", "trial_id": c.trial_id},
            )
        )
        seen.add(c.policy)
    fig.update_layout(
        template="plotly_white",
        xaxis_title="epoch",
        yaxis_title="mean log σ_x",
        legend_title_text="σ policy",
        margin={"l": 70, "r": 20, "t": 30, "b": 60},
    )
    return fig
