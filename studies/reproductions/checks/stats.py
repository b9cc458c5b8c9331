"""The statistical tests behind every verdict, in one place (issue 14: "each verdict comes from
a stated test").

A claim is decided by one test at level ``ALPHA`` = 0.05, **one-sided** in the direction the
paper states (H1: "LV-VAE's ELBO is higher than LS-VAE's"); the unit of replication is the
training seed:

- :func:`welch` — Welch's unequal-variance t test of two settings' seed values (mean(a) vs
  mean(b)), as ``scipy.stats.ttest_ind(equal_var=False)``;
- :func:`one_sample` — Student's t test of one setting's seed values against a bound (a
  radius ratio under the collapse bound), as ``scipy.stats.ttest_1samp``; :func:`paired`
  applies it to per-seed differences of two numbers measured on the same trial (FD of GMM
  vs prior samples of one model), as ``scipy.stats.ttest_rel``;
- :func:`bootstrap` — a percentile bootstrap over seeds for numbers computed from whole
  curves (the mean gap between two RD frontiers, a hypervolume ratio, a value read off an
  interpolated reference curve), where no t test applies: every configuration's seeds are
  resampled with replacement, the statistic recomputed, and H1 holds when the one-sided
  (1 − α) percentile bound clears the threshold. Its p is the share of resamples on the
  wrong side of the threshold.

A claim made of several comparisons that must all hold ("F(0.1) beats *each* other fixed
σ") is an intersection–union test (:func:`all_of`): each comparison at α keeps the claim at
α without a multiplicity correction (Berger 1982). Claims are separate questions: no
correction across them. With fewer than two seeds on a side nothing can be tested and the
claim is not evaluable (None), which counts as not holding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

ALPHA = 0.05  # one-sided level of every claim
N_BOOT = 2000  # bootstrap resamples
BOOT_SEED = 20_240_014  # resampling is deterministic: a re-rendered report does not move
Side = Literal["greater", "less"]


@dataclass(frozen=True)
class TestResult:
    """The outcome of one test: H1 is ``estimate`` > ``threshold`` (``side`` "greater") or
    < (``side`` "less"). ``bound`` is the one-sided (1 − α) confidence bound on the estimate
    in H1's direction (lower bound for "greater"): H1 holds exactly when it clears the
    threshold, i.e. when p < α."""

    test: str
    estimate: float
    threshold: float
    side: Side
    p: float
    bound: float
    n: tuple[int, ...]
    alpha: float = ALPHA
    df: float = math.nan

    @property
    def holds(self) -> bool | None:
        if not math.isfinite(self.p):
            return None
        return bool(self.p < self.alpha)

    def summary(self) -> str:
        """One line: test, sizes, p and the one-sided bound, e.g. for a claim's table cell."""
        if not math.isfinite(self.p):
            return f"{self.test}: not evaluable (seeds {'/'.join(map(str, self.n))})"
        rel = ">" if self.side == "greater" else "<"
        side = "lower" if self.side == "greater" else "upper"
        df = f", df {self.df:.3g}" if math.isfinite(self.df) else ""
        return (
            f"{self.test} (n {'/'.join(map(str, self.n))}{df}), H1 {rel} {self.threshold:.4g}: "
            f"one-sided p = {_p(self.p)}, {1 - self.alpha:.0%} {side} bound {self.bound:+.4g}"
        )


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else "< 1e-4"


def _clean(x: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return a[np.isfinite(a)]


def _t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    return float(special.stdtr(df, -t))


def _t_ppf(q: float, df: float) -> float:
    return float(special.stdtrit(df, q))


def _result(
    test: str, diff: float, se: float, df: float, threshold: float, side: Side, n: tuple[int, ...]
) -> TestResult:
    if se == 0.0:  # no spread at all: the sign alone decides (t = ±∞)
        right = diff > threshold if side == "greater" else diff < threshold
        return TestResult(test, diff, threshold, side, 0.0 if right else 1.0, diff, n, df=df)
    t = (diff - threshold) / se
    p = _t_sf(t, df) if side == "greater" else _t_sf(-t, df)
    q = _t_ppf(1 - ALPHA, df) * se
    bound = diff - q if side == "greater" else diff + q
    return TestResult(test, diff, threshold, side, p, bound, n, df=df)


def _untestable(
    test: str, estimate: float, threshold: float, side: Side, n: tuple[int, ...]
) -> TestResult:
    return TestResult(test, estimate, threshold, side, math.nan, math.nan, n)


def welch(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    side: Side = "greater",
    margin: float = 0.0,
) -> TestResult:
    """Welch's t test of H1: mean(a) − mean(b) > margin (``side`` "greater") or < margin."""
    x, y = _clean(a), _clean(b)
    n = (x.size, y.size)
    diff = float(x.mean() - y.mean()) if x.size and y.size else math.nan
    if x.size < 2 or y.size < 2:
        return _untestable("Welch's t", diff, margin, side, n)
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    df = (
        float((vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1)))
        if se > 0
        else math.inf
    )
    return _result("Welch's t", diff, se, df, margin, side, n)


def one_sample(x: Sequence[float] | np.ndarray, bound: float, side: Side = "greater") -> TestResult:
    """Student's t test of H1: mean(x) > bound (``side`` "greater") or < bound."""
    v = _clean(x)
    mean = float(v.mean()) if v.size else math.nan
    if v.size < 2:
        return _untestable("one-sample t", mean, bound, side, (v.size,))
    se = float(v.std(ddof=1)) / math.sqrt(v.size)
    return _result("one-sample t", mean, se, v.size - 1.0, bound, side, (v.size,))


def paired(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, side: Side = "greater"
) -> TestResult:
    """Paired t test of H1: mean(a − b) > 0 (or < 0); a[i], b[i] measured on one trial."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    r = one_sample(x - y, 0.0, side)
    return TestResult("paired t", r.estimate, 0.0, side, r.p, r.bound, r.n, df=r.df)


Samples = Mapping[str, Sequence[float] | np.ndarray]


def bootstrap(
    statistic: Callable[[dict[str, np.ndarray]], float],
    samples: Samples,
    threshold: float = 0.0,
    side: Side = "greater",
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
) -> TestResult:
    """Percentile bootstrap over seeds of ``statistic`` (a function of every group's seed
    values, e.g. the seed means of each configuration of a curve).

    ``samples`` maps a group (a configuration) to its per-seed values, or to per-seed row
    indices when the statistic needs several columns; each resample draws every group's
    seeds with replacement, independently. Resamples where the statistic is not finite
    (curves without a shared rate range) count on H1's wrong side.
    """
    groups = {k: np.asarray(v) for k, v in samples.items()}
    n = tuple(int(v.shape[0]) for v in groups.values())
    estimate = float(statistic(groups))
    if not groups or min(n) < 2 or not math.isfinite(estimate):
        return _untestable("bootstrap over seeds", estimate, threshold, side, n)
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for i in range(n_boot):
        draw = {k: v[rng.integers(0, v.shape[0], v.shape[0])] for k, v in groups.items()}
        stats[i] = statistic(draw)
    wrong = ~np.isfinite(stats) | (stats <= threshold if side == "greater" else stats >= threshold)
    finite = stats[np.isfinite(stats)]
    if finite.size == 0:
        return _untestable("bootstrap over seeds", estimate, threshold, side, n)
    bound = float(
        np.quantile(finite, ALPHA) if side == "greater" else np.quantile(finite, 1 - ALPHA)
    )
    p = float(wrong.mean())
    return TestResult(f"bootstrap over seeds ({n_boot})", estimate, threshold, side, p, bound, n)


def all_of(results: Sequence[TestResult]) -> bool | None:
    """Intersection–union: the claim holds when every comparison does; None when any
    comparison cannot be tested and none has failed."""
    if any(r.holds is False for r in results):
        return False
    if not results or any(r.holds is None for r in results):
        return None
    return True


def weakest(results: Sequence[TestResult]) -> TestResult | None:
    """The comparison that decides an intersection–union claim: the largest p."""
    ranked = [r for r in results if math.isfinite(r.p)]
    return max(ranked, key=lambda r: r.p) if ranked else (results[0] if results else None)
