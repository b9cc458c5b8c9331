"""Studies in a notebook (issue 16): ``rdlab.open_study`` and ``rdlab.open_mlflow``.

Both return a :class:`StudyView` over RD points from any sources ``rdlab frontier`` reads
(study folders, files, globs, ``s3://`` URIs, foreign tables, MLflow experiments), with the
same analysis the command runs::

    study = rdlab.open_study("runs/digits-sigma-policies")
    study.points()                       # every RD row (pandas)
    study.frontier(by="sigma_policy")    # the rows on their group's frontier, by rate
    study.hypervolume(by="sigma_policy")
    study.dominance("optimal_sample", "fixed")
    study.report("out/")                 # frontier.parquet, report.html, PNGs

Points are read once and kept; call :meth:`StudyView.reload` for a study still running.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import pandas as pd

from rdlab.dashboards.report import write_outputs
from rdlab.frontier.analysis import Analysis, analyse
from rdlab.frontier.dominance import Dominance, dominance
from rdlab.frontier.matched import group_curves
from rdlab.frontier.pareto import By
from rdlab.frontier.select import default_split
from rdlab.frontier.sources import Source, artifact_roots, blobs_source, combine, load_sources


class StudyView:
    """RD points of one or more studies and the frontier analysis of them."""

    def __init__(self, load: Callable[[], list[Source]], label: str) -> None:
        self._load = load
        self.label = label
        self._sources: list[Source] | None = None
        self._points: pd.DataFrame | None = None
        self.notes: list[str] = []

    def reload(self) -> StudyView:
        """Read the sources again (a study that is still running has new trials)."""
        self._sources = self._load()
        self._points, self.notes = combine(self._sources)
        return self

    def _all(self) -> pd.DataFrame:
        if self._points is None:
            self.reload()
        assert self._points is not None
        return self._points

    def __repr__(self) -> str:
        points = self._all()
        trials = points["trial_id"].nunique()
        return f"<StudyView {self.label}: {trials} trials, {len(points)} RD rows>"

    # ------------------------------------------------------------------ data
    def points(self) -> pd.DataFrame:
        """Every RD row (final and per-epoch), a copy you may change."""
        return self._all().copy()

    def analysis(
        self,
        by: By = "sigma_policy",
        distortion: str = "nll_opt",
        split: str | None = None,
        include_stopped_early: bool = False,
    ) -> Analysis:
        """What ``rdlab frontier`` computes; ``split`` defaults to val (else test, train)."""
        points = self._all()
        return analyse(
            points, distortion, by, split or default_split(points), include_stopped_early
        )

    def frontier(
        self, by: By = "sigma_policy", distortion: str = "nll_opt", split: str | None = None
    ) -> pd.DataFrame:
        """The final rows on their group's frontier, sorted by group then rate."""
        table = self.analysis(by, distortion, split).table
        front = table[table["on_group_frontier"].to_numpy(bool)]
        return front.sort_values(["group", "rate", distortion], kind="stable").reset_index(
            drop=True
        )

    def hypervolume(
        self, by: By = "sigma_policy", distortion: str = "nll_opt", split: str | None = None
    ) -> pd.DataFrame:
        """One row per group: hypervolume against one shared reference point (larger is
        better), with point and frontier counts."""
        return self.analysis(by, distortion, split).hypervolume

    def dominance(
        self,
        a: str,
        b: str,
        by: By = "sigma_policy",
        distortion: str = "nll_opt",
        split: str | None = None,
    ) -> Dominance:
        """Frontier of group ``a`` against group ``b`` over their shared rate range
        (``mean_gap`` > 0: ``a`` reaches a lower distortion on average)."""
        table = self.analysis(by, distortion, split).table
        curves = group_curves(table[table["on_group_frontier"].to_numpy(bool)], distortion, by)
        for name in (a, b):
            if name not in curves:
                raise KeyError(f"no group {name!r}; groups: {sorted(curves)}")
        return dominance(curves[a], curves[b], a=a, b=b)

    def report(
        self,
        path: str | os.PathLike[str],
        by: By = "sigma_policy",
        distortion: str = "nll_opt",
        split: str | None = None,
        title: str | None = None,
    ) -> dict[str, str]:
        """Write frontier.parquet, report.html and the PNGs into the folder (or URI)
        ``path``; returns where each went."""
        analysis = self.analysis(by, distortion, split)
        assert self._sources is not None
        return write_outputs(
            analysis,
            self._all(),
            path,
            title or f"rdlab · {self.label} · {analysis.split}",
            roots=artifact_roots(self._sources),
        )


def open_study(*paths_or_uris: str | os.PathLike[str]) -> StudyView:
    """Study folders, RD files or tables, globs or URIs (``s3://…``), read as one view."""
    specs = [os.fspath(p) for p in paths_or_uris]
    if not specs:
        raise TypeError("open_study() needs at least one path or URI")
    return StudyView(lambda: load_sources(specs), " + ".join(specs))


def open_mlflow(
    tracking_uri: str, experiment: str | Sequence[str], filter: str | None = None
) -> StudyView:
    """The trial runs of MLflow experiment(s) (a study each), optionally an MLflow search
    filter, e.g. ``"params.`objective.sigma.policy` = 'fixed'"``."""
    names = [experiment] if isinstance(experiment, str) else list(experiment)

    def load() -> list[Source]:
        from rdlab.track.points import fetch_points  # lazy: mlflow

        fetched = fetch_points(tracking_uri, names, filter)
        return [blobs_source(f"MLflow {', '.join(names)}", fetched.blobs, fetched.notes)]

    return StudyView(load, f"MLflow {', '.join(names)}")
