"""A small line plot drawn with Pillow: the per-trial σ-versus-epoch curve.

Every trial draws it, and matplotlib's first import costs ~0.8 s, about a third of a digits
trial's whole evaluation in a fresh worker (issue 4's 20% budget). Pillow is already loaded
for the image grids. The text uses matplotlib's DejaVu Sans file (σ and ‖ need more than
Pillow's built-in font) found on disk, without importing matplotlib.
"""

from __future__ import annotations

import importlib.util
import math
from functools import cache
from pathlib import Path
from typing import Any

# matplotlib's tab10, so these curves match the study report's colours.
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
SIZE = (400, 256)
MARGIN = {"left": 62, "right": 12, "top": 26, "bottom": 40}


@cache
def font(size: int) -> Any:
    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        ttf = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if ttf.is_file():
            return ImageFont.truetype(str(ttf), size)
    return ImageFont.load_default(size)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round values (1, 2, 5 × 10^k steps) covering [lo, hi]."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(1, n - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(llo: float, lhi: float) -> list[float]:
    """Round values in [10^llo, 10^hi]: decades, or 1-2-5 steps over a narrow range, or
    plain round steps when not even those fall inside."""
    lo, hi = 10**llo, 10**lhi
    for mantissas in ((1.0,), (1.0, 2.0, 5.0)):
        ticks = [
            m * 10.0**k
            for k in range(math.floor(llo), math.ceil(lhi) + 1)
            for m in mantissas
            if lo <= m * 10.0**k <= hi
        ]
        if len(ticks) >= 3:
            return ticks
    return [t for t in nice_ticks(lo, hi, 4) if t > 0]


def _label(v: float) -> str:
    return f"{v:.3g}"


def log_line_plot(
    curves: dict[str, tuple[list[float], list[float]]],
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """Curves (label → (x, y)) on a log-y axis, with markers, ticks and a legend, as PNG."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(img)
    x0, y0 = MARGIN["left"], MARGIN["top"]
    x1, y1 = SIZE[0] - MARGIN["right"], SIZE[1] - MARGIN["bottom"]
    pts = [(x, y) for xs, ys in curves.values() for x, y in zip(xs, ys, strict=True)]
    pts = [(x, y) for x, y in pts if math.isfinite(x) and math.isfinite(y) and y > 0]
    if not pts:
        pts = [(0.0, 1.0)]
    xlo, xhi = min(p[0] for p in pts), max(p[0] for p in pts)
    llo, lhi = (math.log10(min(p[1] for p in pts)), math.log10(max(p[1] for p in pts)))
    if lhi - llo < 0.1:  # a nearly flat σ still gets a readable axis
        llo, lhi = llo - 0.05, lhi + 0.05
    pad = 0.05 * (lhi - llo)
    llo, lhi = llo - pad, lhi + pad
    xhi = xhi if xhi > xlo else xlo + 1

    def px(x: float) -> float:
        return x0 + (x - xlo) / (xhi - xlo) * (x1 - x0)

    def py(y: float) -> float:
        return y1 - (math.log10(y) - llo) / (lhi - llo) * (y1 - y0)

    small, text = font(10), font(11)
    draw.rectangle((x0, y0, x1, y1), outline="black")
    for t in nice_ticks(xlo, xhi):
        draw.line((px(t), y1, px(t), y1 + 4), fill="black")
        draw.text((px(t), y1 + 6), _label(t), fill="black", font=small, anchor="mt")
    for t in log_ticks(llo, lhi):
        y = py(t)
        draw.line((x0 - 4, y, x0, y), fill="black")
        draw.line((x0 + 1, y, x1 - 1, y), fill="#e6e6e6")
        draw.text((x0 - 6, y), _label(t), fill="black", font=small, anchor="rm")
    draw.text(((x0 + x1) / 2, SIZE[1] - 4), xlabel, fill="black", font=text, anchor="mb")
    draw.text((4, (y0 + y1) / 2), ylabel, fill="black", font=text, anchor="lm")
    draw.text((SIZE[0] / 2, 4), title, fill="black", font=text, anchor="mt")
    for i, (label, (xs, ys)) in enumerate(curves.items()):
        colour = COLOURS[i % len(COLOURS)]
        line = [(px(x), py(y)) for x, y in zip(xs, ys, strict=True) if y > 0 and math.isfinite(y)]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        for cx, cy in line:
            draw.ellipse((cx - 2, cy - 2, cx + 2, cy + 2), fill=colour)
        ly = y0 + 6 + 14 * i
        draw.line((x1 - 150, ly, x1 - 132, ly), fill=colour, width=2)
        draw.text((x1 - 128, ly), label, fill="black", font=small, anchor="lm")
    img.save(path)
    return path
