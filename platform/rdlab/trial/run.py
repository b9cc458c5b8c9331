"""A trial (or a pack of K) from configs to evaluated results.

:class:`Trial` builds the members (each exactly as it would be built alone), picks the
engine (vmapped when the members allow it, else one after another), runs the
:class:`~rdlab.train.loop.TrialLoop`, evaluates every member that finished, and hands the
results to the hooks. A member that diverged is not evaluated: its final metrics are its
last finite validation epoch's.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from rdlab.config import TrialConfig
from rdlab.evaluate import ClassifierSource, EvalResult, Subject, evaluate_pack
from rdlab.train.checkpoint import CHECKPOINT_NAME
from rdlab.train.device import Placement, configure_device, pick_device
from rdlab.train.hooks import STATUS_OK, Callback, TrainResult, TrialResult
from rdlab.train.loop import TrialLoop, make_engine
from rdlab.train.member import Member

CHECKPOINT_DIR = "checkpoint"


def member_dirs(out_dir: Path, k: int) -> list[Path]:
    """Where each member writes: the trial folder itself alone, ``m<k>/`` in a pack."""
    return [out_dir] if k == 1 else [out_dir / f"m{i}" for i in range(k)]


class Trial:
    """``cfgs`` (one config, or a pack's) trained in ``out_dir``; see the module docstring.

    ``member_callbacks[k]`` hear about member k only; ``callbacks`` about every member and
    the loop. ``placement`` is what a scheduler reserved (None under ``rdlab train``).
    """

    def __init__(
        self,
        cfgs: TrialConfig | Sequence[TrialConfig],
        out_dir: Path | str,
        *,
        member_callbacks: Sequence[Sequence[Callback]] | None = None,
        callbacks: Sequence[Callback] = (),
        device: str | None = None,
        placement: Placement | None = None,
        classifier: ClassifierSource | None = None,
        trial_ids: Sequence[str] | None = None,
        vmap: bool = True,
        grouped: bool = True,
    ) -> None:
        cfg_list = [cfgs] if isinstance(cfgs, TrialConfig) else list(cfgs)
        if not cfg_list:
            raise ValueError("a trial needs at least one config")
        self.out_dir = Path(out_dir)
        dev = pick_device(device or cfg_list[0].train.device, placement)
        configure_device(dev, placement)
        ids = list(trial_ids or [""] * len(cfg_list))
        dirs = member_dirs(self.out_dir, len(cfg_list))
        members: list[Member] = []
        for cfg, d, tid in zip(cfg_list, dirs, ids, strict=True):
            # one copy of the data for a pack: its members differ only in objective and seed
            shared = members[0].data if members else None
            members.append(Member(cfg, d, dev, data=shared, trial_id=tid))
        self.members = members
        self.classifier = classifier
        self.loop = TrialLoop(
            make_engine(members, vmap=vmap, grouped=grouped),
            self.out_dir / CHECKPOINT_DIR,
            member_callbacks,
            callbacks,
        )

    @property
    def device(self) -> object:
        return self.members[0].device

    def subject(self, k: int) -> Subject:
        m = self.members[k]
        return Subject(m.cfg, m.model, m.policy, m.data, m.history, m.out_dir)

    def evaluate(self, k: int) -> EvalResult:
        return self.evaluate_members([k])[k]

    def evaluate_members(self, ks: list[int]) -> dict[int, EvalResult]:
        """Members ``ks`` evaluated; their model passes batched when the engine stacks them."""
        if not ks:
            return {}
        results = evaluate_pack(
            [self.subject(k) for k in ks],
            self.loop.engine.stack(ks),
            self.classifier,
            on_artifacts=[partial(self.loop.notify_artifacts, k) for k in ks],
        )
        return dict(zip(ks, results, strict=True))

    def _result(self, k: int, trained: TrainResult, ev: EvalResult | None) -> TrialResult:
        m = self.members[k]
        ckpt = self.loop.member_ckpt(k) / CHECKPOINT_NAME
        if ev is None:  # not ok: not evaluated, its last finite validation stands
            ev = EvalResult({"val": m.last_val()} if m.history else {})
        return TrialResult(
            status=trained.status,
            epochs_done=trained.epochs_done,
            final=ev.metrics,
            history=trained.history,
            wall_s=trained.wall_s,
            diverged_epoch=trained.diverged_epoch,
            artifacts=ev.artifacts,
            eval_wall_s=ev.wall_s,
            frechet_classifier=ev.classifier,
            checkpoint=str(ckpt) if ckpt.is_file() else None,
        )

    def run(self, resume: bool = True, resume_from: Path | None = None) -> list[TrialResult]:
        """Train (resuming from the last checkpoint unless ``resume`` is False), evaluate,
        tell the hooks; one result per member."""
        trained = self.loop.run(resume=resume, resume_from=resume_from)
        evals = self.evaluate_members([k for k, t in enumerate(trained) if t.status == STATUS_OK])
        results = [self._result(k, t, evals.get(k)) for k, t in enumerate(trained)]
        self.loop.finish(results)
        return results


def run_trial(
    cfg: TrialConfig,
    out_dir: Path | str,
    callbacks: Sequence[Callback] = (),
    *,
    device: str | None = None,
    classifier: ClassifierSource | None = None,
    resume: bool = True,
) -> TrialResult:
    """One trial alone: :class:`Trial` with one config."""
    trial = Trial(cfg, out_dir, callbacks=callbacks, device=device, classifier=classifier)
    return trial.run(resume=resume)[0]
