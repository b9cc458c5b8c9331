"""Retrying MLflow calls through a tracking-server blip, then failing loudly.

Driver-side calls retry for ``$RDLAB_TRACKING_RETRY_S`` seconds (default 120), then raise
:class:`TrackingUnavailable` (the driver exits 75). A refusal the server meant (a 4xx other
than 429: bad request, no such run) is not an outage: it propagates at once, and
:func:`describe_refusal` names what was refused instead of calling the server unreachable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from rdlab.track.uri import redact_uri

RETRY_ENV = "RDLAB_TRACKING_RETRY_S"
T = TypeVar("T")


def retry_window_s() -> float:
    """How long rdlab keeps retrying MLflow before it gives up loudly."""
    return float(os.environ.get(RETRY_ENV, "120"))


class TrackingUnavailable(RuntimeError):
    """MLflow could not be reached in time. One line, credentials redacted."""

    def __init__(self, uri: str, what: str, err: BaseException, waited_s: float) -> None:
        super().__init__(
            f"MLflow at {redact_uri(uri)} unreachable for {waited_s:.0f}s while {what} "
            f"({type(err).__name__})"
        )


class TrackingRefused(RuntimeError):
    """MLflow answered but refused a call (no such experiment or run, a bad request)."""


def permanent(err: BaseException) -> bool:
    """A refusal the server meant (bad request, no such run): retrying will not help."""
    from mlflow.exceptions import MlflowException, RestException  # lazy: mlflow is heavy

    if isinstance(err, RestException):
        code = err.get_http_status_code()
        return 400 <= code < 500 and code != 429
    # A local store (sqlite) raises MlflowException with an error code for a missing
    # experiment/run; those are answers, not outages.
    return isinstance(err, MlflowException) and err.error_code in (
        "RESOURCE_DOES_NOT_EXIST",
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_ALREADY_EXISTS",
        "INVALID_STATE",
    )


def describe_refusal(uri: str, what: str, err: BaseException) -> TrackingRefused:
    first = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
    return TrackingRefused(f"MLflow at {redact_uri(uri)} refused {what}: {first}")


def call_with_retry(
    fn: Callable[[], T],
    uri: str,
    what: str,
    deadline: float | None,
    warn: Callable[[str], None] | None = None,
) -> T:
    """``fn()`` until it succeeds or ``deadline`` (monotonic) passes; ``None``: one try.
    Transient failures past the deadline raise TrackingUnavailable; refusals raise
    TrackingRefused naming what was refused. ``warn`` hears about the first failure, so a
    blip is visible, not silent."""
    start, delay = time.monotonic(), 1.0
    while True:
        try:
            return fn()
        except Exception as err:
            if permanent(err):
                raise describe_refusal(uri, what, err) from err
            if deadline is None or time.monotonic() + delay > deadline:
                raise TrackingUnavailable(uri, what, err, time.monotonic() - start) from err
            if warn is not None and delay == 1.0:
                left = deadline - time.monotonic()
                warn(
                    f"MLflow at {redact_uri(uri)} unreachable while {what} "
                    f"({type(err).__name__}); retrying for up to {left:.0f}s"
                )
            time.sleep(delay)
            delay = min(2.0 * delay, 10.0)
