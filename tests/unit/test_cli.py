"""``rdlab train`` (DESIGN §7): outputs, overrides, progress, kill-and-resume, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from rdlab.cli import main

_SCRIPT = Path(sys.executable).with_name("rdlab")  # the console script beside this Python
RDLAB = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "rdlab.cli"]
EPOCHS = 20
# One intra-op thread: the same floating-point reductions in every run on this machine,
# and no fight over the 2 shared cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
KILL_AFTER = 5  # epochs whose checkpoint exists when the run is killed


@dataclass
class Run:
    out: Path
    args: list[str]
    stdout: str
    stderr: str
    seconds: float


def _train_args(config: Path, out: Path) -> list[str]:
    return [
        *RDLAB,
        "train",
        "--config",
        str(config),
        "--set",
        f"train.epochs={EPOCHS}",  # overrides the file's 3
        "--set",
        "objective.beta=0.5",
        "--out",
        str(out),
    ]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "trial.yaml"
    cfg = {
        "dataset": {"name": "digits"},
        "model": {"name": "mlp_resnet"},
        "train": {"epochs": 3, "seed": 7, "device": "cpu", "checkpoint_every": 1},
        "objective": {"sigma": {"policy": "optimal_sample"}},
        # A small IWAE bound (its numbers must survive the resume too); no Fréchet
        # classifier or pictures: they would double the run time and have their own tests.
        "eval": {"iwae_k": 8, "iwae_examples": 64, "frechet": False, "pictures": False},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def full_run(config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One uninterrupted 20-epoch run, the reference the resumed run must reproduce."""
    out = tmp_path_factory.mktemp("full") / "run"
    args = _train_args(config_file, out)
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=300)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    return Run(out, args, proc.stdout, proc.stderr, seconds)


def _metrics(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    return data


@pytest.mark.slow
def test_train_finishes_with_outputs_overrides_and_progress(full_run: Run) -> None:
    m = _metrics(full_run.out)
    assert m["status"] == "ok" and m["epochs_done"] == EPOCHS
    assert set(m["splits"]) == {"val", "test"}
    for split in m["splits"].values():
        for key in ("rate", "mse", "nll", "nll_opt", "elbo", "bpd", "iwae"):
            assert isinstance(split[key], float), key
    curve = pd.read_parquet(full_run.out / "curve.parquet")
    assert list(curve["epoch"]) == list(range(1, EPOCHS + 1))
    assert {"train/nll", "val/nll_opt", "val/rate"} <= set(curve.columns)
    # --set overrides win over the file; the resolved config is stored beside the results.
    resolved = yaml.safe_load((full_run.out / "config.yaml").read_text())
    assert resolved["train"]["epochs"] == EPOCHS and resolved["objective"]["beta"] == 0.5
    assert resolved["train"]["seed"] == 7
    # Not a TTY: one plain progress line per epoch, on stderr.
    lines = [ln for ln in full_run.stderr.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in lines] == [f"{e}/{EPOCHS}" for e in range(1, EPOCHS + 1)]
    assert "\r" not in full_run.stderr
    assert full_run.stdout.startswith(f"ok: {EPOCHS} epochs")
    print(f"rdlab train, {EPOCHS} epochs on digits: {full_run.seconds:.1f} s wall in all")


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_metrics(full_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [*full_run.args[:-1], str(out)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=ENV)
    assert proc.stderr is not None
    try:
        for raw in proc.stderr:  # the progress line is printed after its checkpoint
            if raw.decode().startswith(f"epoch {KILL_AFTER}/"):
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.stderr.close()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert (out / "checkpoint" / "last.pt").is_file()
    assert not (out / "metrics.json").exists()

    again = subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=300)
    assert again.returncode == 0, again.stderr
    resumed_at = int(again.stderr.split("resuming at epoch ")[1].split("/")[0])
    assert KILL_AFTER <= resumed_at < EPOCHS
    got, want = _metrics(out), _metrics(full_run.out)
    for timing in ("wall_s", "eval_wall_s"):  # seconds differ from run to run
        got.pop(timing, None)
        want.pop(timing, None)
    assert got == want
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "curve.parquet"), pd.read_parquet(full_run.out / "curve.parquet")
    )


BAD_INPUT = [
    (["--set", "train.foo=1"], "train.foo"),
    (["--set", "model.name=no_such_model"], "model.name"),
    (["--set", "objective.sigma.policy=no_such_policy"], "objective.sigma.policy"),
    (["--set", "train.epochs=ten"], "train.epochs"),
    (["--set", "objective.beta=-1"], "objective.beta"),
    (["--set", "objective.beta=.nan"], "objective.beta"),
    (["--set", "objective.beta=nan"], "objective.beta"),
    (["--set", "model.hiden=64"], "model.hiden"),
    (["--set", "dataset.name=mnist", "--set", "dataset.root={empty}"], "dataset.root"),
    (["--set", "dataset.name=toy_manifold", "--set", "model.name=conv"], "model.name"),
    (["--set", "dataset.val_fraction=0"], "dataset.val_fraction"),
    (
        ["--set", "dataset.name=toy_manifold", "--set", "dataset.noise=[0.1,-1,0.1]"],
        "dataset.noise.1",
    ),
    (
        ["--set", "dataset.val_fraction=0.6", "--set", "dataset.test_fraction=0.5"],
        "dataset.val_fraction",
    ),
]


@pytest.mark.parametrize(("args", "field"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_nothing_written(
    args: list[str], field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "data"
    empty.mkdir()
    out = tmp_path / "out"
    argv = ["train", *[a.format(empty=empty) for a in args], "--out", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"error: {field}: "), lines[0]
    assert "Traceback" not in captured.err
    assert not out.exists()
    assert list(empty.iterdir()) == []


def test_bad_input_in_a_real_process(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [*RDLAB, "train", "--set", "objective.beta=-0.5", "--out", str(out)]
    proc = subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: objective.beta: Input should be greater than or equal to 0, got -0.5"
    ]
    assert proc.stdout == ""
    assert not out.exists()


def test_spec_error_survives_pickling() -> None:
    """Ray returns a trial's exception to the driver pickled; the field must survive."""
    import pickle

    from rdlab.errors import DataNotFoundError, SpecError

    for err in (SpecError("train.lr", "must be > 0"), DataNotFoundError("dataset.root", "gone")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err)
        assert (back.field, back.message, str(back)) == (err.field, err.message, str(err))
