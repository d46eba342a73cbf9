"""The statistics, checked against hand values and references computed apart from
statsmodels: the closed-form Wilson interval, scipy's binomial test, Cochran's formula."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, chi2
from statsmodels.stats.contingency_tables import cochrans_q as sm_cochrans_q

from bibleft import stats
import reference_stats


def test_wilson_interval_known_value():
    # 21/886, the study's base model: 2.37%, interval 1.56% to 3.60%.
    low, high = stats.wilson_interval(21, 886)
    assert (round(100 * low, 3), round(100 * high, 3)) == (1.555, 3.596)


@pytest.mark.parametrize("total", [1, 2, 7, 12, 31, 100, 886])
def test_wilson_interval_is_the_closed_form(total):
    for correct in range(total + 1):
        assert stats.wilson_interval(correct, total) == pytest.approx(
            reference_stats.wilson_interval(correct, total), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("total", [7, 9, 12, 886])
def test_wilson_interval_ends_exactly_at_0_and_1(total):
    # statsmodels alone leaves 3e-17 above 0 or 1e-16 below 1 at these totals.
    assert stats.wilson_interval(0, total)[0] == 0.0
    assert stats.wilson_interval(total, total)[1] == 1.0


@pytest.mark.parametrize("correct, total", [(3, 0), (0, 0), (-1, 5), (6, 5)])
def test_wilson_interval_rejects_impossible_counts(correct, total):
    with pytest.raises(ValueError, match="0 <= correct <= total"):
        stats.wilson_interval(correct, total)


@pytest.mark.parametrize("only_a, only_b", [(3, 0), (0, 3), (17, 4), (5, 5), (6, 1),
                                             (40, 22), (1, 60), (2, 11)])
def test_mcnemar_exact_matches_binomial_test(only_a, only_b):
    p = stats.mcnemar_exact_p(only_a, only_b)
    expected = binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue
    assert p == pytest.approx(expected, rel=1e-12)
    assert p == pytest.approx(reference_stats.mcnemar_exact_p(only_a, only_b), rel=1e-12)
    assert 0.0 < p <= 1.0 and isinstance(p, float)


def test_mcnemar_by_hand():
    # 3 questions only a got right, none only b: P(X <= 0) = 1/8 for X ~ Bin(3, 1/2),
    # two-sided p = 2/8.
    assert stats.mcnemar_exact_p(3, 0) == 0.25
    # docs/metrics.md's worked example: 2 * (1 + 13 + 78) / 2^13.
    assert stats.mcnemar_exact_p(2, 11) == pytest.approx(184 / 8192, rel=1e-12)
    # The far tail stays exact: 2 * (1/2)^60.
    assert stats.mcnemar_exact_p(0, 60) == pytest.approx(2 * 0.5 ** 60, rel=1e-12)


def test_mcnemar_without_discordant_questions_is_no_evidence():
    assert stats.mcnemar_exact_p(0, 0) == 1.0


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(ValueError, match="counts >= 0"):
        stats.mcnemar_exact_p(-1, 3)


def test_discordant_counts():
    assert stats.discordant_counts([True, True, False, True], [True, False, True, False]) == (2, 1)
    with pytest.raises(ValueError):
        stats.discordant_counts([True], [True, False])


def test_cochrans_q_matches_statsmodels_and_hand_formula():
    table = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 0, 1], [1, 1, 1],
                      [0, 0, 1], [1, 0, 0]])
    q, p, df = stats.cochrans_q([list(map(bool, col)) for col in table.T])
    k, rows, cols, total = table.shape[1], table.sum(axis=1), table.sum(axis=0), table.sum()
    hand_q = (k - 1) * (k * (cols ** 2).sum() - total ** 2) / (k * total - (rows ** 2).sum())
    assert q == pytest.approx(hand_q)
    assert p == pytest.approx(chi2.sf(hand_q, k - 1))
    assert (q, p, df) == pytest.approx(tuple(sm_cochrans_q(table)))
    assert df == 2


def test_cochrans_q_without_any_disagreement_is_no_evidence():
    assert stats.cochrans_q([[True, False], [True, False], [True, False]]) == (0.0, 1.0, 2)
