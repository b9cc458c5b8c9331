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
  generated set as large as the split (≤ 10k); ``fd_clf_acc`` is the test accuracy of the
  classifier whose features they use (NaN in the raw-data space; unlabelled images and
  vectors wider than 1024 have no feature space: ``fd_*`` NaN); ``fid_*`` likewise with
  InceptionV3 features when ``eval.inception_weights`` names a local file.

Generation from the aggregate posterior samples a GMM fitted to the TRAINING split's codes
z ~ q(z|x), as 003 §3.5 fits it on the training data: the evaluated split's own GMM (which
``agg_kl`` measures) would hand its examples back and flatter ``fd_gmm``. Reconstructions
decode z = μ_z. NaN marks a metric that does not apply (K = 0, no feature space, < 2
examples). Pictures (:mod:`.pictures`, :mod:`.render`) are drawn once, for ``val`` when
evaluated (else the first split), under ``<out_dir>/artifacts``; their paths relative to
``out_dir`` go to ``trainer.extra_state["artifacts"]`` for MLflow and the Parquet rows.

Frechet classifier cache: ``cache_dir`` argument, else ``trainer.cache_dir`` when the
caller set one (a study: ``<storage root>/.cache``), else ``$RDLAB_CACHE``, else
``<out_dir>/../.cache``; the weights live in its ``frechet/`` folder.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import Tensor

from rdlab.config import EvalConfig
from rdlab.evaluate import latent
from rdlab.evaluate._util import eval_mode, seeded
from rdlab.evaluate.frechet import FeatureFn, batched_features, frechet_between, raw_features
from rdlab.evaluate.iwae import fit_shared_sigma2, iwae_bound

if TYPE_CHECKING:
    from sklearn.mixture import GaussianMixture

    from rdlab.train.trainer import Trainer

CACHE_ENV = "RDLAB_CACHE"
FD_MAX = 10_000  # examples per set in a Fréchet distance
RAW_MAX_DIM = 1024  # raw data as the Fréchet space up to this width (a D×D covariance)
NAN = math.nan


@dataclass
class TrialContext:
    """What every split shares: the density's σ*, the generator GMM, the feature spaces."""

    shared_log_sigma: float | None
    gmm: GaussianMixture | None  # the training split's aggregate posterior (003 §3.5)
    features: FeatureFn | None
    clf_acc: float
    inception: FeatureFn | None
    seed: int


def resolve_cache_dir(out_dir: Path, cache_dir: Path | str | None = None) -> Path:
    """The cache root for a trial writing to ``out_dir`` (``frechet/`` holds the classifier):
    ``cache_dir`` when given, else ``$RDLAB_CACHE``, else ``<out_dir>/../.cache``."""
    for candidate in (cache_dir, os.environ.get(CACHE_ENV)):
        if candidate:
            return Path(candidate).expanduser()
    return Path(out_dir).resolve().parent / ".cache"


def evaluate_trial(
    trainer: Trainer,
    eval_cfg: EvalConfig | None = None,
    *,
    cache_dir: Path | str | None = None,
    artifacts_dir: Path | None = None,
) -> dict[str, dict[str, float]]:
    """{split: {metric: float}} for ``eval.splits``; pictures and artifact list as a side effect.

    ``eval_cfg`` overrides ``trainer.cfg.eval`` (``rdlab eval --k``) without touching the
    trial's config.
    """
    ev = eval_cfg or trainer.cfg.eval
    t0 = time.perf_counter()
    cache = resolve_cache_dir(trainer.out_dir, cache_dir or getattr(trainer, "cache_dir", None))
    ctx = trial_context(trainer, ev, cache / "frechet")
    if ev.pictures and ev.splits:
        # First, and announced (``on_artifacts``): a tracker uploads them while the split
        # metrics below are computed, off the trial's critical path.
        out = trainer.out_dir
        try:
            written = draw_pictures(
                trainer, ctx, _picture_split(ev), artifacts_dir or out / "artifacts"
            )
        except Exception as err:  # a picture is never worth a finished trial's numbers
            warnings.warn(f"rdlab: pictures not drawn ({type(err).__name__}: {err})", stacklevel=2)
            written = []
        trainer.extra_state["artifacts"] = [_relative(p, out) for p in written]
        trainer.notify("on_artifacts", list(trainer.extra_state["artifacts"]))
    results = {
        split: split_metrics(trainer, ev, ctx, split, salt=i) for i, split in enumerate(ev.splits)
    }
    if trainer.model.beta_conditioned:  # multi-rate VAE: also one result per β of its grid
        from rdlab.evaluate.multirate import beta_sweep

        results.update(beta_sweep(trainer, ev, cache / "frechet"))
    trainer.extra_state["eval_wall_s"] = time.perf_counter() - t0
    return results


def trial_context(trainer: Trainer, ev: EvalConfig, frechet_cache: Path) -> TrialContext:
    model, data, bs = trainer.model, trainer.data, trainer.cfg.train.eval_batch_size
    seed = trainer.cfg.train.seed + 104_729
    needs_train = (ev.frechet or ev.pictures) or (ev.iwae_k > 0 and trainer.policy.data_dependent)
    x_train = data.split("train") if needs_train else None
    shared = None
    if trainer.policy.data_dependent and x_train is not None:
        # σ* of the density the IWAE bound scores: fitted on the data as likelihoods see it
        # (dequantised for discrete data, rdlab.data.base).
        s2 = fit_shared_sigma2(model, data.likelihood_split("train"), bs, seed=seed)
        ls = trainer.policy.floor(torch.tensor(0.5 * math.log(max(s2, 1e-30))))
        shared = float(ls)
        trainer.extra_state["iwae_sigma"] = math.exp(shared)
    gmm = None
    if x_train is not None and x_train.shape[0] >= 2:
        mu, logvar = latent.encode_split(model, x_train, bs)
        gmm = _try_gmm(mu, logvar, ev.gmm_components, seed)
    features, acc = _feature_space(trainer, frechet_cache) if ev.frechet else (None, NAN)
    inception = _inception(trainer, ev) if ev.frechet else None
    return TrialContext(shared, gmm, features, acc, inception, seed)


def split_metrics(
    trainer: Trainer, ev: EvalConfig, ctx: TrialContext, split: str, salt: int = 0
) -> dict[str, float]:
    model, policy, bs = trainer.model, trainer.policy, trainer.cfg.train.eval_batch_size
    seed = ctx.seed + 1_000 * (salt + 1)
    m = dict(trainer.evaluate(split))
    x = trainer.data.split(split)
    # The encoder pass behind ``rate`` saw the split as likelihoods see it (dequantised for
    # discrete data), so the per-dimension rates, active units and the IWAE bound use the
    # same input; Fréchet distances compare with the real (raw) images.
    x_lik = trainer.data.likelihood_split(split)
    mu, logvar = latent.encode_split(model, x_lik, bs)
    m["iwae"] = m["iwae_elbo"] = NAN
    if ev.iwae_k > 0 and x.shape[0] > 0:
        r = iwae_bound(
            model,
            policy,
            x_lik[: ev.iwae_examples],
            ev.iwae_k,
            shared_log_sigma=ctx.shared_log_sigma,
            seed=seed,
        )
        m["iwae"], m["iwae_elbo"] = r.iwae, r.elbo
    m["active_units"] = float(latent.active_units(mu))
    gmm = _try_gmm(mu, logvar, ev.gmm_components, seed) if x.shape[0] >= 2 else None
    m["agg_kl"] = NAN if gmm is None else latent.gmm_prior_kl(gmm, seed=seed)
    m.update(frechet_metrics(trainer, ctx, x[:FD_MAX], mu[:FD_MAX], seed))
    for j, r_j in enumerate(latent.rate_per_dim(mu, logvar)):
        m[f"rate_dim_{j}"] = r_j
    return m


def generated_sets(
    trainer: Trainer, ctx: TrialContext, mu: Tensor, seed: int
) -> dict[str, Tensor | None]:
    """Decoder means for reconstructions (z = μ_z) and for as many prior and GMM codes."""
    model, bs = trainer.model, trainer.cfg.train.eval_batch_size
    n = mu.shape[0]
    with seeded(seed, mu.device):
        z_prior = torch.randn(n, model.latent_dim, device=mu.device, dtype=mu.dtype)
    z_gmm = None if ctx.gmm is None else _gmm_codes(ctx.gmm, n, seed, mu)
    return {
        "recon": _decode_means(trainer, mu, bs),
        "prior": _decode_means(trainer, z_prior, bs),
        "gmm": None if z_gmm is None else _decode_means(trainer, z_gmm, bs),
    }


def frechet_metrics(
    trainer: Trainer, ctx: TrialContext, x: Tensor, mu: Tensor, seed: int
) -> dict[str, float]:
    out = {"fd_recon": NAN, "fd_prior": NAN, "fd_gmm": NAN, "fd_clf_acc": ctx.clf_acc}
    spaces = [("fd", ctx.features), ("fid", ctx.inception)]
    if all(fn is None for _, fn in spaces) or x.shape[0] < 2:
        return out
    gen = generated_sets(trainer, ctx, mu, seed)
    for prefix, fn in spaces:
        if fn is None:
            continue
        bs = 64 if prefix == "fid" else trainer.cfg.train.eval_batch_size
        real = batched_features(fn, x, bs)
        for name, g in gen.items():
            key = f"{prefix}_{name}"
            out[key] = NAN if g is None else frechet_between(real, batched_features(fn, g, bs))
    return out


def draw_pictures(trainer: Trainer, ctx: TrialContext, split: str, out_dir: Path) -> list[Path]:
    from rdlab.evaluate.pictures import N_SAMPLES, data_kind, picture_data
    from rdlab.evaluate.render import render_all

    x = trainer.data.split(split)[:FD_MAX]
    kind = data_kind(tuple(x.shape[1:]), trainer.data.is_image)
    n_gen = N_SAMPLES if kind == "image" else x.shape[0]
    z_gmm = None if ctx.gmm is None else _gmm_codes(ctx.gmm, n_gen, ctx.seed + 7, x)
    data = picture_data(
        trainer.model,
        trainer.policy,
        x,
        is_image=trainer.data.is_image,
        z_gmm=z_gmm,
        shared_log_sigma=ctx.shared_log_sigma,
        history=trainer.history,
        seed=ctx.seed + 7,
    )
    return render_all(data, out_dir)


# ----------------------------------------------------------------------------- helpers
def _feature_space(trainer: Trainer, cache: Path) -> tuple[FeatureFn | None, float]:
    from rdlab.evaluate.classifier import Labelled, has_labels, load_or_train

    data = trainer.data
    if has_labels(data):
        clf = load_or_train(cast(Labelled, data), trainer.cfg.dataset.flat(), cache)
        trainer.extra_state["frechet_classifier"] = {
            "test_acc": clf.test_acc,
            "path": str(clf.path) if clf.path else None,
            "trained": clf.trained,
        }
        return clf.net.features, clf.test_acc
    if not data.is_image and data.dim <= RAW_MAX_DIM:
        return raw_features, NAN
    return None, NAN  # unlabelled images, very wide vectors: no in-project feature space


def _inception(trainer: Trainer, ev: EvalConfig) -> FeatureFn | None:
    if not ev.inception_weights or not trainer.data.is_image:
        return None
    from rdlab.evaluate.inception import inception_features, load_inception

    net = load_inception(ev.inception_weights, trainer.device)
    return lambda x: inception_features(net, x)


def _try_gmm(mu: Tensor, logvar: Tensor, components: int, seed: int) -> GaussianMixture | None:
    try:
        return latent.fit_gmm(latent.posterior_codes(mu, logvar, seed), components, seed)
    except ValueError:  # < 2 distinct codes, or non-finite ones: the diagnostic is NaN
        return None


def _gmm_codes(gmm: GaussianMixture, n: int, seed: int, like: Tensor) -> Tensor:
    z = latent.sample_gmm(gmm, n, seed)
    return torch.as_tensor(z, dtype=like.dtype, device=like.device)


def _decode_means(trainer: Trainer, z: Tensor, batch_size: int) -> Tensor:
    model = trainer.model
    with eval_mode(model):
        return torch.cat(
            [model.decode(z[i : i + batch_size])[0] for i in range(0, z.shape[0], batch_size)]
        )


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
