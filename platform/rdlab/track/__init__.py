"""MLflow adapter: the only package that imports mlflow (STYLE §7)."""

from __future__ import annotations

from rdlab.track.mlflow_tracker import StudyTracker, TrialTracker, default_tracking_uri

__all__ = ["StudyTracker", "TrialTracker", "default_tracking_uri"]
