"""``rdlab eval CHECKPOINT``: re-evaluates a trial from a 2-epoch ``rdlab train`` and prints
the numbers the trial reported; bad input is one line on stderr and exit status 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rdlab.cli import main

SMALL = [
    "train.epochs=2",
    "model.hidden=32",
    "model.blocks=1",
    "eval.iwae_k=16",
    "eval.gmm_components=4",
    "eval.pictures=false",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, cache_root: Path) -> Path:
    out = tmp_path_factory.mktemp("evalcli") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RDLAB_CACHE", str(cache_root))
        args = ["train", "--out", str(out)]
        for s in SMALL:
            args += ["--set", s]
        assert main(args) == 0
    return out


def test_eval_json_reproduces_the_trials_numbers(
    trained: Path,
    cache_root: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RDLAB_CACHE", str(cache_root))
    capsys.readouterr()
    assert main(["eval", str(trained / "checkpoint"), "--json"]) == 0
    blob = json.loads(capsys.readouterr().out)
    final = json.loads((trained / "metrics.json").read_text())["splits"]
    assert blob["epoch"] == 2 and set(blob["splits"]) == {"val", "test"}
    for split, m in final.items():
        got = blob["splits"][split]
        assert set(got) == set(m)
        for k, v in m.items():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                assert got[k] is None, k
            else:
                assert got[k] == pytest.approx(v, rel=1e-6, abs=1e-9), k


def test_eval_text_with_k_and_splits(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(["eval", str(trained), "--k", "64", "--splits", "test", "--no-frechet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "K=64" in out and "test" in out and "iwae" in out and "rate_dim" in out
    assert " val " not in out


def test_eval_pictures(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pics = tmp_path / "pics"
    code = main(["eval", str(trained / "checkpoint" / "last.pt"), "--k", "2", "--json",
                 "--pictures", str(pics)])  # fmt: skip
    assert code == 0
    rel = json.loads(capsys.readouterr().out)["artifacts"]
    assert "artifacts/reconstructions.png" in rel
    assert all((pics / p).is_file() for p in rel)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["/no/such/checkpoint"], "CHECKPOINT"),
        (["{trained}", "--k", "5001"], "--k"),
        (["{trained}", "--splits", "val,bogus"], "--splits"),
    ],
)
def test_bad_input_exits_2(
    trained: Path, args: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", *[a.format(trained=trained) for a in args]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {field}") and err.count("\n") == 1


def test_not_a_checkpoint_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "last.pt").write_bytes(b"garbage")
    assert main(["eval", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err
