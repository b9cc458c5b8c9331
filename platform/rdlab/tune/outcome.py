"""What one trial left behind, read back from its last Tune result (no Ray import here).

The trainable's final report carries the whole outcome (status, final metrics per split,
history, run id, artifacts), so the driver can write RD rows from the last result alone —
when a trial completes, when it errors, and again from the ResultGrid at the end.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

STATUS_FAILED, STATUS_STOPPED = "failed", "stopped_early"


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


def overrides_of(config: dict[str, Any]) -> dict[str, Any]:
    """The sampled parameters of a Tune trial config (grid/random points are nested)."""
    out = {k: v for k, v in config.items() if k != "point"}
    out.update(config.get("point") or {})
    return out


def outcome_from_result(
    trial_id: str, config: dict[str, Any], last: dict[str, Any] | None, error: str | None
) -> TrialOutcome:
    last = last or {}
    status = last.get("trial_status")
    if error is not None:
        status = STATUS_FAILED
    elif status is None:
        status = STATUS_STOPPED  # stopped by the scheduler before its final report
    final: dict[str, dict[str, float]] = {}
    if "final_json" in last:
        final = json.loads(last["final_json"])
    elif status == STATUS_STOPPED:
        m = {k[4:]: v for k, v in last.items() if k.startswith("val/")}
        final = {"val": m} if m else {}
    history = json.loads(last["history_json"]) if "history_json" in last else []
    return TrialOutcome(
        trial_id=trial_id,
        overrides=overrides_of(config),
        status=str(status),
        final=final,
        history=history,
        run_id=last.get("mlflow_run_id"),
        wall_s=float(last.get("trial_wall_s", math.nan)),
        artifacts=json.loads(last.get("artifacts_json", "[]")),
        error=error,
    )


def outcomes_from_result(
    trial_id: str, config: dict[str, Any], last: dict[str, Any] | None, error: str | None
) -> list[TrialOutcome]:
    """One outcome per trial: a packed Tune trial (``config["pack"]``, rdlab.tune.packed)
    expands into its members ``<trial_id>-m<k>``, from ``members_json`` when it finished,
    else each with the pack's status (failed, stopped) and no metrics."""
    members = (config or {}).get("pack")
    if not members:
        return [outcome_from_result(trial_id, config, last, error)]
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
            )
            for m in json.loads(last["members_json"])
        ]
    pack = outcome_from_result(trial_id, {}, last, error)
    return [
        replace(pack, trial_id=f"{trial_id}-m{k}", overrides=dict(o), final={}, history=[])
        for k, o in enumerate(members)
    ]
