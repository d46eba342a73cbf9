"""The tables of one run: accuracy, scores with intervals, paired tests, the audit of every
answer judged right, timing, the Venn regions of correct answers, and the knowledge probes
with their paired tests. Across seeds and models: replicates.py."""

from __future__ import annotations

import csv
import io
import math
from itertools import combinations

from .errors import InputError
from .judging import (METRICS, UNION, answer_alternatives, check_paired_records,
                      check_same_questions, correct_ids)
from .stats import (cochrans_q, discordant_counts, mcnemar_exact_p, wilcoxon_signed_rank,
                    wilson_interval)

VARIANT_LABELS = {"base": "Base model", "full": "Full fine-tune", "lora": "LoRA fine-tune",
                  UNION: "Mixture of models (any correct)"}
SCORE_COLUMNS = ["metric", "variant", "correct", "total", "accuracy_pct", "ci_low_pct",
                 "ci_high_pct"]
SIGNIFICANCE_COLUMNS = ["metric", "a", "b", "test", "statistic", "p_value", "a_only", "b_only"]
PROBE_COLUMNS = ["probe", "text", "split", "variant", "n", "mean_nll", "perplexity",
                 "exact_match", "token_f1"]


def rows_to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """CSV text; with `columns` it has a header even when there are no rows (an audit with
    no hits), else the columns are the first row's keys."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


# --- the study's rule: accuracy.csv and accuracy.md ---------------------------------------

def accuracy_rows(predictions: dict[str, list[dict]]) -> list[dict]:
    """Rows `variant, correct, total, accuracy_pct, mean_new_tokens, stopped_early`, plus
    `union` (right in any variant). The last two say how long the answers are: their mean
    length in tokens, and how many ended with an end-of-text token before the limit."""
    ids = check_same_questions(predictions)
    total = len(ids)
    rows = []
    union: set = set()
    for variant, preds in predictions.items():
        right = correct_ids(preds)
        union |= right
        rows.append({"variant": variant, "correct": len(right), "total": total,
                     "accuracy_pct": round(100 * len(right) / total, 3) if total else 0.0,
                     "mean_new_tokens": round(sum(p["new_tokens"] for p in preds) / total, 2) if total else 0.0,
                     "stopped_early": sum(bool(p["stopped"]) for p in preds)})
    rows.append({"variant": UNION, "correct": len(union), "total": total,
                 "accuracy_pct": round(100 * len(union) / total, 3) if total else 0.0,
                 "mean_new_tokens": "", "stopped_early": ""})
    return rows


def accuracy_markdown(rows: list[dict], model: str) -> str:
    """The study's results table, for this run: accuracy_rows, or
    replicates.accuracy_rows_across_seeds (a Setting column when there are several, a
    Seeds column when a fine-tune was trained with several seeds)."""
    settings = list(dict.fromkeys(row.get("setting", "") for row in rows))
    by_setting = len(settings) > 1
    with_seeds = any(int(row.get("n_seeds", 1)) > 1 for row in rows)
    header = ["Model", *(["Setting"] if by_setting else []), *(["Seeds"] if with_seeds else []),
              "Correct", "Total", "Accuracy"]
    align = ["---", *(["---"] if by_setting else []), *(["---:"] if with_seeds else []),
             "---:", "---:", "---:"]
    lines = [f"# Accuracy on BibleQA: {model}", "",
             "Lenient rule: correct when the short answer occurs anywhere in the response.", ""]
    if with_seeds:
        lines += ["Fine-tunes pooled over seeds: correct and total summed over their seeds "
                  "(the mixture per seed, summed).", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for row in rows:
        cells = [VARIANT_LABELS.get(row["variant"], row["variant"]),
                 *([str(row["setting"])] if by_setting else []),
                 *([str(row["n_seeds"])] if with_seeds else []),
                 str(row["correct"]), str(row["total"]), f"{row['accuracy_pct']:.3g}%"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Study (GPT-2 Large, Gronberg 2024): base 2.37% (21/886), full 0.902% (8), "
              "LoRA 1.02% (9), mixture 3.50% (31).", ""]
    return "\n".join(lines)


def venn_regions(sets: dict[str, set]) -> dict[str, int]:
    """Sizes of the seven regions of a three-set Venn diagram, keyed like matplotlib-venn
    ('100' = only the first set, '111' = all three)."""
    a, b, c = (sets[v] for v in sets)
    universe = a | b | c
    regions = {}
    for key in ("100", "010", "110", "001", "101", "011", "111"):
        inside = [s for s, bit in zip((a, b, c), key) if bit == "1"]
        outside = [s for s, bit in zip((a, b, c), key) if bit == "0"]
        members = set.intersection(*inside) if inside else set(universe)
        for s in outside:
            members = members - s
        regions[key] = len(members)
    return regions


# --- every metric: scores.csv, significance.csv, audit.csv --------------------------------

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


def read_checked_csv(path, columns: list[str], rebuild: str) -> list[dict]:
    """Rows of a CSV file (as text), checked for `columns`: an error names the file, the
    missing columns and `rebuild`, how to make the file again."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} ({rebuild})")
        return list(reader)


def read_scores_csv(path) -> list[dict]:
    """Rows of a scores.csv, checked for the columns the figures need."""
    return read_checked_csv(path, SCORE_COLUMNS, "rerun rule judge_predictions")


# --- training: timing.csv -----------------------------------------------------------------

def timing_rows(train_summaries: dict[str, dict], generation_timings: dict[str, dict]) -> list[dict]:
    """Rows `method, total_seconds, seconds_per_epoch, inference_seconds_per_answer`.

    `total_seconds` is training time (empty for the base model, which is not trained).
    """
    rows = []
    for method, timing in generation_timings.items():
        summary = train_summaries.get(method)
        rows.append({
            "method": method,
            "total_seconds": round(summary["seconds_total"], 3) if summary else "",
            "seconds_per_epoch": round(summary["seconds_per_epoch"], 3) if summary else "",
            "inference_seconds_per_answer": round(timing["seconds_per_answer"], 5),
            "device": (summary or timing).get("device_name", ""),
        })
    return rows


# --- knowledge probes: probes.csv, probes_significance.csv --------------------------------

def _check_probe_record(record: dict, variant: str, index: int) -> None:
    where = f"probes of {variant}, record {index + 1}"
    for key in ("probe", "text", "split", "reference"):
        if key not in record:
            raise InputError(f"{where}: no '{key}' key (rerun the probes of {variant})")
    if record["probe"] == "nll":
        n_tokens, nll = record.get("n_tokens"), record.get("nll")
        if not isinstance(n_tokens, int) or isinstance(n_tokens, bool) or n_tokens < 0:
            raise InputError(f"{where}: 'n_tokens' is {n_tokens!r}, not a count of tokens")
        if n_tokens and not (isinstance(nll, (int, float)) and math.isfinite(nll)):
            raise InputError(f"{where}: 'nll' is {nll!r}, not a finite number")
    elif record["probe"] == "recall":
        if not isinstance(record.get("exact"), bool):
            raise InputError(f"{where}: 'exact' is {record.get('exact')!r}, not true or false")
        if not isinstance(record.get("token_f1"), (int, float)):
            raise InputError(f"{where}: 'token_f1' is {record.get('token_f1')!r}, not a number")
    else:
        raise InputError(f"{where}: probe {record['probe']!r} is neither 'nll' nor 'recall'")


def _probe_groups(records_by_variant: dict[str, list[dict]]) -> dict[tuple, list[int]]:
    """The (probe, text, split) groups in first-seen order, each with the positions of its
    records, once every variant's records are checked to hold the same examples in the
    same order (the paired tests compare them position by position)."""
    keys = check_paired_records(records_by_variant, _check_probe_record,
                                lambda r: (r["probe"], r["text"], r["split"], r["reference"]),
                                "probes", "examples",
                                "rerun every variant's probes with the same settings")
    groups: dict[tuple, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key[:3], []).append(position)
    return groups


def _scored(record: dict) -> bool:
    # A one-token target in an empty context has no token to score: no information, so it
    # stays out of the means and the tests.
    return record["n_tokens"] > 0


def probe_rows(records_by_variant: dict[str, list[dict]]) -> list[dict]:
    """probes.csv: per (probe, text, split) group and variant, how well the variant knows
    the text. nll: `n` scored examples, `mean_nll` per scored token over the whole group
    (token-weighted, so `perplexity` = exp(mean_nll) is the group's perplexity). recall:
    `n` examples, `exact_match` in percent, mean `token_f1`."""
    rows = []
    for (probe, text, split), positions in _probe_groups(records_by_variant).items():
        for variant, records in records_by_variant.items():
            group = [records[i] for i in positions]
            row = {**dict.fromkeys(PROBE_COLUMNS, ""),
                   "probe": probe, "text": text, "split": split, "variant": variant}
            if probe == "nll":
                scored = [r for r in group if _scored(r)]
                tokens = sum(r["n_tokens"] for r in scored)
                row["n"] = len(scored)
                if tokens:
                    mean_nll = sum(r["nll"] for r in scored) / tokens
                    row.update(mean_nll=round(mean_nll, 4), perplexity=round(math.exp(mean_nll), 3))
            else:
                row.update(n=len(group),
                           exact_match=_pct(sum(r["exact"] for r in group) / len(group)),
                           token_f1=round(sum(r["token_f1"] for r in group) / len(group), 4))
            rows.append(row)
    return rows


def probe_significance_rows(records_by_variant: dict[str, list[dict]]) -> list[dict]:
    """probes_significance.csv, in significance.csv's columns, per group (metric
    `probe/text/split`). nll: for each pair of variants a Wilcoxon signed-rank test on the
    per-example NLL per token (a continuous paired measure), over the examples scored in
    both; `a_only`/`b_only` count the examples where a's NLL is the lower / b's is.
    recall: the exact-match verdicts tested as significance.csv tests answers (exact
    McNemar per pair, Cochran's Q over all)."""
    rows = []
    for (probe, text, split), positions in _probe_groups(records_by_variant).items():
        metric = f"{probe}/{text}/{split}"
        if probe == "recall":
            exact = {v: [records[i]["exact"] for i in positions]
                     for v, records in records_by_variant.items()}
            rows += significance_rows({"verdicts": {metric: exact}})
            continue
        per_token = {v: [records[i]["nll"] / records[i]["n_tokens"] if _scored(records[i]) else None
                         for i in positions]
                     for v, records in records_by_variant.items()}
        for a, b in combinations(per_token, 2):
            pairs = [(x, y) for x, y in zip(per_token[a], per_token[b])
                     if x is not None and y is not None]
            statistic, p = wilcoxon_signed_rank([x - y for x, y in pairs])
            rows.append({"metric": metric, "a": a, "b": b, "test": "wilcoxon_signed_rank",
                         "statistic": _fmt(statistic), "p_value": _fmt(p),
                         "a_only": sum(x < y for x, y in pairs),
                         "b_only": sum(y < x for x, y in pairs)})
    return rows
