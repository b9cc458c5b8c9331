"""Where a trial computes and in which precision (issue 13 §7): the logic a CPU machine can
check. A GPU node is simulated by making ``torch.cuda.is_available`` answer True: a trial
that reserved no GPU must then still run on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rdlab.config import trial_config
from rdlab.errors import SpecError
from rdlab.train.device import Placement, Precision, configure_device, pick_device
from rdlab.trial import Trial, run_trial


@pytest.fixture
def gpu_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_a_trial_that_reserved_no_gpu_never_touches_cuda(gpu_node: None) -> None:
    assert pick_device("auto", Placement(gpu_ids=())) == torch.device("cpu")
    assert pick_device("cpu", Placement(gpu_ids=("0",))) == torch.device("cpu")
    with pytest.raises(SpecError) as err:
        pick_device("cuda", Placement(gpu_ids=()))
    assert err.value.field == "train.device" and "resources.gpu" in err.value.message


def test_a_trial_with_a_gpu_uses_the_one_it_was_assigned(gpu_node: None) -> None:
    # Ray sets CUDA_VISIBLE_DEVICES to the assigned ids: cuda:0 is the trial's own GPU.
    assert pick_device("auto", Placement(gpu_ids=("3",))) == torch.device("cuda")
    assert pick_device("auto", None) == torch.device("cuda")  # rdlab train: any visible


def test_without_cuda_a_cuda_request_is_refused() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SpecError, match="no CUDA device"):
        pick_device("cuda", None)


def test_a_fractional_gpu_caps_its_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[float, torch.device]] = []
    monkeypatch.setattr(
        torch.cuda, "set_per_process_memory_fraction", lambda f, d: seen.append((f, d))
    )
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        configure_device(torch.device("cuda"), Placement(("0",), gpu_fraction=0.25))
        assert seen == [(0.25, torch.device("cuda"))]
        assert torch.backends.cuda.matmul.allow_tf32  # TF32 matmuls on CUDA
        configure_device(torch.device("cuda"), Placement(("0",), gpu_fraction=1.0))
        configure_device(torch.device("cpu"), Placement((), gpu_fraction=0.25))
        assert len(seen) == 1  # a whole GPU, or the CPU: no cap
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def test_fp16_is_refused_on_cpu_with_the_alternatives() -> None:
    with pytest.raises(SpecError) as err:
        Precision("fp16", torch.device("cpu"))
    assert err.value.field == "train.precision" and "bf16" in err.value.message


def _cfg(precision: str, **objective: object) -> object:
    return trial_config(
        {
            "model": {"latent_dim": 2, "hidden": 16, "blocks": 1},
            "train": {"epochs": 2, "batch_size": 256, "device": "cpu", "precision": precision},
            "objective": {"sigma": {"policy": "learned_scalar"}, **objective},
            "eval": {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False},
        }
    )


def test_bf16_trains_alone_and_packed_and_stays_close_to_fp32(tmp_path: Path) -> None:
    fp32 = run_trial(_cfg("fp32"), tmp_path / "fp32")  # type: ignore[arg-type]
    bf16 = run_trial(_cfg("bf16"), tmp_path / "bf16")  # type: ignore[arg-type]
    assert bf16.status == "ok"
    a, b = fp32.final["val"]["nll_opt"], bf16.final["val"]["nll_opt"]
    assert a != b and abs(a - b) < 0.1 * abs(a)  # lower precision, the same model
    pack = Trial([_cfg("bf16"), _cfg("bf16", beta=2.0)], tmp_path / "pack").run()  # type: ignore[list-item]
    assert [r.status for r in pack] == ["ok", "ok"]


def test_fp16_in_a_config_fails_the_cpu_trial_clearly(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="fp16 needs a CUDA device"):
        Trial(_cfg("fp16"), tmp_path)  # type: ignore[arg-type]
