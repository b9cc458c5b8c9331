"""Frontier analysis of RD points (DESIGN §6): Parquet contract, Pareto sets, comparisons.

One topic per module: ``schema``/``io`` (the RD-points Parquet contract), ``dataset`` (a
study's ``rd_points/``: one file per trial), ``writer`` (writes them off the caller's
thread), ``sources`` and ``foreign`` (everything ``rdlab frontier`` reads), ``select``
(which rows are ranked), ``pareto``, ``hypervolume``, ``matched`` (distortion at matched
rates), ``dominance``, ``seeds`` (mean ± std over repeated seeds), ``analysis`` (all of it
for one request) and ``rows`` (a trial's facts → RD rows). Pure analysis and Parquet I/O:
no drawing here. The report (frontier.parquet, report.html, PNGs) is written by
``rdlab.dashboards.report``; the command line is ``rdlab.cli.frontier``.
"""

from __future__ import annotations

from rdlab.frontier.analysis import Analysis, analyse
from rdlab.frontier.dataset import RDDataset, trial_points_path
from rdlab.frontier.dominance import Dominance, dominance, dominance_table
from rdlab.frontier.hypervolume import hypervolume, hypervolume_by_group, reference_point
from rdlab.frontier.io import (
    RDPointsError,
    read_rd_points,
    trial_points_bytes,
    write_frontier,
    write_rd_points,
)
from rdlab.frontier.matched import matched_rate_table
from rdlab.frontier.pareto import frontier_points, pareto_flags, pareto_mask
from rdlab.frontier.schema import SCHEMA_VERSION
from rdlab.frontier.seeds import aggregate_seeds, seed_frontier
from rdlab.frontier.select import final_points
from rdlab.frontier.sources import Source, load_sources
from rdlab.frontier.writer import PointsWriter, WriteError

__all__ = [
    "SCHEMA_VERSION",
    "Analysis",
    "Dominance",
    "PointsWriter",
    "RDDataset",
    "RDPointsError",
    "Source",
    "WriteError",
    "aggregate_seeds",
    "analyse",
    "dominance",
    "dominance_table",
    "final_points",
    "frontier_points",
    "hypervolume",
    "hypervolume_by_group",
    "load_sources",
    "matched_rate_table",
    "pareto_flags",
    "pareto_mask",
    "read_rd_points",
    "reference_point",
    "seed_frontier",
    "trial_points_bytes",
    "trial_points_path",
    "write_frontier",
    "write_rd_points",
]
