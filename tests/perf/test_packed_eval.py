"""A pack's validation and end-of-trial evaluation run batched (issue 15 item 8): one
vmapped or grouped pass for all members. Each member's numbers must be those of its own,
one-model evaluation of the same weights.

Tolerance: |a − b| ≤ 1e-5·max(|a|, 1) on every metric (measured ≤ 1e-6: the same weights
and noise, only batched vs unbatched matmul round-off differs), the bound of
tests/perf/test_packed.py. Different σ policies (vmapped groups, a per-member staged
policy, a learned head), β and seeds, after one epoch of packed training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from rdlab.evaluate import evaluate_pack, evaluate_subject
from rdlab.model import Alone
from rdlab.train.packed import PackedEngine, _Vmapped
from rdlab.train.single import SingleEngine
from rdlab.trial import Trial

from tests.perf.test_packed import EVAL, MEMBERS, _cfg, _close


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trial:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfgs = [_cfg(p, b, s, epochs=1, **o) for p, b, s, o in MEMBERS]
        trial = Trial(cfgs, tmp_path_factory.mktemp("pack_eval"))
        trial.loop.run(resume=False)
    finally:
        torch.set_num_threads(before)
    assert isinstance(trial.loop.engine, PackedEngine)
    return trial


def test_vmapped_validation_equals_each_members_own(trained: Trial) -> None:
    engine = trained.loop.engine
    ks = list(range(len(MEMBERS)))
    batched = engine.validate(ks)
    some = engine.validate([1, 3, 6])  # a subset: stopped members drop out of the pass
    for k, m in enumerate(trained.members):
        own = m.validate("val")
        _close(own, batched[k], f"member {k} ({MEMBERS[k][0]})")
        if k in some:
            _close(own, some[k], f"member {k} in a subset")


def test_grouped_gemm_stack_equals_vmap(trained: Trial) -> None:
    engine = trained.loop.engine
    assert isinstance(engine, PackedEngine)
    assert type(engine.model).__name__ == "GroupedStack"  # mlp_resnet offers grouped GEMMs
    vm = _Vmapped(engine.model.models, engine.params)
    x = engine.data.split("val")[:64]
    with torch.no_grad():
        for a, b in zip(engine.model.encode(x), vm.encode(x), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        z = torch.randn(len(MEMBERS), 64, 4)
        for a, b in zip(engine.model.decode(z), vm.decode(z), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_batched_evaluation_equals_per_member_evaluation(trained: Trial) -> None:
    ks = list(range(len(MEMBERS)))
    subjects = [trained.subject(k) for k in ks]
    packed = evaluate_pack(subjects, trained.loop.engine.stack(ks))
    assert EVAL["iwae_k"] > 0  # the IWAE bound is among the batched passes
    for k, (s, p) in enumerate(zip(subjects, packed, strict=True)):
        own = evaluate_subject(s)
        assert set(own.metrics) == set(p.metrics) == {"val"}
        _close(own.metrics["val"], p.metrics["val"], f"member {k} ({MEMBERS[k][0]})")
        if own.shared_sigma is None:  # σ* only for data-dependent policies
            assert p.shared_sigma is None
        else:
            assert own.shared_sigma == pytest.approx(p.shared_sigma, rel=1e-5)


def test_a_stack_of_one_is_the_model_alone(trained: Trial) -> None:
    """evaluate_split over Alone uses the model's own kernels: bit for bit as before."""
    m = trained.members[2]
    x = m.data.split("val")
    with torch.no_grad():
        torch.manual_seed(0)
        want = m.model.decode(m.model.encode(x)[0])
        got = Alone(m.model).decode(Alone(m.model).encode(x)[0])
    assert all(torch.equal(a, b[0]) for a, b in zip(want, got, strict=True))


def test_unbatched_engines_evaluate_member_by_member(tmp_path: Path) -> None:
    cfgs = [_cfg("optimal_sample", b, 0, epochs=1) for b in (0.5, 2.0)]
    trial = Trial(cfgs, tmp_path, vmap=False)
    assert isinstance(trial.loop.engine, SingleEngine)
    assert trial.loop.engine.stack([0, 1]) is None
    res: list[Any] = trial.run()
    assert all(r.status == "ok" and "iwae" in r.final["val"] for r in res)
