"""MLflow adapter: the only package that imports mlflow (STYLE §7), one job per module:
``uri`` (what rdlab accepts, prints and hands over; credentials), ``retry`` (through an
outage, then loudly), ``batch`` (batched requests), ``study_run`` (the driver's parent run),
``trial_run`` (a trial's child run, as a loop callback)."""

from __future__ import annotations

from rdlab.track.retry import TrackingRefused, TrackingUnavailable
from rdlab.track.study_run import StudyTracker
from rdlab.track.trial_run import TrialTracker
from rdlab.track.uri import check_tracking_uri, default_tracking_uri, is_local_store, redact_uri

__all__ = [
    "StudyTracker",
    "TrackingRefused",
    "TrackingUnavailable",
    "TrialTracker",
    "check_tracking_uri",
    "default_tracking_uri",
    "is_local_store",
    "redact_uri",
]
