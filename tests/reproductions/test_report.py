"""The renderer: a verdict becomes a Markdown section with its claims, tables and a PNG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from studies.reproductions.catalog import BY_NAME
from studies.reproductions.checks.common import Claim, Plot, Series, Verdict
from studies.reproductions.report import Outcome, PhaseRun, md_table, render, render_summary


def _verdict() -> Verdict:
    return Verdict(
        name="hypersphere",
        title="A title",
        table=pd.DataFrame({"a": [1.5, float("nan")], "b": ["x|y", "z"]}),
        claims=(Claim("one", True, "1 > 0"), Claim("two", False, "0 < 1")),
        notes=("a note",),
        plots=(Plot("p", "x", "y", (Series("s", (1.0, 2.0), (3.0, 4.0), labels=("a", "b")),)),),
        paper="paper says",
        headline="we measure",
    )


def test_md_table_escapes_pipes_and_formats_nan() -> None:
    text = md_table(pd.DataFrame({"a": [1.5, float("nan")], "b": ["x|y", "z"]}))
    assert "x\\|y" in text and "n/a" in text and text.count("\n") == 4


def test_render_writes_markdown_and_plots(tmp_path: Path) -> None:
    o = Outcome(
        BY_NAME["hypersphere"],
        _verdict(),
        [PhaseRun("repro-004-hypersphere", "hypersphere.yaml", "ran", 90.0, 24, 480)],
    )
    md = render([o], tmp_path / "r.md", tmp_path / "figs", "cmd")
    text = md.read_text()
    assert "partially reproduced" in text and "1 of 2 claims" in text
    assert "24 trials (480 trial-epochs)" in text and "a note" in text
    assert (tmp_path / "figs" / "hypersphere_1.png").stat().st_size > 1000
    assert "](figs/hypersphere_1.png)" in text
    summary = render_summary([o], tmp_path / "s.md", "r.md").read_text()
    assert "paper says" in summary and "we measure" in summary
