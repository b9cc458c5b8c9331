"""rdlab's dashboard (installed as ``rdlab.dashboards``): compute separate from drawing.

``data`` holds pure functions returning what each plot shows (tested without drawing);
``plotly_figures`` and ``html_report`` render the self-contained report.html (plotly.js
inlined, no network); ``png`` renders the static PNGs with matplotlib's Agg canvas.
Nothing is imported here so that ``import rdlab.dashboards.data`` stays light.
"""
