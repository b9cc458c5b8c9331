"""The driver's side of MLflow: a study's experiment and its parent run.

Every call retries through a tracking-server blip (``retry_s``) and then raises
:class:`~rdlab.track.retry.TrackingUnavailable`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from rdlab.track.batch import log_params, send_items
from rdlab.track.retry import call_with_retry, retry_window_s
from rdlab.track.uri import client

PARENT_TAG = "rdlab.role"
T = TypeVar("T")


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


class StudyTracker:
    """The experiment and the parent run of one study."""

    def __init__(
        self,
        tracking_uri: str,
        study: str,
        artifact_dir: Path | None = None,
        retry_s: float | None = None,
    ) -> None:
        self.uri = tracking_uri
        self.study = study
        self.retry_s = retry_window_s() if retry_s is None else retry_s
        self.client = client(tracking_uri)
        exp = self._call(
            "looking up the experiment", lambda: self.client.get_experiment_by_name(study)
        )
        if exp is None:
            loc = Path(artifact_dir).resolve().as_uri() if artifact_dir is not None else None
            self.experiment_id = self._call(
                "creating the experiment",
                lambda: self.client.create_experiment(study, artifact_location=loc),
            )
        else:
            self.experiment_id = exp.experiment_id
        self.parent_run_id: str | None = None

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        return call_with_retry(fn, self.uri, what, time.monotonic() + self.retry_s, _warn)

    def find_parent(self) -> str | None:
        runs = self._call(
            "looking up the study's parent run",
            lambda: self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.{PARENT_TAG} = 'parent'",
                max_results=1,
                order_by=["attributes.start_time DESC"],
            ),
        )
        return runs[0].info.run_id if runs else None

    def start_parent(self, params: dict[str, Any], resume: bool, tags: dict[str, str]) -> str:
        run_id = self.find_parent() if resume else None
        if run_id is None:
            run = self._call(
                "creating the study's parent run",
                lambda: self.client.create_run(
                    self.experiment_id,
                    run_name=f"{self.study}",
                    tags={PARENT_TAG: "parent", "rdlab.study": self.study, **tags},
                ),
            )
            run_id = str(run.info.run_id)
            self._call("logging the spec", lambda: log_params(self.client, run_id, params))
        else:
            found = run_id
            self._call(
                "reopening the parent run",
                lambda: self.client.update_run(found, status="RUNNING"),
            )
        self.parent_run_id = run_id
        return run_id

    def find_trial_run(self, trial_id: str) -> Any:
        """The run of ``trial_id`` under this study's parent run, or None."""
        assert self.parent_run_id is not None
        runs = self._call(
            "looking up a trial's run",
            lambda: self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`rdlab.trial_id` = '{trial_id}' and "
                f"tags.`mlflow.parentRunId` = '{self.parent_run_id}'",
                max_results=1,
            ),
        )
        return runs[0] if runs else None

    def mark_failed(self, trials: list[tuple[str, str | None, str]]) -> None:
        """Runs of trials that died without closing them end as FAILED, not RUNNING, tagged
        with why (``rdlab.failure``: timeout, no_space, error). ``trials``: (trial id, run
        id if its outcome knows it, reason). One lookup per failed trial: the cost does not
        grow with the number of finished trials."""
        for trial_id, run_id, reason in trials:
            if run_id:
                run = self._call(
                    "looking up a failed trial's run", partial(self.client.get_run, run_id)
                )
            else:
                run = self.find_trial_run(trial_id)
            if run is not None and run.info.status == "RUNNING":
                fail = partial(self._fail_run, run.info.run_id, reason)
                self._call("marking a failed trial", fail)

    def _fail_run(self, run_id: str, reason: str) -> None:
        self.client.set_tag(run_id, "rdlab.status", "failed")
        self.client.set_tag(run_id, "rdlab.failure", reason)
        self.client.set_terminated(run_id, status="FAILED")

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        assert self.parent_run_id is not None
        parent = self.parent_run_id
        for p in paths:
            if Path(p).exists():
                upload = partial(self.client.log_artifact, parent, str(p), artifact_path)
                self._call(f"uploading {Path(p).name}", upload)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        assert self.parent_run_id is not None
        parent = self.parent_run_id
        ts = int(time.time() * 1000)  # fixed across retries: a resent batch is a no-op
        self._call(
            "logging study metrics",
            lambda: send_items(self.client, parent, [{"step": 0, "ts": ts, "metrics": metrics}]),
        )

    def finish(self, status: str = "FINISHED") -> None:
        if self.parent_run_id is not None:
            parent = self.parent_run_id
            self._call(
                "closing the parent run",
                lambda: self.client.set_terminated(parent, status=status),
            )
