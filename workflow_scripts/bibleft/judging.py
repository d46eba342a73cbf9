"""The verdicts: whether a response answers its question, under the study's lenient rule
and under four stricter metrics.

Every verdict is computed from a prediction's `answer` and `response` only, so changing a
metric setting rescores; it never regenerates answers.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

from .errors import InputError

# The study's rule first: it is the reproduction, and the headline.
METRICS = ("lenient", "lenient_normalized", "first_line", "exact_match", "token_f1")
UNION = "union"

_ARTICLES = re.compile(r"\b(a|an|the)\b")
# The model keeps writing the few-shot pattern ("...\n\nQ: next question\nA: ..."): the
# answer to *this* question ends at the first line break or the next "Q:".
_END_OF_ANSWER = re.compile(r"\n|Q:")
_PARENTHETICAL = re.compile(r"\s*\(([^()]*)\)")
_BRACKETED_NOTE = re.compile(r"\s*\[[^\[\]]*\]")  # "Sister's son [KJV]": a source note
# A parenthetical that starts like this continues the phrase ("Herod (the Great)",
# "Lilies (of the field)"): it is no name of its own.
_CONTINUATION = {"a", "an", "the", "of", "and", "or", "with", "to", "in", "on", "for",
                 "as", "at", "by", "from", "while", "given", "instead"}


def lenient_correct(answer: str, response: str, ignore_case: bool = False) -> bool:
    """The study's rule: correct when the short answer occurs anywhere in the response.

    Case-sensitive by default, as a plain substring test is: "Is it not Sarah?" counts
    for `Sarah`, "mount of Sinai" does not count for `Mount Sinai`.
    """
    if ignore_case:
        return answer.casefold() in response.casefold()
    return answer in response


# What a generation record holds that its prediction record leaves out: the prompt the
# question was asked with stays in generations/ (one copy, beside the raw answer), so a
# long prompt (few-shot examples, passages) is not copied into every prediction file.
GENERATION_ONLY = ("prompt",)


def score_records(generations: list[dict], ignore_case: bool = False) -> list[dict]:
    """Each generation record (id, position, question, answer, response, ...) with the
    lenient verdict added as `correct`, without the `GENERATION_ONLY` fields."""
    return [{**{k: v for k, v in g.items() if k not in GENERATION_ONLY},
             "correct": lenient_correct(g["answer"], g["response"], ignore_case)}
            for g in generations]


def normalize(text: str) -> str:
    """SQuAD's answer normalization: lower case, punctuation and the articles a/an/the
    removed, runs of whitespace collapsed to one space.

    Punctuation is any Unicode punctuation character (SQuAD strips only ASCII
    `string.punctuation`), so curly quotes from a model count as punctuation too.
    """
    text = text.lower()
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ch not in string.punctuation and not unicodedata.category(ch).startswith("P"))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def first_line(response: str) -> str:
    """The response up to its first line break or the next "Q:", whichever comes first.

    Leading whitespace goes first: a response is what follows "A:", and a model that puts
    its answer after a space or on the next line has still answered.
    """
    text = response.lstrip()
    match = _END_OF_ANSWER.search(text)
    return text[: match.start()] if match else text


def answer_alternatives(answer: str) -> list[str]:
    """The answer and the alternatives written into it, the answer itself first.

    "Harp / Lyre" -> Harp, Lyre; "Abraham (Abram)" -> Abraham, Abram; "(Simon) Peter" ->
    Peter. Rules: text without its parentheticals ("Herod (the Great)" -> "Herod") and
    without bracketed notes ("[KJV]"); a parenthetical alone when it follows a single word
    and does not continue the phrase (so "Abram" and "Zeus" count, "the Great" and "of
    the field" do not); every one of these split at "/". " or " is not split: "this or
    that" is part of an answer.
    """
    candidates = [answer]
    bare = " ".join(_PARENTHETICAL.sub(" ", _BRACKETED_NOTE.sub(" ", answer)).split())
    candidates.append(bare)
    groups = _PARENTHETICAL.findall(answer)
    if len(groups) == 1 and len(bare.split()) == 1 and answer.rstrip().endswith(")"):
        inner = groups[0].strip()
        if inner and inner.split()[0].lower() not in _CONTINUATION:
            candidates.append(inner)
    for candidate in list(candidates[1:]):
        if "/" in candidate:
            candidates += [part.strip() for part in candidate.split("/")]
    out = []
    for candidate in candidates:
        # An alternative that normalizes to nothing (only punctuation or articles) would
        # be a substring of every response.
        if candidate and normalize(candidate) and candidate not in out:
            out.append(candidate)
    return out or [answer]


def token_f1(prediction: str, truth: str) -> float:
    """SQuAD's token F1 between two texts, both normalized."""
    pred_tokens = normalize(prediction).split()
    true_tokens = normalize(truth).split()
    if not pred_tokens or not true_tokens:
        return float(pred_tokens == true_tokens)
    common = sum((Counter(pred_tokens) & Counter(true_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(true_tokens)
    return 2 * precision * recall / (precision + recall)


def truths_of(answer: str, given: list[str] | None, alternatives: bool) -> list[str]:
    """What a response may match under the stricter metrics: the answer alone, or with
    `alternatives` also its other right answers, those a question set gives (`given`, a
    table's alternatives column) or else those written into it (BibleQA's "Harp / Lyre")."""
    if not alternatives:
        return [answer]
    return [answer, *(a for a in given if a and a != answer)] if given is not None else answer_alternatives(answer)


def judge(answer: str, response: str, *, ignore_case: bool = False, alternatives: bool = False,
          f1_threshold: float = 0.5, given: list[str] | None = None) -> tuple[dict[str, bool], float]:
    """The verdict of every metric on one response, and the token F1 behind `token_f1`.

    `lenient` is always the study's rule on the answer as written (with `ignore_case`,
    the setting that scored the predictions), so it reproduces accuracy.csv whatever the
    other options say. `alternatives` lets the four other metrics match any alternative
    (`given`: the question set's own, see truths_of).
    """
    truths = truths_of(answer, given, alternatives)
    whole = normalize(response)
    line = first_line(response)
    cut = normalize(line)
    norm_truths = [normalize(t) for t in truths]
    # An answer that normalizes to nothing cannot be judged on normalized text.
    norm_truths = [t for t in norm_truths if t] or [None]
    best_f1 = max(token_f1(line, t) for t in truths)
    verdicts = {
        "lenient": lenient_correct(answer, response, ignore_case),
        "lenient_normalized": any(t is not None and t in whole for t in norm_truths),
        "first_line": any(t is not None and t in cut for t in norm_truths),
        "exact_match": any(t is not None and t == cut for t in norm_truths),
        "token_f1": best_f1 >= f1_threshold,
    }
    return verdicts, best_f1


def check_same_order(records: dict[str, list[dict]], key, what: str, items: str) -> list:
    """Every variant's records must hold the same items (`key` of a record), in the same
    order: the paired tests compare record i of one variant with record i of another.
    Returns the keys; the error names the variant and the first record that differs."""
    reference_name, reference = next(iter(records.items()))
    keys = [key(r) for r in reference]
    for name, rows in records.items():
        own = [key(r) for r in rows]
        if own != keys:
            where = next((f"record {i + 1} is {mine!r}, not {theirs!r}"
                          for i, (mine, theirs) in enumerate(zip(own, keys)) if mine != theirs),
                         f"{len(own)} records, not {len(keys)}")
            raise ValueError(f"{what} of {name} and {reference_name} cover different {items} "
                             f"({where})")
    return keys


def check_paired_records(records: dict[str, list[dict]], check_record, key, what: str,
                         items: str, rerun: str) -> list:
    """Every variant's records, each one checked by `check_record(record, variant, index)`,
    then check_same_order: the input of a paired comparison, or one line naming the variant
    and record at fault and, in `rerun`, the way out. Returns the keys."""
    for variant, rows in records.items():
        if not rows:
            raise InputError(f"{what} of {variant}: no records (were there zero {items}?)")
        for index, record in enumerate(rows):
            check_record(record, variant, index)
    try:
        return check_same_order(records, key, what, items)
    except ValueError as err:
        raise InputError(f"{err}: {rerun}") from None


def _check_record(record: dict, variant: str, index: int) -> None:
    for key in ("id", "answer", "response"):
        if key not in record:
            raise InputError(f"predictions of {variant}, record {index + 1}: no '{key}' key "
                             "(rerun rule score_predictions)")
        if key != "id" and not isinstance(record[key], str):
            raise InputError(f"predictions of {variant}, record {index + 1}: '{key}' is "
                             f"{type(record[key]).__name__}, not text")


def judge_predictions(predictions: dict[str, list[dict]], **settings) -> dict:
    """Verdicts of every metric for every variant on the same questions.

    Returns {"ids": [...], "verdicts": {metric: {variant: [bool, ...]}},
    "f1": {variant: [float, ...]}}, lists in question order.
    """
    ids = check_paired_records(predictions, _check_record, lambda p: p["id"], "predictions",
                               "questions", "rerun the variants with the same eval settings")
    verdicts = {metric: {} for metric in METRICS}
    f1 = {}
    for variant, records in predictions.items():
        judged = [judge(r["answer"], r["response"], given=r.get("alternatives"), **settings)
                  for r in records]
        for metric in METRICS:
            verdicts[metric][variant] = [v[metric] for v, _ in judged]
        f1[variant] = [value for _, value in judged]
    return {"ids": ids, "verdicts": verdicts, "f1": f1}


def correct_ids(predictions: list[dict]) -> set:
    """The ids of the questions the study's rule judged right (score_predictions' `correct`)."""
    return {p["id"] for p in predictions if p["correct"]}
