"""The statistics written out by hand, apart from statsmodels: the references the tests
hold bibleft.stats to, and the formulas the tables printed before statsmodels computed them."""

from __future__ import annotations

import math

from scipy.stats import norm


def wilson_interval(correct: int, total: int) -> tuple[float, float]:
    """centre (p + z^2/2n)/(1 + z^2/n) +- z/(1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2), 95%."""
    z, p = norm.ppf(0.975), correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == total else min(1.0, centre + half)
    return low, high


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """2 * P(X <= min(only_a, only_b)), X ~ Binomial(only_a + only_b, 1/2), at most 1; in
    integers up to the one division, so exact in the far tail too."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1))
    return min(1.0, 2 * tail / 2 ** n)
