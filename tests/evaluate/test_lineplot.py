"""The σ-versus-epoch plot: drawn with Pillow, without importing matplotlib (issue 4's
evaluation budget), with round ticks that cover the data."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from rdlab.evaluate.lineplot import log_line_plot, log_ticks, nice_ticks


@pytest.mark.parametrize(
    ("lo", "hi", "want"),
    [(0, 30, [0, 10, 20, 30]), (1, 30, [10, 20, 30]), (0.2, 0.9, [0.2, 0.4, 0.6, 0.8])],
)
def test_nice_ticks(lo: float, hi: float, want: list[float]) -> None:
    assert nice_ticks(lo, hi) == pytest.approx(want)


def test_log_ticks_prefer_decades_then_1_2_5() -> None:
    assert log_ticks(-5, 1) == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0])
    assert log_ticks(math.log10(0.04), 0) == pytest.approx([0.05, 0.1, 0.2, 0.5, 1.0])
    narrow = log_ticks(math.log10(0.3), math.log10(0.5))
    assert len(narrow) >= 2 and all(0.3 <= t <= 0.5 for t in narrow)


def test_curve_png_draws_every_series_without_matplotlib(tmp_path: Path) -> None:
    script = f"""
import sys
from pathlib import Path
from rdlab.evaluate.lineplot import log_line_plot
curves = {{"a": ([1, 2, 3], [1.0, 0.5, 0.2]), "b": ([1, 2, 3], [0.8, 0.8, 0.8])}}
log_line_plot(curves, Path({str(tmp_path / "c.png")!r}), title="t", xlabel="epoch", ylabel="σ")
assert "matplotlib" not in sys.modules, "matplotlib was imported"
"""
    subprocess.run([sys.executable, "-c", script], check=True)
    img = Image.open(tmp_path / "c.png").convert("RGB")
    colours = {c for _, c in img.getcolors(maxcolors=1 << 20) or []}
    assert (31, 119, 180) in colours and (255, 127, 14) in colours  # both series drawn


def test_empty_and_non_positive_values_still_draw(tmp_path: Path) -> None:
    path = log_line_plot(
        {"x": ([1.0, 2.0], [0.0, math.nan])}, tmp_path / "e.png", title="", xlabel="", ylabel=""
    )
    assert Image.open(path).size == (400, 256)
