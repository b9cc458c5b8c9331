"""Each σ policy's NLL against its closed form (DESIGN §3), computed independently here."""

from __future__ import annotations

import math

import pytest
import torch
from rdlab.config import trial_config
from rdlab.errors import SpecError
from rdlab.model import VAEModel, VAEOutput, build_model
from rdlab.objectives.sigma import SigmaPolicy, build_policy
from rdlab.objectives.sigma.learned_pixel import LearnedPixel
from rdlab.objectives.sigma.learned_scalar import LearnedScalar
from rdlab.objectives.sigma.learned_vector import LearnedVector
from rdlab.objectives.sigma.staged import START_GAP, Staged
from torch import Tensor
from torch.distributions import Normal

SHAPE = (1, 4, 4)
D = 16
B = 6
LOG_2PI = math.log(2 * math.pi)


def _batch(seed: int = 0, scale: Tensor | None = None) -> tuple[Tensor, VAEOutput]:
    """x and an output whose reconstruction error per example is scaled by ``scale``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(B, *SHAPE, generator=g, dtype=torch.float64)
    err = torch.randn(B, *SHAPE, generator=g, dtype=torch.float64) * 0.2
    if scale is not None:
        err = err * scale.reshape(B, 1, 1, 1)
    mean = (x - err).requires_grad_(True)
    j = 3
    mu = torch.randn(B, j, generator=g, dtype=torch.float64)
    feats = torch.randn(B, 8, generator=g, dtype=torch.float64)
    return x, VAEOutput(mu, torch.zeros_like(mu), mu, mean, feats)


def _policy(name: str, min_log_sigma: float | None = None, **opts: object) -> SigmaPolicy:
    return build_policy(name, min_log_sigma, dict(opts)).double()


def _mse_per_example(x: Tensor, mean: Tensor) -> Tensor:
    return (x - mean).pow(2).reshape(x.shape[0], -1).mean(dim=1)


def _normal_nll(x: Tensor, mean: Tensor, log_sigma: Tensor) -> Tensor:
    """−log N(x; mean, σ²) summed over dimensions, by torch.distributions."""
    sigma = log_sigma.exp().expand_as(x)
    return -Normal(mean, sigma).log_prob(x).reshape(x.shape[0], -1).sum(dim=1)


def _small_model(shape: tuple[int, ...] = SHAPE) -> VAEModel:
    torch.manual_seed(0)
    return build_model("mlp_resnet", shape, 3, {"hidden": 8, "blocks": 1}).double()


# ----------------------------------------------------------------------------- optimal_sample
def test_optimal_sample_closed_form() -> None:
    x, out = _batch()
    nll, ls = _policy("optimal_sample").nll(x, out)
    s2 = _mse_per_example(x, out.x_mean)
    expected = D / 2 * (torch.log(2 * math.pi * s2) + 1)
    torch.testing.assert_close(nll, expected)
    torch.testing.assert_close(ls.reshape(B), 0.5 * torch.log(s2))


def test_optimal_sample_soft_floor() -> None:
    m = -3.0
    # Half the examples reconstruct so well that their σ_i falls below the floor.
    scale = torch.tensor([1.0, 1e-3, 1.0, 1e-4, 0.5, 1e-6], dtype=torch.float64)
    x, out = _batch(1, scale)
    nll, ls = _policy("optimal_sample", m).nll(x, out)
    raw = 0.5 * torch.log(_mse_per_example(x, out.x_mean))
    assert bool((raw[1::2] < m).all()) and bool((raw[0::2] > m).all())
    floored = m + torch.nn.functional.softplus(raw - m)
    torch.testing.assert_close(ls.reshape(B), floored)
    torch.testing.assert_close(nll, _normal_nll(x, out.x_mean, floored.reshape(B, 1, 1, 1)))
    # The floor only ever raises σ, so it can only raise the NLL above the optimum.
    unfloored = D / 2 * (LOG_2PI + 2 * raw + 1)
    assert bool((nll >= unfloored - 1e-9).all())
    assert bool((nll[1::2] > unfloored[1::2] + 1.0).all())
    (g,) = torch.autograd.grad(nll.sum(), [out.x_mean])
    assert bool(torch.isfinite(g).all())


# ----------------------------------------------------------------------------- fixed
def test_fixed_half_variance_is_summed_squared_error() -> None:
    x, out = _batch(2)
    nll, ls = _policy("fixed", -6.0, value=math.sqrt(0.5)).nll(x, out)
    sq = (x - out.x_mean).pow(2).reshape(B, -1).sum(dim=1)
    torch.testing.assert_close(nll, sq + D * 0.5 * math.log(math.pi))
    assert float(ls) == pytest.approx(0.5 * math.log(0.5))


def test_fixed_value_is_exact_even_below_the_floor() -> None:
    # `fixed` is documented to ignore the floor: the paper's σ values must stay exact.
    x, out = _batch(2)
    nll, ls = _policy("fixed", -2.0, value=0.01).nll(x, out)
    assert float(ls) == pytest.approx(math.log(0.01), rel=1e-6)  # floored would be ≈ −1.93
    want = _normal_nll(x, out.x_mean, torch.tensor(math.log(0.01), dtype=torch.float64))
    torch.testing.assert_close(nll, want, rtol=1e-6, atol=0)


# ----------------------------------------------------------------------------- learned
@pytest.mark.parametrize("m", [None, -1.0])
def test_learned_scalar_is_gaussian_nll_with_its_parameter(m: float | None) -> None:
    pol = _policy("learned_scalar", m)
    assert isinstance(pol, LearnedScalar)
    assert pol.raw.item() == 0.0  # init log σ = 0
    with torch.no_grad():
        pol.raw.fill_(-1.3)
    x, out = _batch(3)
    nll, ls = pol.nll(x, out)
    want_ls = torch.tensor(-1.3, dtype=torch.float64)
    if m is not None:
        want_ls = m + torch.nn.functional.softplus(want_ls - m)
    torch.testing.assert_close(ls, want_ls)
    torch.testing.assert_close(nll, _normal_nll(x, out.x_mean, want_ls))
    (g,) = torch.autograd.grad(nll.mean(), [pol.raw])
    assert float(g) != 0.0  # σ is learned


@pytest.mark.parametrize("m", [None, -1.0])
def test_learned_pixel_is_gaussian_nll_with_its_parameters(m: float | None) -> None:
    pol = _policy("learned_pixel", m)
    assert isinstance(pol, LearnedPixel)
    pol.setup(_small_model(), epochs=3)
    assert tuple(pol.raw.shape) == (1, *SHAPE)
    assert bool((pol.raw == 0).all())
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():
        pol.raw.copy_(torch.randn(1, *SHAPE, generator=g, dtype=torch.float64) - 1.0)
    x, out = _batch(4)
    nll, ls = pol.nll(x, out)
    want = pol.raw.detach()
    if m is not None:
        want = m + torch.nn.functional.softplus(want - m)
    torch.testing.assert_close(ls.detach(), want)
    torch.testing.assert_close(nll.detach(), _normal_nll(x, out.x_mean, want))


def test_learned_vector_head_starts_at_unit_sigma() -> None:
    model = _small_model()
    pol = _policy("learned_vector", None)
    pol.setup(model, epochs=3)
    x = torch.rand(B, *SHAPE, dtype=torch.float64)
    out = model(x)
    ls = pol.log_sigma(x, out)
    assert ls.shape == x.shape
    assert bool((ls == 0).all())
    torch.testing.assert_close(pol.nll(x, out)[0], _normal_nll(x, out.x_mean, torch.zeros(())))
    # The head is trainable: its (zeroed) last layer gets a gradient.
    pol.nll(x, out)[0].mean().backward()
    grads = [p.grad for p in pol.parameters()]
    assert grads and all(gr is not None for gr in grads)
    assert any(float(gr.abs().sum()) > 0 for gr in grads if gr is not None)
    # With the default floor, the start is the floor's image of 0 (≈ 0.0025).
    floored = _policy("learned_vector", -6.0)
    floored.setup(model, epochs=3)
    expected = -6.0 + math.log1p(math.exp(6.0))
    torch.testing.assert_close(
        floored.log_sigma(x, out), torch.full_like(x, expected), rtol=0, atol=1e-12
    )


# ----------------------------------------------------------------------------- optimal_global
def test_optimal_global_uses_batch_mean_squared_error() -> None:
    x, out = _batch(5, torch.tensor([1.0, 2.0, 0.5, 3.0, 1.0, 0.1], dtype=torch.float64))
    pol = _policy("optimal_global", None)
    nll, ls = pol.nll(x, out)
    s2 = (x - out.x_mean).pow(2).mean().detach()
    assert ls.item() == pytest.approx(0.5 * math.log(float(s2)))
    torch.testing.assert_close(nll, _normal_nll(x, out.x_mean, 0.5 * torch.log(s2)))
    # At σ² = the batch MSE, the batch-mean NLL is the closed form D/2·(log 2πσ² + 1).
    assert nll.mean().item() == pytest.approx(D / 2 * (math.log(2 * math.pi * float(s2)) + 1))


def test_optimal_global_detach_stops_the_gradient_through_sigma() -> None:
    scale = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.0, 0.1], dtype=torch.float64)
    grads = {}
    for detach in (False, True):
        x, out = _batch(6, scale)
        nll, _ = _policy("optimal_global", None, detach=detach).nll(x, out)
        # Example 0's NLL depends on example 1's reconstruction only through σ².
        (g0,) = torch.autograd.grad(nll[0], [out.x_mean], retain_graph=True)
        (g_mean,) = torch.autograd.grad(nll.mean(), [out.x_mean])
        grads[detach] = (g0, g_mean)
    assert float(grads[False][0][1].abs().sum()) > 1e-6
    assert float(grads[True][0][1].abs().sum()) == 0.0
    assert not torch.allclose(grads[False][0], grads[True][0])
    # Envelope theorem: σ² is the NLL's own optimum, so the batch-mean gradient is the same.
    torch.testing.assert_close(grads[False][1], grads[True][1])


def test_optimal_global_evaluates_with_the_last_epochs_sigma() -> None:
    pol = _policy("optimal_global", None)
    x1, out1 = _batch(7)
    x2, out2 = _batch(8, torch.full((B,), 2.0, dtype=torch.float64))
    pol.train()
    pol.nll(x1, out1)
    pol.nll(x2, out2)
    pol.end_epoch(0)
    s2 = (
        torch.cat([(x1 - out1.x_mean), (x2 - out2.x_mean)]).pow(2).mean().detach()
    )  # the epoch's average over both batches and all dimensions
    assert pol.describe()["sigma"] == pytest.approx(math.sqrt(float(s2)))
    pol.eval()
    x3, out3 = _batch(9)
    nll, _ = pol.nll(x3, out3)
    torch.testing.assert_close(nll.detach(), _normal_nll(x3, out3.x_mean, 0.5 * torch.log(s2)))
    # ... the same whether the split is evaluated whole or one example at a time.
    one = torch.cat([pol.nll(x3[i : i + 1], _row(out3, i))[0] for i in range(B)])
    torch.testing.assert_close(one.detach(), nll.detach())


def _row(out: VAEOutput, i: int) -> VAEOutput:
    s = slice(i, i + 1)
    return VAEOutput(out.mu_z[s], out.logvar_z[s], out.z[s], out.x_mean[s], out.features[s])


# ----------------------------------------------------------------------------- staged
def test_staged_stage1_is_a_global_sigma_learned_from_one() -> None:
    # 003 Algorithm 1, stage 1: σ initialised at 1, learned by the optimiser on eq. 9's ELBO,
    # whose Gaussian term is Σ_d (x − μ)²/(2σ²) + D log σ + D/2 log 2π; by hand here.
    model = _small_model()
    pol = _policy("staged", None, stage1_epochs=2)
    assert isinstance(pol, Staged)
    pol.setup(model, epochs=4)
    pol.start_epoch(0)
    assert pol.in_stage1() and not pol.data_dependent and pol.learned
    x, out = _batch(3)
    nll, ls = pol.nll(x, out)
    assert float(ls.detach()) == 0.0  # σ = 1
    sq = (x - out.x_mean).detach().pow(2).reshape(B, -1).sum(dim=1)
    torch.testing.assert_close(nll.detach(), sq / 2 + D * 0.5 * LOG_2PI)
    # d mean NLL / d log σ = D − mean Σ(x − μ)²/σ²: zero exactly at σ² = mse/D (eq. 10).
    (g,) = torch.autograd.grad(nll.mean(), [pol.raw])
    assert float(g) == pytest.approx(D - float(sq.mean()))
    groups = pol.sigma_parameters()
    assert groups[0] == ([pol.raw], pol.lr) and pol.lr is not None and pol.lr > 1e-3
    assert groups[1][1] is None  # the stage-2 head trains at train.lr


def _staged_after(log_sigmas: list[float], **opts: object) -> Staged:
    """A staged policy whose stage-1 σ read log_sigmas[e] at the end of epoch e."""
    pol = _policy("staged", None, **opts)
    assert isinstance(pol, Staged)
    pol.setup(_small_model(), epochs=20)
    for epoch, value in enumerate(log_sigmas):
        pol.start_epoch(epoch)
        assert pol.in_stage1(), epoch
        with torch.no_grad():
            pol.raw.fill_(value)
        pol.end_epoch(epoch)
    return pol


def test_staged_switches_once_log_sigma_has_settled() -> None:
    # |Δ log σ| < tol for `patience` epochs in a row: epochs 2 and 3 (Δ 0.005, 0.003).
    pol = _staged_after([0.0, -1.0, -1.005, -1.008], tol=0.01, patience=2)
    pol.start_epoch(4)
    assert not pol.in_stage1() and pol.learned
    assert pol.stage2_floor() == pytest.approx(-1.008)  # frozen at the stage-1 σ
    model = _small_model()
    x = torch.rand(B, *SHAPE, dtype=torch.float64)
    out = model(x)
    start = -1.008 + math.log1p(math.exp(-START_GAP))  # the zeroed head starts just above
    torch.testing.assert_close(pol.log_sigma(x, out), torch.full_like(x, start))


def test_staged_patience_resets_on_a_large_change() -> None:
    pol = _staged_after([0.0, -0.005, -0.5, -0.505], tol=0.01, patience=2)
    assert int(pol.calm) == 1
    pol.start_epoch(4)
    assert pol.in_stage1()


def test_staged_switches_at_stage1_epochs_without_convergence() -> None:
    pol = _staged_after([-0.1 * (e + 1) for e in range(3)], stage1_epochs=3)
    pol.start_epoch(3)
    assert not pol.in_stage1()
    assert pol.stage2_floor() == pytest.approx(-0.3)


def test_staged_default_cap_is_half_the_epochs() -> None:
    pol = _policy("staged", -6.0, tol=0.0)  # tol 0: the condition never holds
    assert isinstance(pol, Staged)
    pol.setup(_small_model(), epochs=10)
    for epoch in range(5):
        pol.start_epoch(epoch)
        assert pol.in_stage1()
        pol.end_epoch(epoch)
    pol.start_epoch(5)
    assert not pol.in_stage1()


def test_staged_closed_form_stage1_is_optimal_global() -> None:
    model = _small_model()
    pol = _policy("staged", None, stage1="closed_form", stage1_epochs=2, tol=0.0)
    vec = _policy("learned_vector", None)
    assert isinstance(pol, Staged) and isinstance(vec, LearnedVector)
    glob = _policy("optimal_global", None)
    pol.setup(model, epochs=4)
    [(head, head_lr)] = pol.sigma_parameters()  # no stage-1 parameter to learn
    assert head == list(pol.head.parameters()) and head_lr is None
    vec.setup(model, epochs=4)
    vec.head.load_state_dict(pol.head.state_dict())
    torch.manual_seed(1)
    xs = [torch.rand(B, *SHAPE, dtype=torch.float64) for _ in range(2)]
    sq_last = []
    for epoch in range(2):  # stage 1: exactly optimal_global
        pol.start_epoch(epoch)
        assert pol.in_stage1() and pol.data_dependent and not pol.learned
        for x in xs:
            out = model(x)
            nll, ls = pol.nll(x, out)
            want, want_ls = glob.nll(x, out)
            torch.testing.assert_close(nll, want)
            torch.testing.assert_close(ls, want_ls)
            if epoch == 1:
                sq_last.append((x - out.x_mean).detach().pow(2))
        pol.end_epoch(epoch)
    log_star = 0.5 * math.log(float(torch.cat(sq_last).mean()))
    pol.start_epoch(2)  # stage 2: learned σ(z) per dimension, floored at the stage-1 σ*
    assert not pol.in_stage1() and not pol.data_dependent
    assert pol.stage2_floor() == pytest.approx(log_star)
    x = xs[0]
    out = model(x)
    # It continues from stage 1: the untrained head starts just above σ*, not at σ = 1.
    start = log_star + math.log1p(math.exp(-START_GAP))
    torch.testing.assert_close(pol.log_sigma(x, out), torch.full_like(x, start))
    assert start - log_star < 0.15
    with torch.no_grad():  # move the head so that part of its output is below σ*
        for p in pol.head.parameters():
            p.normal_(0, 1.0)
    vec.head.load_state_dict(pol.head.state_dict())
    out = model(x)
    raw = vec.log_sigma(x, out) + (log_star - START_GAP)  # the head, relative to the floor
    assert bool((raw < log_star).any()) and bool((raw > log_star).any())
    ls = pol.log_sigma(x, out)
    torch.testing.assert_close(ls, log_star + torch.nn.functional.softplus(raw - log_star))
    assert bool((ls >= log_star).all())
    torch.testing.assert_close(pol.nll(x, out)[0], _normal_nll(x, out.x_mean, ls))
    (g,) = torch.autograd.grad(pol.nll(x, out)[0].sum(), [next(pol.head.parameters())])
    assert bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0


def test_staged_floor_is_at_least_min_log_sigma() -> None:
    # A stage-1 σ below the configured floor must not lower the floor.
    pol = _staged_after([-8.0], stage1_epochs=1)
    pol.min_log_sigma = -1.0
    pol.start_epoch(1)
    assert not pol.in_stage1()
    assert pol.stage2_floor() == -1.0


@pytest.mark.parametrize(
    ("opts", "field"),
    [
        ({"stage1": "median"}, "objective.sigma.stage1"),
        ({"detach": True}, "objective.sigma.detach"),
        ({"tol": -0.1}, "objective.sigma.tol"),
        ({"patience": 0}, "objective.sigma.patience"),
        ({"lr": 0.0}, "objective.sigma.lr"),
    ],
)
def test_staged_options_are_validated(opts: dict[str, object], field: str) -> None:
    with pytest.raises(SpecError) as err:
        trial_config({"objective": {"sigma": {"policy": "staged", **opts}}})
    assert err.value.field.startswith("objective.sigma"), err.value
    assert field.rsplit(".", 1)[1] in str(err.value), err.value
