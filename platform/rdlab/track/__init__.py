"""MLflow adapter: the only package that imports mlflow (STYLE §7)."""

from __future__ import annotations

from rdlab.track.mlflow_tracker import (
    StudyTracker,
    TrackingUnavailable,
    TrialTracker,
    check_tracking_uri,
    default_tracking_uri,
    redact_uri,
)

__all__ = [
    "StudyTracker",
    "TrackingUnavailable",
    "TrialTracker",
    "check_tracking_uri",
    "default_tracking_uri",
    "redact_uri",
]
