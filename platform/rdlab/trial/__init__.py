"""One trial, or a pack of trials, end to end: build, train (:mod:`rdlab.train`), evaluate
(:mod:`rdlab.evaluate`), and tell the hooks. The same code runs under ``rdlab train``,
under Ray Tune (:mod:`rdlab.tune`) and in tests; it knows nothing of Ray or MLflow."""

from __future__ import annotations

from rdlab.trial.run import Trial, run_trial

__all__ = ["Trial", "run_trial"]
