"""Assemble the self-contained ``report.html``: plotly.js inlined once, no network access.

Everything the page needs is in the file: plotly.js in a <script> in the head, figures as
inline JSON, the sample gallery's pictures as base64 data URIs, and a data-URI favicon so
the browser does not even ask for /favicon.ico. The RD plane's div id is stable
(``rd-plane``) for tests/scripts, and the page says when it is drawn (``_READY_JS``).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from rdlab.dashboards.gallery import LoadedGallery

RD_PLANE_ID = "rd-plane"
_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table.rd { border-collapse: collapse; font-size: 0.85em; }
table.rd th, table.rd td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }
.notes li { color: #7a4b00; } .plot { height: 560px; }
.gallery-wrap { overflow-x: auto; }
table.gallery { border-collapse: collapse; font-size: 0.8em; }
table.gallery th, table.gallery td { padding: 4px 6px; border-bottom: 1px solid #eee;
  vertical-align: middle; text-align: center; }
table.gallery th.label { text-align: left; font-weight: normal; min-width: 11em; }
table.gallery img { object-fit: contain; image-rendering: pixelated; display: block; }
"""


# Marks the page ready once it has loaded (pictures decoded) and every Plotly figure has
# been laid out: <body data-ready="1"> and a "rdlab:ready" event, for scripts and tests
# that screenshot or inspect the report and must not guess how long drawing takes.
_READY_JS = """
window.addEventListener("load", function () {
  function drawn() {
    var divs = document.querySelectorAll(".plotly-graph-div");
    for (var i = 0; i < divs.length; i++) { if (!divs[i]._fullLayout) return false; }
    return true;
  }
  (function check() {
    if (!drawn()) { requestAnimationFrame(check); return; }
    document.body.dataset.ready = "1";
    document.dispatchEvent(new Event("rdlab:ready"));
  })();
});
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


def gallery_section(heading: str, gallery: LoadedGallery, caption: str = "") -> Section:
    """One table: a row per trial (its label first), the same columns in the same order,
    an empty cell where the trial has no such picture. Every picture of a column gets the
    column's box (``object-fit: contain``), so pictures of one kind share a size."""
    cols = gallery.table.columns
    head = "".join(
        f'<th data-kind="{html.escape(c.kind)}">{html.escape(c.title)}</th>' for c in cols
    )
    rows = []
    for row, pictures in zip(gallery.table.rows, gallery.pictures, strict=True):
        cells = []
        for col, pic, (w, h) in zip(cols, pictures, gallery.boxes, strict=True):
            kind = html.escape(col.kind)
            if pic is None:
                # Sized like a full cell, so the column keeps its place in every row.
                cells.append(
                    f'<td class="cell empty" data-kind="{kind}" style="min-width:{w}px"></td>'
                )
                continue
            data = base64.b64encode(pic.png).decode("ascii")
            alt = html.escape(f"{col.title}, trial {row.trial_id}")
            cells.append(
                f'<td class="cell" data-kind="{kind}"><img alt="{alt}" width="{w}" '
                f'height="{h}" style="width:{w}px;height:{h}px" '
                f'src="data:image/png;base64,{data}"></td>'
            )
        label = html.escape(row.label)
        rows.append(
            f'<tr data-trial="{html.escape(row.trial_id)}"><th scope="row" class="label">'
            f"<b>{html.escape(row.trial_id)}</b><br>{label}</th>{''.join(cells)}</tr>"
        )
    text = f"<p>{html.escape(caption)}</p>" if caption else ""
    table = (
        f'<table class="gallery"><thead><tr><th>trial</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return Section(heading, f'{text}<div class="gallery-wrap">{table}</div>')


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
        f'<ul class="notes">{note_items}</ul>{blocks}<script>{_READY_JS}</script>'
        "</body></html>\n"
    )
