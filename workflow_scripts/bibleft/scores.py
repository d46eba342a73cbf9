"""The judging tables of one (model, setting, seed): its base model and two fine-tunes on
the same questions, under every metric. scores.csv (accuracy with a Wilson interval),
significance.csv (paired tests between the variants) and audit.csv (every question some
variant got right under some metric). Across seeds: replicates.py."""

from __future__ import annotations

from itertools import combinations

from .judging import METRICS, UNION, truths_of
from .stats import cochrans_q, discordant_counts, mcnemar_exact_p, wilson_interval
from .tableio import fmt, pct, read_checked_csv

SCORE_COLUMNS = ["metric", "variant", "correct", "total", "accuracy_pct", "ci_low_pct",
                 "ci_high_pct"]
SIGNIFICANCE_COLUMNS = ["metric", "a", "b", "test", "statistic", "p_value", "a_only", "b_only"]


def score_rows(judged: dict) -> list[dict]:
    """scores.csv: per metric, each variant and their union, with a Wilson 95% interval.
    `judged` is judging.judge_predictions'."""
    total = len(judged["ids"])
    rows = []
    for metric, by_variant in judged["verdicts"].items():
        union = [any(v) for v in zip(*by_variant.values())]
        for variant, verdicts in [*by_variant.items(), (UNION, union)]:
            correct = sum(verdicts)
            low, high = wilson_interval(correct, total)
            rows.append({"metric": metric, "variant": variant, "correct": correct, "total": total,
                         "accuracy_pct": pct(correct / total), "ci_low_pct": pct(low),
                         "ci_high_pct": pct(high)})
    return rows


def significance_rows(judged: dict) -> list[dict]:
    """significance.csv: per metric, an exact McNemar test for each pair of variants and
    Cochran's Q over all of them (`a`, `b`, `a_only`, `b_only` empty)."""
    rows = []
    for metric, by_variant in judged["verdicts"].items():
        for a, b in combinations(by_variant, 2):
            only_a, only_b = discordant_counts(by_variant[a], by_variant[b])
            rows.append({"metric": metric, "a": a, "b": b, "test": "mcnemar_exact",
                         "statistic": min(only_a, only_b),
                         "p_value": fmt(mcnemar_exact_p(only_a, only_b)),
                         "a_only": only_a, "b_only": only_b})
        q, p, df = cochrans_q(list(by_variant.values()))
        rows.append({"metric": metric, "a": "", "b": "", "test": f"cochrans_q_df{df}",
                     "statistic": fmt(q), "p_value": fmt(p), "a_only": "", "b_only": ""})
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
               "alternatives": " | ".join(truths_of(answer, first[i].get("alternatives"), alternatives))}
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
    return read_checked_csv(path, SCORE_COLUMNS, "rerun rule judge_predictions")
