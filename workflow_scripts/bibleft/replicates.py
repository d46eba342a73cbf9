"""The tables across seeds: one model's fine-tunes, trained under named settings with
several seeds, against its one base model. accuracy.csv and accuracy.md (the study's
lenient rule, pooled over seeds), seeds.csv and aggregate.csv (every metric per seed, its
spread and pooled interval), significance.csv (paired tests per seed and pooled),
stability.csv (how many seeds got each question right) and the Venn sets (the questions
right in most seeds, and the regions they make: venn_sets.json, venn.png).

Every table takes `base`, the base model's predictions, and `runs`, {grid.FineTune:
predictions} in grid order (setting, then seed, then method), the order of its rows. The
base model answers greedily and is not trained: it has no seed, and its one set of answers
is compared with every seed of every setting. All prediction lists must answer the same
questions in the same order. With one seed, each table is that run's.
"""

from __future__ import annotations

import statistics
from collections import Counter
from fractions import Fraction
from itertools import combinations

from .errors import InputError
from .grid import BASE, FineTune
from .judging import METRICS, UNION, check_paired_records, correct_ids, judge_predictions
from .stats import discordant_counts, mcnemar_exact_p, sign_test_pooled, wilson_interval
from .tableio import VARIANT_LABELS, fmt, pct, read_checked_csv, setting_caption

Runs = dict[FineTune, list[dict]]

ACCURACY_COLUMNS = ["setting", "variant", "n_seeds", "correct", "total", "accuracy_pct",
                    "mean_new_tokens", "stopped_early"]
SEED_COLUMNS = ["setting", "metric", "variant", "seed", "correct", "total", "accuracy_pct"]
AGGREGATE_COLUMNS = ["setting", "metric", "variant", "n_seeds", "mean_pct", "sd_pct", "min_pct",
                     "max_pct", "correct", "total", "pooled_pct", "ci_low_pct", "ci_high_pct"]
REPLICATE_SIGNIFICANCE_COLUMNS = ["setting", "seed", "metric", "a", "b", "test", "statistic",
                                  "p_value", "a_only", "b_only"]
# stability.csv: these, then one `<method>_right` column per method (stability_columns).
STABILITY_COLUMNS = ["setting", "id", "position", "question", "answer", "base", "n_seeds"]
POOLED_SEED = "all"  # the seed column of the pooled test's rows

_RERUN = "rerun every seed's variants with the same eval settings"


# --- the input: one base model, fine-tunes by setting and seed ---------------------------

def _seeds(fine_tunes: list[FineTune]) -> list[int]:
    return list(dict.fromkeys(ft.seed for ft in fine_tunes))


def _methods(fine_tunes: list[FineTune]) -> list[str]:
    """The methods of a setting (fine_tunes_by_setting has checked every seed has them)."""
    return [ft.method for ft in fine_tunes if ft.seed == fine_tunes[0].seed]


def _of_method(fine_tunes: list[FineTune], method: str) -> list[FineTune]:
    """A setting's fine-tunes by `method`, one per seed in seed order."""
    return [ft for ft in fine_tunes if ft.method == method]


def _of_seed(fine_tunes: list[FineTune], seed: int) -> list[FineTune]:
    """A setting's fine-tunes with `seed`, one per method."""
    return [ft for ft in fine_tunes if ft.seed == seed]


def fine_tunes_by_setting(runs: Runs) -> dict[str, list[FineTune]]:
    """Each setting's fine-tunes, in the order of `runs`, once checked that they are of one
    model and that every seed of a setting has the same methods (a seed without its LoRA
    would silently pool fewer runs)."""
    if not runs:
        raise InputError("no fine-tuned runs: there is no setting with seeds to compare")
    models = list(dict.fromkeys(ft.model for ft in runs))
    if len(models) > 1:
        raise InputError(f"fine-tunes of models {', '.join(models)}: the tables across seeds "
                         "are one model's")
    settings: dict[str, list[FineTune]] = {}
    for ft in runs:
        settings.setdefault(ft.setting, []).append(ft)
    for setting, fine_tunes in settings.items():
        methods = _methods(fine_tunes)
        for seed in _seeds(fine_tunes):
            own = [ft.method for ft in _of_seed(fine_tunes, seed)]
            if own != methods:
                raise InputError(f"setting {setting}, seed {seed}: variants {', '.join(own)}, "
                                 f"not {', '.join(methods)} as in seed {fine_tunes[0].seed}")
    return settings


def methods_of(runs: Runs) -> list[str]:
    """Every method of every setting, in first-seen order: stability.csv's columns."""
    return list(dict.fromkeys(m for fine_tunes in fine_tunes_by_setting(runs).values()
                              for m in _methods(fine_tunes)))


def _run_name(setting, seed, method: str) -> str:
    # How the errors name one set of predictions: the first that differs from base's.
    return f"{method} (setting {setting}, seed {seed})"


def _named(base: list[dict], runs: Runs) -> dict[str, list[dict]]:
    """Every set of predictions under its own name, the base model's once."""
    return {BASE: base, **{_run_name(ft.setting, ft.seed, ft.method): predictions
                           for ft, predictions in runs.items()}}


def _check_scored(base: list[dict], runs: Runs, keys: tuple[str, ...]) -> list:
    """The question ids, once every set of predictions (of runs that fine_tunes_by_setting
    has checked) holds `keys`, fields score_predictions writes, and the same questions in
    the same order."""
    def check(record: dict, name: str, index: int) -> None:
        for key in keys:
            if key not in record:
                raise InputError(f"predictions of {name}, record {index + 1}: no '{key}' key "
                                 "(rerun rule score_predictions)")

    return check_paired_records(_named(base, runs), check, lambda p: p["id"], "predictions",
                                "questions", _RERUN)


def _judged(base: list[dict], runs: Runs, judge_settings: dict) -> dict:
    """judge_predictions over every set of predictions at once: the base model is judged
    once, and a mismatch is named by setting, seed and method."""
    return judge_predictions(_named(base, runs), **judge_settings)


def _verdicts(by_name: dict[str, list[bool]], setting, seed, variant: str) -> list[bool]:
    return by_name[BASE] if variant == BASE else by_name[_run_name(setting, seed, variant)]


# --- the study's rule, pooled over seeds: accuracy.csv, accuracy.md ----------------------

def _accuracy(correct: int, total: int) -> dict:
    """`correct`, `total` and `accuracy_pct` as accuracy.csv prints them.

    accuracy.csv prints round(100 * correct / total, 3), the metric tables
    tableio.pct(correct / total): the two differ in the last digit for a few counts (23 of
    320 is one), so each table keeps its own and the numbers the docs quote from each
    file stay reproducible to the digit."""
    return {"correct": correct, "total": total, "accuracy_pct": round(100 * correct / total, 3)}


def accuracy_row(setting, variant: str, per_seed: list[list[dict]]) -> dict:
    """One row of accuracy.csv: `variant`'s predictions in each of its seeds, pooled:
    lenient accuracy, their mean length in tokens, and how many ended with an end-of-text
    token before the limit."""
    pooled = [p for predictions in per_seed for p in predictions]
    total = len(pooled)
    return {"setting": setting, "variant": variant, "n_seeds": len(per_seed),
            **_accuracy(sum(len(correct_ids(predictions)) for predictions in per_seed), total),
            "mean_new_tokens": round(sum(p["new_tokens"] for p in pooled) / total, 2),
            "stopped_early": sum(bool(p["stopped"]) for p in pooled)}


def accuracy_rows(base: list[dict], runs: Runs) -> list[dict]:
    """accuracy.csv (ACCURACY_COLUMNS): the study's lenient table, pooled over seeds.

    Per setting: the base model (one seed's worth), then each method with its counts
    summed over seeds (`total` = seeds x questions; `mean_new_tokens` over every pooled
    answer), then `union`: per seed, the questions right in the base model or in any of
    that seed's fine-tunes, summed over seeds.
    """
    settings = fine_tunes_by_setting(runs)
    n_questions = len(_check_scored(base, runs, ("id", "correct", "new_tokens", "stopped")))
    base_right = correct_ids(base)
    rows = []
    for setting, fine_tunes in settings.items():
        seeds = _seeds(fine_tunes)
        rows.append(accuracy_row(setting, BASE, [base]))
        for method in _methods(fine_tunes):
            rows.append(accuracy_row(setting, method,
                                     [runs[ft] for ft in _of_method(fine_tunes, method)]))
        union = sum(len(base_right.union(*(correct_ids(runs[ft])
                                           for ft in _of_seed(fine_tunes, seed))))
                    for seed in seeds)
        rows.append({"setting": setting, "variant": UNION, "n_seeds": len(seeds),
                     **_accuracy(union, len(seeds) * n_questions),
                     "mean_new_tokens": "", "stopped_early": ""})
    return rows


def accuracy_markdown(rows: list[dict], model: str, words: dict[str, dict]) -> str:
    """accuracy.md, the study's results table: accuracy_rows, with a Setting column when
    there are several and a Seeds column when a fine-tune was trained with several seeds
    (with neither, the study's own table). `words`: each setting's question set and corpus
    (dag.Plan.setting_words), which the heading names; the study's figures are quoted where
    a setting answers BibleQA."""
    settings = list(dict.fromkeys(row["setting"] for row in rows))
    by_setting = len(settings) > 1
    with_seeds = any(int(row["n_seeds"]) > 1 for row in rows)
    by_part = any(row.get("part") for row in rows)  # a held-out split: each part's rows
    header = ["Model", *(["Setting"] if by_setting else []), *(["Part"] if by_part else []),
              *(["Seeds"] if with_seeds else []), "Correct", "Total", "Accuracy"]
    align = ["---", *(["---"] if by_setting else []), *(["---"] if by_part else []),
             *(["---:"] if with_seeds else []), "---:", "---:", "---:"]
    shown = [words[s] for s in settings]
    if len({(w["questions"], w["corpus"]) for w in shown}) == 1:
        heading = f"# Accuracy on {shown[0]['questions']}: {model}, fine-tuned on {shown[0]['corpus']}"
    else:
        heading = f"# Accuracy: {model}"
    lines = [heading, ""]
    if by_setting:
        lines += ["Settings: " + "; ".join(f"{s}: {setting_caption(words[s])}" for s in settings)
                  + ".", ""]
    lines += ["Lenient rule: correct when the short answer occurs anywhere in the response.", ""]
    if by_part:
        lines += ["Each setting's question set is split: `held_out`, the headline, was never "
                  "trained on; `trained` is the part a recipe may have read.", ""]
    if with_seeds:
        lines += ["Fine-tunes pooled over seeds: correct and total summed over their seeds "
                  "(the mixture per seed, summed).", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for row in rows:
        cells = [VARIANT_LABELS.get(row["variant"], row["variant"]),
                 *([str(row["setting"])] if by_setting else []),
                 *([str(row.get("part", ""))] if by_part else []),
                 *([str(row["n_seeds"])] if with_seeds else []),
                 str(row["correct"]), str(row["total"]), f"{row['accuracy_pct']:.3g}%"]
        lines.append("| " + " | ".join(cells) + " |")
    if any(w["questions_kind"] == "bibleqa" for w in shown):
        lines += ["", "Study (GPT-2 Large fine-tuned on the ASV, Gronberg 2024), on BibleQA: base "
                  "2.37% (21/886), full 0.902% (8), LoRA 1.02% (9), mixture 3.50% (31)."]
    return "\n".join(lines + [""])


# --- every metric, per seed and across seeds: seeds.csv, aggregate.csv --------------------

def seed_rows(base: list[dict], runs: Runs, **judge_settings) -> list[dict]:
    """seeds.csv (SEED_COLUMNS): per setting and metric, the base model's score (seed
    empty: it has none), then one row per method and seed. `judge_settings` are
    judging.judge's (ignore_case, alternatives, f1_threshold: options.JudgeOptions)."""
    settings = fine_tunes_by_setting(runs)
    judged = _judged(base, runs, judge_settings)
    total = len(judged["ids"])

    def row(setting, metric, variant, seed, verdicts):
        correct = sum(verdicts)
        return {"setting": setting, "metric": metric, "variant": variant, "seed": seed,
                "correct": correct, "total": total, "accuracy_pct": pct(correct / total)}

    rows = []
    for setting, fine_tunes in settings.items():
        for metric in METRICS:
            by_name = judged["verdicts"][metric]
            rows.append(row(setting, metric, BASE, "", by_name[BASE]))
            for method in _methods(fine_tunes):
                for ft in _of_method(fine_tunes, method):
                    rows.append(row(setting, metric, method, ft.seed,
                                    _verdicts(by_name, setting, ft.seed, method)))
    return rows


def _counts(row: dict) -> tuple[int, int]:
    """(correct, total) of a seed row, ints or the strings read back from seeds.csv."""
    where = f"seed row {row['setting']}/{row['metric']}/{row['variant']}/seed {row['seed']!r}"
    try:
        correct, total = int(row["correct"]), int(row["total"])
    except ValueError:
        raise InputError(f"{where}: correct {row['correct']!r} and total {row['total']!r} "
                         "must be whole numbers") from None
    if total <= 0 or not 0 <= correct <= total:
        raise InputError(f"{where}: {correct} correct of {total} is no accuracy")
    return correct, total


def aggregate_rows(seed_rows: list[dict]) -> list[dict]:
    """aggregate.csv (AGGREGATE_COLUMNS): per setting, metric and variant, the spread of
    accuracy over seeds (mean, sample sd, min, max; sd empty with one seed) and the
    counts pooled over seeds with their Wilson 95% interval.

    Built from seed rows alone, as dicts or as read back from seeds.csv (strings), so
    seeds.csv is enough to check it. The per-seed percentages come from the counts, not
    from the rounded `accuracy_pct`.
    """
    groups: dict[tuple, list[dict]] = {}
    seen = set()
    for row in seed_rows:
        missing = [c for c in SEED_COLUMNS if c not in row]
        if missing:
            raise InputError(f"seed row {row}: no {', '.join(missing)}")
        key = (row["setting"], row.get("part"), row["metric"], row["variant"])
        if (*key, str(row["seed"])) in seen:
            raise InputError(f"seed rows: {'/'.join(str(k) for k in key if k is not None)}, seed "
                             f"{row['seed']!r} appears twice")
        seen.add((*key, str(row["seed"])))
        groups.setdefault(key, []).append(row)
    out = []
    for (setting, part, metric, variant), rows in groups.items():
        counts = [_counts(r) for r in rows]
        per_seed = [100 * c / t for c, t in counts]
        correct, total = sum(c for c, _ in counts), sum(t for _, t in counts)
        low, high = wilson_interval(correct, total)
        out.append({"setting": setting, **({"part": part} if part else {}),
                    "metric": metric, "variant": variant,
                    "n_seeds": len(rows), "mean_pct": round(statistics.mean(per_seed), 3),
                    "sd_pct": round(statistics.stdev(per_seed), 3) if len(rows) > 1 else "",
                    "min_pct": round(min(per_seed), 3), "max_pct": round(max(per_seed), 3),
                    "correct": correct, "total": total, "pooled_pct": pct(correct / total),
                    "ci_low_pct": pct(low), "ci_high_pct": pct(high)})
    return out


def read_aggregate_csv(path) -> list[dict]:
    """Rows of an aggregate.csv (strings), checked for AGGREGATE_COLUMNS."""
    return read_checked_csv(path, AGGREGATE_COLUMNS, "rerun the workflow to rebuild it from seeds.csv")


# --- paired tests per seed and pooled: significance.csv ----------------------------------

def _shares_right(per_seed: list[list[bool]]) -> list[Fraction]:
    """Per question, the share of seeds that got it right (exact: d = 0 must be 0)."""
    return [Fraction(sum(verdicts), len(per_seed)) for verdicts in zip(*per_seed)]


def replicate_significance_rows(base: list[dict], runs: Runs, **judge_settings) -> list[dict]:
    """significance.csv (REPLICATE_SIGNIFICANCE_COLUMNS): per setting, metric and pair of
    variants (base and each method, the methods with each other), an exact McNemar test
    in each seed (as scores.significance_rows), then one pooled over seeds (seed `all`):
    stats.sign_test_pooled on each question's share of seeds right, which says why."""
    settings = fine_tunes_by_setting(runs)
    judged = _judged(base, runs, judge_settings)

    def row(setting, seed, metric, a, b, test, only_a, only_b, p):
        return {"setting": setting, "seed": seed, "metric": metric, "a": a, "b": b,
                "test": test, "statistic": min(only_a, only_b), "p_value": fmt(p),
                "a_only": only_a, "b_only": only_b}

    rows = []
    for setting, fine_tunes in settings.items():
        seeds = _seeds(fine_tunes)
        for metric in METRICS:
            by_name = judged["verdicts"][metric]
            for a, b in combinations([BASE, *_methods(fine_tunes)], 2):
                for seed in seeds:
                    only_a, only_b = discordant_counts(_verdicts(by_name, setting, seed, a),
                                                       _verdicts(by_name, setting, seed, b))
                    rows.append(row(setting, seed, metric, a, b, "mcnemar_exact", only_a, only_b,
                                    mcnemar_exact_p(only_a, only_b)))
                shares = {v: _shares_right([_verdicts(by_name, setting, seed, v)
                                            for seed in seeds]) for v in (a, b)}
                rows.append(row(setting, POOLED_SEED, metric, a, b, "sign_test_pooled",
                                *sign_test_pooled(shares[a], shares[b])))
    return rows


# --- per question: stability.csv, the Venn sets -------------------------------------------

def stability_columns(methods: list[str]) -> list[str]:
    return [*STABILITY_COLUMNS, *(f"{m}_right" for m in methods)]


def stability_rows(base: list[dict], runs: Runs) -> list[dict]:
    """stability.csv (stability_columns(methods_of(runs))): per setting, one row per
    question: whether the base model got it right (1/0, lenient rule) and in how many of
    `n_seeds` seeds each method did (`<method>_right`).

    It lets a user see which of the base model's right answers every fine-tune loses
    (`base` 1, `full_right` 0), and which a fine-tune gains in one seed only (luck) or in
    all of them.
    """
    settings = fine_tunes_by_setting(runs)
    _check_scored(base, runs, ("id", "correct"))
    rows = []
    for setting, fine_tunes in settings.items():
        by_method = {m: [runs[ft] for ft in _of_method(fine_tunes, m)] for m in _methods(fine_tunes)}
        for i, record in enumerate(base):
            row = {"setting": setting, "id": record["id"], "position": record.get("position", ""),
                   "question": record.get("question", ""), "answer": record.get("answer", ""),
                   "base": int(bool(record["correct"])), "n_seeds": len(_seeds(fine_tunes))}
            for method, per_seed in by_method.items():
                row[f"{method}_right"] = sum(bool(predictions[i]["correct"])
                                             for predictions in per_seed)
            rows.append(row)
    return rows


def majority_sets(base: list[dict], runs: Runs) -> dict[str, dict[str, set]]:
    """{setting: {"base": ids right, method: ids right in more than half of the seeds}},
    lenient rule: the sets of a Venn diagram across seeds (with one seed, its own sets)."""
    settings = fine_tunes_by_setting(runs)
    _check_scored(base, runs, ("id", "correct"))
    out = {}
    for setting, fine_tunes in settings.items():
        n_seeds = len(_seeds(fine_tunes))
        sets = {BASE: correct_ids(base)}
        for method in _methods(fine_tunes):
            seeds_right = Counter(qid for ft in _of_method(fine_tunes, method)
                                  for qid in correct_ids(runs[ft]))
            sets[method] = {qid for qid, n in seeds_right.items() if 2 * n > n_seeds}
        out[setting] = sets
    return out


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


def venn_sets(base: list[dict], runs: Runs) -> dict[str, dict]:
    """venn_sets.json and what figures.plot_venn_settings draws: per setting, the
    majority_sets as sorted ids (`sets`) and their venn_regions (`regions`)."""
    return {setting: {"sets": {v: sorted(s) for v, s in sets.items()},
                      "regions": venn_regions(sets)}
            for setting, sets in majority_sets(base, runs).items()}
