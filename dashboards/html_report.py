"""Assemble the self-contained ``report.html``: plotly.js inlined once, no network access.

Everything the page needs is in the file: plotly.js in a <script> in the head, figures as
inline JSON, sample grids as base64 data URIs, and a data-URI favicon so the browser does not
even ask for /favicon.ico. The RD plane's div id is stable (``rd-plane``) for tests/scripts.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from rdlab.dashboards.data import SampleImage

RD_PLANE_ID = "rd-plane"
_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table.rd { border-collapse: collapse; font-size: 0.85em; }
table.rd th, table.rd td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }
.notes li { color: #7a4b00; } .plot { height: 560px; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.grid figure { margin: 0; } .grid img { max-width: 280px; image-rendering: pixelated; }
.grid figcaption { font-size: 0.8em; color: #555; }
"""


@dataclass(frozen=True)
class Section:
    """One titled block of the page; ``body`` is already-safe HTML."""

    heading: str
    body: str


def figure_section(heading: str, fig: go.Figure, div_id: str, caption: str = "") -> Section:
    div = fig.to_html(
        full_html=False,
        include_plotlyjs=False,  # inlined once in <head> instead of once per figure
        div_id=div_id,
        default_height="560px",
        config={"displaylogo": False, "responsive": True},
    )
    text = f"<p>{html.escape(caption)}</p>" if caption else ""
    return Section(heading, f'{text}<div class="plot">{div}</div>')


def table_section(
    heading: str, frame: pd.DataFrame, caption: str = "", index: bool = True
) -> Section:
    if frame.empty:
        return Section(heading, "<p>Nothing to compare.</p>")
    body = frame.to_html(
        classes="rd", border=0, na_rep="–", float_format=lambda v: f"{v:.4g}", index=index
    )
    text = f"<p>{html.escape(caption)}</p>" if caption else ""
    return Section(heading, text + body)


def images_section(heading: str, images: Sequence[SampleImage]) -> Section:
    figures = []
    for img in images:
        data = base64.b64encode(img.path.read_bytes()).decode("ascii")
        figures.append(
            f'<figure><img alt="{html.escape(img.caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(img.caption)}</figcaption></figure>"
        )
    return Section(heading, f'<div class="grid">{"".join(figures)}</div>')


def render_page(title: str, notes: Sequence[str], sections: Sequence[Section]) -> str:
    """The whole HTML document as a string."""
    note_items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    blocks = "".join(
        f"<section><h2>{html.escape(s.heading)}</h2>{s.body}</section>" for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="icon" href="data:,">'
        f"<style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<ul class="notes">{note_items}</ul>{blocks}</body></html>\n'
    )
