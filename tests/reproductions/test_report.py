"""The renderer: a verdict becomes a Markdown section with its claims, tables and a PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from studies.reproductions.catalog import BY_NAME
from studies.reproductions.checks.common import Claim, Plot, Series, Verdict
from studies.reproductions.report import Outcome, PhaseRun, change_line, md_table, render


def _verdict(second: bool | None = False) -> Verdict:
    return Verdict(
        name="hypersphere",
        title="A title",
        table=pd.DataFrame({"a": [1.5, float("nan")], "b": ["x|y", "z"]}),
        claims=(
            Claim("one", True, "1 > 0", "Welch's t: p = 0.01", "k1"),
            Claim("two", second, "0 < 1", "Welch's t: p = 0.4", "k2"),
            Claim("three", True, "by construction", "none", "k3", counted=False),
        ),
        notes=("a note",),
        plots=(Plot("p", "x", "y", (Series("s", (1.0, 2.0), (3.0, 4.0), labels=("a", "b")),)),),
        paper="paper says",
        headline="we measure",
    )


def test_md_table_escapes_pipes_and_formats_nan() -> None:
    text = md_table(pd.DataFrame({"a": [1.5, float("nan")], "b": ["x|y", "z"]}))
    assert "x\\|y" in text and "n/a" in text and text.count("\n") == 4


BASELINE: dict[str, Any] = {
    "verdicts": {
        "hypersphere": {
            "status": "reproduced",
            "held": 2,
            "counted": 2,
            "claims": {"k1": True, "k2": True},
        }
    },
    "changes": {"hypersphere": "10⁴ steps and tests over seeds."},
}


def test_render_writes_markdown_json_and_plots(tmp_path: Path) -> None:
    o = Outcome(
        BY_NAME["hypersphere"],
        _verdict(),
        [PhaseRun("repro-004-hypersphere", "hypersphere.yaml", "ran", 90.0, 24, 480)],
        ["hypersphere — steps per trial: 10,000 (epochs × 500 batches); 3 seeds (0, 1, 2)"],
    )
    md = render([o], tmp_path / "r.md", tmp_path / "figs", "cmd", BASELINE)
    text = md.read_text()
    assert "partially reproduced" in text and "1 of 2 claims" in text  # k3 is not counted
    assert "yes (not counted)" in text and "Welch's t: p = 0.01" in text
    assert "24 trials (480 trial-epochs)" in text and "a note" in text
    assert "steps per trial: 10,000" in text and "**Budget.**" in text
    assert "**Changed from reproduced, 2/2** (k2: yes → no): because 10⁴ steps" in text
    assert "paper says" in text and "we measure" in text  # the summary table
    assert (tmp_path / "figs" / "hypersphere_1.png").stat().st_size > 1000
    assert "](figs/hypersphere_1.png)" in text
    record = json.loads((tmp_path / "r.json").read_text())["verdicts"]["hypersphere"]
    assert record == {
        "status": "partially reproduced",
        "held": 1,
        "counted": 2,
        "claims": {"k1": True, "k2": False, "k3": True},
    }


def test_change_line_unchanged_changed_and_without_a_baseline() -> None:
    previous = BASELINE["verdicts"]["hypersphere"]
    same = change_line(_verdict(second=True), previous, "why")
    assert same.startswith("**Unchanged**") and "reproduced, 2/2" in same
    assert "because why" in change_line(_verdict(second=None), previous, "why")
    assert "k2: yes → n/a" in change_line(_verdict(second=None), previous, "why")
    assert change_line(_verdict(), None, "why") == ""
