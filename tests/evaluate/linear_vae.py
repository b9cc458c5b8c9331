"""A linear-Gaussian VAE whose marginal likelihood is known in closed form.

x = W z + b + ε, z ~ N(0, I_J), ε ~ N(0, σ² I_D)  ⇒  p(x) = N(b, W Wᵀ + σ² I).
The exact posterior is N(S Wᵀ (x − b) / σ², S) with S = (I + WᵀW / σ²)⁻¹. The encoder
here emits that mean (times ``mean_scale``) and the marginal variances diag S (times
``var_scale``): exact when WᵀW is diagonal, near-exact otherwise (it drops correlations).
"""

from __future__ import annotations

import torch
from rdlab.model import VAEModel
from torch import Tensor, nn
from torch.distributions import MultivariateNormal


class LinearGaussianVAE(VAEModel):
    W: Tensor
    b: Tensor
    A: Tensor
    logvar: Tensor

    def __init__(
        self,
        W: Tensor,
        b: Tensor,
        sigma: float,
        *,
        mean_scale: float = 1.0,
        var_scale: float = 1.0,
    ) -> None:
        d, j = W.shape
        super().__init__((d,), j)
        eye = torch.eye(j, dtype=W.dtype)
        S = torch.linalg.inv(eye + W.T @ W / sigma**2)
        self.sigma = sigma
        self.register_buffer("W", W)
        self.register_buffer("b", b)
        self.register_buffer("A", mean_scale * S @ W.T / sigma**2)  # μ_z = A (x − b)
        self.register_buffer("logvar", torch.log(var_scale * torch.diagonal(S)))
        self.mean_head = self.make_output_head()

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu = (x - self.b) @ self.A.T
        return mu, self.logvar.expand_as(mu)

    def decode_features(self, z: Tensor) -> Tensor:
        return z @ self.W.T + self.b

    def make_output_head(self) -> nn.Module:
        # The features are μ_x itself; the mean head is an identity Linear, so a σ head
        # (learned_vector) is a real, trainable layer over them.
        d = self.W.shape[0]
        head = nn.Linear(d, d).to(self.W.dtype)
        with torch.no_grad():
            head.weight.copy_(torch.eye(d))
            head.bias.zero_()
        return head

    def marginal(self) -> MultivariateNormal:
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(self.W.shape[0], dtype=self.W.dtype)
        return MultivariateNormal(self.b, covariance_matrix=cov)

    def sample(self, n: int, seed: int = 0) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.latent_dim, generator=g, dtype=self.W.dtype)
        eps = torch.randn(n, self.W.shape[0], generator=g, dtype=self.W.dtype)
        return z @ self.W.T + self.b + self.sigma * eps


def linear_vae(
    d: int = 6, j: int = 2, sigma: float = 0.3, orthogonal: bool = False, seed: int = 0, **kw: float
) -> LinearGaussianVAE:
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(d, j, generator=g, dtype=torch.float64)
    if orthogonal:  # WᵀW diagonal: the diagonal posterior is exact
        q, _ = torch.linalg.qr(W)
        W = q * torch.linspace(1.0, 2.0, j, dtype=torch.float64)
    b = torch.randn(d, generator=g, dtype=torch.float64)
    return LinearGaussianVAE(W, b, sigma, **kw).double()
