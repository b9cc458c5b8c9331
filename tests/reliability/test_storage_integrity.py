"""Storage integrity (issue 7 §6): atomic writes, refused damaged or foreign files, and
checkpoints that cannot run code.

A writer process rewrites a file in a loop, alternating two versions, and is SIGKILLed
while a write is in flight; each time the file must read back whole, as one version.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
import yaml
from rdlab.errors import SpecError
from rdlab.frontier.io import RDPointsError, read_rd_points, write_rd_points
from rdlab.train.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
KILLS = 3

_WRITER = """
import sys, time
from pathlib import Path
kind, path = sys.argv[1], Path(sys.argv[2])
if kind == "parquet":
    import pandas as pd
    from rdlab.frontier.io import write_rd_points
    def write(v):
        n = 60_000 + v  # the row count tells the versions apart
        write_rd_points(pd.DataFrame({"study": ["s"] * n, "trial_id": [f"t{i}" for i in
                        range(n)], "status": ["ok"] * n, "split": ["val"] * n,
                        "rate": [float(v)] * n}), path)
else:
    import torch
    from rdlab.train.checkpoint import save_checkpoint
    def write(v):
        save_checkpoint(path, {"format": "rdlab-checkpoint-1", "version": v,
                               "w": torch.full((4_000_000,), float(v))})
write(0)
print("ready", flush=True)
v = 0
while True:
    v = 1 - v
    write(v)
"""


def _points(n_rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "study": ["s"] * n_rows,
            "trial_id": [f"t{i}" for i in range(n_rows)],
            "status": ["ok"] * n_rows,
            "split": ["val"] * n_rows,
            "rate": [1.0] * n_rows,
        }
    )


def _kill_writer_repeatedly(kind: str, target: Path, check: Callable[[], None]) -> None:
    """SIGKILL a looping writer KILLS times, each time while its temp file exists (i.e.
    inside a write, between creating the temp file and renaming it); ``check`` after each."""
    folder = target if kind == "checkpoint" else target.parent
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, kind, str(target)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size for p in folder.glob(".*.tmp") if p.exists()):
            assert time.monotonic() < deadline, "the writer never wrote"
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        temps = list(folder.glob(".*.tmp"))
        assert temps, "the kill did not land inside a write"
        check()
        for p in temps:  # a killed writer's temp file is hidden from readers; clear it
            p.unlink()


def test_parquet_write_killed_midway_leaves_previous_good_file(tmp_path: Path) -> None:
    target = tmp_path / "rd_points.parquet"

    def check() -> None:
        df = read_rd_points(target)
        assert len(df) in (60_000, 60_001)
        assert set(df["rate"]) == {float(len(df) - 60_000)}  # whole, one version

    _kill_writer_repeatedly("parquet", target, check)


def test_checkpoint_write_killed_midway_leaves_previous_good_file(tmp_path: Path) -> None:
    ckpt_dir = tmp_path / "checkpoint"

    def check() -> None:
        state = load_checkpoint(ckpt_dir)
        assert state["version"] in (0, 1)
        assert bool((state["w"] == float(state["version"])).all())

    _kill_writer_repeatedly("checkpoint", ckpt_dir, check)


# ----------------------------------------------------------------------------- refused files
def _good(tmp_path: Path) -> Path:
    return write_rd_points(_points(500), tmp_path / "good.parquet")


def _damaged(tmp_path: Path, kind: str) -> Path:
    good = _good(tmp_path).read_bytes()
    path = tmp_path / f"{kind.replace(' ', '_')}.parquet"
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random bytes":
        path.write_bytes(os.urandom(4096))
    elif kind == "foreign parquet":
        _points(10).to_parquet(path)  # a Parquet file, but not one rdlab wrote
    elif kind == "newer schema":
        import pyarrow.parquet as pq

        table = pq.read_table(tmp_path / "good.parquet")
        meta = {**(table.schema.metadata or {}), b"rdlab.schema_version": b"999"}
        pq.write_table(table.replace_schema_metadata(meta), path)
    return path


DAMAGE = {
    "truncated": "not a readable Parquet file",
    "empty": "not a readable Parquet file",
    "random bytes": "not a readable Parquet file",
    "foreign parquet": "no 'rdlab.schema_version'",
    "newer schema": "schema version '999'",
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_or_foreign_parquet_is_refused_clearly(tmp_path: Path, kind: str) -> None:
    path = _damaged(tmp_path, kind)
    with pytest.raises(RDPointsError) as err:
        read_rd_points(path)
    assert err.value.path == str(path)
    assert DAMAGE[kind] in err.value.reason


# A foreign Parquet table is no longer refused by `rdlab frontier` (issue 16: tables from
# other tools go through with one warning); a newer schema version still is.
@pytest.mark.parametrize("kind", ["truncated", "newer schema"])
def test_rdlab_frontier_refuses_it_in_one_line(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from rdlab.cli import main

    path = _damaged(tmp_path, kind)
    assert main(["frontier", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}: "), err
    assert DAMAGE[kind] in err[0]


def test_study_keeps_going_when_its_points_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged trial file never stops another trial's rows (each trial has its own file,
    never read when another is added); a write that fails warns and the study goes on
    (every trial's rows are written again at the end) instead of dying mid-search."""
    from rdlab.driver.outputs import StudyOutputs
    from rdlab.storage import Storage
    from rdlab.study.spec import parse_spec
    from rdlab.tune.outcome import TrialOutcome

    spec = parse_spec(yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text()))
    out = StudyOutputs(Storage.parse(str(tmp_path)))
    (tmp_path / "rd_points").mkdir()
    (tmp_path / "rd_points" / "s0000.parquet").write_bytes(b"PAR1 half a file")
    out.open(resume=False)
    out.sink(spec)(TrialOutcome("s0001", {"objective.beta": 0.5}, "failed"))
    assert out.close() == []
    assert (tmp_path / "rd_points" / "s0001.parquet").stat().st_size > 0
    assert capsys.readouterr().err == ""
    blocked = StudyOutputs(Storage.parse(str(tmp_path / "blocked")))
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / "rd_points").write_bytes(b"a file where the folder goes")
    blocked.open(resume=False)
    blocked.sink(spec)(TrialOutcome("s0002", {"objective.beta": 0.5}, "failed"))
    (failed,) = blocked.close()
    assert failed.trial_id == "s0002"
    err = capsys.readouterr().err
    assert (
        "warning: could not write trial s0002" in err and "written again when the study ends" in err
    )


# ----------------------------------------------------------------------------- checkpoints
class _Payload:
    """Unpickling this calls open(marker, "w"): a file appears if the pickle is executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _crafted(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil" / "last.pt"
    ckpt.parent.mkdir()
    torch.save({"format": "rdlab-checkpoint-1", "model": _Payload(marker)}, ckpt)
    return ckpt, marker


def test_payload_is_live_when_unpickled_unsafely(tmp_path: Path) -> None:
    """Control: the crafted file really runs code under a plain pickle load."""
    ckpt, marker = _crafted(tmp_path)
    torch.load(ckpt, weights_only=False)
    assert marker.exists()


def test_crafted_checkpoint_cannot_run_code(tmp_path: Path) -> None:
    ckpt, marker = _crafted(tmp_path)
    with pytest.raises(SpecError) as err:
        load_checkpoint(ckpt)
    assert "not a loadable rdlab checkpoint" in err.value.message
    assert not marker.exists()


def test_trial_resume_and_rdlab_eval_refuse_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The two ways a checkpoint gets loaded: a trial resuming (Tune's restore path) and
    ``rdlab eval``. Neither runs the payload; eval says so in one line, exit 2."""
    from rdlab.cli import main
    from rdlab.config import trial_config
    from rdlab.trial import Trial

    ckpt, marker = _crafted(tmp_path)
    cfg = trial_config({"model": {"latent_dim": 2, "hidden": 8, "blocks": 1}})
    trial = Trial(cfg, tmp_path / "trial", device="cpu")
    with pytest.raises(SpecError):
        trial.loop.try_resume(ckpt.parent)
    assert main(["eval", str(ckpt)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a loadable rdlab checkpoint" in err[0], err
    assert not marker.exists()


def test_truncated_checkpoint_is_refused_clearly(tmp_path: Path) -> None:
    buf = io.BytesIO()
    torch.save({"format": "rdlab-checkpoint-1", "w": torch.zeros(1000)}, buf)
    save_checkpoint(tmp_path, {"format": "rdlab-checkpoint-1"})
    (tmp_path / "last.pt").write_bytes(buf.getvalue()[:700])
    with pytest.raises(SpecError) as err:
        load_checkpoint(tmp_path)
    assert err.value.field == str(tmp_path / "last.pt")
    assert "not a loadable rdlab checkpoint" in err.value.message
