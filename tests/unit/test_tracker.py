"""TrialTracker sends epoch metrics from a background thread (issue 8 §3): training never
waits on MLflow, metrics still arrive in order, and the run closes only when all are in."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from rdlab.config import trial_config
from rdlab.track import TrackingRefused, TrialTracker
from rdlab.train import Member, TrialResult


def _result(final: dict[str, dict[str, float]]) -> TrialResult:
    return TrialResult(status="ok", epochs_done=3, final=final, history=[], wall_s=1.0)


class GatedClient:
    """The real MLflow client, except that ``log_batch`` of metrics waits for a gate."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.waiting = threading.Event()
        self.metric_batches = 0

    def log_batch(self, run_id: str, metrics: Any = (), **kw: Any) -> None:
        if metrics:
            self.metric_batches += 1
            self.waiting.set()
            assert self.gate.wait(60), "the test never opened the gate"
        self.inner.log_batch(run_id, metrics=metrics, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("tracker", artifact_location=(root / "art").as_uri())
    parent = client.create_run(exp).info.run_id
    return uri, exp, parent


def _member(tmp_path: Path) -> Member:
    cfg = trial_config({"train": {"epochs": 3}, "model": {"hidden": 16, "blocks": 1}})
    return Member(cfg, tmp_path, torch.device("cpu"))


def test_epochs_are_sent_off_the_training_thread(
    store: tuple[str, str, str], tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    uri, exp, parent = store
    tracker = TrialTracker(uri, exp, parent, "s0001", "study")
    gated = GatedClient(tracker.client)
    tracker.client = gated
    member = _member(tmp_path)
    tracker.on_start(member)
    for epoch in (1, 2, 3):
        # Returns while the sender is stuck inside a send: training does not wait.
        tracker.on_epoch_metrics(member, epoch, {"val/rate": float(epoch)})
        assert gated.waiting.wait(30)
    assert len(member.record) >= 2  # kept for the checkpoint
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "samples.png").write_bytes(b"png")
    tracker.on_artifacts(member, ["artifacts/samples.png"])  # announced by the evaluation
    gated.gate.set()
    tracker.on_end(member, _result({"val": {"rate": 3.0}}))
    assert len(member.record) == 0
    client = MlflowClient(tracking_uri=uri)
    assert member.record.run_id is not None
    run = client.get_run(member.record.run_id)
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "val/rate")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert run.data.metrics["final/val/rate"] == 3.0
    assert run.data.tags["rdlab.status"] == "ok"
    # Epochs that ended while a request was out share the next one: epoch 1 (held at the
    # gate), epochs 2–3 together, then the final metrics.
    assert gated.metric_batches == 3
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"trial_config.yaml", "artifacts"} <= names
    assert [a.path for a in client.list_artifacts(run.info.run_id, "artifacts")] == [
        "artifacts/samples.png"
    ]


def test_a_refused_send_fails_the_trial(store: tuple[str, str, str], tmp_path: Path) -> None:
    from mlflow.exceptions import RestException

    uri, exp, parent = store
    tracker = TrialTracker(uri, exp, parent, "s0002", "study")
    real = tracker.client

    class Refusing(GatedClient):
        def log_batch(self, run_id: str, metrics: Any = (), **kw: Any) -> None:
            if metrics:
                raise RestException({"error_code": "INVALID_PARAMETER_VALUE", "message": "no"})
            real.log_batch(run_id, metrics=metrics, **kw)

    tracker.client = Refusing(real)
    member = _member(tmp_path)
    tracker.on_start(member)
    tracker.on_epoch_metrics(member, 1, {"val/rate": 1.0})
    with pytest.raises(TrackingRefused, match=r"refused sending metrics.*no"):
        tracker.on_end(member, _result({}))
