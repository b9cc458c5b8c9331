"""The driver's end-of-study pass over Tune's results writes only the trials its background
writer did not (issue 16: 5,000 trials were otherwise all written twice)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rdlab.driver.outputs import StudyOutputs
from rdlab.storage import Storage
from rdlab.study.spec import parse_spec
from rdlab.tune.outcome import TrialOutcome

ROOT = Path(__file__).resolve().parents[2]


class Flaky:
    """The study's RDDataset; writes of ``down`` fail, every write is recorded."""

    def __init__(self, inner: Any, down: str) -> None:
        self.inner, self.storage, self.down = inner, inner.storage, down
        self.writes: list[str] = []

    def write_trial(self, trial_id: str, rows: Any) -> str:
        self.writes.append(trial_id)
        if trial_id == self.down:
            raise OSError("simulated outage")
        return str(self.inner.write_trial(trial_id, rows))

    def trial_ids(self) -> list[str]:
        return list(self.inner.trial_ids())

    def trial_uri(self, trial_id: str) -> str:
        return str(self.inner.trial_uri(trial_id))


def _outcome(tid: str, beta: float) -> TrialOutcome:
    final = {"val": {"rate": 1.0 / beta, "nll_opt": 50.0 + beta}}
    return TrialOutcome(tid, {"objective.beta": beta}, "ok", final=final, wall_s=1.0)


def test_write_missing_writes_only_what_the_background_writer_did_not(tmp_path: Path) -> None:
    spec = parse_spec(yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text()))
    outputs = StudyOutputs(Storage.parse(tmp_path))
    outputs.open(resume=False)
    assert outputs.writer is not None
    flaky = Flaky(outputs.writer.dataset, down="s0001")
    outputs.writer.dataset = flaky  # type: ignore[assignment]
    outputs.writer.retries, outputs.writer.retry_delay_s = 1, 0.0
    outputs.writer.on_error = lambda err: None
    sink = outputs.sink(spec)
    outcomes = [_outcome(f"s{k:04d}", 0.1 * (k + 1)) for k in range(3)]
    for o in outcomes:
        sink(o)
    assert [e.trial_id for e in outputs.close()] == ["s0001"]
    outputs.data = flaky  # type: ignore[assignment]
    flaky.down = ""  # the store is back
    assert outputs.write_missing(spec, [*outcomes, _outcome("s0003", 2.0)]) == 2
    assert flaky.writes == ["s0000", "s0001", "s0002", "s0001", "s0003"]
    outputs.data = flaky.inner
    assert sorted(outputs.read_points()["trial_id"].unique()) == [f"s{k:04d}" for k in range(4)]
