"""Trial packing (issue 8) is a speed-up only: a packed member's numbers must be those of
the same trial run alone. Correctness tests, no timings (benchmarks live in
studies/benchmarks/).

Tolerance: on digits, a small mlp_resnet, 4 epochs, every per-epoch and final metric of
every member agrees with its unpacked run to |a − b| ≤ 1e-5·max(|a|, 1) (measured: ≤ 4e-7).
They are not bit-identical: vmap's batched matmuls round differently from the unbatched
ones, and training amplifies round-off over epochs (on 2-D toy data with per-example
optimal σ, chaotically so after the first epoch — so the test uses digits).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from rdlab.config import TrialConfig, trial_config
from rdlab.errors import SpecError
from rdlab.objectives.sigma.learned_scalar import LEARNED_SIGMA_LR
from rdlab.study.spec import parse_spec
from rdlab.train import Callback, TrialResult
from rdlab.train.packed import PackedEngine, pack_key
from rdlab.train.single import SingleEngine
from rdlab.trial import Trial, run_trial
from rdlab.tune.outcome import outcomes_from_result

TOL = 1e-5
EVAL: dict[str, Any] = {
    "splits": ["val"],
    "iwae_k": 8,
    "iwae_examples": 64,
    "frechet": False,
    "pictures": False,
}


def _cfg(policy: str, beta: float, seed: int, epochs: int = 4, **sigma: Any) -> TrialConfig:
    return trial_config(
        {
            "dataset": {"name": "digits"},
            "model": {"name": "mlp_resnet", "latent_dim": 4, "hidden": 32, "blocks": 1},
            "train": {
                "epochs": epochs,
                "batch_size": 128,
                "seed": seed,
                "device": "cpu",
                "checkpoint_every": 1,
            },
            "objective": {"beta": beta, "sigma": {"policy": policy, **sigma}},
            "eval": EVAL,
        }
    )


# vmapped groups (two optimal_sample, two learned_scalar), per-member loop (staged), and
# singletons; different β, σ policies and seeds.
MEMBERS: list[tuple[str, float, int, dict[str, Any]]] = [
    ("optimal_sample", 0.5, 0, {}),
    ("optimal_sample", 2.0, 1, {}),
    ("fixed", 1.0, 2, {"value": 0.7071}),
    ("learned_scalar", 1.0, 3, {}),
    ("learned_scalar", 0.2, 0, {}),
    ("optimal_global", 1.0, 4, {}),
    ("staged", 1.0, 5, {}),
    ("learned_vector", 1.0, 6, {}),
]


def _close(a: dict[str, float], b: dict[str, float], where: str) -> None:
    assert set(a) == set(b), where
    for key, va in a.items():
        vb = b[key]
        if math.isnan(va):
            assert math.isnan(vb), (where, key)
            continue
        assert abs(va - vb) <= TOL * max(abs(va), 1.0), (where, key, va, vb)


@pytest.fixture(scope="module")
def packed_and_alone(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[Any]]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("pack")
        cfgs = [_cfg(p, b, s, **o) for p, b, s, o in MEMBERS]
        packed = Trial(cfgs, root / "packed").run()
        alone = [run_trial(c, root / f"alone{k}") for k, c in enumerate(cfgs)]
    finally:
        torch.set_num_threads(before)
    return packed, alone


def test_packed_members_match_their_unpacked_runs(
    packed_and_alone: tuple[list[TrialResult], list[TrialResult]],
) -> None:
    packed, alone = packed_and_alone
    for k, (p, a) in enumerate(zip(packed, alone, strict=True)):
        assert p.status == a.status == "ok"
        assert len(p.history) == len(a.history) == 4
        for e, (hp, ha) in enumerate(zip(p.history, a.history, strict=True)):
            _close(ha, hp, f"member {k} ({MEMBERS[k][0]}) epoch {e + 1}")
        _close(a.final["val"], p.final["val"], f"member {k} final")


def test_vmapped_groups_are_used(tmp_path: Path) -> None:
    cfgs = [_cfg(p, b, s, epochs=1, **o) for p, b, s, o in MEMBERS]
    engine = Trial(cfgs, tmp_path).loop.engine
    assert isinstance(engine, PackedEngine)
    shape = sorted((g.members, g.call is not None) for g in engine.groups)
    assert ([0, 1], True) in shape and ([3, 4], True) in shape
    # staged reads its epoch buffer in Python: not vmappable, so it runs in the loop
    assert all(not vm for ms, vm in shape if 6 in ms)
    # One Adam, the learning rate per parameter group as in each member's own optimiser:
    # the model's at train.lr, the stacked learned σ at σ's own lr (train/optim.py).
    lrs = {id(t): grp["lr"] for grp in engine.opt.param_groups for t in grp["params"]}
    scalar = next(g for g in engine.groups if g.members == [3, 4])
    assert {lrs[id(t)] for t in scalar.params.values()} == {LEARNED_SIGMA_LR}
    assert {lrs[id(t)] for t in engine.params.values()} == {cfgs[0].train.lr}
    staged = engine.members[6].policy
    assert lrs[id(staged.raw)] == LEARNED_SIGMA_LR


def test_one_adam_over_stacked_tensors_is_k_separate_adams() -> None:
    g = torch.Generator().manual_seed(0)
    init = [torch.randn(5, 3, generator=g) for _ in range(3)]
    grads = [[torch.randn(5, 3, generator=g) for _ in range(3)] for _ in range(20)]
    sep = [t.clone().requires_grad_() for t in init]
    opts = [torch.optim.Adam([p], lr=1e-2, foreach=False) for p in sep]
    stacked = torch.stack(init).requires_grad_()
    one = torch.optim.Adam([stacked], lr=1e-2, foreach=False)
    fused = torch.stack(init).requires_grad_()
    one_fused = torch.optim.Adam([fused], lr=1e-2, fused=True)
    for step in grads:
        for p, o, gr in zip(sep, opts, step, strict=True):
            p.grad = gr.clone()
            o.step()
        stacked.grad = torch.stack(step)
        one.step()
        fused.grad = torch.stack(step)
        one_fused.step()
    assert torch.equal(stacked.detach(), torch.stack([p.detach() for p in sep]))
    torch.testing.assert_close(fused.detach(), stacked.detach(), rtol=1e-6, atol=1e-7)


def test_packed_run_resumes_to_the_same_metrics(tmp_path: Path) -> None:
    cfgs = [_cfg(p, b, s, epochs=3, **o) for p, b, s, o in MEMBERS[:4] + MEMBERS[6:7]]
    full = Trial(cfgs, tmp_path / "full").run()

    class Kill(Callback):
        def on_loop_epoch_end(self, members: Any, reports: Any, checkpoint: Any) -> None:
            if reports[0] is not None and reports[0].epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trial(cfgs, tmp_path / "cut", callbacks=[Kill()]).run()
    again = Trial(cfgs, tmp_path / "cut")
    resumed = again.run(resume=True)
    assert again.members[0].history[0]["epoch"] == 1.0
    for a, b in zip(full, resumed, strict=True):
        assert a.history == b.history
        assert a.final == b.final


def test_member_checkpoints_are_ordinary_and_small(tmp_path: Path) -> None:
    cfgs = [_cfg("optimal_sample", b, 0, epochs=1) for b in (0.5, 1.0, 2.0)]
    Trial(cfgs, tmp_path).run()
    sizes = [(tmp_path / "checkpoint" / f"m{k}" / "last.pt").stat().st_size for k in range(3)]
    run_trial(cfgs[0], tmp_path / "alone")
    # a member's file holds its own tensors, not the whole stacked storage
    assert max(sizes) < 1.2 * (tmp_path / "alone" / "checkpoint" / "last.pt").stat().st_size
    # and it resumes a plain (unpacked) trial of that member
    again = Trial(cfgs[1], tmp_path / "reload")
    assert again.loop.try_resume(tmp_path / "checkpoint" / "m1")
    assert again.members[0].epoch == 1


def test_pack_refuses_members_that_differ_beyond_objective_and_seed(tmp_path: Path) -> None:
    a = _cfg("optimal_sample", 1.0, 0)
    b = trial_config({**a.to_dict(), "train": {**a.to_dict()["train"], "lr": 0.01}})
    assert pack_key(a) != pack_key(b)
    assert pack_key(a) == pack_key(_cfg("fixed", 3.0, 7, value=0.5))
    with pytest.raises(SpecError, match="pack"):
        Trial([a, b], tmp_path)


def _spec(**over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "study": "p",
        "dataset": {"name": "digits"},
        "search": {
            "algorithm": "grid",
            "space": {"objective.beta": {"choice": [0.1, 1.0]}},
        },
        "pack": 4,
    }
    spec.update(over)
    return spec


def test_spec_pack_needs_grid_or_random_and_no_asha() -> None:
    assert parse_spec(_spec()).model.pack == 4
    for algo in ("optuna-tpe", "optuna-nsga2"):
        search = {"algorithm": algo, "space": {"objective.beta": {"loguniform": [0.1, 1]}}}
        with pytest.raises(SpecError) as err:
            parse_spec(_spec(search=search))
        assert err.value.field == "pack"
    with pytest.raises(SpecError) as err:
        parse_spec(_spec(pack=0))
    assert err.value.field == "pack"
    # The PatchGAN term and β-conditioned models pack too (on the plain engine, below).
    assert parse_spec(_spec(objective={"adversarial": {"weight": 1.0}})).model.pack == 4
    assert parse_spec(_spec(model={"name": "multirate_mlp"})).model.pack == 4


def test_members_that_cannot_vmap_train_on_the_plain_engine(tmp_path: Path) -> None:
    """A β-conditioned model draws its β per batch, which the vmapped step cannot: its pack
    trains member after member in the same loop, each exactly as alone."""
    base = _cfg("optimal_sample", 1.0, 0, epochs=2).to_dict()
    cfgs = [trial_config({**base, "model": {"name": "multirate_mlp", "latent_dim": 4},
                          "train": {**base["train"], "seed": s}}) for s in (0, 1)]  # fmt: skip
    trial = Trial(cfgs, tmp_path / "pack")
    assert isinstance(trial.loop.engine, SingleEngine)
    packed = trial.run()
    alone = run_trial(cfgs[1], tmp_path / "alone")
    assert packed[1].history == alone.history  # same engine, same stream: bit for bit
    assert packed[1].final["val"] == alone.final["val"]


def test_packed_tune_result_expands_into_one_outcome_per_member() -> None:
    members = [{"objective.beta": 0.1}, {"objective.beta": 1.0}]
    done = {
        "members_json": json.dumps(
            [
                {
                    "trial_id": f"s0001-m{k}",
                    "overrides": m,
                    "status": "ok",
                    "final": {"val": {"rate": 1.0}},
                    "history": [{"epoch": 1.0}],
                    "run_id": f"run{k}",
                    "wall_s": 2.0,
                    "artifacts": [],
                }
                for k, m in enumerate(members)
            ]
        )
    }
    outs = outcomes_from_result("s0001", {"pack": members}, done, None)
    assert [o.trial_id for o in outs] == ["s0001-m0", "s0001-m1"]
    assert [o.overrides for o in outs] == members and outs[1].run_id == "run1"
    failed = outcomes_from_result("s0002", {"pack": members}, {}, "boom")
    assert [(o.trial_id, o.status) for o in failed] == [
        ("s0002-m0", "failed"),
        ("s0002-m1", "failed"),
    ]
    single = outcomes_from_result("s0003", {"point": members[0]}, {"trial_status": "ok"}, None)
    assert [o.trial_id for o in single] == ["s0003"]


def test_packs_keep_to_one_sigma_policy_where_the_counts_allow() -> None:
    """pack_points orders each group by σ policy before cutting it: 3 policies × 4 seeds
    in packs of 4 give three one-policy packs, whatever order the grid lists them in."""
    from rdlab.tune.pack import pack_points

    spec = parse_spec(
        {
            "study": "p",
            "dataset": {"name": "toy_manifold"},
            "search": {"algorithm": "grid", "space": {"train.seed": {"choice": [0]}}},
            "pack": 4,
        }
    )
    policies = ["learned_scalar", "optimal_sample", "optimal_global"]
    points = [
        {"objective.sigma.policy": policies[k % 3], "train.seed": k // 3} for k in range(12)
    ]  # interleaved: a cut in grid order would mix all three in every pack
    packs = pack_points(spec, points)
    assert [len(p) for p in packs] == [4, 4, 4]
    assert [{m["objective.sigma.policy"] for m in p} for p in packs] == [{q} for q in policies]
    assert sorted(m["train.seed"] for p in packs for m in p) == sorted(k // 3 for k in range(12))
