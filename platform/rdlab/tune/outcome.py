"""What one trial left behind, read back from its last Tune result (no Ray import here).

The trainable's final report carries every member's outcome (status, final metrics per
split, history, run id, artifacts) in ``members_json``, so the driver can write RD rows
from the last result alone — when a trial completes, when it errors, and again from the
ResultGrid at the end. A Tune trial that never got to its final report (an error, a stop by
ASHA) expands into its members with the trial's status and no final metrics.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

STATUS_FAILED, STATUS_STOPPED = "failed", "stopped_early"
MEMBER_SEP = "-m"


@dataclass
class TrialOutcome:
    trial_id: str
    overrides: dict[str, Any]
    status: str
    final: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    run_id: str | None = None
    wall_s: float = math.nan
    artifacts: list[str] = field(default_factory=list)
    error: str | None = None
    diverged_epoch: int | None = None
    frechet_classifier: str | None = None
    code_version: str | None = None

    @property
    def failure(self) -> str | None:
        """Why a failed trial failed: ``timeout``, ``no_space`` or ``error``; else None."""
        return failure_kind(self.error) if self.status == STATUS_FAILED else None


TIMEOUT_MARK = "TrialTimeout"


def failure_kind(error: str | None) -> str:
    text = error or ""
    if TIMEOUT_MARK in text:
        return "timeout"
    if "No space left on device" in text or "database or disk is full" in text:
        return "no_space"
    return "error"


def overrides_of(config: dict[str, Any]) -> dict[str, Any]:
    """The sampled parameters of a Tune trial config (grid/random points are nested)."""
    out = {k: v for k, v in config.items() if k not in ("point", "pack")}
    out.update(config.get("point") or {})
    return out


def _points(config: dict[str, Any]) -> list[dict[str, Any]]:
    members = (config or {}).get("pack")
    return [dict(p) for p in members] if members else [overrides_of(config or {})]


def outcomes_from_result(
    trial_id: str, config: dict[str, Any], last: dict[str, Any] | None, error: str | None
) -> list[TrialOutcome]:
    """One outcome per member of the Tune trial ``trial_id`` (a pack's members are
    ``<trial_id>-m<k>``; alone, the member is the trial)."""
    last = last or {}
    if error is None and "members_json" in last:
        return [
            TrialOutcome(
                trial_id=m["trial_id"],
                overrides=dict(m["overrides"]),
                status=str(m["status"]),
                final=m["final"],
                history=m["history"],
                run_id=m.get("run_id"),
                wall_s=float(m.get("wall_s", math.nan)),
                artifacts=list(m.get("artifacts", [])),
                diverged_epoch=m.get("diverged_epoch"),
                frechet_classifier=m.get("frechet_classifier"),
                code_version=m.get("code_version"),
            )
            for m in json.loads(last["members_json"])
        ]
    points = _points(config)
    status = STATUS_FAILED if error is not None else STATUS_STOPPED
    final: dict[str, dict[str, float]] = {}
    if status == STATUS_STOPPED and len(points) == 1:  # ASHA stopped it: its last val
        m = {k[4:]: v for k, v in last.items() if k.startswith("val/")}
        final = {"val": m} if m else {}
    ids = (
        [trial_id]
        if len(points) == 1
        else [f"{trial_id}{MEMBER_SEP}{k}" for k in range(len(points))]
    )
    run_id = last.get("mlflow_run_id") or None
    return [
        TrialOutcome(
            trial_id=tid,
            overrides=p,
            status=status,
            final=final,
            run_id=run_id if len(points) == 1 else None,
            wall_s=float(last.get("trial_wall_s", math.nan)),
            error=error,
        )
        for tid, p in zip(ids, points, strict=True)
    ]
