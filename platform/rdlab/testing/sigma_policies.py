"""Contract of σ policies (:class:`rdlab.objectives.sigma.SigmaPolicy`, DESIGN §3).

Every selected policy runs with its default options over every selected VAE model, at the
model's first accepted shape, through its whole schedule (``staged`` switches stage at
epoch ``EPOCHS // 2``): its NLL is the Gaussian of its log σ, the floor holds with finite
gradients, a step lowers the loss, evaluation does not depend on batching, a checkpoint
restores it exactly, and a trial config accepts it with closed options.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from pydantic import ValidationError
from torch import Tensor
from torch.distributions import Normal

from rdlab.config import ObjectiveConfig, SigmaConfig, TrialConfig
from rdlab.model import VAEModel, VAEOutput
from rdlab.objectives.loss import compose
from rdlab.objectives.sigma import SigmaPolicy, build_policy
from rdlab.registry import SIGMA_POLICIES
from rdlab.testing.cases import (
    BATCH,
    EPOCHS,
    SHAPES,
    Options,
    PolicyCase,
    batch,
    model_cases,
    one_torch_thread,
    params,
    selected,
)
from rdlab.train.checkpoint import load_checkpoint, save_checkpoint

FLOOR = -6.0


def _loss(model: VAEModel, policy: SigmaPolicy, x: Tensor, seed: int = 1) -> Tensor:
    torch.manual_seed(seed)  # the same z noise for every call: losses compare
    cfg = ObjectiveConfig(sigma=SigmaConfig(policy="fixed"))  # weights only; σ is `policy`
    return compose(x, model(x), policy, cfg).loss


def _params(model: VAEModel, policy: SigmaPolicy) -> list[torch.nn.Parameter]:
    return list(model.parameters()) + list(policy.parameters())


def _run_epochs(model: VAEModel, policy: SigmaPolicy, x: Tensor, epochs: range) -> None:
    """A few training steps per epoch with the trainer's hook order."""
    opt = torch.optim.Adam(_params(model, policy), lr=1e-3)
    model.train()
    policy.train()
    for epoch in epochs:
        policy.start_epoch(epoch)
        for step in range(2):
            opt.zero_grad()
            _loss(model, policy, x, seed=10 * epoch + step).backward()
            opt.step()
        policy.end_epoch(epoch)


def _gaussian_nll(x: Tensor, mean: Tensor, log_sigma: Tensor) -> Tensor:
    sigma = log_sigma.exp().expand_as(x)
    return -Normal(mean, sigma).log_prob(x).reshape(x.shape[0], -1).sum(dim=1)


class SigmaPolicyContract:
    """Subclass as ``Test…``; set ``policies`` to test only those (default: all registered)."""

    policies: ClassVar[Sequence[str] | None] = None
    models: ClassVar[Sequence[str] | None] = None  # the VAE models to run them on
    model_options: ClassVar[Options] = {}  # small model options keep the suite fast

    @classmethod
    def policy_names(cls) -> list[str]:
        return selected(SIGMA_POLICIES, cls.policies)

    @classmethod
    def cases(cls) -> list[PolicyCase]:
        out = []
        for model in model_cases(cls.models, cls.model_options, "vae"):
            shape = next((s for s in SHAPES if model.accepts(s)), None)
            if shape is not None:  # a model accepting no shape fails the model contract
                out += [PolicyCase(p, model, shape) for p in cls.policy_names()]
        return out

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "policy_name" in metafunc.fixturenames:
            names = self.policy_names()
            metafunc.parametrize("policy_name", params(names, names))
        if "policy_case" in metafunc.fixturenames:
            cases = self.cases()
            ids = [f"{c.policy}-{c.model.name}" for c in cases]
            metafunc.parametrize("policy_case", params(cases, ids))

    @pytest.fixture(autouse=True)
    def _one_thread(self) -> Iterator[None]:
        with one_torch_thread():
            yield

    def test_options_are_closed_and_a_trial_config_accepts_it(self, policy_name: str) -> None:
        with pytest.raises(ValidationError):  # no silently dropped options
            build_policy(policy_name, FLOOR, {"no_such_option": 1})
        with pytest.raises(ValidationError):
            SigmaConfig(policy=policy_name, no_such_option=1)
        cfg = TrialConfig(objective=ObjectiveConfig(sigma=SigmaConfig(policy=policy_name)))
        assert cfg.to_dict()["objective"]["sigma"]["policy"] == policy_name
        assert TrialConfig.model_validate(cfg.to_dict()) == cfg  # the resolved form round-trips

    def test_nll_is_the_gaussian_of_its_log_sigma(self, policy_case: PolicyCase) -> None:
        model, policy = policy_case.build()
        x = batch(policy_case.shape)
        for epoch in range(EPOCHS):  # every stage of the policy, in training and evaluation
            policy.start_epoch(epoch)
            for training in (True, False):
                model.train(training)
                policy.train(training)
                torch.manual_seed(0)
                out = model(x)
                nll, ls = policy.nll(x, out)
                assert ls.dim() in (0, x.dim())
                assert all(a in (1, b) for a, b in zip(ls.shape, x.shape, strict=False))
                assert nll.shape == (BATCH,)
                assert bool(torch.isfinite(nll).all()) and bool(torch.isfinite(ls).all())
                torch.testing.assert_close(nll, _gaussian_nll(x, out.x_mean, ls))
            policy.end_epoch(epoch)
            for key, value in policy.describe().items():
                assert math.isfinite(value), key

    def test_floor_holds_and_gradients_stay_finite(self, policy_case: PolicyCase) -> None:
        model, policy = policy_case.build()
        x = batch(policy_case.shape)
        with torch.no_grad():  # drive every learned log σ far below the floor
            for p in policy.parameters():
                p.fill_(-50.0)
        for epoch in (0, EPOCHS - 1):
            policy.start_epoch(epoch)
            out = model(x)
            exact = out.x_mean - out.x_mean.detach() + x  # equals x, still a function of it
            perfect = VAEOutput(out.mu_z, out.logvar_z, out.z, exact, out.features)
            for o in (out, perfect):  # also a zero error: σ estimated from it would be 0
                model.zero_grad()
                policy.zero_grad()
                nll, ls = policy.nll(x, o)
                assert ls.min().item() >= FLOOR - 1e-5
                assert bool(torch.isfinite(nll).all())
                nll.mean().backward(retain_graph=True)
                for p in _params(model, policy):
                    assert p.grad is None or bool(torch.isfinite(p.grad).all())
            policy.end_epoch(epoch)

    def test_loss_finite_and_one_step_lowers_it(self, policy_case: PolicyCase) -> None:
        model, policy = policy_case.build()
        x = batch(policy_case.shape)
        for epoch in (0, EPOCHS - 1):  # staged: once per stage
            policy.start_epoch(epoch)
            opt = torch.optim.Adam(_params(model, policy), lr=1e-4)
            before = _loss(model, policy, x)
            assert bool(torch.isfinite(before))
            opt.zero_grad()
            before.backward()
            opt.step()
            with torch.no_grad():
                after = _loss(model, policy, x)
            assert after.item() < before.item(), epoch
            policy.end_epoch(epoch)

    def test_eval_nll_does_not_depend_on_the_batch(self, policy_case: PolicyCase) -> None:
        model, policy = policy_case.build()
        x = batch(policy_case.shape)
        _run_epochs(model, policy, x, range(1))
        model.eval()
        policy.eval()
        with torch.no_grad():
            whole = policy.nll(x, model(x, sample=False))[0]
            parts = [policy.nll(x[i : i + 2], model(x[i : i + 2], sample=False))[0] for i in (0, 2)]
        torch.testing.assert_close(torch.cat(parts), whole, rtol=1e-5, atol=1e-4)

    def test_checkpoint_round_trip_gives_identical_nll(
        self, policy_case: PolicyCase, tmp_path: Path
    ) -> None:
        model, policy = policy_case.build()
        x = batch(policy_case.shape)
        last = EPOCHS - 1
        _run_epochs(model, policy, x, range(last))  # staged: the switch to stage 2 is saved
        policy.start_epoch(last)
        state = {"format": "rdlab-checkpoint-1", "model": model.state_dict()}
        save_checkpoint(tmp_path, {**state, "policy": policy.state_dict()})
        fresh_model, fresh = policy_case.build(seed=1)
        loaded = load_checkpoint(tmp_path)
        fresh_model.load_state_dict(loaded["model"])
        fresh.load_state_dict(loaded["policy"])
        assert fresh.describe() == policy.describe()
        for training in (False, True):
            for m, p in ((model, policy), (fresh_model, fresh)):
                m.train(training)
                p.train(training)
            torch.manual_seed(3)
            nll_a, ls_a = policy.nll(x, model(x))
            torch.manual_seed(3)
            nll_b, ls_b = fresh.nll(x, fresh_model(x))
            assert torch.equal(nll_a, nll_b) and torch.equal(ls_a, ls_b), training
