"""Packed trials under Ray Tune (spec ``pack: K``, issue 8): one Tune trial trains up to K
grid/random points that share a model shape as one batched computation
(:mod:`rdlab.train.packed`), and each point stays its own trial everywhere a user looks.

- The param space becomes ``{"pack": grid_search([[point, …], …])}``: points grouped by
  :func:`rdlab.train.packed.pack_key` (only ``objective.*`` and ``train.seed`` may differ),
  each group cut into near-equal packs of at most K.
- Member k of the Tune trial ``s0003`` is trial ``s0003-m<k>``: its own MLflow child run
  (its own :class:`rdlab.track.TrialTracker`), its own checkpoint folder, its own Parquet
  rows — the final report carries every member's outcome in ``members_json``, which
  :func:`rdlab.tune.outcome.outcomes_from_result` expands.
- Per-epoch Tune reports carry member 0's metrics (Tune needs one set of numbers per
  report) and the pack's checkpoint, a folder of the members' checkpoints.

Optuna is refused with ``pack > 1`` at validation (``rdlab.study.spec``): it proposes one
trial at a time from the results so far, so there is no batch of proposals to pack.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from rdlab.config import trial_config
from rdlab.study.spec import StudySpec
from rdlab.train.packed import PackedTrainer, pack_key
from rdlab.train.trainer import EpochReport, TrialResult
from rdlab.tune.trainable import StudyContext, report_final, resolve, trial_dir

MEMBER_SEP = "-m"


def member_id(trial_id: str, k: int) -> str:
    return f"{trial_id}{MEMBER_SEP}{k}"


def pack_points(spec: StudySpec, points: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Points grouped by pack key (first-seen order), each group cut into near-equal packs
    of at most ``spec.model.pack`` (10 points, pack 8 → 5 + 5, not 8 + 2)."""
    size = spec.model.pack
    groups: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        groups.setdefault(pack_key(trial_config(resolve(spec.base, p))), []).append(p)
    packs = []
    for members in groups.values():
        n = math.ceil(len(members) / size)
        step = math.ceil(len(members) / n)
        packs += [members[i : i + step] for i in range(0, len(members), step)]
    return packs


def packed_space(spec: StudySpec, space: dict[str, Any]) -> dict[str, Any]:
    """``{"point": grid_search(points)}`` → ``{"pack": grid_search(packs)}``."""
    from ray import tune

    points = space["point"]["grid_search"]
    return {"pack": tune.grid_search(pack_points(spec, points))}


class PackReporter:
    """Pack-level callback: one Tune report per epoch, and the members' outcomes at the end."""

    def __init__(
        self, tune: Any, trial_id: str, members: list[dict[str, Any]], work: Path | None = None
    ) -> None:
        self.tune = tune
        self.trial_id = trial_id
        self.members = members
        self.work = work  # where the final report is recorded (trainable.report_final)

    def on_epoch_end(
        self, pack: PackedTrainer, epoch: int, reports: list[EpochReport | None], ckpt: Any
    ) -> None:
        first = next((r for r in reports if r is not None), None)
        checkpoint = None if ckpt is None else self.tune.Checkpoint.from_directory(str(ckpt))
        metrics = {
            **(first.metrics if first else {"epoch": float(epoch)}),
            "pack_size": len(self.members),
            "pack_active": sum(r is not None for r in reports),
        }
        self.tune.report(metrics, checkpoint=checkpoint)

    def on_end(self, pack: PackedTrainer, results: list[TrialResult]) -> None:
        outcomes = []
        for k, (m, res) in enumerate(zip(pack.members, results, strict=True)):
            outcomes.append(
                {
                    "trial_id": member_id(self.trial_id, k),
                    "overrides": self.members[k],
                    "status": res.status,
                    "final": res.final,
                    "history": res.history,
                    "run_id": m.extra_state.get("mlflow_run_id"),
                    "wall_s": res.wall_s,
                    "artifacts": [f"m{k}/{a}" for a in m.extra_state.get("artifacts", [])],
                    "diverged_epoch": res.diverged_epoch,
                }
            )
        last = results[0].history[-1] if results[0].history else {}
        metrics = {
            **last,
            "trial_status": "ok",
            "trial_wall_s": pack.wall_s,
            "epochs_done": pack.epoch,
            "pack_size": len(self.members),
            "members_json": json.dumps(outcomes),
        }
        report_final(self.tune, metrics, self.work)


def run_packed_trial(config: dict[str, Any], ctx: StudyContext) -> None:
    """The Tune trainable for ``{"pack": [overrides, …]}``; resumes from Tune's checkpoint."""
    import torch
    from ray import tune

    torch.set_num_threads(max(1, ctx.threads))
    members: list[dict[str, Any]] = list(config["pack"])
    cfgs = [trial_config(resolve(ctx.base, o)) for o in members]
    tctx = tune.get_context()
    trial_id = tctx.get_trial_name()
    out_dir = Path(tctx.get_trial_dir() or tempfile.mkdtemp(prefix="rdlab-pack-"))
    member_cbs: list[list[Any]] = [[] for _ in cfgs]
    if ctx.tracking_uri and ctx.experiment_id and ctx.parent_run_id:
        from rdlab.track import TrialTracker

        for k in range(len(cfgs)):
            mid = member_id(trial_id, k)
            member_cbs[k].append(
                TrialTracker(
                    ctx.tracking_uri, ctx.experiment_id, ctx.parent_run_id, mid, mid, ctx.study
                )
            )
    pack = PackedTrainer(
        cfgs,
        out_dir / "work",
        member_callbacks=member_cbs,
        callbacks=[PackReporter(tune, trial_id, members, trial_dir(ctx, trial_id))],
    )
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            pack.try_resume(Path(d))
    pack.run(resume=False)
