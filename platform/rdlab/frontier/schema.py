"""The RD-points table contract (DESIGN §6): column names, Arrow types, schema version.

One row per trial × evaluated split at the end of training (``epoch`` null), plus per-epoch
rows (``epoch`` set). The multi-rate VAE writes one row per evaluated β (``beta_eval``).
All losses are in nats per example (DESIGN §2). ``frontier.parquet`` is the same table plus
the three frontier columns below.
"""

from __future__ import annotations

import pyarrow as pa

from rdlab.frontier.rows import METRIC_COLUMNS

SCHEMA_VERSION = "1"
VERSION_KEY = b"rdlab.schema_version"
TABLE_KEY = b"rdlab.table"
RD_POINTS_TABLE = "rd_points"
FRONTIER_TABLE = "frontier"

STATUSES = ("ok", "diverged", "failed", "stopped_early")
SPLITS = ("train", "val", "test")

# Columns a row must carry: without them a point cannot be attributed or placed.
REQUIRED = ("study", "trial_id", "status", "split")

_STR = ("study", "trial_id", "mlflow_run_id", "status", "dataset", "model", "sigma_policy")
_HYPER = ("beta", "sigma_value", "kl_g", "kl_i", "l1", "adversarial")
# The trial's metrics as rows.py fills them, plus the trial's wall time, in column order.
_WALL_AFTER = METRIC_COLUMNS.index("sigma_gap") + 1
METRICS = (*METRIC_COLUMNS[:_WALL_AFTER], "wall_s", *METRIC_COLUMNS[_WALL_AFTER:])

_FIELDS: list[tuple[str, pa.DataType]] = [
    *((name, pa.string()) for name in _STR),
    *((name, pa.float64()) for name in _HYPER),
    ("latent_dim", pa.int64()),
    ("seed", pa.int64()),
    ("split", pa.string()),
    ("epoch", pa.int64()),
    ("beta_eval", pa.float64()),
    *((name, pa.float64()) for name in METRICS),
    ("params", pa.string()),  # JSON object: the full flattened trial config
    ("artifacts", pa.string()),  # JSON list of artifact paths (sample grids, plots)
    ("code_version", pa.string()),  # sha256 of the rdlab sources the trial ran
    ("frechet_classifier", pa.string()),  # sha256 of the classifier its fd_* used
    ("failure", pa.string()),  # why a failed trial failed: timeout | no_space | error
]

# Added by the frontier analysis; `group` is the label of the --by columns ("all" if none).
FRONTIER_FIELDS: list[tuple[str, pa.DataType]] = [
    ("group", pa.string()),
    ("on_frontier", pa.bool_()),
    ("on_group_frontier", pa.bool_()),
]

# Storage hints: few distinct values (dictionary-encode) / long unique text (no statistics).
DICTIONARY_COLUMNS = (
    "study", "status", "dataset", "model", "sigma_policy", "split", "group",
    "code_version", "frechet_classifier", "failure",
)  # fmt: skip
UNIQUE_TEXT = ("mlflow_run_id", "params", "artifacts")
# code_version and frechet_classifier repeat across a study's rows: dictionary-encoded.

COLUMNS: tuple[str, ...] = tuple(name for name, _ in _FIELDS)
FRONTIER_COLUMNS: tuple[str, ...] = COLUMNS + tuple(name for name, _ in FRONTIER_FIELDS)

# The hyperparameter columns that identify a configuration; `seed` is left out on purpose so
# repeated seeds of one configuration aggregate (see seeds.py).
CONFIG_COLUMNS: tuple[str, ...] = (
    "study",
    "dataset",
    "model",
    "sigma_policy",
    *_HYPER,
    "latent_dim",
    "split",
    "beta_eval",
)

# Distortions the frontier may rank on: lower is better for each (elbo, iwae and bpd are not
# distortions: the first two are log-likelihoods, bpd already contains the rate).
DISTORTIONS: tuple[str, ...] = ("nll_opt", "nll", "mse")
# Columns --by may group on: the categorical and hyperparameter columns.
GROUPABLE: tuple[str, ...] = (
    "study",
    "dataset",
    "model",
    "sigma_policy",
    *_HYPER,
    "latent_dim",
    "seed",
    "split",
)


def _metadata(table: str) -> dict[bytes, bytes]:
    return {VERSION_KEY: SCHEMA_VERSION.encode(), TABLE_KEY: table.encode()}


def rd_points_schema() -> pa.Schema:
    """The Arrow schema of ``rd_points.parquet``, version in the key-value metadata."""
    return pa.schema(_FIELDS, metadata=_metadata(RD_POINTS_TABLE))


def frontier_schema() -> pa.Schema:
    """``rd_points`` plus ``group``, ``on_frontier`` and ``on_group_frontier``."""
    return pa.schema(_FIELDS + FRONTIER_FIELDS, metadata=_metadata(FRONTIER_TABLE))
