"""Ctrl-C (SIGINT) to the driver mid-study: Ray Tune saves its state and returns normally,
which must not pass for a finished study (unfinished trials written up as stopped early,
a frontier report, exit 0). The driver says what happened, exits 130, and --resume works
from there (the resume itself is exercised by test_crash_resume)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.reliability.harness import FAULT_SPEC, Study

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_sigint_stops_the_study_resumably(tmp_path: Path) -> None:
    study = Study(tmp_path, {**FAULT_SPEC, "study": "rel-sigint"})
    try:
        proc = study.start()
        study.wait_for_mark("epoch", "s0002")
        proc.send_signal(signal.SIGINT)
        rc = study.wait(180)
    finally:
        study.cleanup()
    out, err = study.stdout.read_text(), study.stderr.read_text()
    assert rc == 130, study.output()
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err[-3000:]
    assert "interrupted" in errors[0] and "--resume" in errors[0]
    assert "RD points :" not in out and "report" not in out  # no "finished" study
    assert (study.root / "tune").is_dir()  # what --resume continues from
