"""A trial's child run: a :class:`~rdlab.train.hooks.Callback` that runs where the trial runs.

The run is opened inside the trial (so it works on remote workers) and its id is kept in
the member's record, which its checkpoint carries; a retried or resumed trial finds its run
again (by the record, else by the ``rdlab.trial_id`` tag under this study's parent run)
and never creates a second one. Metrics go out as one ``log_batch`` per epoch, sent by a
background thread of the trial (issue 8: a synchronous send was 14% of a small trial's wall
time), so training never waits for MLflow. When the server cannot be reached, batches wait
in the record, which is saved with the checkpoint and flushed on the next success; a trial
only ends once its record is delivered, or fails loudly (never silently drops metrics).

At the end the run gets the final metrics and tags in one request, the pictures, the final
checkpoint (``checkpoint/last.pt``, tag ``rdlab.checkpoint`` = its ``runs:/`` URI) and the
trial's own RD rows as a small Parquet artifact, so any selection of runs gives a frontier.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from rdlab.track.batch import batch_size, log_params, send_items
from rdlab.track.retry import TrackingUnavailable, call_with_retry, retry_window_s
from rdlab.track.study_run import PARENT_TAG
from rdlab.track.uri import client
from rdlab.train.hooks import Callback, MemberRecord, TrialResult
from rdlab.train.member import Member

SEND_INTERVAL_S = 2.0  # a trial's epoch metrics go out at most this often (batched)
CHECKPOINT_ARTIFACT = "checkpoint"

# (member, result, run id) → (artifact folder, file name, bytes) of the trial's RD rows.
PointsFn = Callable[[Member, TrialResult, str], tuple[str, str, bytes]]


class TrialTracker(Callback):
    """The child run of one trial; see the module docstring."""

    def __init__(
        self,
        tracking_uri: str,
        experiment_id: str,
        parent_run_id: str,
        trial_id: str,
        study: str,
        *,
        tags: dict[str, str] | None = None,
        log_checkpoint: bool = True,
        points: PointsFn | None = None,
        flush_timeout_s: float | None = None,
    ) -> None:
        self.uri = tracking_uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.trial_id = trial_id
        self.study = study
        self.tags = dict(tags or {})
        self.log_checkpoint = log_checkpoint
        self.points = points
        self.flush_timeout_s = retry_window_s() if flush_timeout_s is None else flush_timeout_s
        self.client = client(tracking_uri)
        self.run_id: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._urgent = threading.Event()  # stop, or pictures to upload: no holding back
        self._sender: threading.Thread | None = None
        self._sender_error: BaseException | None = None
        # Pictures announced by the evaluation (on_artifacts), uploaded by the sender while
        # the rest of the evaluation runs; whatever is left goes out at on_end.
        self._uploads: list[str] = []

    # -- run identity ----------------------------------------------------------------
    def _find_run(self) -> str | None:
        # Scoped to this study's parent run: trial ids are deterministic (s0001, …), so
        # another study of the same name on a shared server has runs with the same ids.
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`rdlab.trial_id` = '{self.trial_id}' and "
            f"tags.`mlflow.parentRunId` = '{self.parent_run_id}'",
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def _open(self, member: Member) -> str:
        run_id = member.record.run_id or self._find_run()
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id,
                run_name=self.trial_id,
                tags={
                    "mlflow.parentRunId": self.parent_run_id,
                    "rdlab.trial_id": self.trial_id,
                    "rdlab.study": self.study,
                    PARENT_TAG: "trial",
                    **self.tags,
                },
            )
            run_id = run.info.run_id
        else:
            self.client.update_run(run_id, status="RUNNING")
        # Every time, not only at creation: an outage may have cut in between (MLflow
        # accepts a param logged again with the same value).
        log_params(self.client, run_id, {**member.cfg.flat_params(), "trial_id": self.trial_id})
        log_config_artifact(self.client, run_id, member)  # at the start: off the close's path
        return str(run_id)

    def _ensure_run(self, member: Member, deadline: float | None) -> bool:
        """Open the run unless it is open; False while MLflow is unreachable (no deadline)."""
        if self.run_id is None:
            try:
                run_id = call_with_retry(
                    lambda: self._open(member), self.uri, "opening the trial's run", deadline
                )
            except TrackingUnavailable:
                if deadline is not None:
                    raise
                return False
            self.run_id = run_id
            member.record.run_id = run_id
        return True

    # -- callbacks -------------------------------------------------------------------
    def on_start(self, member: Member) -> None:
        self._stop = threading.Event()
        self._urgent = threading.Event()
        self._sender = threading.Thread(
            target=self._send_loop,
            args=(member,),
            name=f"rdlab-mlflow-{self.trial_id}",
            daemon=True,  # a killed trial's buffer is in its checkpoint, not in this thread
        )
        self._wake.set()  # open the run (an outage here must not stop training)
        self._sender.start()

    def on_epoch_metrics(self, member: Member, epoch: int, metrics: dict[str, float]) -> None:
        self._raise_sender_error()
        member.record.add({"step": epoch, "ts": int(time.time() * 1000), "metrics": dict(metrics)})
        self._wake.set()

    def on_artifacts(self, member: Member, paths: list[str]) -> None:
        self._uploads.extend(paths)
        self._urgent.set()  # the evaluation's remaining work is all the time they have
        self._wake.set()

    def _send_loop(self, member: Member) -> None:
        """Open the run, then send buffered epochs in order whenever there are some, at most
        one request every ``SEND_INTERVAL_S`` (epochs that end meanwhile share it: a
        0.3 s digits epoch would otherwise be one request each, on every trial of a study
        against one server); while MLflow is unreachable, try again after 1, 2, 4 … 10 s."""
        delay: float | None = None
        last_sent = -math.inf
        while True:
            self._wake.wait(timeout=delay)
            if self._stop.is_set():
                return
            hold = last_sent + SEND_INTERVAL_S - time.monotonic()
            if delay is None and hold > 0 and self._urgent.wait(hold) and self._stop.is_set():
                return  # on_end sends what is left
            self._wake.clear()  # before sending: an epoch added meanwhile wakes us again
            try:
                ok = (
                    self._ensure_run(member, deadline=None)
                    and self._flush(member.record, None)
                    and self._upload(member, None)
                )
            except BaseException as err:  # a refusal (bad request): the trial must fail
                self._sender_error = err
                return
            if ok:
                last_sent = time.monotonic()
            delay = None if ok else min(2.0 * delay, 10.0) if delay else 1.0

    def _stop_sender(self) -> None:
        if self._sender is not None:
            self._stop.set()
            self._urgent.set()
            self._wake.set()
            self._sender.join()  # an attempt under way finishes (or fails) first
            self._sender = None
        self._raise_sender_error()

    def _raise_sender_error(self) -> None:
        if self._sender_error is not None:
            err, self._sender_error = self._sender_error, None
            raise err

    def _flush(self, record: MemberRecord, deadline: float | None) -> bool:
        """Send buffered epochs in order, as few requests as MLflow's batch limit allows;
        keep whatever could not be sent. Each item keeps its first timestamp, so one resent
        after a crash is a duplicate MLflow ignores."""
        assert self.run_id is not None
        while True:
            pending = record.peek()
            if not pending:
                return True
            n = batch_size(pending)
            send = partial(send_items, self.client, self.run_id, pending[:n])
            try:
                call_with_retry(send, self.uri, "sending metrics", deadline)
            except TrackingUnavailable:
                if deadline is not None:
                    raise
                return False
            record.drop(n)  # the training thread only appends: the front is ours

    def _upload(self, member: Member, deadline: float | None) -> bool:
        """Upload announced pictures in order; False (keeping the rest) while unreachable."""
        while self._uploads:
            rel = self._uploads[0]
            if not self._log_file(
                member.out_dir / rel, _folder(rel), deadline, "uploading pictures"
            ):
                return False
            self._uploads.pop(0)
        return True

    def _log_file(self, path: Path, folder: str | None, deadline: float | None, what: str) -> bool:
        assert self.run_id is not None
        if not path.exists():
            return True
        log = partial(self.client.log_artifact, self.run_id, str(path), folder)
        try:
            call_with_retry(log, self.uri, what, deadline)
        except TrackingUnavailable:
            if deadline is not None:
                raise
            return False
        return True

    def _log_bytes(
        self, member: Member, folder: str, name: str, data: bytes, deadline: float
    ) -> None:
        path = member.out_dir / ".mlflow-upload" / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self._log_file(path, folder, deadline, f"uploading {folder}/{name}")

    def on_end(self, member: Member, result: TrialResult) -> None:
        self._stop_sender()  # from here on, this thread sends what is left, with a deadline
        final = {f"final/{split}/{k}": v for split, m in result.final.items() for k, v in m.items()}
        tags = {"rdlab.status": result.status}
        if result.diverged_epoch is not None:
            tags["rdlab.diverged_epoch"] = str(result.diverged_epoch)
        if result.frechet_classifier:
            tags["rdlab.frechet_classifier"] = result.frechet_classifier
        deadline = time.monotonic() + self.flush_timeout_s
        try:
            self._ensure_run(member, deadline)
            assert self.run_id is not None
            ckpt = Path(result.checkpoint) if result.checkpoint else None
            if self.log_checkpoint and ckpt is not None and ckpt.is_file():
                tags["rdlab.checkpoint"] = f"runs:/{self.run_id}/{CHECKPOINT_ARTIFACT}/{ckpt.name}"
            member.record.add(
                {
                    "step": result.epochs_done,
                    "ts": int(time.time() * 1000),
                    "metrics": {**final, "wall_s": result.wall_s},
                    "tags": tags,  # in the same request as the final metrics
                }
            )
            self._flush(member.record, deadline)
            self._upload(member, deadline)
            if "rdlab.checkpoint" in tags and ckpt is not None:
                self._log_file(ckpt, CHECKPOINT_ARTIFACT, deadline, "uploading the checkpoint")
            if self.points is not None:
                folder, name, data = self.points(member, result, self.run_id)
                self._log_bytes(member, folder, name, data, deadline)
            call_with_retry(
                lambda: self._close(result), self.uri, "closing the trial's run", deadline
            )
        except TrackingUnavailable as err:
            raise RuntimeError(
                f"{err}; {len(member.record)} metric batches are kept in the trial checkpoint "
                "and will be sent when the trial is retried or the study resumed"
            ) from None

    def _close(self, result: TrialResult) -> None:
        assert self.run_id is not None
        self.client.set_terminated(
            self.run_id, status="FINISHED" if result.status == "ok" else "FAILED"
        )


def _folder(rel: str) -> str | None:
    parent = str(Path(rel).parent)
    return None if parent == "." else parent


def log_config_artifact(c: Any, run_id: str, member: Member) -> None:
    """The trial's resolved config as ``trial_config.yaml`` (written to its work folder)."""
    cfg_path = Path(member.out_dir) / "trial_config.yaml"
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(yaml.safe_dump(member.cfg.to_dict(), sort_keys=False))
    c.log_artifact(run_id, str(cfg_path))
