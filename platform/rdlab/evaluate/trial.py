"""End-of-trial evaluation: the pure pieces of this package composed over a trial's splits.

Per evaluated split (``eval.splits``), in DESIGN §2 units (nats per example):

- everything :meth:`Trainer.evaluate` reports (``rate mse nll nll_opt elbo log_sigma_x``,
  ``bpd`` for discrete data, ``sigma_gap`` for learned σ), on the split as likelihoods see
  it: dequantised for discrete data (``DataSource.likelihood_split``);
- ``iwae`` — the K-sample bound (:mod:`.iwae`) on the split's first ``eval.iwae_examples``
  examples (dequantised as above), and ``iwae_elbo`` — L_1 from the same draws and
  density, the ELBO it bounds from above (for data-dependent σ policies it differs from
  ``elbo``, which uses x's own error as σ);
- ``active_units``, ``rate_dim_<j>`` and ``agg_kl`` (:mod:`.latent`);
- ``fd_recon``, ``fd_prior``, ``fd_gmm`` (:mod:`.frechet`) against the split's real data, each
  generated set as large as the split (≤ 10k); or, with ``eval.fd_reference``, against one
  named split for every evaluated split, with ``eval.fd_samples`` prior and GMM examples
  and, with ``eval.fd_bootstrap``, a 95 % bootstrap interval ``fd_*_lo``/``fd_*_hi`` (the
  defaults cost what they did); ``fd_clf_acc`` is the test accuracy of the
  classifier whose features they use (NaN in the raw-data space; unlabelled images and
  vectors wider than 1024 have no feature space: ``fd_*`` NaN); ``fid_*`` likewise with
  InceptionV3 features when ``eval.inception_weights`` names a local file.

Generation from the aggregate posterior samples a GMM fitted to the TRAINING split's codes
z ~ q(z|x), as 003 §3.5 fits it on the training data: the evaluated split's own GMM (which
``agg_kl`` measures) would hand its examples back and flatter ``fd_gmm``. Reconstructions
decode z = μ_z. NaN marks a metric that does not apply (K = 0, no feature space, < 2
examples). Pictures (:mod:`.pictures`, :mod:`.render`) are drawn once, for ``val`` when
evaluated (else the first split), under ``<out_dir>/artifacts``; their paths relative to
``out_dir`` are in the result (and announced through ``on_artifacts`` as soon as they are
drawn, so a tracker uploads them while the split metrics are computed).

The evaluation takes what it uses (:class:`Subject`: model, σ policy, data, config,
history, output folder) and the Fréchet classifier's source (:mod:`.classifier`: a cache
folder, or the bytes a study driver trained once and shipped to every trial).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import Tensor

from rdlab.config import EvalConfig, TrialConfig
from rdlab.data import DataSource
from rdlab.evaluate import latent
from rdlab.evaluate._util import eval_mode, seeded
from rdlab.evaluate.classifier import ClassifierSource, FrechetClassifier, Labelled, has_labels
from rdlab.evaluate.frechet import (
    FeatureFn,
    batched_features,
    frechet_between,
    frechet_interval,
    raw_features,
)
from rdlab.evaluate.inception import inception_features, load_inception
from rdlab.evaluate.iwae import IWAEResult, fit_shared_sigma2s, iwae_bounds
from rdlab.evaluate.pictures import N_SAMPLES, data_kind, picture_data
from rdlab.evaluate.render import render_all
from rdlab.frontier.rows import sweep_key
from rdlab.model import Alone, ModelStack, VAEModel, as_beta_conditioned
from rdlab.objectives.sigma import SigmaPolicy
from rdlab.train.member import validate_members

if TYPE_CHECKING:
    from sklearn.mixture import GaussianMixture

FD_MAX = 10_000  # real examples in a Fréchet distance (and generated ones by default)
FD_SETS = ("recon", "prior", "gmm")
RAW_MAX_DIM = 1024  # raw data as the Fréchet space up to this width (a D×D covariance)
NAN = math.nan


@dataclass(frozen=True)
class Subject:
    """What the evaluation reads of a trained trial."""

    cfg: TrialConfig
    model: VAEModel
    policy: SigmaPolicy
    data: DataSource
    history: list[dict[str, float]]
    out_dir: Path

    def validate(self, split: str) -> dict[str, float]:
        """The per-epoch metrics of a split, as the training loop computes them."""
        return validate_members(Alone(self.model), [self.policy], [self.cfg], self.data, split)[0]


@dataclass
class SplitPass:
    """One member's share of a split's batched pass (:func:`batched_passes`)."""

    metrics: dict[str, float]  # the per-epoch metrics (:meth:`Subject.validate`)
    mu: Tensor  # [N, J], μ_z of the split as likelihoods see it
    logvar: Tensor
    iwae: IWAEResult | None  # None when eval.iwae_k is 0 or the split is empty


@dataclass
class Batched:
    """What one member gets from the passes a pack makes together (model arithmetic only;
    GMMs, Fréchet distances and pictures stay per member)."""

    shared_log_sigma: float | None  # σ* of the IWAE density for data-dependent policies
    splits: dict[str, SplitPass]
    wall_s: float = 0.0  # this member's share of the passes' time


@dataclass
class EvalResult:
    metrics: dict[str, dict[str, float]]  # split (or sweep key) → metric → value
    artifacts: list[str] = field(default_factory=list)  # relative to the subject's out_dir
    wall_s: float = 0.0
    classifier: str | None = None  # sha256 of the Fréchet classifier used, if any
    shared_sigma: float | None = None  # σ* of the IWAE density for data-dependent policies


@dataclass
class TrialContext:
    """What every split shares: the density's σ*, the generator GMM, the feature spaces."""

    shared_log_sigma: float | None
    gmm: GaussianMixture | None  # the training split's aggregate posterior (003 §3.5)
    features: FeatureFn | None
    clf_acc: float
    inception: FeatureFn | None
    seed: int
    classifier_hash: str | None = None


def evaluate_subject(
    subject: Subject,
    classifier: ClassifierSource | None = None,
    eval_cfg: EvalConfig | None = None,
    *,
    artifacts_dir: Path | None = None,
    on_artifacts: Callable[[list[str]], None] | None = None,
    batched: Batched | None = None,
) -> EvalResult:
    """Every split of ``eval.splits`` (``eval_cfg`` overrides the trial's, as ``rdlab eval
    --k`` does) and the pictures. ``classifier`` supplies the Fréchet feature network for
    labelled data (None: no classifier-space distances). ``batched``: this member's share of
    its pack's passes (:func:`evaluate_pack`); None: the subject's own, as a stack of one."""
    ev = eval_cfg or subject.cfg.eval
    t0 = time.perf_counter()
    if batched is None:
        batched = batched_passes([subject], Alone(subject.model), ev)[0]
    ctx = trial_context(subject, ev, classifier, batched.shared_log_sigma)
    written: list[str] = []
    if ev.pictures and ev.splits:
        # First, and announced: a tracker uploads them while the split metrics below are
        # computed, off the trial's critical path.
        out = subject.out_dir
        try:
            paths = draw_pictures(
                subject, ctx, _picture_split(ev), artifacts_dir or out / "artifacts"
            )
        except Exception as err:  # a picture is never worth a finished trial's numbers
            warnings.warn(f"rdlab: pictures not drawn ({type(err).__name__}: {err})", stacklevel=2)
            paths = []
        written = [_relative(p, out) for p in paths]
        if on_artifacts is not None:
            on_artifacts(list(written))
    results = {
        split: split_metrics(subject, ev, ctx, split, batched.splits[split], salt=i)
        for i, split in enumerate(ev.splits)
    }
    if subject.model.beta_conditioned:  # multi-rate VAE: also one result per β of its grid
        results.update(beta_sweep(subject, ev, classifier))
    return EvalResult(
        metrics=results,
        artifacts=written,
        wall_s=time.perf_counter() - t0 + batched.wall_s,
        classifier=ctx.classifier_hash,
        shared_sigma=None if ctx.shared_log_sigma is None else math.exp(ctx.shared_log_sigma),
    )


def evaluate_pack(
    subjects: list[Subject],
    stack: ModelStack | None,
    classifier: ClassifierSource | None = None,
    *,
    on_artifacts: Sequence[Callable[[list[str]], None] | None] | None = None,
) -> list[EvalResult]:
    """:func:`evaluate_subject` for the members of one pack (same data, model shape and
    ``eval`` settings), their model arithmetic batched over ``stack`` — the split metrics,
    the IWAE bound, the latent codes, σ* — and the rest per member. Each member's numbers
    equal its own evaluation's up to batched-matmul round-off (``tests/perf``); its
    ``wall_s`` counts its 1/K share of the batched passes. ``stack`` None: one by one."""
    hooks = list(on_artifacts or [None] * len(subjects))
    if stack is None or len(subjects) == 1:
        return [
            evaluate_subject(s, classifier, on_artifacts=h)
            for s, h in zip(subjects, hooks, strict=True)
        ]
    passes = batched_passes(subjects, stack, subjects[0].cfg.eval)
    return [
        evaluate_subject(s, classifier, on_artifacts=h, batched=b)
        for s, h, b in zip(subjects, hooks, passes, strict=True)
    ]


def context_seed(cfg: TrialConfig) -> int:
    return cfg.train.seed + 104_729


def _needs_shared_sigma(policy: SigmaPolicy, ev: EvalConfig) -> bool:
    return policy.data_dependent and (ev.frechet or ev.pictures or ev.iwae_k > 0)


def batched_passes(subjects: list[Subject], stack: ModelStack, ev: EvalConfig) -> list[Batched]:
    """The model passes of the evaluation, all members of ``stack`` at once (``subjects[k]``
    is member k): σ* of the IWAE density (data-dependent policies), and per split the
    per-epoch metrics, the codes and the IWAE bound, each member from its own seeds."""
    t0 = time.perf_counter()
    lead = subjects[0]
    data, bs = lead.data, lead.cfg.train.eval_batch_size
    policies = [s.policy for s in subjects]
    seeds = [context_seed(s.cfg) for s in subjects]
    shared: list[float | None] = [None] * len(subjects)
    need = [_needs_shared_sigma(p, ev) for p in policies]
    if any(need):
        # σ* of the density the IWAE bound scores: fitted on the data as likelihoods see it
        # (dequantised for discrete data, rdlab.data.base).
        s2 = fit_shared_sigma2s(stack, data.likelihood_split("train"), bs, seeds)
        for k, p in enumerate(policies):
            if need[k]:
                shared[k] = float(p.floor(torch.tensor(0.5 * math.log(max(s2[k], 1e-30)))))
    splits: list[dict[str, SplitPass]] = [{} for _ in subjects]
    for i, split in enumerate(ev.splits):
        metrics = validate_members(stack, policies, [s.cfg for s in subjects], data, split)
        # The encoder pass behind ``rate`` saw the split as likelihoods see it (dequantised
        # for discrete data), so the per-dimension rates, active units and the IWAE bound use
        # the same input; Fréchet distances compare with the real (raw) images.
        x_lik = data.likelihood_split(split)
        mu, logvar = latent.encode_members(stack, x_lik, bs)
        iwae: list[IWAEResult | None] = [None] * len(subjects)
        if ev.iwae_k > 0 and x_lik.shape[0] > 0:
            iwae = list(
                iwae_bounds(
                    stack,
                    policies,
                    x_lik[: ev.iwae_examples],
                    ev.iwae_k,
                    shared_log_sigmas=shared,
                    seeds=[split_seed(s, i) for s in seeds],
                )
            )
        for k in range(len(subjects)):
            splits[k][split] = SplitPass(metrics[k], mu[k], logvar[k], iwae[k])
    share = (time.perf_counter() - t0) / len(subjects)
    return [Batched(sh, sp, share) for sh, sp in zip(shared, splits, strict=True)]


def split_seed(context: int, salt: int) -> int:
    """The seed of the ``salt``-th evaluated split's draws (IWAE, GMM, generated sets)."""
    return context + 1_000 * (salt + 1)


def trial_context(
    subject: Subject,
    ev: EvalConfig,
    classifier: ClassifierSource | None,
    shared_log_sigma: float | None = None,
) -> TrialContext:
    """What every split shares; ``shared_log_sigma`` from :func:`batched_passes`."""
    model, data, bs = subject.model, subject.data, subject.cfg.train.eval_batch_size
    seed = context_seed(subject.cfg)
    needs_train = ev.frechet or ev.pictures or _needs_shared_sigma(subject.policy, ev)
    x_train = data.split("train") if needs_train else None
    gmm = None
    if x_train is not None and x_train.shape[0] >= 2:
        mu, logvar = latent.encode_split(model, x_train, bs)
        gmm = _try_gmm(mu, logvar, ev.gmm_components, seed)
    clf = _classifier(subject, classifier) if ev.frechet else None
    features, acc = _feature_space(subject, clf) if ev.frechet else (None, NAN)
    inception = _inception(subject, ev) if ev.frechet else None
    digest = clf.digest if clf is not None else None
    return TrialContext(shared_log_sigma, gmm, features, acc, inception, seed, digest)


def split_metrics(
    subject: Subject, ev: EvalConfig, ctx: TrialContext, split: str, sp: SplitPass, salt: int = 0
) -> dict[str, float]:
    """One split's metrics: its batched pass ``sp`` and the member's own diagnostics."""
    seed = split_seed(ctx.seed, salt)
    m = dict(sp.metrics)
    x = subject.data.split(split)
    mu, logvar = sp.mu, sp.logvar
    m["iwae"] = m["iwae_elbo"] = NAN
    if sp.iwae is not None:
        m["iwae"], m["iwae_elbo"] = sp.iwae.iwae, sp.iwae.elbo
    m["active_units"] = float(latent.active_units(mu))
    gmm = _try_gmm(mu, logvar, ev.gmm_components, seed) if x.shape[0] >= 2 else None
    m["agg_kl"] = NAN if gmm is None else latent.gmm_prior_kl(gmm, seed=seed)
    x_fd, mu_fd = x[:FD_MAX], mu[:FD_MAX]
    if ev.frechet and ev.fd_reference not in ("split", split):  # one real set for all splits
        x_fd = subject.data.split(ev.fd_reference)[:FD_MAX]
        ref = subject.data.likelihood_split(ev.fd_reference)[:FD_MAX]
        mu_fd = latent.encode_split(subject.model, ref, subject.cfg.train.eval_batch_size)[0]
    m.update(frechet_metrics(subject, ctx, x_fd, mu_fd, seed, ev))
    for j, r_j in enumerate(latent.rate_per_dim(mu, logvar)):
        m[f"rate_dim_{j}"] = r_j
    return m


def generated_sets(
    subject: Subject, ctx: TrialContext, mu: Tensor, seed: int, n: int | None = None
) -> dict[str, Tensor | None]:
    """Decoder means for reconstructions (z = μ_z) and for ``n`` prior and GMM codes (as
    many as ``mu`` when None)."""
    model, bs = subject.model, subject.cfg.train.eval_batch_size
    n = mu.shape[0] if n is None else n
    with seeded(seed, mu.device):
        z_prior = torch.randn(n, model.latent_dim, device=mu.device, dtype=mu.dtype)
    z_gmm = None if ctx.gmm is None else _gmm_codes(ctx.gmm, n, seed, mu)
    return {
        "recon": _decode_means(subject, mu, bs),
        "prior": _decode_means(subject, z_prior, bs),
        "gmm": None if z_gmm is None else _decode_means(subject, z_gmm, bs),
    }


def frechet_metrics(
    subject: Subject,
    ctx: TrialContext,
    x: Tensor,
    mu: Tensor,
    seed: int,
    ev: EvalConfig | None = None,
) -> dict[str, float]:
    """Fréchet distances of reconstructions (of ``x``, codes ``mu``) and of prior and GMM
    samples (``eval.fd_samples`` of each, else as many as ``x``) to the real ``x``; with
    ``eval.fd_bootstrap`` resamples, ``fd_<set>_lo``/``_hi`` bound each (95 %)."""
    ev = ev or subject.cfg.eval
    out = {"fd_recon": NAN, "fd_prior": NAN, "fd_gmm": NAN, "fd_clf_acc": ctx.clf_acc}
    if ev.fd_bootstrap > 0:
        out.update({f"fd_{name}_{end}": NAN for name in FD_SETS for end in ("lo", "hi")})
    spaces = [("fd", ctx.features), ("fid", ctx.inception)]
    if all(fn is None for _, fn in spaces) or x.shape[0] < 2:
        return out
    gen = generated_sets(subject, ctx, mu, seed, ev.fd_samples)
    for prefix, fn in spaces:
        if fn is None:
            continue
        bs = 64 if prefix == "fid" else subject.cfg.train.eval_batch_size
        real = batched_features(fn, x, bs)
        for name, g in gen.items():
            key = f"{prefix}_{name}"
            if g is None:
                out[key] = NAN
                continue
            fake = batched_features(fn, g, bs)
            out[key] = frechet_between(real, fake)
            if ev.fd_bootstrap > 0:
                out[f"{key}_lo"], out[f"{key}_hi"] = frechet_interval(
                    real, fake, ev.fd_bootstrap, seed
                )
    return out


def draw_pictures(subject: Subject, ctx: TrialContext, split: str, out_dir: Path) -> list[Path]:
    x = subject.data.split(split)[:FD_MAX]
    kind = data_kind(tuple(x.shape[1:]), subject.data.is_image)
    n_gen = N_SAMPLES if kind == "image" else x.shape[0]
    z_gmm = None if ctx.gmm is None else _gmm_codes(ctx.gmm, n_gen, ctx.seed + 7, x)
    data = picture_data(
        subject.model,
        subject.policy,
        x,
        is_image=subject.data.is_image,
        z_gmm=z_gmm,
        shared_log_sigma=ctx.shared_log_sigma,
        history=subject.history,
        seed=ctx.seed + 7,
    )
    return render_all(data, out_dir)


# ----------------------------------------------------------------------------- helpers
def _classifier(subject: Subject, source: ClassifierSource | None) -> FrechetClassifier | None:
    data = subject.data
    if source is None or not has_labels(data):
        return None
    return source.get(cast(Labelled, data), subject.cfg.dataset.flat())


def _feature_space(
    subject: Subject, clf: FrechetClassifier | None
) -> tuple[FeatureFn | None, float]:
    data = subject.data
    if clf is not None:
        return clf.net.features, clf.test_acc
    if not data.is_image and data.dim <= RAW_MAX_DIM and not has_labels(data):
        return raw_features, NAN
    return None, NAN  # unlabelled images, very wide vectors: no in-project feature space


def _inception(subject: Subject, ev: EvalConfig) -> FeatureFn | None:
    if not ev.inception_weights or not subject.data.is_image:
        return None
    net = load_inception(ev.inception_weights, _device(subject))
    return lambda x: inception_features(net, x)


def _try_gmm(mu: Tensor, logvar: Tensor, components: int, seed: int) -> GaussianMixture | None:
    try:
        return latent.fit_gmm(latent.posterior_codes(mu, logvar, seed), components, seed)
    except ValueError:  # < 2 distinct codes, or non-finite ones: the diagnostic is NaN
        return None


def _gmm_codes(gmm: GaussianMixture, n: int, seed: int, like: Tensor) -> Tensor:
    z = latent.sample_gmm(gmm, n, seed)
    return torch.as_tensor(z, dtype=like.dtype, device=like.device)


def _decode_means(subject: Subject, z: Tensor, batch_size: int) -> Tensor:
    model = subject.model
    with eval_mode(model):
        return torch.cat(
            [model.decode(z[i : i + batch_size])[0] for i in range(0, z.shape[0], batch_size)]
        )


def _device(subject: Subject) -> torch.device:
    ref = next(subject.model.parameters(), None)
    return ref.device if ref is not None else torch.device("cpu")


def _picture_split(ev: EvalConfig) -> str:
    return "val" if "val" in ev.splits else ev.splits[0]


def _relative(p: Path, root: Path) -> str:
    try:
        return str(p.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p)


def as_jsonable(results: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """NaN → None, so the numbers are strict JSON."""
    return {
        s: {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in m.items()}
        for s, m in results.items()
    }


def beta_sweep(
    subject: Subject, ev: EvalConfig, classifier: ClassifierSource | None
) -> dict[str, dict[str, float]]:
    """The β sweep of a β-conditioned model (Bae et al. 2023's multi-rate VAE): one trained
    network evaluated at every β of its grid gives a whole rate–distortion curve.

    At each β the model is conditioned on log β and the ordinary per-split evaluation runs
    unchanged, with its own context (the GMM of the aggregate posterior and the shared σ*
    both depend on β). Results go under :func:`rdlab.frontier.rows.sweep_key`
    (``val/beta_0.01``), each with ``beta_eval`` set, and become one RD row per (split, β).
    Pictures are drawn once, at the model's default β, by :func:`evaluate_subject`.
    """
    model = as_beta_conditioned(subject.model)
    if model is None:
        return {}
    no_pictures = ev.model_copy(update={"pictures": False})
    out: dict[str, dict[str, float]] = {}
    for beta in model.sweep_betas():
        with model.conditioned(math.log(beta)):
            b = batched_passes([subject], Alone(subject.model), no_pictures)[0]
            ctx = trial_context(subject, no_pictures, classifier, b.shared_log_sigma)
            for i, split in enumerate(ev.splits):
                m = split_metrics(subject, no_pictures, ctx, split, b.splits[split], salt=i)
                out[sweep_key(split, beta)] = {**m, "beta_eval": beta}
    return out
