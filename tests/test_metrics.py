"""The judging metrics and statistics, checked against hand values, scipy and statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest, chi2
from statsmodels.stats.contingency_tables import cochrans_q as sm_cochrans_q
from statsmodels.stats.proportion import proportion_confint

from bibleft import metrics
from bibleft.errors import InputError
from bibleft.scoring import lenient_correct


@pytest.mark.parametrize("text, expected", [
    ("The Mount of Sinai!", "mount of sinai"),
    ("  Mt.   Sinai\n", "mt sinai"),
    ("A penny (denarius)", "penny denarius"),
    ("“Moses,” he said", "moses he said"),  # Unicode quotes are punctuation too
    ("Abraham's", "abrahams"),
    ("an Ant", "ant"),
    ("Theophilus", "theophilus"),  # articles only as whole words
])
def test_normalize(text, expected):
    assert metrics.normalize(text) == expected


@pytest.mark.parametrize("response, expected", [
    (" Moses\n\nQ: Who was the first king?\nA: Saul", "Moses"),
    (" He was strong Q: Who was Moses?", "He was strong "),
    ("\n\nQ: Who is next?", ""),  # the model answered nothing
    ("\nMoses", "Moses"),  # leading whitespace is no answer boundary
    (" Sarah", "Sarah"),
])
def test_first_line_cuts_at_newline_and_next_question(response, expected):
    assert metrics.first_line(response) == expected


def verdicts(answer, response, **settings):
    return metrics.judge(answer, response, **settings)[0]


def test_mount_of_sinai_under_each_metric():
    judged, f1 = metrics.judge("Mount Sinai", " mount of Sinai\nQ: Who led them?")
    # The study's example of a rule too strict: no substring metric accepts it, the token
    # F1 does (2 shared tokens of 3 and 2: precision 2/3, recall 1).
    assert judged == {"lenient": False, "lenient_normalized": False, "first_line": False,
                      "exact_match": False, "token_f1": True}
    assert f1 == pytest.approx(0.8)
    assert not verdicts("Mount Sinai", " mount of Sinai", f1_threshold=0.9)["token_f1"]


def test_metrics_differ_where_they_should():
    # Case only: the normalized metrics accept it, the study's rule does not.
    assert verdicts("Cain", " cain.") == {"lenient": False, "lenient_normalized": True,
                                         "first_line": True, "exact_match": True, "token_f1": True}
    # The answer only in a new question the model wrote: lenient accepts, first_line not.
    judged = verdicts("Moses", " He was strong\n\nQ: Who was Moses?")
    assert judged["lenient"] and judged["lenient_normalized"]
    assert not (judged["first_line"] or judged["exact_match"] or judged["token_f1"])
    # Inside a longer first line: first_line accepts, exact_match not.
    judged = verdicts("Sarah", " Is it not Sarah?")
    assert judged["first_line"] and not judged["exact_match"]


def test_lenient_is_the_study_rule():
    cases = [("Sarah", " Is it not Sarah?"), ("Mount Sinai", " mount of Sinai"),
             ("Harp / Lyre", " a lyre"), ("Cain", " cain"), ("Eden", "::: Eden")]
    for answer, response in cases:
        for ignore_case in (False, True):
            for alternatives in (False, True):
                assert (verdicts(answer, response, ignore_case=ignore_case,
                                 alternatives=alternatives)["lenient"]
                        == lenient_correct(answer, response, ignore_case))


def test_alternatives_option():
    assert not verdicts("Harp / Lyre", " lyre")["lenient_normalized"]
    on = verdicts("Harp / Lyre", " lyre", alternatives=True)
    assert on["lenient_normalized"] and on["exact_match"] and on["token_f1"]
    assert not on["lenient"]  # the study's rule stays the study's rule
    assert not verdicts("Abraham (Abram)", " Abram")["exact_match"]
    assert verdicts("Abraham (Abram)", " Abram", alternatives=True)["exact_match"]
    assert verdicts("Abraham (Abram)", " Abraham", alternatives=True)["exact_match"]


@pytest.mark.parametrize("answer, expected", [
    ("Harp / Lyre", ["Harp / Lyre", "Harp", "Lyre"]),
    ("Abraham (Abram)", ["Abraham (Abram)", "Abraham", "Abram"]),
    ("(Simon) Peter", ["(Simon) Peter", "Peter"]),
    # A parenthetical that continues the phrase is no alternative on its own.
    ("Herod (the Great)", ["Herod (the Great)", "Herod"]),
    ("Cousin / Sister's son [KJV]", ["Cousin / Sister's son [KJV]", "Cousin / Sister's son",
                                     "Cousin", "Sister's son"]),
    ("Turtledoves or Pigeons", ["Turtledoves or Pigeons"]),
    ("Moses", ["Moses"]),
])
def test_answer_alternatives(answer, expected):
    assert metrics.answer_alternatives(answer) == expected


def test_alternatives_never_make_a_metric_stricter():
    responses = [" lyre", " Harp", " the harp\nQ:", " Abram", " Abraham (Abram)", " nothing"]
    for answer in ("Harp / Lyre", "Abraham (Abram)"):
        for response in responses:
            off, on = verdicts(answer, response), verdicts(answer, response, alternatives=True)
            assert all(on[m] or not off[m] for m in metrics.METRICS), (answer, response)


def test_token_f1():
    assert metrics.token_f1("the Mount Sinai", "Mount Sinai") == 1.0
    assert metrics.token_f1("Moses", "Aaron") == 0.0
    # 1 shared token: precision 1/3, recall 1/2 -> F1 = 2 * (1/6) / (5/6) = 0.4
    assert metrics.token_f1("Moses and Aaron", "Moses Miriam") == pytest.approx(0.4)
    assert metrics.token_f1("", "Moses") == 0.0


def test_wilson_interval_known_value():
    # 21/886, the study's base model: 2.37%, interval 1.56% to 3.60%, by the formula
    # centre (p + z^2/2n)/(1 + z^2/n) +- z/(1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2).
    low, high = metrics.wilson_interval(21, 886)
    assert (round(100 * low, 3), round(100 * high, 3)) == (1.555, 3.596)
    assert (low, high) == pytest.approx(proportion_confint(21, 886, method="wilson"))
    for correct, total in [(0, 12), (12, 12), (8, 886), (5, 31)]:
        assert metrics.wilson_interval(correct, total) == pytest.approx(
            proportion_confint(correct, total, method="wilson"))
    assert metrics.wilson_interval(0, 12)[0] == 0.0 and metrics.wilson_interval(12, 12)[1] == 1.0
    with pytest.raises(ValueError):
        metrics.wilson_interval(3, 0)


@pytest.mark.parametrize("only_a, only_b", [(0, 0), (3, 0), (0, 3), (17, 4), (5, 5), (6, 1),
                                             (40, 22), (1, 60)])
def test_mcnemar_exact_matches_binomial_test(only_a, only_b):
    p = metrics.mcnemar_exact_p(only_a, only_b)
    n = only_a + only_b
    expected = 1.0 if n == 0 else binomtest(min(only_a, only_b), n, 0.5).pvalue
    assert p == pytest.approx(expected, rel=1e-12)
    assert 0.0 <= p <= 1.0


def test_mcnemar_by_hand():
    # 3 questions only a got right, none only b: P(X <= 0) = 1/8 for X ~ Bin(3, 1/2),
    # two-sided p = 2/8.
    assert metrics.mcnemar_exact_p(3, 0) == 0.25
    assert metrics.discordant_counts([True, True, False, True], [True, False, True, False]) == (2, 1)


def test_cochrans_q_matches_statsmodels_and_hand_formula():
    table = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 0, 1], [1, 1, 1],
                      [0, 0, 1], [1, 0, 0]])
    q, p, df = metrics.cochrans_q([list(map(bool, col)) for col in table.T])
    k, rows, cols, total = table.shape[1], table.sum(axis=1), table.sum(axis=0), table.sum()
    hand_q = (k - 1) * (k * (cols ** 2).sum() - total ** 2) / (k * total - (rows ** 2).sum())
    assert q == pytest.approx(hand_q)
    assert p == pytest.approx(chi2.sf(hand_q, k - 1))
    assert (q, p, df) == pytest.approx(tuple(sm_cochrans_q(table)))
    assert df == 2


def test_cochrans_q_without_any_disagreement_is_no_evidence():
    assert metrics.cochrans_q([[True, False], [True, False], [True, False]]) == (0.0, 1.0, 2)


def predictions_of(responses: dict[str, list[str]], answers: list[str]) -> dict[str, list[dict]]:
    return {v: [{"id": i, "question": f"q{i}", "answer": a, "response": r}
                for i, (a, r) in enumerate(zip(answers, rs))] for v, rs in responses.items()}


def test_tables_from_predictions():
    answers = ["Moses", "Cain", "Mount Sinai", "Eden"]
    preds = predictions_of({
        "base": [" Moses", " cain", " mount of Sinai", " ::"],
        "full": [" Moses", " Cain", " ::", " ::"],
        "lora": [" no\nQ: Moses?", " ::", " ::", " ::"],
    }, answers)
    judged = metrics.judge_predictions(preds)
    scores = {(r["metric"], r["variant"]): r for r in metrics.score_rows(judged)}
    assert scores["lenient", "base"]["correct"] == 1
    assert scores["lenient", "full"]["correct"] == 2
    assert scores["lenient", "lora"]["correct"] == 1
    assert scores["lenient", "union"]["correct"] == 2
    assert scores["first_line", "lora"]["correct"] == 0
    assert scores["token_f1", "base"]["correct"] == 3
    assert scores["token_f1", "union"]["correct"] == 3
    assert len(scores) == len(metrics.METRICS) * 4
    sig = {(r["metric"], r["a"], r["b"]): r for r in metrics.significance_rows(judged)}
    row = sig["token_f1", "base", "lora"]
    assert (row["a_only"], row["b_only"]) == (3, 0) and float(row["p_value"]) == 0.25
    assert sig["lenient", "", ""]["test"] == "cochrans_q_df2"
    audit = metrics.audit_rows(preds, judged, alternatives=False)
    assert [r["id"] for r in audit] == [0, 1, 2]  # "Eden" nobody got
    assert audit[2]["token_f1_base"] == 1 and audit[2]["lenient_base"] == 0
    assert audit[0]["response_lora"] == " no\nQ: Moses?"
    assert list(audit[0]) == metrics.audit_columns(["base", "full", "lora"])


def test_bad_predictions_name_the_problem():
    preds = predictions_of({"base": [" a"], "full": [" b"], "lora": [" c"]}, ["x"])
    del preds["full"][0]["response"]
    with pytest.raises(InputError, match="predictions of full, record 1: no 'response'"):
        metrics.judge_predictions(preds)
    preds = predictions_of({"base": [" a", " b"], "full": [" b"], "lora": [" c"]}, ["x", "y"])
    with pytest.raises(InputError, match="different questions"):
        metrics.judge_predictions(preds)
    with pytest.raises(InputError, match="no records"):
        metrics.judge_predictions({"base": [], "full": [], "lora": []})


def test_mcnemar_p_is_exact_for_large_counts():
    # Float summing of pmf values loses the far tail; integer arithmetic does not.
    p = metrics.mcnemar_exact_p(0, 60)
    assert p == pytest.approx(2 * 0.5 ** 60, rel=1e-12)
    assert math.isfinite(p) and p > 0
