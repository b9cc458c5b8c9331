"""Only final, ok rows of one split enter a frontier, and exclusions are reported."""

from __future__ import annotations

import pandas as pd
from rdlab.frontier.select import final_points


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial_id": ["a", "a", "b", "c", "d", "e", "f"],
            "status": ["ok", "ok", "stopped_early", "diverged", "failed", "ok", "ok"],
            "split": ["val", "val", "val", "val", "val", "train", "val"],
            "epoch": [None, 3, None, None, None, None, None],
        }
    ).astype({"epoch": "Int64"})


def test_defaults_keep_final_ok_rows_of_val() -> None:
    sel = final_points(table())
    assert sel.points["trial_id"].tolist() == ["a", "f"]
    assert sel.notes == (
        "excluded 1 stopped_early, 1 diverged, 1 failed row(s)"
        " (--include-stopped-early keeps stopped_early)",
    )


def test_include_stopped_early_says_so() -> None:
    sel = final_points(table(), include_stopped_early=True)
    assert sel.points["trial_id"].tolist() == ["a", "b", "f"]
    assert sel.notes == (
        "excluded 1 diverged, 1 failed row(s)",
        "included 1 stopped_early row(s)",
    )


def test_other_split() -> None:
    sel = final_points(table(), split="train")
    assert sel.points["trial_id"].tolist() == ["e"] and sel.notes == ()
