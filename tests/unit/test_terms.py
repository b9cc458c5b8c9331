"""Loss terms against independent implementations (torch.distributions, numpy): DESIGN §2, §4."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from rdlab.config import MixtureConfig, ObjectiveConfig, SigmaConfig
from rdlab.model import VAEOutput
from rdlab.objectives import terms
from rdlab.objectives.loss import compose
from rdlab.objectives.sigma import build_policy
from torch.distributions import Normal, kl_divergence

B, J = 16, 5


def _latents(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(B, J, generator=g, dtype=torch.float64)
    logvar = torch.randn(B, J, generator=g, dtype=torch.float64) - 0.5
    z = mu + torch.randn(B, J, generator=g, dtype=torch.float64) * (0.5 * logvar).exp()
    return mu, logvar, z


def test_rate_is_kl_to_standard_normal() -> None:
    mu, logvar, _ = _latents()
    q = Normal(mu, (0.5 * logvar).exp())
    expected = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(dim=1)
    torch.testing.assert_close(terms.rate(mu, logvar), expected)
    torch.testing.assert_close(terms.rate_per_dim(mu, logvar).sum(dim=1), expected)


@pytest.mark.parametrize("aggregate", ["samples", "means"])
def test_kl_aggregate_matches_formula(aggregate: str) -> None:
    mu, _, z = _latents(1)
    m, s = mu.numpy(), (z if aggregate == "samples" else mu).numpy()
    mbar = m.mean(axis=0)
    var = ((s - mbar) ** 2).mean(axis=0)
    expected = 0.5 * np.sum(var + mbar**2 - 1.0 - np.log(var))
    got = terms.kl_aggregate(z, mu, aggregate)
    assert got.dim() == 0
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_kl_aggregate_modes_differ() -> None:
    # With sampled latents, the aggregate variance includes the posterior noise.
    mu, _, z = _latents(2)
    assert float(terms.kl_aggregate(z, mu, "samples")) != float(terms.kl_aggregate(z, mu, "means"))


def test_kl_individual_is_002_eq21_without_a_half() -> None:
    # 002 eq. 21 by hand on a 2 × 2 tensor: Σ_j (σ² − 1 − log σ²), no ½ (it is twice
    # KL(N(0, σ²) ‖ N(0, 1)), the convention 002's weight β₂ = 0.5 was set for).
    var = torch.tensor([[1.0, 4.0], [0.25, 2.0]], dtype=torch.float64)
    by_hand = torch.tensor(
        [
            (1.0 - 1.0 - math.log(1.0)) + (4.0 - 1.0 - math.log(4.0)),
            (0.25 - 1.0 - math.log(0.25)) + (2.0 - 1.0 - math.log(2.0)),
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(terms.kl_individual(var.log()), by_hand)
    _, logvar, _ = _latents(3)
    std = (0.5 * logvar).exp()
    zeros = torch.zeros_like(std)
    kl = kl_divergence(Normal(zeros, std), Normal(zeros, torch.ones_like(std))).sum(dim=1)
    torch.testing.assert_close(terms.kl_individual(logvar), 2.0 * kl)


def test_compose_weights_kl_i_as_002_eq23() -> None:
    # w_I multiplies mean_i Σ_j (σ_ij² − 1 − log σ_ij²): with w_I = 0.5 the coefficient on
    # the sum is 0.5 (002's β₂), not 0.25.
    x, out = _output()
    var = torch.tensor([[1.0, 4.0, 0.5], [0.25, 2.0, 1.0]])
    out.logvar_z = var.log().expand(out.mu_z.shape[0] // 2, 2, 3).reshape(-1, 3)
    sigma = SigmaConfig(policy="fixed", value=0.5)
    policy = build_policy("fixed", -6.0, {"value": 0.5})
    off = compose(x, out, policy, ObjectiveConfig(beta=0.0, sigma=sigma))
    on = compose(
        x, out, policy, ObjectiveConfig(beta=0.0, sigma=sigma, mixture=MixtureConfig(kl_i=0.5))
    )
    rows = [sum(v - 1.0 - math.log(v) for v in r) for r in var.tolist()]
    assert float(on.loss - off.loss) == pytest.approx(0.5 * sum(rows) / 2, rel=1e-5)


@pytest.mark.parametrize("shape", [(2,), (1, 4, 4)])
def test_gaussian_nll_matches_normal_log_prob(shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.rand(B, *shape, generator=g, dtype=torch.float64)
    mean = torch.rand(B, *shape, generator=g, dtype=torch.float64)
    for ls in (
        torch.tensor(-1.3, dtype=torch.float64),  # scalar
        torch.randn(1, *shape, generator=g, dtype=torch.float64),  # per dimension
        torch.randn(B, *([1] * len(shape)), generator=g, dtype=torch.float64),  # per example
        torch.randn(B, *shape, generator=g, dtype=torch.float64),  # per example and dim
    ):
        expected = -Normal(mean, ls.exp().expand_as(x)).log_prob(x).reshape(B, -1).sum(dim=1)
        torch.testing.assert_close(terms.gaussian_nll(x, mean, ls), expected)


def test_soft_floor_values() -> None:
    m = -2.0
    ls = torch.tensor([-50.0, m - 3.0, m, m + 3.0, 10.0], dtype=torch.float64)
    got = terms.soft_floor(ls, m)
    expected = m + np.log1p(np.exp(ls.numpy() - m))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    assert bool((got >= m).all())
    assert float(got[-1]) == pytest.approx(10.0, abs=1e-5)  # identity well above the floor
    assert terms.soft_floor(ls, None) is ls


def test_gradients_finite_at_and_below_floor() -> None:
    m = -6.0
    # log σ at, just below, and far below the floor; a perfect and a poor reconstruction.
    raw = torch.tensor([m, m - 1.0, m - 40.0, m - 1e4], requires_grad=True)
    x = torch.rand(4, 3)
    for mean0 in (x.clone(), torch.rand(4, 3)):
        mean = mean0.clone().requires_grad_(True)
        ls = terms.soft_floor(raw, m)[:, None]
        nll = terms.gaussian_nll(x, mean, ls)
        assert bool(torch.isfinite(nll).all())
        (g_raw, g_mean) = torch.autograd.grad(nll.sum(), [raw, mean])
        assert bool(torch.isfinite(g_raw).all()) and bool(torch.isfinite(g_mean).all())
    # The floor's slope is a sigmoid: ½ exactly at the floor.
    (g,) = torch.autograd.grad(terms.soft_floor(raw, m).sum(), [raw])
    assert float(g[0]) == pytest.approx(0.5)


def test_nll_optimal_shared_closed_form() -> None:
    d, mse = 64, 3.2
    s2 = mse / d
    expected = d / 2 * (math.log(2 * math.pi * s2) + 1)
    assert float(terms.nll_optimal_shared(mse, d)) == pytest.approx(expected, rel=1e-12)
    # Equals the Gaussian NLL of an error spread evenly, under σ² = mse / D.
    err = torch.full((1, d), math.sqrt(s2), dtype=torch.float64)
    log_sigma = torch.tensor(0.5 * math.log(s2), dtype=torch.float64)
    nll = terms.gaussian_nll(err, torch.zeros_like(err), log_sigma)
    assert float(nll[0]) == pytest.approx(expected, rel=1e-12)


def test_squared_error_and_l1_sum_over_dimensions() -> None:
    x = torch.arange(12.0).reshape(2, 1, 2, 3)
    mean = torch.zeros_like(x)
    torch.testing.assert_close(terms.squared_error(x, mean), (x**2).reshape(2, -1).sum(1))
    torch.testing.assert_close(terms.l1(x, mean), x.reshape(2, -1).sum(1))


def _output(b: int = 8, d: int = 6, j: int = 3) -> tuple[torch.Tensor, VAEOutput]:
    g = torch.Generator().manual_seed(5)
    x = torch.rand(b, d, generator=g)
    mu, logvar = torch.randn(b, j, generator=g), torch.randn(b, j, generator=g) * 0.3
    z = mu + torch.randn(b, j, generator=g) * (0.5 * logvar).exp()
    out = VAEOutput(mu, logvar, z, torch.rand(b, d, generator=g), torch.zeros(b, 1))
    return x, out


def test_compose_weights_each_term_once() -> None:
    x, out = _output()
    policy = build_policy("fixed", -6.0, {"value": 0.5})
    base = ObjectiveConfig(beta=0.0, sigma=SigmaConfig(policy="fixed", value=0.5))
    t0 = compose(x, out, policy, base)
    torch.testing.assert_close(t0.loss, t0.nll.mean())
    weighted = ObjectiveConfig(
        beta=2.5,
        sigma=SigmaConfig(policy="fixed", value=0.5),
        mixture=MixtureConfig(kl_g=0.3, kl_i=0.7, aggregate="means"),
        l1=1.5,
    )
    t = compose(x, out, policy, weighted)
    expected = (
        t.nll.mean()
        + 2.5 * terms.rate(out.mu_z, out.logvar_z).mean()
        + 0.3 * terms.kl_aggregate(out.z, out.mu_z, "means")
        + 0.7 * terms.kl_individual(out.logvar_z).mean()
        + 1.5 * terms.l1(x, out.x_mean).mean()
    )
    torch.testing.assert_close(t.loss, expected)
    torch.testing.assert_close(t.nll, t0.nll)  # β never touches the distortion
    torch.testing.assert_close(t.sq_err, terms.squared_error(x, out.x_mean))
    assert float(t.log_sigma) == pytest.approx(math.log(0.5))
    # A β passed per batch overrides the configured one, and multiplies only the rate.
    t_b = compose(x, out, policy, weighted, beta=0.0)
    torch.testing.assert_close(t.loss - t_b.loss, 2.5 * t.rate.mean())
