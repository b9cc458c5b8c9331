"""Fetching a run's artifacts (``runs:/<run id>/<path>``) to a local folder."""

from __future__ import annotations

import os
from pathlib import Path

from rdlab.errors import SpecError
from rdlab.track.uri import client, redact_uri


def download(uri: str, tracking_uri: str | None, into: Path) -> Path:
    """The artifact ``runs:/<run id>/<path>`` downloaded under ``into``."""
    rest = uri[len("runs:/") :]
    run_id, _, path = rest.partition("/")
    if not run_id or not path:
        raise SpecError("CHECKPOINT", f"{uri!r} is not runs:/<run id>/<artifact path>")
    server = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not server:
        raise SpecError(
            "--tracking-uri", f"{uri} names an MLflow run; give the server with --tracking-uri"
        )
    c = client(server)
    try:
        local = c.download_artifacts(run_id, path, str(into))
    except Exception as err:  # MLflow raises several types; all mean "not fetched"
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise SpecError(
            "CHECKPOINT", f"cannot fetch {uri} from {redact_uri(server)} ({first})"
        ) from None
    return Path(local)
