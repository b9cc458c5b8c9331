"""MLflow requests in batches: params, and buffered epochs of metrics (with their tags)."""

from __future__ import annotations

from typing import Any

MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000


def log_params(client: Any, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param  # lazy: mlflow is heavy

    items = [Param(k, _param_str(v)) for k, v in sorted(params.items())]
    for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])


def _param_str(v: Any) -> str:
    text = "None" if v is None else str(v)
    return text[:6000]


def send_items(client: Any, run_id: str, items: list[dict[str, Any]]) -> None:
    """Buffered epochs (``{"step", "ts", "metrics", "tags"?}``) in one ``log_batch`` (more
    past MLflow's 1,000 metrics a batch); each metric keeps its epoch's step and time."""
    from mlflow.entities import Metric, RunTag  # lazy: mlflow is heavy

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


def batch_size(pending: list[dict[str, Any]]) -> int:
    """How many of the oldest pending epochs fit in one request (at least one)."""
    n, size = 0, 0
    while n < len(pending) and (
        n == 0 or size + len(pending[n]["metrics"]) <= MAX_METRICS_PER_BATCH
    ):
        size += len(pending[n]["metrics"])
        n += 1
    return n
