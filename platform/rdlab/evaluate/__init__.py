"""End-of-trial evaluation (issue 4): likelihood bounds, latent diagnostics, sample quality,
pictures. :func:`evaluate_subject` composes the pure pieces; one topic per module:

- :mod:`.iwae` — the importance-weighted bound with a proper decoder density (Burda et al.);
- :mod:`.latent` — active units, rate per dimension, the GMM aggregate-posterior gap (003 §3.5);
- :mod:`.frechet`, :mod:`.classifier`, :mod:`.inception` — Fréchet distances without internet;
- :mod:`.pictures` (numbers) and :mod:`.render` (PNG) — reconstructions, samples, σ maps
  (003 §5.4), the σ curve (004 §4.3), 004 Fig. 4's scatter layout for 2-D data.

It takes a trained trial's parts (:class:`Subject`), never the loop that trained them.
"""

from __future__ import annotations

from rdlab.evaluate.classifier import (
    CachedClassifier,
    ClassifierSource,
    ShippedClassifier,
    resolve_cache_dir,
)
from rdlab.evaluate.trial import EvalResult, Subject, evaluate_pack, evaluate_subject

__all__ = [
    "CachedClassifier",
    "ClassifierSource",
    "EvalResult",
    "ShippedClassifier",
    "Subject",
    "evaluate_pack",
    "evaluate_subject",
    "resolve_cache_dir",
]
