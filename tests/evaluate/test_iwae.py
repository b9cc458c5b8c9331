"""The IWAE bound against a closed-form log p(x) (linear-Gaussian VAE), its growth with K,
its chunked float64 log-sum-exp, and the decoder density it uses per σ policy."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from rdlab.evaluate.iwae import fit_shared_sigma2, iwae_bound
from rdlab.objectives import terms
from rdlab.objectives.sigma import SigmaPolicy, build_policy
from rdlab.train.metrics import evaluate_split

from tests.evaluate.linear_vae import linear_vae

SIGMA = 0.3


def _fixed(value: float = SIGMA) -> SigmaPolicy:
    return build_policy("fixed", None, {"value": value}).double()


def test_iwae_k1000_within_one_percent_of_exact_and_above_elbo() -> None:
    model = linear_vae(sigma=SIGMA)  # correlated posterior: the diagonal q is not exact
    x = model.sample(256, seed=1)
    exact = float(model.marginal().log_prob(x).mean())
    r = iwae_bound(model, _fixed(), x, 1000, seed=0)
    assert abs(r.iwae - exact) < 0.01 * abs(exact)
    assert r.iwae >= r.elbo
    assert r.iwae <= exact + 0.01 * abs(exact)  # a lower bound, up to MC noise
    elbo = evaluate_split(model, _fixed(), x, 1024)["elbo"]
    assert r.iwae > elbo
    assert r.elbo == pytest.approx(elbo, abs=0.1)  # both estimate the same ELBO


def test_iwae_grows_with_k() -> None:
    # A poor encoder (means shrunk, variances inflated) leaves a wide ELBO gap to close.
    model = linear_vae(sigma=SIGMA, mean_scale=0.7, var_scale=3.0)
    x = model.sample(128, seed=2)
    exact = float(model.marginal().log_prob(x).mean())
    bounds = [iwae_bound(model, _fixed(), x, k, seed=3).iwae for k in (1, 10, 100, 1000)]
    assert all(a < b for a, b in itertools.pairwise(bounds)), bounds
    assert bounds[-1] < exact + 0.05
    assert bounds[0] < exact - 1.0  # the gap was real


@pytest.mark.parametrize("max_elements", [1, 64, 1 << 22])
def test_exact_posterior_gives_exact_loglik_under_any_chunking(max_elements: int) -> None:
    # With the exact posterior every importance weight equals p(x): L_K = log p(x) for all
    # K, so this checks the chunked float64 log-sum-exp over K and over examples.
    model = linear_vae(sigma=SIGMA, orthogonal=True)
    x = model.sample(40, seed=4)
    exact = float(model.marginal().log_prob(x).mean())
    r = iwae_bound(model, _fixed(), x, 37, seed=0, max_elements=max_elements)
    # (1e-7: the fixed policy stores log σ in float32)
    assert r.iwae == pytest.approx(exact, abs=1e-7)
    assert r.elbo == pytest.approx(exact, abs=1e-7)


def test_logsumexp_is_stable_for_large_weights() -> None:
    # σ tiny: log w ≈ −10⁵ nats per example; a float32 or naive exp would give −inf/NaN.
    model = linear_vae(sigma=SIGMA, mean_scale=0.5)
    x = model.sample(16, seed=5)
    r = iwae_bound(model, _fixed(1e-3), x, 50, seed=0, max_elements=256)
    assert math.isfinite(r.iwae) and r.iwae >= r.elbo
    assert r.iwae < -1e3


@pytest.mark.parametrize("policy", ["fixed", "learned_scalar", "learned_pixel", "learned_vector"])
def test_uses_the_policys_own_sigma(policy: str) -> None:
    # L_1 from IWAE's draws estimates the same ELBO as evaluate_split under the policy's σ.
    model = linear_vae(sigma=SIGMA)
    pol = build_policy(policy, None, {"value": 0.5} if policy == "fixed" else {})
    pol.setup(model, epochs=1)
    pol = pol.double()
    with torch.no_grad():
        for p in pol.parameters():  # σ away from 1; for learned_vector it varies with z
            p.fill_(-0.05 if p.dim() == 2 else -0.4)
    x = model.sample(2000, seed=6)
    r = iwae_bound(model, pol, x, 20, seed=0)
    elbo = evaluate_split(model, pol, x, 4096)["elbo"]
    assert r.elbo == pytest.approx(elbo, abs=0.05 * abs(elbo) + 0.2)
    assert r.iwae >= r.elbo


def test_data_dependent_policies_use_the_shared_sigma() -> None:
    model = linear_vae(sigma=SIGMA)
    x_train, x = model.sample(500, seed=7), model.sample(64, seed=8)
    s2 = fit_shared_sigma2(model, x_train, batch_size=128, seed=0)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model(x_train)
    manual = float(terms.squared_error(x_train, out.x_mean).mean()) / 6
    assert s2 == pytest.approx(manual, rel=1e-9)
    own = build_policy("optimal_sample", None, {}).double()
    shared = iwae_bound(model, own, x, 30, shared_log_sigma=0.5 * math.log(s2), seed=0)
    fixed = iwae_bound(model, _fixed(math.sqrt(s2)), x, 30, seed=0)
    assert shared.iwae == pytest.approx(fixed.iwae, abs=1e-7)


def test_rng_is_restored() -> None:
    model = linear_vae()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    iwae_bound(model, _fixed(), model.sample(8), 5, seed=0)
    assert torch.equal(before, torch.get_rng_state())


def test_refuses_k0() -> None:
    model = linear_vae()
    with pytest.raises(ValueError, match="k ≥ 1"):
        iwae_bound(model, _fixed(), model.sample(4), 0)
