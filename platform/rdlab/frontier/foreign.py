"""RD tables written by other tools (issue 16): a trial id, a rate and a distortion suffice.

A Parquet or CSV table without rdlab's schema version (pandas' ``to_parquet``, a
spreadsheet export) is read by name: the columns rdlab knows are coerced to its types,
absent ones are filled (``study`` from the file's name, ``status`` ok, ``split`` val,
``epoch`` null so every row is a final row, the rest null) and named in one warning;
columns rdlab does not know are ignored. It is refused only when a required column is
missing or a value does not convert: the message names the column. (A table whose schema
version is present but unknown is refused before this, by :mod:`rdlab.frontier.io`.)
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rdlab.frontier import schema as S
from rdlab.frontier.io import RDPointsError, to_table

REQUIRED = ("trial_id", "rate")
_RECOMPUTED = tuple(name for name, _ in S.FRONTIER_FIELDS)  # the analysis adds these again


@dataclass(frozen=True)
class Conformed:
    """A foreign table as RD points, with what it lacked and what was ignored."""

    points: pd.DataFrame
    lacking: tuple[str, ...]
    ignored: tuple[str, ...]
    study: str

    def warning(self, where: str) -> str | None:
        """The one warning line for this table (None when nothing was lacking)."""
        if not self.lacking and not self.ignored:
            return None
        parts = []
        if self.lacking:
            assumed = {"study": repr(self.study), "status": "'ok'", "split": "'val'"}
            said = ", ".join(f"{c}={assumed[c]}" for c in assumed if c in self.lacking)
            parts.append(
                f"lacks optional column(s) {', '.join(self.lacking)}"
                + (f" (assumed {said}; the others empty)" if said else " (left empty)")
            )
        if self.ignored:
            parts.append(f"ignored unknown column(s) {', '.join(self.ignored)}")
        return f"{where}: not written by rdlab; " + "; ".join(parts)


def conform(frame: pd.DataFrame, where: str, study: str) -> Conformed:
    """``frame`` as RD points; RDPointsError naming the column if it cannot be."""
    columns = [str(c) for c in frame.columns]
    for name in REQUIRED:
        if name not in columns:
            raise RDPointsError(where, f"missing required column {name!r} ({_need()})")
    if not any(d in columns for d in S.DISTORTIONS):
        raise RDPointsError(where, f"missing a distortion column ({_need()})")
    known = [c for c in columns if c in S.COLUMNS]
    ignored = tuple(c for c in columns if c not in S.COLUMNS and c not in _RECOMPUTED)
    out = frame[known].copy()
    # Ids are often integers in other tools' tables; rdlab's are strings.
    out["trial_id"] = out["trial_id"].map(lambda v: v if pd.isna(v) else str(v))
    defaults = {"study": study, "status": "ok", "split": "val"}
    for name, value in defaults.items():
        if name not in out.columns:
            out[name] = value
    try:
        table = to_table(out)
    except ValueError as err:
        raise RDPointsError(where, str(err)) from None
    lacking = tuple(c for c in S.COLUMNS if c not in columns)
    return Conformed(table.to_pandas(), lacking, ignored, study)


def _need() -> str:
    return f"a table needs trial_id, rate and one of {', '.join(S.DISTORTIONS)}"
