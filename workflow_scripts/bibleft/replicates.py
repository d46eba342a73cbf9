"""Tables across seeds: the fine-tunes trained with several seeds (and under several named
settings) against the one base model, as accuracy pooled over seeds, scores per seed and
their spread, paired tests per seed and pooled, and which questions each seed got right.

Every function takes `base`, the base model's predictions, and `runs`,
{setting: {seed: {method: predictions}}}. The base model answers greedily and is not
trained: it has no seed, and its one set of answers is compared with every seed of every
setting. All prediction lists must answer the same questions in the same order.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from fractions import Fraction
from itertools import combinations

from .errors import InputError
from .judging import METRICS, UNION, check_paired_records, correct_ids, judge_predictions
from .stats import discordant_counts, mcnemar_exact_p, sign_test_pooled, wilson_interval
from .tables import _fmt, _pct, read_checked_csv

BASE = "base"
ACCURACY_COLUMNS = ["setting", "variant", "n_seeds", "correct", "total", "accuracy_pct",
                    "mean_new_tokens", "stopped_early"]
SEED_COLUMNS = ["setting", "metric", "variant", "seed", "correct", "total", "accuracy_pct"]
AGGREGATE_COLUMNS = ["setting", "metric", "variant", "n_seeds", "mean_pct", "sd_pct", "min_pct",
                     "max_pct", "correct", "total", "pooled_pct", "ci_low_pct", "ci_high_pct"]
REPLICATE_SIGNIFICANCE_COLUMNS = ["setting", "seed", "metric", "a", "b", "test", "statistic",
                                  "p_value", "a_only", "b_only"]
# stability.csv: these, then one `<method>_right` column per method (stability_columns).
STABILITY_COLUMNS = ["setting", "id", "position", "question", "answer", "base", "n_seeds"]
SUMMARY_COLUMNS = ["model", "params_millions", *AGGREGATE_COLUMNS]
POOLED_SEED = "all"  # the seed column of the pooled test's rows

_RERUN = "rerun every seed's variants with the same eval settings"


# --- the input: one base model, runs per setting and seed --------------------------------

def methods_by_setting(runs: dict) -> dict[str, list[str]]:
    """Each setting's fine-tuning methods, in order, once checked that every seed of the
    setting has the same ones (a seed without its LoRA would silently pool fewer runs)."""
    if not runs:
        raise InputError("no fine-tuned runs: there is no setting with seeds to compare")
    methods = {}
    for setting, by_seed in runs.items():
        if not by_seed:
            raise InputError(f"setting {setting}: no seeds")
        first_seed, first = next(iter(by_seed.items()))
        names = list(first)
        if not names:
            raise InputError(f"setting {setting}, seed {first_seed}: no fine-tuned variant")
        for reserved in (BASE, UNION):
            if reserved in names:
                raise InputError(f"setting {setting}: a fine-tuning method cannot be named "
                                 f"{reserved!r}, the tables' name for the "
                                 f"{'base model' if reserved == BASE else 'union of variants'}")
        for seed, by_method in by_seed.items():
            if list(by_method) != names:
                raise InputError(f"setting {setting}, seed {seed}: variants "
                                 f"{', '.join(by_method) or 'none'}, not {', '.join(names)} "
                                 f"as in seed {first_seed}")
        methods[setting] = names
    return methods


def methods_of(runs: dict) -> list[str]:
    """Every method of every setting, in first-seen order: stability.csv's columns."""
    return list(dict.fromkeys(m for names in methods_by_setting(runs).values() for m in names))


def _run_name(setting, seed, method: str) -> str:
    # How the errors name one set of predictions: the first that differs from base's.
    return f"{method} (setting {setting}, seed {seed})"


def _named(base: list[dict], runs: dict) -> dict[str, list[dict]]:
    """Every set of predictions under its own name, the base model's once."""
    named = {BASE: base}
    for setting, by_seed in runs.items():
        for seed, by_method in by_seed.items():
            for method, predictions in by_method.items():
                named[_run_name(setting, seed, method)] = predictions
    return named


def _check_scored(base: list[dict], runs: dict, keys: tuple[str, ...]) -> list:
    """The question ids, once every set of predictions (of runs that methods_by_setting
    has checked) holds `keys`, fields score_predictions writes, and the same questions in
    the same order."""
    def check(record: dict, name: str, index: int) -> None:
        for key in keys:
            if key not in record:
                raise InputError(f"predictions of {name}, record {index + 1}: no '{key}' key "
                                 "(rerun rule score_predictions)")

    return check_paired_records(_named(base, runs), check, lambda p: p["id"], "predictions",
                                "questions", _RERUN)


def _judged(base: list[dict], runs: dict, judge_settings: dict) -> dict:
    """judge_predictions over every set of predictions at once: the base model is judged
    once, and a mismatch is named by setting, seed and method."""
    return judge_predictions(_named(base, runs), **judge_settings)


def _verdicts(by_name: dict[str, list[bool]], setting, seed, variant: str) -> list[bool]:
    return by_name[BASE] if variant == BASE else by_name[_run_name(setting, seed, variant)]


# --- the study's rule, pooled over seeds: accuracy.csv -----------------------------------

def _accuracy_row(setting, variant: str, per_seed: list[list[dict]]) -> dict:
    correct = sum(len(correct_ids(predictions)) for predictions in per_seed)
    pooled = [p for predictions in per_seed for p in predictions]
    total = len(pooled)
    return {"setting": setting, "variant": variant, "n_seeds": len(per_seed),
            "correct": correct, "total": total, "accuracy_pct": round(100 * correct / total, 3),
            "mean_new_tokens": round(sum(p["new_tokens"] for p in pooled) / total, 2),
            "stopped_early": sum(bool(p["stopped"]) for p in pooled)}


def accuracy_rows_across_seeds(base: list[dict], runs: dict) -> list[dict]:
    """accuracy.csv (ACCURACY_COLUMNS): the study's lenient table, pooled over seeds.

    Per setting: the base model (one seed's worth), then each method with its counts
    summed over seeds (`total` = seeds x questions; `mean_new_tokens` over every pooled
    answer), then `union`: per seed, the questions right in the base model or in any of
    that seed's fine-tunes, summed over seeds. With one seed the numbers are
    tables.accuracy_rows' for that seed.
    """
    methods = methods_by_setting(runs)
    n_questions = len(_check_scored(base, runs, ("id", "correct", "new_tokens", "stopped")))
    base_right = correct_ids(base)
    rows = []
    for setting, by_seed in runs.items():
        rows.append(_accuracy_row(setting, BASE, [base]))
        for method in methods[setting]:
            rows.append(_accuracy_row(setting, method,
                                      [by_method[method] for by_method in by_seed.values()]))
        union = sum(len(base_right.union(*map(correct_ids, by_method.values())))
                    for by_method in by_seed.values())
        total = len(by_seed) * n_questions
        rows.append({"setting": setting, "variant": UNION, "n_seeds": len(by_seed),
                     "correct": union, "total": total,
                     "accuracy_pct": round(100 * union / total, 3),
                     "mean_new_tokens": "", "stopped_early": ""})
    return rows


# --- every metric, per seed and across seeds: seeds.csv, aggregate.csv --------------------

def seed_rows(base: list[dict], runs: dict, **judge_settings) -> list[dict]:
    """seeds.csv (SEED_COLUMNS): per setting and metric, the base model's score (seed
    empty: it has none), then one row per method and seed. `judge_settings` are
    judging.judge's (ignore_case, alternatives, f1_threshold)."""
    methods = methods_by_setting(runs)
    judged = _judged(base, runs, judge_settings)
    total = len(judged["ids"])

    def row(setting, metric, variant, seed, verdicts):
        correct = sum(verdicts)
        return {"setting": setting, "metric": metric, "variant": variant, "seed": seed,
                "correct": correct, "total": total, "accuracy_pct": _pct(correct / total)}

    rows = []
    for setting, by_seed in runs.items():
        for metric in METRICS:
            by_name = judged["verdicts"][metric]
            rows.append(row(setting, metric, BASE, "", by_name[BASE]))
            for method in methods[setting]:
                for seed in by_seed:
                    rows.append(row(setting, metric, method, seed,
                                    _verdicts(by_name, setting, seed, method)))
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
        key = (row["setting"], row["metric"], row["variant"])
        if (*key, str(row["seed"])) in seen:
            raise InputError(f"seed rows: {'/'.join(map(str, key))}, seed {row['seed']!r} "
                             "appears twice")
        seen.add((*key, str(row["seed"])))
        groups.setdefault(key, []).append(row)
    out = []
    for (setting, metric, variant), rows in groups.items():
        counts = [_counts(r) for r in rows]
        per_seed = [100 * c / t for c, t in counts]
        correct, total = sum(c for c, _ in counts), sum(t for _, t in counts)
        low, high = wilson_interval(correct, total)
        out.append({"setting": setting, "metric": metric, "variant": variant,
                    "n_seeds": len(rows), "mean_pct": round(statistics.mean(per_seed), 3),
                    "sd_pct": round(statistics.stdev(per_seed), 3) if len(rows) > 1 else "",
                    "min_pct": round(min(per_seed), 3), "max_pct": round(max(per_seed), 3),
                    "correct": correct, "total": total, "pooled_pct": _pct(correct / total),
                    "ci_low_pct": _pct(low), "ci_high_pct": _pct(high)})
    return out


# --- paired tests per seed and pooled: significance.csv ----------------------------------

def _shares_right(per_seed: list[list[bool]]) -> list[Fraction]:
    """Per question, the share of seeds that got it right (exact: d = 0 must be 0)."""
    return [Fraction(sum(verdicts), len(per_seed)) for verdicts in zip(*per_seed)]


def replicate_significance_rows(base: list[dict], runs: dict, **judge_settings) -> list[dict]:
    """significance.csv (REPLICATE_SIGNIFICANCE_COLUMNS): per setting, metric and pair of
    variants (base and each method, the methods with each other), an exact McNemar test
    in each seed (as tables.significance_rows), then one pooled over seeds (seed `all`):
    stats.sign_test_pooled on each question's share of seeds right, which says why."""
    methods = methods_by_setting(runs)
    judged = _judged(base, runs, judge_settings)

    def row(setting, seed, metric, a, b, test, only_a, only_b, p):
        return {"setting": setting, "seed": seed, "metric": metric, "a": a, "b": b,
                "test": test, "statistic": min(only_a, only_b), "p_value": _fmt(p),
                "a_only": only_a, "b_only": only_b}

    rows = []
    for setting, by_seed in runs.items():
        for metric in METRICS:
            by_name = judged["verdicts"][metric]
            for a, b in combinations([BASE, *methods[setting]], 2):
                for seed in by_seed:
                    only_a, only_b = discordant_counts(_verdicts(by_name, setting, seed, a),
                                                       _verdicts(by_name, setting, seed, b))
                    rows.append(row(setting, seed, metric, a, b, "mcnemar_exact", only_a, only_b,
                                    mcnemar_exact_p(only_a, only_b)))
                shares = {v: _shares_right([_verdicts(by_name, setting, seed, v)
                                            for seed in by_seed]) for v in (a, b)}
                rows.append(row(setting, POOLED_SEED, metric, a, b, "sign_test_pooled",
                                *sign_test_pooled(shares[a], shares[b])))
    return rows


# --- per question: stability.csv, the Venn sets -------------------------------------------

def stability_columns(methods: list[str]) -> list[str]:
    return [*STABILITY_COLUMNS, *(f"{m}_right" for m in methods)]


def stability_rows(base: list[dict], runs: dict) -> list[dict]:
    """stability.csv (stability_columns(methods_of(runs))): per setting, one row per
    question: whether the base model got it right (1/0, lenient rule) and in how many of
    `n_seeds` seeds each method did (`<method>_right`).

    It lets a user see which of the base model's right answers every fine-tune loses
    (`base` 1, `full_right` 0), and which a fine-tune gains in one seed only (luck) or in
    all of them.
    """
    methods = methods_by_setting(runs)
    _check_scored(base, runs, ("id", "correct"))
    rows = []
    for setting, by_seed in runs.items():
        for i, record in enumerate(base):
            row = {"setting": setting, "id": record["id"], "position": record.get("position", ""),
                   "question": record.get("question", ""), "answer": record.get("answer", ""),
                   "base": int(bool(record["correct"])), "n_seeds": len(by_seed)}
            for method in methods[setting]:
                row[f"{method}_right"] = sum(bool(by_method[method][i]["correct"])
                                             for by_method in by_seed.values())
            rows.append(row)
    return rows


def majority_sets(base: list[dict], runs: dict) -> dict[str, dict[str, set]]:
    """{setting: {"base": ids right, method: ids right in more than half of the seeds}},
    lenient rule: the sets of a Venn diagram across seeds (with one seed, its own sets)."""
    methods = methods_by_setting(runs)
    _check_scored(base, runs, ("id", "correct"))
    out = {}
    for setting, by_seed in runs.items():
        sets = {BASE: correct_ids(base)}
        for method in methods[setting]:
            seeds_right = Counter(qid for by_method in by_seed.values()
                                  for qid in correct_ids(by_method[method]))
            sets[method] = {qid for qid, n in seeds_right.items() if 2 * n > len(by_seed)}
        out[setting] = sets
    return out


# --- across models: summary.csv ----------------------------------------------------------

def read_aggregate_csv(path) -> list[dict]:
    """Rows of an aggregate.csv (strings), checked for AGGREGATE_COLUMNS."""
    return read_checked_csv(path, AGGREGATE_COLUMNS, "rerun the workflow to rebuild it from seeds.csv")


def summary_rows(aggregates: dict[str, list[dict]],
                 params_millions: dict[str, float]) -> list[dict]:
    """summary.csv (SUMMARY_COLUMNS): every model's aggregate.csv rows, after the model and
    its size in millions of parameters (the x axis of figures.plot_summary)."""
    rows = []
    for model, aggregate in aggregates.items():
        size = params_millions.get(model)
        if (not isinstance(size, (int, float)) or isinstance(size, bool)
                or not math.isfinite(size) or size <= 0):
            raise InputError(f"model {model}: parameter count {size!r} is not a positive "
                             "number of millions")
        rows += [{"model": model, "params_millions": size, **row} for row in aggregate]
    return rows
