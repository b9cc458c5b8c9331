"""Trial checkpoints without Tune's forced experiment-state saves (issue 16 item 2): the
driver keeps each trial's newest checkpoint, a trial restored from an older state resumes
from its newest, and the state is saved less often as the study grows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ray import tune
from rdlab.tune.checkpoints import (
    PERIOD_ENV,
    PruneCheckpoints,
    newest_first,
    state_period,
    state_period_s,
)


def _trial_dir(root: Path, name: str, epochs: int) -> list[tune.Checkpoint]:
    out = []
    for e in range(epochs):
        d = root / name / f"checkpoint_{e:06d}"
        d.mkdir(parents=True)
        (d / "loop.pt").write_bytes(b"x")
        out.append(tune.Checkpoint(str(d)))
    (root / name / "result.json").write_text("{}")
    return out


def test_prune_keeps_the_newest_and_only_touches_its_own_trial(tmp_path: Path) -> None:
    mine = _trial_dir(tmp_path, "s0001_a", 3)
    other = _trial_dir(tmp_path, "s0002_b", 2)
    PruneCheckpoints().on_checkpoint(0, [], "s0001", mine[-1])
    assert sorted(p.name for p in (tmp_path / "s0001_a").iterdir()) == [
        "checkpoint_000002",
        "result.json",
    ]
    assert len(list((tmp_path / "s0002_b").glob("checkpoint_*"))) == 2
    assert Path(other[0].path).is_dir()


def test_restore_from_a_stale_state_prefers_the_newest_checkpoint(tmp_path: Path) -> None:
    """The saved state names epoch 1's checkpoint; the trial went on to epoch 3 (and the
    driver pruned epoch 1's) before the driver died."""
    ckpts = _trial_dir(tmp_path, "s0001_a", 4)
    PruneCheckpoints().on_checkpoint(0, [], "s0001", ckpts[3])
    order = [Path(c.path).name for c in newest_first(ckpts[1])]
    assert order == ["checkpoint_000003", "checkpoint_000001"]  # the named one, last
    assert [Path(c.path).name for c in newest_first(ckpts[3])] == ["checkpoint_000003"]


def test_state_period_grows_with_the_study_and_the_user_setting_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert state_period_s(16) == state_period_s(100) == 10.0
    assert state_period_s(1000) == 100.0
    assert state_period_s(5000) == 500.0
    assert state_period_s(10**6) == 600.0
    monkeypatch.delenv(PERIOD_ENV, raising=False)

    with state_period(1000) as period:
        assert period == 100.0 and os.environ[PERIOD_ENV] == "100"
    assert PERIOD_ENV not in os.environ
    monkeypatch.setenv(PERIOD_ENV, "auto")
    with state_period(1000) as period:
        assert period == "auto" and os.environ[PERIOD_ENV] == "auto"
