"""Security of the defaults (issue 7 §7), the fast part; the slow part (a live study with
secrets, Ray's token, where its processes listen) is in test_tracking_outage.py.
"""

from __future__ import annotations

import base64
import http.server
import os
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import click
import pytest
from rdlab.errors import SpecError
from rdlab.track import StudyTracker, TrackingUnavailable, check_tracking_uri, redact_uri
from rdlab.track.uri import client as mlflow_client
from rdlab.track.uri import split_credentials

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


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A stand-in MLflow server: records each request's path and Authorization header."""

    seen: ClassVar[list[tuple[str, str, str | None]]] = []

    def _answer(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b'{"experiment": {"experiment_id": "1", "name": "x"}}'
        if "runs/get" in self.path:
            body = (
                b'{"run": {"info": {"run_id": "r1", "experiment_id": "1", "status": "RUNNING",'
                b' "artifact_uri": "mlflow-artifacts:/1/r1/artifacts", "lifecycle_stage":'
                b' "active"}, "data": {}}}'
            )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


def test_credentials_travel_as_basic_auth_and_stay_out_of_the_environment(
    tmp_path: Path,
) -> None:
    """MLflow puts the request URL into its error messages, and a reused Ray worker keeps
    process-wide variables for the next study's trials: the password is in neither. It
    reaches the server as basic auth, for tracking calls and artifact uploads alike."""
    assert split_credentials(f"http://bob:{SECRET}@h:1/x") == ("http://h:1/x", "bob", SECRET)
    # Database URIs keep theirs: SQLAlchemy needs them and masks them itself.
    assert split_credentials(f"postgresql://bob:{SECRET}@db/m")[0].endswith(f"{SECRET}@db/m")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        client = mlflow_client(f"http://bob:{SECRET}@127.0.0.1:{port}")
        assert SECRET not in client.tracking_uri
        client.get_experiment_by_name("x")
        (tmp_path / "a.txt").write_text("a")
        client.log_artifact("r1", str(tmp_path / "a.txt"))
    finally:
        server.shutdown()
    assert not any(SECRET in v for v in os.environ.values())
    want = "Basic " + base64.b64encode(f"bob:{SECRET}".encode()).decode()
    paths = [p for _, p, _ in _Recorder.seen]
    assert any("experiments/get-by-name" in p for p in paths)
    assert any(m == "PUT" and "mlflow-artifacts/artifacts/1/r1" in p for m, p, _ in _Recorder.seen)
    assert all(auth == want for _, _, auth in _Recorder.seen), _Recorder.seen


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
