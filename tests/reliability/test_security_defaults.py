"""Security of the defaults (issue 7 §7), the fast part; the slow part (a live study with
secrets, Ray's token, where its processes listen) is in test_tracking_outage.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
import pytest
from rdlab.errors import SpecError
from rdlab.track import StudyTracker, TrackingUnavailable, check_tracking_uri, redact_uri
from rdlab.track.mlflow_tracker import _client, _split_credentials

from tests.helpers import free_port

SECRET = "hunter2-Z9"


@pytest.fixture(autouse=True)
def _restore_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """rdlab's MLflow adapter sets these process-wide; give later tests the originals."""
    for var in (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (f"http://bob:{SECRET}@mlflow:5000", "http://***@mlflow:5000"),
        (f"https://bob:{SECRET}@h/p?q=1", "https://***@h/p?q=1"),
        (f"postgresql://bob:{SECRET}@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
        ("http://mlflow:5000", "http://mlflow:5000"),
        (f"my_store://bob:{SECRET}@h:1", "my_store://***@h:1"),  # not a valid URL scheme
        (f"http://bob:pa/{SECRET}@h/x", "http://***@h/x"),  # unencoded '/' in a password
        (f"bob:{SECRET}@h", "***@h"),
        ("sqlite:////runs/s/mlflow.db", "sqlite:////runs/s/mlflow.db"),
    ],
)
def test_uris_are_redacted_before_printing(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_credentials_never_reach_mlflows_request_url() -> None:
    """MLflow puts the request URL into its error messages; the password travels as its
    basic-auth variable instead."""
    assert _split_credentials(f"http://bob:{SECRET}@h:1/x") == ("http://h:1/x", "bob", SECRET)
    client = _client(f"http://bob:{SECRET}@127.0.0.1:1")
    assert SECRET not in client.tracking_uri
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == SECRET
    # Database URIs keep theirs: SQLAlchemy needs them and masks them itself.
    assert _split_credentials(f"postgresql://bob:{SECRET}@db/m")[0].endswith(f"{SECRET}@db/m")


def test_an_unreachable_server_is_reported_in_one_redacted_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()  # nobody listens on it
    t0 = time.monotonic()
    with pytest.raises(TrackingUnavailable) as err:
        StudyTracker(f"http://bob:{SECRET}@127.0.0.1:{port}", "s", retry_s=1.5)
    assert time.monotonic() - t0 < 30
    text = str(err.value)
    assert text.startswith(f"MLflow at http://***@127.0.0.1:{port} unreachable for ")
    assert "\n" not in text and SECRET not in text
    warned = capsys.readouterr().err
    assert "retrying for up to" in warned and SECRET not in warned


@pytest.mark.parametrize(
    "uri", ["ftp://h/x", "file:///tmp/store", "./store", "http://", f"htp://u:{SECRET}@h"]
)
def test_unusable_tracking_uris_are_bad_input(uri: str) -> None:
    with pytest.raises(SpecError) as err:
        check_tracking_uri(uri)
    assert err.value.field == "--tracking-uri" and SECRET not in str(err.value)


def test_local_dashboards_default_to_loopback() -> None:
    """rdlab prints `mlflow ui …` and `optuna-dashboard …` for the user to run; both
    listen on 127.0.0.1 unless told otherwise. Ray's dashboard is not started locally
    (rdlab.tune.runner.init_ray); test_tracking_outage checks what a live study binds."""
    import mlflow.cli
    from optuna_dashboard._config import DashboardConfig

    ui = mlflow.cli.cli.get_command(click.Context(mlflow.cli.cli), "ui")
    assert ui is not None
    assert [p.default for p in ui.params if p.name == "host"] == ["127.0.0.1"]
    assert DashboardConfig().host == "127.0.0.1"


def test_rdlab_never_turns_ray_token_auth_off() -> None:
    root = Path(__file__).resolve().parents[2]
    sources = [*(root / "platform").rglob("*.py"), *(root / "studies").rglob("*.py")]
    for path in sources:
        text = path.read_text()
        assert "RAY_AUTH_MODE" not in text or "disabled" not in text, path
