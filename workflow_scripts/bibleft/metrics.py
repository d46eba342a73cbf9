"""Judging the comparison: stricter metrics than the study's lenient rule, Wilson
intervals, paired significance tests between the variants, and the audit table.

Every verdict is computed from a prediction's `answer` and `response` only, so changing a
metric setting rescores; it never regenerates answers.
"""

from __future__ import annotations

import csv
import math
import re
import string
import unicodedata
from collections import Counter
from itertools import combinations

from .errors import InputError
from .report import check_same_questions
from .scoring import lenient_correct

# The study's rule first: it is the reproduction, and the headline.
METRICS = ("lenient", "lenient_normalized", "first_line", "exact_match", "token_f1")
UNION = "union"
# Two-sided 95%: the standard normal quantile at 0.975 (scipy.stats.norm.ppf(0.975)).
Z_95 = 1.959963984540054

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


# --- normalization and the metrics ---------------------------------------------------------

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


def judge(answer: str, response: str, *, ignore_case: bool = False, alternatives: bool = False,
          f1_threshold: float = 0.5) -> tuple[dict[str, bool], float]:
    """The verdict of every metric on one response, and the token F1 behind `token_f1`.

    `lenient` is always the study's rule on the answer as written (with `ignore_case`,
    the setting that scored the predictions), so it reproduces accuracy.csv whatever the
    other options say. `alternatives` lets the four other metrics match any alternative.
    """
    truths = answer_alternatives(answer) if alternatives else [answer]
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
    for variant, records in predictions.items():
        if not records:
            raise InputError(f"predictions of {variant}: no records (did generation run on "
                             "zero questions?)")
        for index, record in enumerate(records):
            _check_record(record, variant, index)
    try:
        ids = check_same_questions(predictions)
    except ValueError as err:
        raise InputError(f"{err}: rerun the variants with the same eval settings") from None
    verdicts = {metric: {} for metric in METRICS}
    f1 = {}
    for variant, records in predictions.items():
        judged = [judge(r["answer"], r["response"], **settings) for r in records]
        for metric in METRICS:
            verdicts[metric][variant] = [v[metric] for v, _ in judged]
        f1[variant] = [value for _, value in judged]
    return {"ids": ids, "verdicts": verdicts, "f1": f1}


# --- statistics ----------------------------------------------------------------------------

def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion correct/total (95% by default).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 correct,
    which matters for counts as small as the study's (8 of 886).
    """
    if total <= 0 or not 0 <= correct <= total:
        raise ValueError(f"wilson_interval needs 0 <= correct <= total and total > 0, "
                         f"got {correct}/{total}")
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    # At 0 (or all) correct the bound is exactly 0 (or 1); rounding would leave 1e-17.
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == total else min(1.0, centre + half)
    return low, high


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar test from the discordant counts.

    Under "both variants are equally often right", each of the n = only_a + only_b
    discordant questions goes either way with probability 1/2, so
    p = min(1, 2 * P(X <= min(only_a, only_b))) with X ~ Binomial(n, 1/2).
    """
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1))
    # Integer arithmetic up to the one division: exact for any n the study can have.
    return min(1.0, 2 * tail / 2 ** n)


def discordant_counts(a: list[bool], b: list[bool]) -> tuple[int, int]:
    """(right only in a, right only in b) over paired verdicts."""
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    return only_a, only_b


def cochrans_q(columns: list[list[bool]]) -> tuple[float, float, int]:
    """Cochran's Q over k paired binary columns: (Q, p, df = k - 1), by statsmodels.

    When every question got the same verdict from every variant, Q is 0/0; there is then
    no evidence of a difference, and we report Q = 0, p = 1.
    """
    import numpy as np
    from statsmodels.stats.contingency_tables import cochrans_q as sm_cochrans_q

    table = np.array(columns, dtype=float).T  # rows: questions, columns: variants
    df = table.shape[1] - 1
    row_sums = table.sum(axis=1)
    if not np.any((row_sums > 0) & (row_sums < table.shape[1])):
        return 0.0, 1.0, df
    result = sm_cochrans_q(table)
    return float(result.statistic), float(result.pvalue), int(result.df)


# --- the tables ----------------------------------------------------------------------------

SCORE_COLUMNS = ["metric", "variant", "correct", "total", "accuracy_pct", "ci_low_pct",
                 "ci_high_pct"]
SIGNIFICANCE_COLUMNS = ["metric", "a", "b", "test", "statistic", "p_value", "a_only", "b_only"]


def _pct(x: float) -> float:
    return round(100 * x, 3)


def score_rows(judged: dict) -> list[dict]:
    """scores.csv: per metric, each variant and their union, with a Wilson 95% interval."""
    total = len(judged["ids"])
    rows = []
    for metric, by_variant in judged["verdicts"].items():
        union = [any(v) for v in zip(*by_variant.values())]
        for variant, verdicts in [*by_variant.items(), (UNION, union)]:
            correct = sum(verdicts)
            low, high = wilson_interval(correct, total)
            rows.append({"metric": metric, "variant": variant, "correct": correct, "total": total,
                         "accuracy_pct": _pct(correct / total), "ci_low_pct": _pct(low),
                         "ci_high_pct": _pct(high)})
    return rows


def _fmt(x: float) -> str:
    # Enough digits for p-values near 1e-6 without pretending to more precision.
    return f"{x:.6g}"


def significance_rows(judged: dict) -> list[dict]:
    """significance.csv: per metric, an exact McNemar test for each pair of variants and
    Cochran's Q over all of them (`a`, `b`, `a_only`, `b_only` empty)."""
    rows = []
    for metric, by_variant in judged["verdicts"].items():
        for a, b in combinations(by_variant, 2):
            only_a, only_b = discordant_counts(by_variant[a], by_variant[b])
            rows.append({"metric": metric, "a": a, "b": b, "test": "mcnemar_exact",
                         "statistic": min(only_a, only_b),
                         "p_value": _fmt(mcnemar_exact_p(only_a, only_b)),
                         "a_only": only_a, "b_only": only_b})
        q, p, df = cochrans_q(list(by_variant.values()))
        rows.append({"metric": metric, "a": "", "b": "", "test": f"cochrans_q_df{df}",
                     "statistic": _fmt(q), "p_value": _fmt(p), "a_only": "", "b_only": ""})
    return rows


def audit_rows(predictions: dict[str, list[dict]], judged: dict, alternatives: bool) -> list[dict]:
    """audit.csv: every question some variant got right under some metric, with the answer,
    the responses side by side and every verdict (1/0), the study's manual check made
    reproducible."""
    variants = list(predictions)
    first = predictions[variants[0]]
    rows = []
    for i, qid in enumerate(judged["ids"]):
        if not any(judged["verdicts"][m][v][i] for m in METRICS for v in variants):
            continue
        answer = first[i]["answer"]
        row = {"id": qid, "position": first[i].get("position", ""),
               "question": first[i].get("question", ""), "answer": answer,
               "alternatives": " | ".join(answer_alternatives(answer) if alternatives else [answer])}
        for v in variants:
            row[f"response_{v}"] = predictions[v][i]["response"]
        for m in METRICS:
            for v in variants:
                row[f"{m}_{v}"] = int(judged["verdicts"][m][v][i])
        for v in variants:
            row[f"f1_{v}"] = round(judged["f1"][v][i], 3)
        rows.append(row)
    return rows


def audit_columns(variants) -> list[str]:
    return (["id", "position", "question", "answer", "alternatives"] + [f"response_{v}" for v in variants]
            + [f"{m}_{v}" for m in METRICS for v in variants] + [f"f1_{v}" for v in variants])


def read_scores_csv(path) -> list[dict]:
    """Rows of a scores.csv, checked for the columns the figures need."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in SCORE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} "
                             "(rerun rule judge_predictions)")
        return list(reader)


def summary_rows(scores_by_model: dict[str, list[dict]]) -> list[dict]:
    """summary.csv: every model's scores.csv rows, with the model first."""
    return [{"model": model, **row} for model, rows in scores_by_model.items() for row in rows]


# --- figures -------------------------------------------------------------------------------

def _bars(ax, rows: list[dict], groups: list[str], group_key: str, series: list[str],
          series_key: str) -> None:
    from .report import VARIANT_LABELS

    width = 0.8 / len(series)
    lookup = {(r[group_key], r[series_key]): r for r in rows}
    for j, name in enumerate(series):
        xs, ys, lows, highs = [], [], [], []
        for i, group in enumerate(groups):
            row = lookup.get((group, name))
            if row is None:
                continue
            acc = float(row["accuracy_pct"])
            xs.append(i + (j - (len(series) - 1) / 2) * width)
            ys.append(acc)
            lows.append(acc - float(row["ci_low_pct"]))
            highs.append(float(row["ci_high_pct"]) - acc)
        ax.bar(xs, ys, width, yerr=[lows, highs], capsize=3,
               label=VARIANT_LABELS.get(name, name), alpha=0.5 if name == UNION else 0.9)
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.set_ylabel("accuracy (%), 95% Wilson interval")


def _y_top(rows: list[dict]) -> float:
    # Room for the highest interval: shared axes would otherwise clip other panels' bars.
    return max([float(r["ci_high_pct"]) for r in rows] + [1.0]) * 1.08


def plot_accuracy_bars(rows: list[dict], title: str, path) -> None:
    """Accuracy per metric (groups) and variant (bars), with 95% intervals."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.8 * len(metrics) + 2, 4.5))
    _bars(ax, rows, metrics, "metric", variants, "variant")
    ax.set_ylim(0, _y_top(rows))
    ax.set_title(title)
    # Outside the axes: inside, the legend hides the tops of the error bars.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=150, format="png")
    plt.close(fig)


def plot_summary(rows: list[dict], path) -> None:
    """One panel per metric: accuracy by model (groups) and variant (bars), with intervals."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    # One y scale for every panel, so that metrics compare by eye.
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(3.0, 1.0 * len(models) + 1.5) * len(metrics) + 2, 4.5),
                             squeeze=False, sharey=True)
    for ax, metric in zip(axes[0], metrics):
        _bars(ax, [r for r in rows if r["metric"] == metric], models, "model", variants, "variant")
        ax.set_title(metric)
        if ax is not axes[0][0]:
            ax.set_ylabel("")
    axes[0][0].set_ylim(0, _y_top(rows))
    axes[0][-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("Accuracy on BibleQA by model, variant and metric")
    fig.tight_layout()
    fig.savefig(path, dpi=150, format="png")
    plt.close(fig)
