"""Small options for the built-in plugins, so their contract suites run in seconds."""

from __future__ import annotations

from typing import Any

MODELS: dict[str, dict[str, Any]] = {
    "mlp_resnet": {"hidden": 32, "blocks": 1},
    "multirate_mlp": {"hidden": 32, "blocks": 1},
    "conv": {"channels": 8, "blocks_per_stage": 1},
    "resnet_v2": {"channels": 8, "blocks_per_stage": 1},
    "patchgan": {"channels": 8},
}
DATASETS: dict[str, dict[str, Any]] = {
    "hypersphere": {"batches_per_epoch": 3, "n_eval": 64},
    "toy_manifold": {"batches_per_epoch": 3, "n_eval": 64},
}
