"""The judging tables of one (model, setting, seed): its base model and two fine-tunes on
the same questions, under every metric. scores.csv (accuracy with a Wilson interval),
significance.csv (paired tests between the variants) and audit.csv (every question some
variant got right under some metric). Across seeds: replicates.py."""

from __future__ import annotations

from itertools import combinations

from .grid import CLOSED, mode_variant, variant_mode
from .judging import METRICS, UNION, truths_of
from .panels import cross_mode_pairs
from .stats import cochrans_q, discordant_counts, mcnemar_exact_p, wilson_interval
from .tableio import fmt, pct, read_checked_csv

SCORE_COLUMNS = ["metric", "variant", "correct", "total", "accuracy_pct", "ci_low_pct",
                 "ci_high_pct"]
SIGNIFICANCE_COLUMNS = ["metric", "a", "b", "test", "statistic", "p_value", "a_only", "b_only"]


def by_mode(variants) -> dict[str, list[str]]:
    """The variants of each answering mode, in order: closed book's (base, full, lora), then
    open book's (base_open, ...)."""
    modes: dict[str, list[str]] = {}
    for name in variants:
        modes.setdefault(variant_mode(name)[1], []).append(name)
    return modes


def score_rows(judged: dict) -> list[dict]:
    """scores.csv: per metric, each variant of a mode and their union (`union`; open book
    `union_open`), mode after mode, with a Wilson 95% interval. `judged` is
    judging.judge_predictions'."""
    total = len(judged["ids"])
    rows = []
    for metric, by_variant in judged["verdicts"].items():
        for mode, variants in by_mode(by_variant).items():
            union = [any(v) for v in zip(*(by_variant[name] for name in variants))]
            for variant, verdicts in [*((name, by_variant[name]) for name in variants),
                                      (mode_variant(UNION, mode), union)]:
                correct = sum(verdicts)
                low, high = wilson_interval(correct, total)
                rows.append({"metric": metric, "variant": variant, "correct": correct,
                             "total": total, "accuracy_pct": pct(correct / total),
                             "ci_low_pct": pct(low), "ci_high_pct": pct(high)})
    return rows


def _mcnemar_row(metric: str, by_variant: dict, a: str, b: str) -> dict:
    only_a, only_b = discordant_counts(by_variant[a], by_variant[b])
    return {"metric": metric, "a": a, "b": b, "test": "mcnemar_exact",
            "statistic": min(only_a, only_b), "p_value": fmt(mcnemar_exact_p(only_a, only_b)),
            "a_only": only_a, "b_only": only_b}


def significance_rows(judged: dict) -> list[dict]:
    """significance.csv: per metric and mode, an exact McNemar test for each pair of the
    mode's variants and Cochran's Q over all of them (`a`, `b`, `a_only`, `b_only` empty);
    then each other mode against closed book (panels.cross_mode_pairs)."""
    rows = []
    for metric, by_variant in judged["verdicts"].items():
        modes = by_mode(by_variant)
        for variants in modes.values():
            rows += [_mcnemar_row(metric, by_variant, a, b) for a, b in combinations(variants, 2)]
            q, p, df = cochrans_q([by_variant[name] for name in variants])
            rows.append({"metric": metric, "a": "", "b": "", "test": f"cochrans_q_df{df}",
                         "statistic": fmt(q), "p_value": fmt(p), "a_only": "", "b_only": ""})
        rows += [_mcnemar_row(metric, by_variant, a, b) for mode in modes if mode != CLOSED
                 for a, b in cross_mode_pairs(mode) if a in by_variant and b in by_variant]
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
