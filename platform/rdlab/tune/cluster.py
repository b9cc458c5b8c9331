"""Facts about the Ray cluster a study runs on, asked before any trial starts."""

from __future__ import annotations

import os
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


def alive_nodes() -> list[dict[str, Any]]:
    """The cluster's live nodes (``ray.nodes()`` entries)."""
    return [n for n in ray.nodes() if n.get("Alive")]


@ray.remote(num_cpus=0)
def _sees(path: str) -> bool:
    return os.path.exists(path)


def nodes_without(path: str, timeout_s: float = 60.0) -> list[str]:
    """Addresses of live nodes on which ``path`` does not exist (a local folder that is not
    shared), checked by a zero-CPU task pinned to each node."""
    nodes = alive_nodes()
    refs = [
        _sees.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(path)
        for n in nodes
    ]
    seen = ray.get(refs, timeout=timeout_s)
    return [
        str(n.get("NodeManagerAddress", n["NodeID"]))
        for n, ok in zip(nodes, seen, strict=True)
        if not ok
    ]
