"""The judging metrics, checked against hand values and the study's rule."""

from __future__ import annotations

import pytest

from bibleft import judging
from bibleft.errors import InputError
from bibleft.judging import lenient_correct
from fixtures import predictions_of


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
    assert judging.normalize(text) == expected


@pytest.mark.parametrize("response, expected", [
    (" Moses\n\nQ: Who was the first king?\nA: Saul", "Moses"),
    (" He was strong Q: Who was Moses?", "He was strong "),
    ("\n\nQ: Who is next?", ""),  # the model answered nothing
    ("\nMoses", "Moses"),  # leading whitespace is no answer boundary
    (" Sarah", "Sarah"),
])
def test_first_line_cuts_at_newline_and_next_question(response, expected):
    assert judging.first_line(response) == expected


def verdicts(answer, response, **settings):
    return judging.judge(answer, response, **settings)[0]


def test_mount_of_sinai_under_each_metric():
    judged, f1 = judging.judge("Mount Sinai", " mount of Sinai\nQ: Who led them?")
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
    assert judging.answer_alternatives(answer) == expected


def test_alternatives_never_make_a_metric_stricter():
    responses = [" lyre", " Harp", " the harp\nQ:", " Abram", " Abraham (Abram)", " nothing"]
    for answer in ("Harp / Lyre", "Abraham (Abram)"):
        for response in responses:
            off, on = verdicts(answer, response), verdicts(answer, response, alternatives=True)
            assert all(on[m] or not off[m] for m in judging.METRICS), (answer, response)


def test_token_f1():
    assert judging.token_f1("the Mount Sinai", "Mount Sinai") == 1.0
    assert judging.token_f1("Moses", "Aaron") == 0.0
    # 1 shared token: precision 1/3, recall 1/2 -> F1 = 2 * (1/6) / (5/6) = 0.4
    assert judging.token_f1("Moses and Aaron", "Moses Miriam") == pytest.approx(0.4)
    assert judging.token_f1("", "Moses") == 0.0


def test_bad_predictions_name_the_problem():
    preds = predictions_of({"base": [" a"], "full": [" b"], "lora": [" c"]}, ["x"])
    del preds["full"][0]["response"]
    with pytest.raises(InputError, match="predictions of full, record 1: no 'response'"):
        judging.judge_predictions(preds)
    preds = predictions_of({"base": [" a", " b"], "full": [" b"], "lora": [" c"]}, ["x", "y"])
    with pytest.raises(InputError, match="different questions"):
        judging.judge_predictions(preds)
    with pytest.raises(InputError, match="no records"):
        judging.judge_predictions({"base": [], "full": [], "lora": []})
