"""Trial checkpoints without Tune's forced experiment-state saves (issue 16 item 2): the
driver keeps each trial's newest checkpoint and every one a stored state may name, a trial
restored from an older state resumes from its newest, and the state is saved less often as
the study grows."""

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


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("checkpoint_*"))


def test_prune_keeps_the_newest_and_only_touches_its_own_trial(tmp_path: Path) -> None:
    mine = _trial_dir(tmp_path, "s0001_a", 3)
    other = _trial_dir(tmp_path, "s0002_b", 2)
    prune = PruneCheckpoints()
    prune.on_checkpoint(0, [], "s0001", mine[-1])
    prune.get_state()  # Tune's next state save names checkpoint_000002 ...
    assert prune.get_state() is None  # ... and the one after deletes the older ones
    assert sorted(p.name for p in (tmp_path / "s0001_a").iterdir()) == [
        "checkpoint_000002",
        "result.json",
    ]
    assert len(list((tmp_path / "s0002_b").glob("checkpoint_*"))) == 2
    assert Path(other[0].path).is_dir()


def test_a_checkpoint_the_stored_state_may_name_is_kept(tmp_path: Path) -> None:
    """Tune restores from the checkpoint its newest stored state names and fails the trial
    if it is gone: a superseded checkpoint goes only after a save that names a newer one
    has been followed by another (by when the first is stored)."""
    ckpts = _trial_dir(tmp_path, "s0001_a", 4)
    prune = PruneCheckpoints()
    prune.on_checkpoint(0, [], "s0001", ckpts[1])  # the stored state may name 0 or 1
    assert _names(tmp_path / "s0001_a") == [f"checkpoint_{e:06d}" for e in range(4)]
    prune.get_state()  # this save names 1 (0 may still be named by the one before)
    prune.on_checkpoint(0, [], "s0001", ckpts[3])  # 1 and 2 superseded after it
    assert _names(tmp_path / "s0001_a")[:2] == ["checkpoint_000000", "checkpoint_000001"]
    prune.get_state()  # this save names 3: 0 goes, 1 and 2 wait for the next
    assert _names(tmp_path / "s0001_a") == [f"checkpoint_{e:06d}" for e in (1, 2, 3)]
    prune.get_state()
    assert _names(tmp_path / "s0001_a") == ["checkpoint_000003"]


def test_restore_from_a_stale_state_prefers_the_newest_checkpoint(tmp_path: Path) -> None:
    """The stored state names epoch 1's checkpoint; the trial went on to epoch 3 before
    the driver died. Epoch 1's is still there (Tune's restore checks), and the trial
    resumes from epoch 3's."""
    ckpts = _trial_dir(tmp_path, "s0001_a", 4)
    PruneCheckpoints().on_checkpoint(0, [], "s0001", ckpts[3])
    order = [Path(c.path).name for c in newest_first(ckpts[1])]
    assert order == ["checkpoint_000003", "checkpoint_000002", "checkpoint_000001"]
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
