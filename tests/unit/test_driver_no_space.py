"""A full disk is named even when it surfaces as something else: on a full disk, Ray's
``ResultGrid`` reads a trial's error file cut off at 0 bytes and raises ``EOFError`` out of
``tuner.fit()`` (CI's full-disk scenario met it). The driver checks the study's disk."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from rdlab.driver import runner
from rdlab.storage import Storage

ROOT = Path(__file__).resolve().parents[2]
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text())


def _study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free: int, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    def fit_on_a_full_disk(*args: Any, **kwargs: Any) -> int:
        raise EOFError("Ran out of input")

    monkeypatch.setattr(runner, "_run", fit_on_a_full_disk)
    monkeypatch.setattr(Storage, "free_bytes", lambda self: free)
    code = runner.run_study(
        dict(SPEC),
        storage=str(tmp_path / "runs"),
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        out=io.StringIO(),
    )
    return code, capsys.readouterr().err


def test_an_error_on_a_full_disk_is_reported_as_no_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _study(tmp_path, monkeypatch, 4096, capsys)
    assert code == runner.EXIT_UNAVAILABLE
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: no space left on {tmp_path / 'runs'}"), line
    assert "(4.0 KB free)" in line and "--resume" in line


def test_the_same_error_with_room_on_the_disk_is_not_disguised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(EOFError):
        _study(tmp_path, monkeypatch, 10 << 30, capsys)
