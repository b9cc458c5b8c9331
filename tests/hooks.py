"""Trial callbacks for tests, named in a study spec's ``callbacks:`` (``tests.hooks:…``) and
imported where the trial runs: fault injection and progress marks live here, never in
rdlab's production modules. Configured through environment variables, which the local Ray
cluster's workers inherit from the driver (or a Ray job's ``env_vars``).
"""

from __future__ import annotations

import os
import time

from rdlab.config_io import get_path
from rdlab.train import Callback, EpochReport, Member, TrialResult

MARKS_ENV = "RDLAB_TRIAL_MARKS"
FAIL_IF_ENV = "RDLAB_FAIL_IF"
FAIL_LOG_ENV = "RDLAB_FAIL_LOG"
STALL_ENV = "RDLAB_STALL_IF"


class ProgressMarks(Callback):
    """One line ``<trial id> <pid> <start|epoch|end> <epoch> <time>`` per event, appended to
    ``$RDLAB_TRIAL_MARKS``, so a test can find the process running a trial, kill it
    mid-epoch, and see where the retry resumed."""

    def __init__(self) -> None:
        self.path = os.environ.get(MARKS_ENV, "")

    def _mark(self, member: Member, event: str, epoch: int) -> None:
        if not self.path:
            return
        with open(self.path, "a") as fh:  # one short append per line: atomic enough
            fh.write(f"{member.trial_id} {os.getpid()} {event} {epoch} {time.time():.3f}\n")

    def on_start(self, member: Member) -> None:
        self._mark(member, "start", member.epoch)

    def on_epoch_end(self, member: Member, report: EpochReport) -> None:
        self._mark(member, "epoch", report.epoch)

    def on_end(self, member: Member, result: TrialResult) -> None:
        self._mark(member, "end", result.epochs_done)


class FailIf(Callback):
    """``$RDLAB_FAIL_IF=path=value``: a trial whose config has that value raises on every
    attempt (each attempt's trial id appended to ``$RDLAB_FAIL_LOG``)."""

    def __init__(self) -> None:
        self.rule = os.environ.get(FAIL_IF_ENV, "")

    def on_start(self, member: Member) -> None:
        path, _, value = self.rule.partition("=")
        if path and str(get_path(member.cfg.to_dict(), path)) == value:
            log = os.environ.get(FAIL_LOG_ENV)
            if log:
                with open(log, "a") as fh:
                    fh.write(f"{member.trial_id}\n")
            raise RuntimeError(f"injected failure ({self.rule})")


class Stall(Callback):
    """``$RDLAB_STALL_IF=path=value``: that trial stops making progress after its first
    epoch, as a deadlocked data loader would (short sleeps, forever)."""

    def __init__(self) -> None:
        self.rule = os.environ.get(STALL_ENV, "")

    def on_epoch_end(self, member: Member, report: EpochReport) -> None:
        path, _, value = self.rule.partition("=")
        if path and str(get_path(member.cfg.to_dict(), path)) == value:
            while True:
                time.sleep(0.1)
