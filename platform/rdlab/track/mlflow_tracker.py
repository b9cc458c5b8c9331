"""MLflow tracking for studies: one parent run per study, one child run per trial.

The child run is opened inside the trial (so it works on remote workers) and its id is
kept in the trial's checkpoint; a retried or resumed trial finds its run again (by the
checkpoint, else by the ``rdlab.trial_id`` tag) and never creates a second one. Metrics
go out as one ``log_batch`` per epoch. When the server cannot be reached, batches wait in
a buffer that is saved with the checkpoint and flushed on the next success; a trial only
ends once its buffer is delivered, or fails loudly (never silently drops metrics).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rdlab.config import TrialConfig

PARENT_TAG = "rdlab.role"
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000


def default_tracking_uri(study_dir: Path) -> str:
    return f"sqlite:///{Path(study_dir).resolve() / 'mlflow.db'}"


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _is_local_file_store(uri: str) -> bool:
    return uri.startswith("sqlite:")


class StudyTracker:
    """Driver side: the experiment and the parent run of one study."""

    def __init__(self, tracking_uri: str, study: str, artifact_dir: Path | None = None) -> None:
        self.uri = tracking_uri
        self.study = study
        self.client = _client(tracking_uri)
        exp = self.client.get_experiment_by_name(study)
        if exp is None:
            loc = Path(artifact_dir).resolve().as_uri() if artifact_dir is not None else None
            self.experiment_id = self.client.create_experiment(study, artifact_location=loc)
        else:
            self.experiment_id = exp.experiment_id
        self.parent_run_id: str | None = None

    def find_parent(self) -> str | None:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.{PARENT_TAG} = 'parent'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        return runs[0].info.run_id if runs else None

    def start_parent(self, params: dict[str, Any], resume: bool) -> str:
        run_id = self.find_parent() if resume else None
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id,
                run_name=f"{self.study}",
                tags={PARENT_TAG: "parent", "rdlab.study": self.study},
            )
            run_id = run.info.run_id
            log_params(self.client, run_id, params)
        else:
            self.client.update_run(run_id, status="RUNNING")
        self.parent_run_id = run_id
        return run_id

    def child_runs(self) -> list[Any]:
        assert self.parent_run_id is not None
        return list(
            self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{self.parent_run_id}'",
                max_results=10000,
            )
        )

    def mark_failed_trials(self, trial_ids: set[str]) -> None:
        """Trials that died (no chance to close their run) end as FAILED, not RUNNING."""
        for run in self.child_runs():
            if run.data.tags.get("rdlab.trial_id") in trial_ids and run.info.status == "RUNNING":
                self.client.set_tag(run.info.run_id, "rdlab.status", "failed")
                self.client.set_terminated(run.info.run_id, status="FAILED")

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        assert self.parent_run_id is not None
        for p in paths:
            if Path(p).exists():
                self.client.log_artifact(self.parent_run_id, str(p), artifact_path)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        assert self.parent_run_id is not None
        send_metrics(self.client, self.parent_run_id, metrics, step=0)

    def finish(self, status: str = "FINISHED") -> None:
        if self.parent_run_id is not None:
            self.client.set_terminated(self.parent_run_id, status=status)


def log_params(client: Any, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(k, _param_str(v)) for k, v in sorted(params.items())]
    for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])


def _param_str(v: Any) -> str:
    text = "None" if v is None else str(v)
    return text[:6000]


def send_metrics(
    client: Any, run_id: str, metrics: dict[str, float], step: int, timestamp: int | None = None
) -> None:
    from mlflow.entities import Metric

    ts = timestamp or int(time.time() * 1000)
    items = [
        Metric(k, float(v), ts, step) for k, v in metrics.items() if isinstance(v, (int, float))
    ]
    for i in range(0, len(items), MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=items[i : i + MAX_METRICS_PER_BATCH])


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
        flush_timeout_s: float = 120.0,
    ) -> None:
        self.uri = tracking_uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.trial_id = trial_id
        self.trial_name = trial_name
        self.study = study
        self.flush_timeout_s = flush_timeout_s
        self.client = _client(tracking_uri)
        self.run_id: str | None = None

    # -- run identity ----------------------------------------------------------------
    def _find_run(self) -> str | None:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`rdlab.trial_id` = '{self.trial_id}'",
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
            cfg: TrialConfig = trainer.cfg
            log_params(self.client, run_id, {**cfg.flat_params(), "trial_id": self.trial_id})
        else:
            self.client.update_run(run_id, status="RUNNING")
        return str(run_id)

    # -- callbacks -------------------------------------------------------------------
    def on_start(self, trainer: Any) -> None:
        self.run_id = self._open(trainer)
        trainer.extra_state["mlflow_run_id"] = self.run_id
        trainer.extra_state.setdefault("mlflow_pending", [])

    def on_epoch_metrics(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        pending: list[dict[str, Any]] = trainer.extra_state.setdefault("mlflow_pending", [])
        pending.append({"step": epoch, "ts": int(time.time() * 1000), "metrics": dict(metrics)})
        self._flush(pending, deadline=None)

    def _flush(self, pending: list[dict[str, Any]], deadline: float | None) -> bool:
        """Send buffered epochs in order; keep whatever could not be sent."""
        assert self.run_id is not None
        while pending:
            item = pending[0]
            try:
                send_metrics(self.client, self.run_id, item["metrics"], item["step"], item["ts"])
            except Exception:
                if deadline is None or time.monotonic() > deadline:
                    return False
                time.sleep(2.0)
                continue
            pending.pop(0)
        return True

    def on_end(self, trainer: Any, result: Any) -> None:
        assert self.run_id is not None
        pending = trainer.extra_state.setdefault("mlflow_pending", [])
        final = {f"final/{split}/{k}": v for split, m in result.final.items() for k, v in m.items()}
        pending.append(
            {
                "step": result.epochs_done,
                "ts": int(time.time() * 1000),
                "metrics": {**final, "wall_s": result.wall_s},
            }
        )
        if not self._flush(pending, deadline=time.monotonic() + self.flush_timeout_s):
            raise RuntimeError(
                f"MLflow at {self.uri} unreachable for {self.flush_timeout_s:.0f}s; "
                f"{len(pending)} metric batches are kept in the trial checkpoint and will be "
                "sent when the trial is retried or the study resumed"
            )
        self._log_artifacts(trainer)
        self.client.set_tag(self.run_id, "rdlab.status", result.status)
        if result.diverged_epoch is not None:
            self.client.set_tag(self.run_id, "rdlab.diverged_epoch", str(result.diverged_epoch))
        self.client.set_terminated(
            self.run_id, status="FINISHED" if result.status == "ok" else "FAILED"
        )

    def _log_artifacts(self, trainer: Any) -> None:
        import yaml

        assert self.run_id is not None
        cfg_path = Path(trainer.out_dir) / "trial_config.yaml"
        cfg_path.parent.mkdir(parents=True, exist_ok=True)
        cfg_path.write_text(yaml.safe_dump(trainer.cfg.to_dict(), sort_keys=False))
        self.client.log_artifact(self.run_id, str(cfg_path))
        ckpt = trainer.extra_state.get("final_checkpoint")
        if ckpt:
            self.client.set_tag(self.run_id, "rdlab.checkpoint", str(ckpt))
        for rel in trainer.extra_state.get("artifacts", []):
            p = Path(trainer.out_dir) / rel
            if p.exists():
                sub = str(Path(rel).parent) if str(Path(rel).parent) != "." else None
                self.client.log_artifact(self.run_id, str(p), sub)
