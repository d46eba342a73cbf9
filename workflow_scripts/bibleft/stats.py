"""The statistics behind the tables, by statsmodels and scipy: Wilson intervals for one
variant's accuracy, paired tests between variants that answered the same questions or
scored the same probe texts, and a sign test for variants trained with several seeds."""

from __future__ import annotations

import numpy as np
from scipy.stats import wilcoxon
from statsmodels.stats.contingency_tables import cochrans_q as sm_cochrans_q
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint


def wilson_interval(correct: int, total: int) -> tuple[float, float]:
    """Wilson score 95% interval for a proportion correct/total.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 correct,
    which matters for counts as small as the study's (8 of 886).
    """
    if total <= 0 or not 0 <= correct <= total:
        raise ValueError(f"wilson_interval needs 0 <= correct <= total and total > 0, "
                         f"got {correct}/{total}")
    low, high = proportion_confint(correct, total, alpha=0.05, method="wilson")
    # At 0 (or all) correct the bound is exactly 0 (or 1); rounding would leave 1e-17.
    return (0.0 if correct == 0 else low), (1.0 if correct == total else high)


def discordant_counts(a: list[bool], b: list[bool]) -> tuple[int, int]:
    """(right only in a, right only in b) over paired verdicts."""
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    return only_a, only_b


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar test from the discordant counts.

    Under "both variants are equally often right", each of the n = only_a + only_b
    discordant questions goes either way with probability 1/2, so
    p = min(1, 2 * P(X <= min(only_a, only_b))) with X ~ Binomial(n, 1/2); p = 1 when
    there is no discordant question. scipy's binomial CDF underflows to 0 for p below
    about 1e-250, which takes more than 1074 discordant questions.
    """
    if only_a < 0 or only_b < 0:
        raise ValueError(f"mcnemar_exact_p needs counts >= 0, got {only_a} and {only_b}")
    # The questions both got right or both got wrong do not enter the exact test.
    table = [[0, only_a], [only_b, 0]]
    return float(mcnemar(table, exact=True).pvalue)


def cochrans_q(columns: list[list[bool]]) -> tuple[float, float, int]:
    """Cochran's Q over k paired binary columns: (Q, p, df = k - 1).

    When every question got the same verdict from every variant, Q is 0/0; there is then
    no evidence of a difference, and we report Q = 0, p = 1.
    """
    table = np.array(columns, dtype=float).T  # rows: questions, columns: variants
    df = table.shape[1] - 1
    row_sums = table.sum(axis=1)
    if not np.any((row_sums > 0) & (row_sums < table.shape[1])):
        return 0.0, 1.0, df
    result = sm_cochrans_q(table)
    return float(result.statistic), float(result.pvalue), int(result.df)


def wilcoxon_signed_rank(differences: list[float]) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test on paired differences: (statistic, p).

    The statistic is min(W+, W-), the smaller of the rank sums of the positive and of the
    negative differences. Zero differences are dropped first (Wilcoxon's own rule,
    scipy's zero_method="wilcox"), here rather than inside scipy: with zeros present
    scipy's "auto" leaves its exact null distribution. So the p-value is exact for up to
    50 nonzero differences without ties, enumerated over all 2^n sign patterns for up to
    13 with ties, and the normal approximation beyond; deterministic in every case.
    No nonzero difference is no evidence of a difference: statistic 0, p = 1.
    """
    nonzero = np.asarray(differences, dtype=float)
    if not np.all(np.isfinite(nonzero)):
        raise ValueError("wilcoxon_signed_rank needs finite differences")
    nonzero = nonzero[nonzero != 0]
    if nonzero.size == 0:
        return 0.0, 1.0
    result = wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def sign_test_pooled(shares_a: list, shares_b: list) -> tuple[int, int, float]:
    """Two-sided exact sign test over questions on the share of seeds right:
    (a_only, b_only, p).

    `shares_a[i]` is the share of training seeds in which variant a got question i right
    (the base model, greedy and untrained: 0 or 1). Per question d = s_a - s_b; `a_only`
    counts the questions with d > 0, `b_only` those with d < 0, and p is the exact
    binomial test of them (mcnemar_exact_p).

    Why this test. The same questions are answered in every seed and the base model's
    answers are shared by all of them, so the seeds are not independent samples: pooling
    k seeds as k x n independent answers would count the base model k times and
    overstate the evidence. The question is the unit; its share of seeds right sums up
    the replicates. d takes only a few values (multiples of 1/k) with heavy ties and many
    zeros, where Wilcoxon's signed-rank test (with ties and zeros) is only approximate;
    the sign test is exact, and with one seed it is exactly the exact McNemar test. It
    ignores how large d is (right in 1 of 3 seeds counts as much as in 3 of 3): a loss of
    power we accept for exactness.
    """
    differences = [a - b for a, b in zip(shares_a, shares_b, strict=True)]
    a_only = sum(1 for d in differences if d > 0)
    b_only = sum(1 for d in differences if d < 0)
    return a_only, b_only, mcnemar_exact_p(a_only, b_only)
