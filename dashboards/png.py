"""Static PNGs of the main plots (matplotlib, Agg) for MLflow artifacts and the README;
each function returns the PNG's bytes, which the report writes through its Storage.

Uses ``matplotlib.figure.Figure`` directly rather than pyplot: no global state, no GUI
backend, safe from a Ray worker thread.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from rdlab.dashboards.data import ElboSeries, FrontierLine, RDPlane, SigmaCurve

_SIZE = (7.0, 4.6)
_DPI = 120


def _save(fig: Figure) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


_NEUTRAL = ("--", "-.", (0, (5, 1)), (0, (3, 1, 1, 1)))


def _line_style(line: FrontierLine, index: int, colors: dict[str, str]) -> dict[str, Any]:
    if line.group == "overall":
        return {"color": "#111111", "linestyle": ":", "linewidth": 1.8}
    if line.policy is not None:
        return {"color": colors.get(line.policy, "#333333"), "linewidth": 1.8}
    return {"color": "#333333", "linestyle": _NEUTRAL[index % len(_NEUTRAL)], "linewidth": 1.5}


def _line_label(line: FrontierLine) -> str | None:
    # Policy-coloured lines are explained by the point legend; the others need their own.
    if line.group == "overall":
        return "overall frontier"
    return None if line.policy is not None else f"frontier · {line.group}"


def rd_plane_png(rd: RDPlane, colors: dict[str, str]) -> bytes:
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    for s in rd.points:
        ax.scatter(s.rate, s.distortion, s=12, alpha=0.6, color=colors.get(s.name), label=s.name)
    for i, line in enumerate(rd.frontiers):
        ax.plot(line.rate, line.distortion, label=_line_label(line), **_line_style(line, i, colors))
    ax.set_xlabel("rate R [nats / example]")
    ax.set_ylabel(f"{rd.distortion} [nats / example]")
    ax.set_title("Rate–distortion plane" + (" (sampled)" if rd.sampled else ""))
    ax.grid(alpha=0.3)
    ax.legend(title="σ policy", fontsize=8, loc="upper right")
    return _save(fig)


def elbo_png(series: list[ElboSeries], colors: dict[str, str]) -> bytes:
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    for s in series:
        ax.errorbar(
            s.beta,
            s.mean,
            yerr=np.nan_to_num(s.std),
            marker="o",
            ms=4,
            capsize=2,
            color=colors.get(s.name),
            label=s.name,
        )
    ax.set_xscale("log")
    ax.set_xlabel("β (KL weight)")
    ax.set_ylabel("ELBO [nats / example]")
    ax.set_title("ELBO vs β")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(title="σ policy", fontsize=8, loc="upper right")
    return _save(fig)


def sigma_png(curves: list[SigmaCurve], colors: dict[str, str]) -> bytes:
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    seen: set[str] = set()
    for c in curves:
        label = None if c.policy in seen else c.policy
        seen.add(c.policy)
        ax.plot(c.epoch, c.log_sigma_x, color=colors.get(c.policy), linewidth=1.2, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean log σ_x")
    ax.set_title("Decoder σ during training" if curves else "No per-epoch rows")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(title="σ policy", fontsize=8, loc="upper right")
    return _save(fig)
