"""The verdicts' tests against scipy: Welch's t (ttest_ind, equal_var=False), one-sample and
paired t (ttest_1samp, ttest_rel), both sides, and the seed bootstrap against a percentile
interval of the mean computed by scipy.stats.bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from studies.reproductions.checks import stats as S

RNG = np.random.default_rng(7)
A = RNG.normal(1.0, 0.3, 10)
B = RNG.normal(0.7, 0.6, 7)


@pytest.mark.parametrize("side", ["greater", "less"])
def test_welch_matches_scipy(side: S.Side) -> None:
    ours = S.welch(A, B, side)
    ref = sps.ttest_ind(A, B, equal_var=False, alternative=side)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.df == pytest.approx(ref.df, rel=1e-9)
    assert ours.estimate == pytest.approx(A.mean() - B.mean())
    ci = ref.confidence_interval(confidence_level=1 - S.ALPHA)  # one-sided: one finite end
    assert ours.bound == pytest.approx(ci.low if side == "greater" else ci.high, rel=1e-9)
    assert ours.holds == bool(ref.pvalue < S.ALPHA)


def test_welch_with_a_margin_shifts_the_null() -> None:
    ours = S.welch(A, B, "greater", margin=0.1)
    ref = sps.ttest_ind(A - 0.1, B, equal_var=False, alternative="greater")
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-9)


@pytest.mark.parametrize("side", ["greater", "less"])
def test_one_sample_and_paired_match_scipy(side: S.Side) -> None:
    ours = S.one_sample(A, 0.9, side)
    ref = sps.ttest_1samp(A, 0.9, alternative=side)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-9) and ours.df == len(A) - 1
    b = A + RNG.normal(-0.1, 0.05, A.size)
    paired = S.paired(A, b, side)
    ref_rel = sps.ttest_rel(A, b, alternative=side)
    assert paired.p == pytest.approx(ref_rel.pvalue, rel=1e-9)
    assert paired.test == "paired t"


def test_too_few_seeds_are_not_evaluable() -> None:
    r = S.welch([1.0], [0.0, 0.1])
    assert r.holds is None and math.isnan(r.p) and "not evaluable" in r.summary()
    assert S.one_sample([0.2, math.nan], 0.0).holds is None  # NaN seeds are dropped


def test_no_spread_is_decided_by_the_sign() -> None:
    assert S.welch([1.0, 1.0], [0.0, 0.0]).holds is True
    assert S.welch([1.0, 1.0], [2.0, 2.0]).holds is False


def test_bootstrap_of_a_mean_matches_scipys_percentile_interval() -> None:
    x = RNG.normal(0.3, 1.0, 30)
    ours = S.bootstrap(lambda g: float(g["x"].mean()), {"x": x}, threshold=0.0)
    ref = sps.bootstrap(
        (x,),
        np.mean,
        confidence_level=1 - 2 * S.ALPHA,  # the lower end is the one-sided 95 % bound
        method="percentile",
        n_resamples=20_000,
        random_state=1,
    ).confidence_interval
    assert ours.bound == pytest.approx(ref.low, abs=0.05)
    assert ours.estimate == pytest.approx(x.mean())
    assert ours.holds is (ours.bound > 0.0)
    # the p-value is the share of resamples on H1's wrong side; deterministic by seed
    assert ours.p == S.bootstrap(lambda g: float(g["x"].mean()), {"x": x}).p


def test_bootstrap_resamples_each_group_and_counts_undefined_as_failures() -> None:
    groups = {"a": np.array([1.0, 1.1, 0.9]), "b": np.array([0.0, 0.1, -0.1])}
    gap = S.bootstrap(lambda g: float(g["a"].mean() - g["b"].mean()), groups, threshold=0.5)
    assert gap.holds is True and gap.n == (3, 3)
    undefined = S.bootstrap(lambda g: math.nan, groups)
    assert undefined.holds is None
    less = S.bootstrap(lambda g: float(g["a"].mean()), groups, threshold=2.0, side="less")
    assert less.holds is True and less.bound < 2.0


def test_intersection_union_needs_every_comparison() -> None:
    yes, no = S.welch(A, B - 5.0), S.welch(B - 5.0, A)
    untestable = S.welch([1.0], [0.0, 1.0])
    assert S.all_of([yes, yes]) is True
    assert S.all_of([yes, no]) is False and S.weakest([yes, no]) is no
    assert S.all_of([yes, untestable]) is None and S.all_of([]) is None
    assert S.all_of([no, untestable]) is False


def test_staircase_equals_the_frontier_packages() -> None:
    from rdlab.frontier.hypervolume import frontier_staircase

    from studies.reproductions.checks.common import staircase

    for n in (1, 5, 12):
        r = RNG.integers(0, 6, n).astype(float)  # ties in rate and duplicates
        d = RNG.integers(0, 6, n).astype(float)
        r[0] = np.nan if n > 5 else r[0]
        ours, ref = staircase(r, d), frontier_staircase(r, d)
        np.testing.assert_array_equal(ours[0], ref[0])
        np.testing.assert_array_equal(ours[1], ref[1])
