"""The judging tables of one run (bibleft.scores): what they hold, and that they print the
very numbers the formulas written by hand printed before statsmodels computed the intervals
and p-values."""

from __future__ import annotations

import random
from itertools import combinations

from bibleft import judging, scores
from bibleft.tableio import rows_to_csv
from fixtures import predictions_of
import reference_stats


def test_tables_from_predictions():
    answers = ["Moses", "Cain", "Mount Sinai", "Eden"]
    preds = predictions_of({
        "base": [" Moses", " cain", " mount of Sinai", " ::"],
        "full": [" Moses", " Cain", " ::", " ::"],
        "lora": [" no\nQ: Moses?", " ::", " ::", " ::"],
    }, answers)
    judged = judging.judge_predictions(preds)
    table = {(r["metric"], r["variant"]): r for r in scores.score_rows(judged)}
    assert table["lenient", "base"]["correct"] == 1
    assert table["lenient", "full"]["correct"] == 2
    assert table["lenient", "lora"]["correct"] == 1
    assert table["lenient", "union"]["correct"] == 2
    assert table["first_line", "lora"]["correct"] == 0
    assert table["token_f1", "base"]["correct"] == 3
    assert table["token_f1", "union"]["correct"] == 3
    assert len(table) == len(judging.METRICS) * 4
    sig = {(r["metric"], r["a"], r["b"]): r for r in scores.significance_rows(judged)}
    row = sig["token_f1", "base", "lora"]
    assert (row["a_only"], row["b_only"]) == (3, 0) and float(row["p_value"]) == 0.25
    assert sig["lenient", "", ""]["test"] == "cochrans_q_df2"
    audit = scores.audit_rows(preds, judged, alternatives=False)
    assert [r["id"] for r in audit] == [0, 1, 2]  # "Eden" nobody got
    assert audit[2]["token_f1_base"] == 1 and audit[2]["lenient_base"] == 0
    assert audit[0]["response_lora"] == " no\nQ: Moses?"
    assert list(audit[0]) == scores.audit_columns(["base", "full", "lora"])


# --- the numbers are those of the hand-written formulas ----------------------------------

def printed_pct(x: float) -> float:
    """How scores.csv prints a proportion."""
    return round(100 * x, 3)


def printed_p(p: float) -> str:
    """How significance.csv prints a p-value."""
    return f"{p:.6g}"


def study_sized_verdicts() -> dict:
    """Verdicts on the study's 886 questions, from 0 to all correct, paired so that the
    McNemar tests range from p = 1 to far below 1e-6."""
    rng = random.Random(886)
    ids = list(range(886))
    rates = {"lenient": (0.024, 0.009, 0.010), "lenient_normalized": (0.05, 0.04, 0.02),
             "first_line": (0.0, 0.0, 0.003), "exact_match": (0.3, 0.5, 0.7),
             "token_f1": (1.0, 0.9, 0.99)}
    verdicts = {metric: {variant: [rng.random() < rate for _ in ids]
                         for variant, rate in zip(("base", "full", "lora"), by_variant)}
                for metric, by_variant in rates.items()}
    return {"ids": ids, "verdicts": verdicts}


def test_score_rows_print_the_hand_formulas_numbers():
    judged = study_sized_verdicts()
    total = len(judged["ids"])
    expected = []
    for metric, by_variant in judged["verdicts"].items():
        union = [any(v) for v in zip(*by_variant.values())]
        for variant, verdicts in [*by_variant.items(), ("union", union)]:
            correct = sum(verdicts)
            low, high = reference_stats.wilson_interval(correct, total)
            expected.append({"metric": metric, "variant": variant, "correct": correct,
                             "total": total, "accuracy_pct": printed_pct(correct / total),
                             "ci_low_pct": printed_pct(low), "ci_high_pct": printed_pct(high)})
    assert {r["correct"] for r in expected} >= {0, total}
    assert (rows_to_csv(scores.score_rows(judged), scores.SCORE_COLUMNS)
            == rows_to_csv(expected, scores.SCORE_COLUMNS))


def test_significance_rows_print_the_hand_formulas_numbers():
    judged = study_sized_verdicts()
    expected = []
    for metric, by_variant in judged["verdicts"].items():
        for a, b in combinations(by_variant, 2):
            only_a = sum(x and not y for x, y in zip(by_variant[a], by_variant[b]))
            only_b = sum(y and not x for x, y in zip(by_variant[a], by_variant[b]))
            expected.append({"metric": metric, "a": a, "b": b, "test": "mcnemar_exact",
                             "statistic": min(only_a, only_b),
                             "p_value": printed_p(reference_stats.mcnemar_exact_p(only_a, only_b)),
                             "a_only": only_a, "b_only": only_b})
    # Cochran's Q came from statsmodels before too: only the McNemar rows changed hands.
    mcnemar_rows = [r for r in scores.significance_rows(judged) if r["test"] == "mcnemar_exact"]
    assert (rows_to_csv(mcnemar_rows, scores.SIGNIFICANCE_COLUMNS)
            == rows_to_csv(expected, scores.SIGNIFICANCE_COLUMNS))
    p_values = {float(r["p_value"]) for r in expected}
    assert 1.0 in p_values and min(p_values) < 1e-6


def test_every_interval_prints_as_before():
    for total in [*range(1, 41), 886]:
        for correct in range(total + 1):
            judged = {"ids": list(range(total)),
                      "verdicts": {"lenient": {"base": [i < correct for i in range(total)]}}}
            row = scores.score_rows(judged)[0]
            low, high = reference_stats.wilson_interval(correct, total)
            assert (row["ci_low_pct"], row["ci_high_pct"]) == (printed_pct(low), printed_pct(high)), \
                (correct, total)


def test_every_p_value_prints_as_before():
    # Beyond 1074 discordant questions scipy's binomial CDF underflows to 0 where the exact
    # p is below about 1e-250 (bibleft.stats.mcnemar_exact_p): not swept.
    for discordant in [*range(121), 886]:
        for only_a in range(discordant + 1):
            only_b = discordant - only_a
            a = [True] * only_a + [False] * only_b
            judged = {"ids": list(range(discordant)),
                      "verdicts": {"lenient": {"a": a, "b": [not x for x in a]}}}
            row = scores.significance_rows(judged)[0]
            assert row["p_value"] == printed_p(reference_stats.mcnemar_exact_p(only_a, only_b)), \
                (only_a, only_b)
