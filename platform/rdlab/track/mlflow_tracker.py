"""MLflow tracking for studies: one parent run per study, one child run per trial.

The child run is opened inside the trial (so it works on remote workers) and its id is
kept in the trial's checkpoint; a retried or resumed trial finds its run again (by the
checkpoint, else by the ``rdlab.trial_id`` tag under this study's parent run) and never
creates a second one. Metrics go out as one ``log_batch`` per epoch, sent by a background
thread of the trial (issue 8: a synchronous send was 14% of a small trial's wall time), so
training never waits for MLflow. When the server cannot be reached, batches wait in a
buffer that is saved with the checkpoint and flushed on the next success; a trial only ends
once its buffer is delivered, or fails loudly (never silently drops metrics). Driver-side
calls retry for ``$RDLAB_TRACKING_RETRY_S`` seconds (default 120), then raise
:class:`TrackingUnavailable`.

Credentials in a tracking URI (``https://user:password@host``) never reach MLflow's URL:
MLflow writes the request URL into its error messages, so they would end up in
tracebacks and logs. They travel as MLflow's basic-auth variables instead, and every URI
rdlab prints goes through :func:`redact_uri`.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from rdlab.config import TrialConfig

PARENT_TAG = "rdlab.role"
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
SEND_INTERVAL_S = 2.0  # a trial's epoch metrics go out at most this often (batched)
RETRY_ENV = "RDLAB_TRACKING_RETRY_S"
T = TypeVar("T")


def default_tracking_uri(study_dir: Path) -> str:
    return f"sqlite:///{Path(study_dir).resolve() / 'mlflow.db'}"


def retry_window_s() -> float:
    """How long rdlab keeps retrying MLflow before it gives up loudly."""
    return float(os.environ.get(RETRY_ENV, "120"))


def _split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``(uri without user:password, user, password)``; only for http(s) URIs."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri, None, None
    host = parts.netloc.rsplit("@", 1)[1]
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, parts.username, parts.password


def redact_uri(uri: str | None) -> str:
    """The URI with any ``user:password@`` replaced by ``***@``: safe to print and log.
    Deliberately not urlsplit: a malformed URI (``my_store://u:pw@h``) must not leak."""
    if not uri:
        return str(uri)
    head, sep, rest = uri.partition("://")
    if not sep:
        head, rest = "", uri
    cut = rest.split("?", 1)[0].split("#", 1)[0].rfind("@")
    return uri if cut < 0 else f"{head}{sep}***{rest[cut:]}"


# Tracking stores MLflow 3 serves (the old local file store is refused by design).
TRACKING_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks")


def check_tracking_uri(uri: str) -> None:
    """Refuse a tracking URI MLflow cannot use, before anything is written. The message
    shows the URI redacted: it may carry a password."""
    from rdlab.errors import SpecError

    parts = urlsplit(uri)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in TRACKING_SCHEMES:
        raise SpecError(
            "--tracking-uri",
            f"unsupported scheme in {redact_uri(uri)!r}; use one of "
            f"{', '.join(s + '://' for s in TRACKING_SCHEMES)}",
        )
    if scheme in ("http", "https") and not parts.hostname:
        raise SpecError("--tracking-uri", f"no host in {redact_uri(uri)!r}")


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    clean, user, password = _split_credentials(uri)
    if user is not None:  # see the module docstring: never in MLflow's request URL
        os.environ["MLFLOW_TRACKING_USERNAME"] = user
        if password is not None:
            os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    # rdlab buffers and retries itself (below). MLflow's own default, 7 retries with
    # exponential backoff, would stall training for minutes per call during an outage.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    return MlflowClient(tracking_uri=clean)


def _is_local_file_store(uri: str) -> bool:
    return uri.startswith("sqlite:")


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


class TrackingUnavailable(RuntimeError):
    """MLflow could not be reached in time. One line, credentials redacted."""

    def __init__(self, uri: str, what: str, err: BaseException, waited_s: float) -> None:
        super().__init__(
            f"MLflow at {redact_uri(uri)} unreachable for {waited_s:.0f}s while {what} "
            f"({type(err).__name__})"
        )


def _permanent(err: BaseException) -> bool:
    """A refusal the server meant (bad request, no such run): retrying will not help."""
    from mlflow.exceptions import RestException

    if isinstance(err, RestException):
        code = err.get_http_status_code()
        return 400 <= code < 500 and code != 429
    return False


def call_with_retry(
    fn: Callable[[], T],
    uri: str,
    what: str,
    deadline: float | None,
    warn: Callable[[str], None] | None = None,
) -> T:
    """``fn()`` until it succeeds or ``deadline`` (monotonic) passes; ``None``: one try.
    Transient failures past the deadline raise TrackingUnavailable; refusals propagate.
    ``warn`` hears about the first failure, so a blip is visible, not silent."""
    start, delay = time.monotonic(), 1.0
    while True:
        try:
            return fn()
        except Exception as err:
            if _permanent(err):
                raise
            if deadline is None or time.monotonic() + delay > deadline:
                raise TrackingUnavailable(uri, what, err, time.monotonic() - start) from err
            if warn is not None and delay == 1.0:
                left = deadline - time.monotonic()
                warn(
                    f"MLflow at {redact_uri(uri)} unreachable while {what} "
                    f"({type(err).__name__}); retrying for up to {left:.0f}s"
                )
            time.sleep(delay)
            delay = min(2.0 * delay, 10.0)


class StudyTracker:
    """Driver side: the experiment and the parent run of one study. Every call retries
    through a tracking-server blip (``retry_s``) and then raises TrackingUnavailable."""

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
        self.client = _client(tracking_uri)
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

    def start_parent(self, params: dict[str, Any], resume: bool) -> str:
        run_id = self.find_parent() if resume else None
        if run_id is None:
            run = self._call(
                "creating the study's parent run",
                lambda: self.client.create_run(
                    self.experiment_id,
                    run_name=f"{self.study}",
                    tags={PARENT_TAG: "parent", "rdlab.study": self.study},
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

    def child_runs(self) -> list[Any]:
        assert self.parent_run_id is not None
        return list(
            self._call(
                "listing trial runs",
                lambda: self.client.search_runs(
                    [self.experiment_id],
                    filter_string=f"tags.mlflow.parentRunId = '{self.parent_run_id}'",
                    max_results=10000,
                ),
            )
        )

    def mark_failed_trials(self, trial_ids: set[str]) -> None:
        """Trials that died (no chance to close their run) end as FAILED, not RUNNING."""
        for run in self.child_runs():
            if run.data.tags.get("rdlab.trial_id") in trial_ids and run.info.status == "RUNNING":
                self._call("marking a failed trial", partial(self._fail_run, run.info.run_id))

    def _fail_run(self, run_id: str) -> None:
        self.client.set_tag(run_id, "rdlab.status", "failed")
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


def log_params(client: Any, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(k, _param_str(v)) for k, v in sorted(params.items())]
    for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])


def _param_str(v: Any) -> str:
    text = "None" if v is None else str(v)
    return text[:6000]


def send_items(client: Any, run_id: str, items: list[dict[str, Any]]) -> None:
    """Buffered epochs (``{"step", "ts", "metrics", "tags"?}``) in one ``log_batch`` (more
    past MLflow's 1,000 metrics a batch); each metric keeps its epoch's step and time."""
    from mlflow.entities import Metric, RunTag

    metrics = [
        Metric(k, float(v), item["ts"], item["step"])
        for item in items
        for k, v in item["metrics"].items()
        if isinstance(v, (int, float))
    ]
    tags = [RunTag(k, v) for item in items for k, v in (item.get("tags") or {}).items()]
    for i in range(0, max(1, len(metrics)), MAX_METRICS_PER_BATCH):
        client.log_batch(
            run_id, metrics=metrics[i : i + MAX_METRICS_PER_BATCH], tags=tags if i == 0 else []
        )


class TrialTracker:
    """Trainer callback (runs where the trial runs): the child run of one trial."""

    def __init__(
        self,
        tracking_uri: str,
        experiment_id: str,
        parent_run_id: str,
        trial_id: str,
        trial_name: str,
        study: str,
        flush_timeout_s: float | None = None,
    ) -> None:
        self.uri = tracking_uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.trial_id = trial_id
        self.trial_name = trial_name
        self.study = study
        self.flush_timeout_s = retry_window_s() if flush_timeout_s is None else flush_timeout_s
        self.client = _client(tracking_uri)
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

    def _open(self, trainer: Any) -> str:
        run_id = trainer.extra_state.get("mlflow_run_id") or self._find_run()
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id,
                run_name=self.trial_name,
                tags={
                    "mlflow.parentRunId": self.parent_run_id,
                    "rdlab.trial_id": self.trial_id,
                    "rdlab.study": self.study,
                    PARENT_TAG: "trial",
                },
            )
            run_id = run.info.run_id
        else:
            self.client.update_run(run_id, status="RUNNING")
        # Every time, not only at creation: an outage may have cut in between (MLflow
        # accepts a param logged again with the same value).
        cfg: TrialConfig = trainer.cfg
        log_params(self.client, run_id, {**cfg.flat_params(), "trial_id": self.trial_id})
        log_config_artifact(self.client, run_id, trainer)  # at the start: off the close's path
        return str(run_id)

    def _ensure_run(self, trainer: Any, deadline: float | None) -> bool:
        """Open the run unless it is open; False while MLflow is unreachable (no deadline)."""
        if self.run_id is None:
            try:
                run_id = call_with_retry(
                    lambda: self._open(trainer), self.uri, "opening the trial's run", deadline
                )
            except TrackingUnavailable:
                if deadline is not None:
                    raise
                return False
            self.run_id = run_id
            trainer.extra_state["mlflow_run_id"] = run_id
        return True

    # -- callbacks -------------------------------------------------------------------
    def on_start(self, trainer: Any) -> None:
        pending = trainer.extra_state.setdefault("mlflow_pending", [])
        self._stop = threading.Event()
        self._urgent = threading.Event()
        self._sender = threading.Thread(
            target=self._send_loop,
            args=(trainer, pending),
            name=f"rdlab-mlflow-{self.trial_id}",
            daemon=True,  # a killed trial's buffer is in its checkpoint, not in this thread
        )
        self._wake.set()  # open the run (an outage here must not stop training)
        self._sender.start()

    def on_epoch_metrics(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        self._raise_sender_error()
        pending: list[dict[str, Any]] = trainer.extra_state.setdefault("mlflow_pending", [])
        pending.append({"step": epoch, "ts": int(time.time() * 1000), "metrics": dict(metrics)})
        self._wake.set()

    def on_artifacts(self, trainer: Any, paths: list[str]) -> None:
        self._uploads.extend(paths)
        self._urgent.set()  # the evaluation's remaining work is all the time they have
        self._wake.set()

    def _send_loop(self, trainer: Any, pending: list[dict[str, Any]]) -> None:
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
                    self._ensure_run(trainer, deadline=None)
                    and self._flush(pending, None)
                    and self._upload(trainer, None)
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

    def _flush(self, pending: list[dict[str, Any]], deadline: float | None) -> bool:
        """Send buffered epochs in order, as few requests as MLflow's batch limit allows;
        keep whatever could not be sent. Each item keeps its first timestamp, so one resent
        after a crash is a duplicate MLflow ignores."""
        assert self.run_id is not None
        while pending:
            n, size = 0, 0
            while n < len(pending) and (
                n == 0 or size + len(pending[n]["metrics"]) <= MAX_METRICS_PER_BATCH
            ):
                size += len(pending[n]["metrics"])
                n += 1
            send = partial(send_items, self.client, self.run_id, pending[:n])
            try:
                call_with_retry(send, self.uri, "sending metrics", deadline)
            except TrackingUnavailable:
                if deadline is not None:
                    raise
                return False
            del pending[:n]  # the training thread only appends: the front is ours
        return True

    def _upload(self, trainer: Any, deadline: float | None) -> bool:
        """Upload announced pictures in order; False (keeping the rest) while unreachable."""
        assert self.run_id is not None
        while self._uploads:
            rel = self._uploads[0]
            p = Path(trainer.out_dir) / rel
            if p.exists():
                sub = str(Path(rel).parent) if str(Path(rel).parent) != "." else None
                log = partial(self.client.log_artifact, self.run_id, str(p), sub)
                try:
                    call_with_retry(log, self.uri, "uploading pictures", deadline)
                except TrackingUnavailable:
                    if deadline is not None:
                        raise
                    return False
            self._uploads.pop(0)
        return True

    def on_end(self, trainer: Any, result: Any) -> None:
        self._stop_sender()  # from here on, this thread sends what is left, with a deadline
        pending = trainer.extra_state.setdefault("mlflow_pending", [])
        final = {f"final/{split}/{k}": v for split, m in result.final.items() for k, v in m.items()}
        tags = {"rdlab.status": result.status}
        if result.diverged_epoch is not None:
            tags["rdlab.diverged_epoch"] = str(result.diverged_epoch)
        if trainer.extra_state.get("final_checkpoint"):
            tags["rdlab.checkpoint"] = str(trainer.extra_state["final_checkpoint"])
        pending.append(
            {
                "step": result.epochs_done,
                "ts": int(time.time() * 1000),
                "metrics": {**final, "wall_s": result.wall_s},
                "tags": tags,  # in the same request as the final metrics
            }
        )
        deadline = time.monotonic() + self.flush_timeout_s
        try:
            self._ensure_run(trainer, deadline)
            self._flush(pending, deadline)
            self._upload(trainer, deadline)
            call_with_retry(
                lambda: self._close(trainer, result), self.uri, "closing the trial's run", deadline
            )
        except TrackingUnavailable as err:
            raise RuntimeError(
                f"{err}; {len(pending)} metric batches are kept in the trial checkpoint and "
                "will be sent when the trial is retried or the study resumed"
            ) from None

    def _close(self, trainer: Any, result: Any) -> None:
        assert self.run_id is not None
        self.client.set_terminated(
            self.run_id, status="FINISHED" if result.status == "ok" else "FAILED"
        )


def log_config_artifact(client: Any, run_id: str, trainer: Any) -> None:
    """The trial's resolved config as ``trial_config.yaml`` (written to its work folder)."""
    import yaml

    cfg_path = Path(trainer.out_dir) / "trial_config.yaml"
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(yaml.safe_dump(trainer.cfg.to_dict(), sort_keys=False))
    client.log_artifact(run_id, str(cfg_path))
