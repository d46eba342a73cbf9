"""The tables across seeds, held to numbers recounted here from the prediction records, to
the one-seed tables they must reduce to, and to a sign test worked by hand."""

from __future__ import annotations

import csv
import io
import math
import random
import statistics
from itertools import combinations

import pytest

from bibleft import figures, judging, replicates, stats, summary
from bibleft.errors import InputError
from bibleft.grid import FineTune
from bibleft.judging import lenient_correct
from bibleft.scores import significance_rows
from bibleft.tableio import rows_to_csv
from fixtures import predictions_of
import reference_stats

ANSWERS = ["Mary", "Eden", "Rib", "Cain", "Moses", "The devil", "Sarah", "Mt. Sinai", "Harp / Lyre",
           "Abraham (Abram)", "Mount Sinai", "Jesse"] * 3
# How a response relates to its answer: each kind is right under a different set of metrics.
RESPONSES = {
    "right": lambda a: f" {a}",                   # every metric
    "late": lambda a: f" no idea\nQ: Is it {a}?",  # lenient, not first_line
    "lower": lambda a: f" {a.lower()}",          # lenient only with ignore_case
    "wrong": lambda a: " ::",                     # none
}


def scored(kinds: list[str], rng: random.Random) -> list[dict]:
    """Prediction records as score_predictions writes them: question i answered by a
    response of kinds[i], `correct` by the study's case-sensitive rule."""
    responses = [RESPONSES[k](a) for k, a in zip(kinds, ANSWERS)]
    records = predictions_of({"v": responses}, ANSWERS[:len(kinds)])["v"]
    for i, record in enumerate(records):
        record.update(position=i + 1, new_tokens=rng.randint(1, 40), stopped=rng.random() < 0.3,
                      correct=lenient_correct(record["answer"], record["response"], False))
    return records


def random_kinds(rng: random.Random, n: int, p_right: float) -> list[str]:
    return [rng.choices(list(RESPONSES), [p_right, p_right / 2, p_right / 2, 1 - 2 * p_right])[0]
            for _ in range(n)]


MODEL = "m"


def ft(setting: str, seed: int, method: str) -> FineTune:
    return FineTune(MODEL, setting, seed, method)


def study(settings=("default", "no_warmup"), seeds=(1, 2, 3), n=len(ANSWERS), seed=0):
    """The base model's predictions and runs {FineTune: predictions}, full and lora for
    every setting and seed, in grid order."""
    rng = random.Random(seed)
    base = scored(random_kinds(rng, n, 0.3), rng)
    runs = {}
    for s in settings:
        for k in seeds:
            runs[ft(s, k, "full")] = scored(random_kinds(rng, n, 0.2), rng)
            runs[ft(s, k, "lora")] = scored(random_kinds(rng, n, 0.25), rng)
    return base, runs


def settings_of(runs: dict) -> list[str]:
    return list(dict.fromkeys(f.setting for f in runs))


def seeds_of(runs: dict, setting: str) -> list[int]:
    return list(dict.fromkeys(f.seed for f in runs if f.setting == setting))


def one_run(base: list[dict], runs: dict, setting: str, seed: int) -> dict[str, list[dict]]:
    """One (setting, seed)'s predictions by variant, as the study compared them."""
    return {"base": base, **{m: runs[ft(setting, seed, m)] for m in ("full", "lora")}}


def right(record: dict, metric: str = "lenient", **settings) -> bool:
    return judging.judge(record["answer"], record["response"], **settings)[0][metric]


def by_key(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for r in rows}


# --- accuracy.csv --------------------------------------------------------------------------

def study_table(predictions: dict[str, list[dict]]) -> list[dict]:
    """The study's table of one run, recounted here: per variant its right answers, their
    share, the answers' mean length and how many stopped early; then the union."""
    total = len(predictions["base"])
    rows, union = [], set()
    for variant, preds in predictions.items():
        right = {p["id"] for p in preds if p["correct"]}
        union |= right
        rows.append({"variant": variant, "correct": len(right), "total": total,
                     "accuracy_pct": round(100 * len(right) / total, 3),
                     "mean_new_tokens": round(sum(p["new_tokens"] for p in preds) / total, 2),
                     "stopped_early": sum(bool(p["stopped"]) for p in preds)})
    rows.append({"variant": "union", "correct": len(union), "total": total,
                 "accuracy_pct": round(100 * len(union) / total, 3), "mean_new_tokens": "",
                 "stopped_early": ""})
    return rows


def test_accuracy_with_one_seed_is_the_study_table():
    base, runs = study(settings=("default",), seeds=(7,))
    rows = replicates.accuracy_rows(base, runs)
    assert list(rows[0]) == replicates.ACCURACY_COLUMNS
    expected = study_table(one_run(base, runs, "default", 7))
    assert [{k: v for k, v in r.items() if k not in ("setting", "n_seeds")} for r in rows] == expected
    assert [(r["setting"], r["n_seeds"]) for r in rows] == [("default", 1)] * 4


def test_accuracy_pools_the_seeds():
    base, runs = study()
    n = len(base)
    rows = by_key(replicates.accuracy_rows(base, runs), "setting", "variant")
    assert list(rows) == [(s, v) for s in settings_of(runs) for v in ("base", "full", "lora", "union")]
    for setting in settings_of(runs):
        seeds = seeds_of(runs, setting)
        assert rows[setting, "base"]["correct"] == sum(p["correct"] for p in base)
        for method in ("full", "lora"):
            pooled = [p for seed in seeds for p in runs[ft(setting, seed, method)]]
            row = rows[setting, method]
            assert (row["n_seeds"], row["total"]) == (3, 3 * n)
            assert row["correct"] == sum(p["correct"] for p in pooled)
            assert row["accuracy_pct"] == round(100 * row["correct"] / (3 * n), 3)
            assert row["mean_new_tokens"] == round(statistics.mean(p["new_tokens"] for p in pooled), 2)
            assert row["stopped_early"] == sum(p["stopped"] for p in pooled)
        union = sum(base[i]["correct"] or any(runs[ft(setting, seed, m)][i]["correct"]
                                              for m in ("full", "lora"))
                    for seed in seeds for i in range(n))
        assert rows[setting, "union"]["correct"] == union > rows[setting, "base"]["correct"]
        assert rows[setting, "union"]["mean_new_tokens"] == ""


# --- seeds.csv, aggregate.csv -------------------------------------------------------------

def test_seed_rows_recount_every_metric():
    base, runs = study()
    settings = {"ignore_case": True, "alternatives": True, "f1_threshold": 0.6}
    rows = replicates.seed_rows(base, runs, **settings)
    assert list(rows[0]) == replicates.SEED_COLUMNS
    assert len(rows) == 2 * len(judging.METRICS) * (1 + 2 * 3)
    table = by_key(rows, "setting", "metric", "variant", "seed")
    for setting in settings_of(runs):
        for metric in judging.METRICS:
            row = table[setting, metric, "base", ""]
            assert row["correct"] == sum(right(p, metric, **settings) for p in base)
            for fine_tune, preds in runs.items():
                if fine_tune.setting != setting:
                    continue
                row = table[setting, metric, fine_tune.method, fine_tune.seed]
                correct = sum(right(p, metric, **settings) for p in preds)
                assert (row["correct"], row["total"]) == (correct, len(preds))
                assert row["accuracy_pct"] == round(100 * correct / len(preds), 3)
    # The judge settings reach the judge: case-blind, "mary" is right.
    strict = by_key(replicates.seed_rows(base, runs), "setting", "metric", "variant", "seed")
    key = ("default", "lenient", "base", "")
    assert table[key]["correct"] > strict[key]["correct"]


def test_aggregate_rows_recompute_the_spread_and_the_pooled_interval():
    base, runs = study()
    seed_rows = replicates.seed_rows(base, runs)
    rows = replicates.aggregate_rows(seed_rows)
    assert list(rows[0]) == replicates.AGGREGATE_COLUMNS
    table = by_key(rows, "setting", "metric", "variant")
    assert len(table) == 2 * len(judging.METRICS) * 3
    for setting in settings_of(runs):
        for metric in judging.METRICS:
            for method in ("full", "lora"):
                counts = [sum(right(p, metric) for p in runs[ft(setting, s, method)])
                          for s in seeds_of(runs, setting)]
                pcts = [100 * c / len(base) for c in counts]
                mean = sum(pcts) / len(pcts)
                sd = math.sqrt(sum((x - mean) ** 2 for x in pcts) / (len(pcts) - 1))
                correct, total = sum(counts), len(base) * len(counts)
                low, high = reference_stats.wilson_interval(correct, total)
                row = table[setting, metric, method]
                assert row == {"setting": setting, "metric": metric, "variant": method,
                               "n_seeds": 3, "mean_pct": round(mean, 3), "sd_pct": round(sd, 3),
                               "min_pct": round(min(pcts), 3), "max_pct": round(max(pcts), 3),
                               "correct": correct, "total": total,
                               "pooled_pct": round(100 * correct / total, 3),
                               "ci_low_pct": round(100 * low, 3), "ci_high_pct": round(100 * high, 3)}
            base_row = table[setting, metric, "base"]
            assert (base_row["n_seeds"], base_row["sd_pct"]) == (1, "")
            assert (base_row["min_pct"] == base_row["mean_pct"] == base_row["max_pct"]
                    == base_row["pooled_pct"])


def test_aggregate_is_recomputed_from_the_seeds_csv_text():
    base, runs = study()
    seed_rows = replicates.seed_rows(base, runs)
    text = rows_to_csv(seed_rows, replicates.SEED_COLUMNS)
    read_back = list(csv.DictReader(io.StringIO(text)))
    assert read_back[0]["seed"] == "" and isinstance(read_back[1]["correct"], str)
    assert replicates.aggregate_rows(read_back) == replicates.aggregate_rows(seed_rows)


def test_sd_is_empty_with_one_seed():
    base, runs = study(seeds=(5,))
    for row in replicates.aggregate_rows(replicates.seed_rows(base, runs)):
        assert row["n_seeds"] == 1 and row["sd_pct"] == ""
        assert row["min_pct"] == row["mean_pct"] == row["max_pct"] == row["pooled_pct"]


def test_aggregate_rejects_a_seed_twice_and_bad_counts():
    rows = [{"setting": "d", "metric": "lenient", "variant": "full", "seed": 1, "correct": 2,
             "total": 10, "accuracy_pct": 20.0}]
    with pytest.raises(InputError, match="seed 1 appears twice"):
        replicates.aggregate_rows(rows * 2)
    with pytest.raises(InputError, match="11 correct of 10"):
        replicates.aggregate_rows([{**rows[0], "correct": "11"}])
    with pytest.raises(InputError, match="whole numbers"):
        replicates.aggregate_rows([{**rows[0], "total": ""}])


# --- significance.csv ---------------------------------------------------------------------

def test_one_seed_gives_the_study_significance_and_an_identical_pooled_test():
    base, runs = study(settings=("default",), seeds=(4,))
    rows = replicates.replicate_significance_rows(base, runs)
    assert list(rows[0]) == replicates.REPLICATE_SIGNIFICANCE_COLUMNS
    per_seed = [r for r in rows if r["seed"] == 4]
    pooled = [r for r in rows if r["seed"] == "all"]
    judged = judging.judge_predictions(one_run(base, runs, "default", 4))
    mcnemar = [r for r in significance_rows(judged) if r["test"] == "mcnemar_exact"]
    assert [{k: v for k, v in r.items() if k not in ("setting", "seed")} for r in per_seed] == mcnemar
    assert {r["test"] for r in pooled} == {"sign_test_pooled"}
    same = ("metric", "a", "b", "statistic", "p_value", "a_only", "b_only")
    assert [[r[k] for k in same] for r in pooled] == [[r[k] for k in same] for r in per_seed]
    assert any(r["a_only"] + r["b_only"] > 0 for r in pooled)


def test_significance_per_seed_and_pooled_recount():
    base, runs = study()
    rows = replicates.replicate_significance_rows(base, runs)
    pairs = [("base", "full"), ("base", "lora"), ("full", "lora")]
    assert len(rows) == 2 * len(judging.METRICS) * len(pairs) * (3 + 1)
    table = by_key(rows, "setting", "seed", "metric", "a", "b")
    n = len(base)
    for setting in settings_of(runs):
        seeds = seeds_of(runs, setting)
        for metric in judging.METRICS:
            def verdicts(variant, seed):
                preds = base if variant == "base" else runs[ft(setting, seed, variant)]
                return [right(p, metric) for p in preds]

            for a, b in pairs:
                for seed in seeds:
                    va, vb = verdicts(a, seed), verdicts(b, seed)
                    only_a = sum(x and not y for x, y in zip(va, vb))
                    only_b = sum(y and not x for x, y in zip(va, vb))
                    row = table[setting, seed, metric, a, b]
                    assert (row["test"], row["a_only"], row["b_only"], row["statistic"]) == (
                        "mcnemar_exact", only_a, only_b, min(only_a, only_b))
                    assert float(row["p_value"]) == pytest.approx(
                        reference_stats.mcnemar_exact_p(only_a, only_b), rel=1e-5)
                # Seeds right per question, in whole numbers: base counts all 3 or none.
                seeds_a = [sum(c) for c in zip(*(verdicts(a, s) for s in seeds))]
                seeds_b = [sum(c) for c in zip(*(verdicts(b, s) for s in seeds))]
                a_only = sum(seeds_a[i] > seeds_b[i] for i in range(n))
                b_only = sum(seeds_a[i] < seeds_b[i] for i in range(n))
                row = table[setting, "all", metric, a, b]
                assert (row["test"], row["a_only"], row["b_only"], row["statistic"]) == (
                    "sign_test_pooled", a_only, b_only, min(a_only, b_only))
                assert float(row["p_value"]) == pytest.approx(
                    reference_stats.mcnemar_exact_p(a_only, b_only), rel=1e-5)
    assert any(r["a_only"] + r["b_only"] > 5 for r in rows if r["seed"] == "all")


# The hand-worked case of docs/metrics.md: 3 seeds, 8 questions; full's share of seeds
# right against base's (0 or 1, the same in every seed):
#   question   1    2    3    4    5    6    7    8
#   full      3/3  1/3  2/3  1/3  3/3  2/3  2/3  3/3
#   base       0    0    0    0    0    0    1    1
#   d = full - base: +1 +1/3 +2/3 +1/3 +1 +2/3 -1/3  0
# 6 positive, 1 negative, 1 zero (dropped): n = 7, min = 1, so
#   p = 2 * [C(7,0) + C(7,1)] / 2^7 = 2 * (1 + 7) / 128 = 16/128 = 0.125.
HAND_FULL_SEEDS_RIGHT = [3, 1, 2, 1, 3, 2, 2, 3]
HAND_BASE_RIGHT = [0, 0, 0, 0, 0, 0, 1, 1]


def test_sign_test_worked_by_hand():
    full = [k / 3 for k in HAND_FULL_SEEDS_RIGHT]
    assert stats.sign_test_pooled(full, HAND_BASE_RIGHT) == (6, 1, 0.125)
    assert stats.sign_test_pooled(HAND_BASE_RIGHT, full) == (1, 6, 0.125)


def test_the_hand_worked_case_in_the_table():
    answers = ANSWERS[:8]
    rng = random.Random(1)
    base = scored(["right" if r else "wrong" for r in HAND_BASE_RIGHT], rng)
    # Seed s got question i right when s < seeds right: 3/3 in seeds 0, 1, 2, 1/3 in seed 0.
    full = {s: scored(["right" if s < k else "wrong" for k in HAND_FULL_SEEDS_RIGHT], rng)
            for s in range(3)}
    runs = {ft("default", s, "full"): preds for s, preds in full.items()}
    assert [p["answer"] for p in base] == answers
    table = by_key(replicates.replicate_significance_rows(base, runs), "seed", "metric", "a", "b")
    row = table["all", "lenient", "base", "full"]
    assert (row["a_only"], row["b_only"], row["statistic"], row["p_value"]) == (1, 6, 1, "0.125")
    # Seed by seed, (base only, full only): seed 0 got every question, so (0, 6), p = 2/2^6;
    # seed 1 questions 1 3 5 6 7 8: (0, 4), p = 2/2^4; seed 2 questions 1 5 8: (1, 2),
    # p = 2 * (1 + 3)/2^3, at most 1.
    per_seed = [table[s, "lenient", "base", "full"] for s in range(3)]
    assert [(r["a_only"], r["b_only"], r["p_value"]) for r in per_seed] == [
        (0, 6, "0.03125"), (0, 4, "0.125"), (1, 2, "1")]


def test_the_sign_test_with_one_seed_is_the_exact_mcnemar_test():
    rng = random.Random(3)
    for _ in range(50):
        a = [rng.random() < 0.4 for _ in range(60)]
        b = [rng.random() < 0.2 for _ in range(60)]
        only_a, only_b = stats.discordant_counts(a, b)
        assert stats.sign_test_pooled(a, b) == (only_a, only_b, stats.mcnemar_exact_p(only_a, only_b))


def test_the_sign_test_needs_paired_shares():
    with pytest.raises(ValueError):
        stats.sign_test_pooled([1, 0], [0])


# --- stability.csv, the Venn sets ---------------------------------------------------------

def test_stability_counts_the_seeds_right_per_question():
    base, runs = study()
    rows = replicates.stability_rows(base, runs)
    columns = replicates.stability_columns(replicates.methods_of(runs))
    assert columns == [*replicates.STABILITY_COLUMNS, "full_right", "lora_right"]
    assert all(list(r) == columns for r in rows)
    assert len(rows) == 2 * len(base)
    for row, i in zip(rows, [*range(len(base))] * 2):
        assert (row["id"], row["position"], row["answer"]) == (base[i]["id"], i + 1, ANSWERS[i])
        assert row["base"] == int(base[i]["correct"]) and row["n_seeds"] == 3
        for method in ("full", "lora"):
            assert row[f"{method}_right"] == sum(runs[ft(row["setting"], s, method)][i]["correct"]
                                                 for s in (1, 2, 3))
    lost = [r for r in rows if r["base"] == 1 and r["full_right"] == 0]
    assert lost  # what the table is for: base's right answers no full fine-tune kept


def test_majority_sets():
    base, runs = study()
    sets = replicates.majority_sets(base, runs)
    assert list(sets) == ["default", "no_warmup"]
    for setting in settings_of(runs):
        assert sets[setting]["base"] == {p["id"] for p in base if p["correct"]}
        for method in ("full", "lora"):
            expected = {base[i]["id"] for i in range(len(base))
                        if sum(runs[ft(setting, s, method)][i]["correct"]
                               for s in seeds_of(runs, setting)) >= 2}
            assert sets[setting][method] == expected
    base, runs = study(seeds=(9,))
    one = replicates.majority_sets(base, runs)["default"]
    assert one == {"base": judging.correct_ids(base),
                   "full": judging.correct_ids(runs[ft("default", 9, "full")]),
                   "lora": judging.correct_ids(runs[ft("default", 9, "lora")])}


def test_venn_sets_are_the_majority_sets_and_their_regions():
    base, runs = study()
    venn = replicates.venn_sets(base, runs)
    sets = replicates.majority_sets(base, runs)
    assert list(venn) == list(sets) == ["default", "no_warmup"]
    for setting, by_variant in sets.items():
        assert venn[setting]["sets"] == {v: sorted(ids) for v, ids in by_variant.items()}
        # Each question's region: a bit per set it is in, in the sets' order (base, full, lora).
        regions = dict.fromkeys(("100", "010", "110", "001", "101", "011", "111"), 0)
        for qid in set().union(*by_variant.values()):
            regions["".join("1" if qid in ids else "0" for ids in by_variant.values())] += 1
        assert venn[setting]["regions"] == regions
        assert sum(regions.values()) > 0


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("table", [
    replicates.accuracy_rows, replicates.seed_rows, replicates.replicate_significance_rows,
    replicates.stability_rows, replicates.majority_sets, replicates.venn_sets])
def test_a_seed_in_another_question_order_is_named(table):
    base, runs = study()
    lora = runs[ft("no_warmup", 2, "lora")]
    lora[0], lora[1] = lora[1], lora[0]
    with pytest.raises(InputError, match=r"lora \(setting no_warmup, seed 2\) and base cover "
                                         r"different questions \(record 1 is 1, not 0\)"):
        table(base, runs)


def test_a_seed_without_a_method_is_named():
    base, runs = study()
    del runs[ft("default", 3, "lora")]
    with pytest.raises(InputError, match="setting default, seed 3: variants full, not full, lora"):
        replicates.seed_rows(base, runs)
    with pytest.raises(InputError, match="no fine-tuned runs"):
        replicates.stability_rows(base, {})


def test_fine_tunes_of_two_models_are_refused():
    base, runs = study(settings=("default",), seeds=(1,))
    runs[FineTune("other", "default", 2, "full")] = runs[ft("default", 1, "full")]
    with pytest.raises(InputError, match="fine-tunes of models m, other"):
        replicates.accuracy_rows(base, runs)


def test_a_record_without_its_score_is_named():
    base, runs = study()
    del runs[ft("default", 1, "full")][4]["correct"]
    with pytest.raises(InputError, match=r"full \(setting default, seed 1\), record 5: no 'correct'"):
        replicates.accuracy_rows(base, runs)


# --- summary.csv across models ----------------------------------------------------------------

def test_summary_rows_from_aggregate_files(tmp_path):
    aggregates = {}
    for model, seed in (("small", 0), ("large", 1)):
        base, runs = study(seed=seed)
        path = tmp_path / f"{model}.csv"
        rows = replicates.aggregate_rows(replicates.seed_rows(base, runs))
        path.write_text(rows_to_csv(rows, replicates.AGGREGATE_COLUMNS), encoding="utf-8")
        aggregates[model] = replicates.read_aggregate_csv(path)
        assert aggregates[model][0]["correct"] == str(rows[0]["correct"])
    rows = summary.summary_rows(aggregates, {"small": 135.0, "large": 774})
    assert len(rows) == 2 * 2 * len(judging.METRICS) * 3
    assert all(list(r) == summary.SUMMARY_COLUMNS for r in rows)
    assert rows[0]["model"] == "small" and rows[-1]["params_millions"] == 774
    with pytest.raises(InputError, match="model large: parameter count None"):
        summary.summary_rows(aggregates, {"small": 135.0})
    bad = tmp_path / "bad.csv"
    bad.write_text("setting,metric,variant,n_seeds\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv: missing column\(s\) mean_pct, sd_pct"):
        replicates.read_aggregate_csv(bad)


# --- figures ----------------------------------------------------------------------------------

def is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def loss_log(rng: random.Random, steps: int) -> list[dict]:
    return [{"step": s, "loss": 4.0 / (1 + 0.05 * s) + rng.random() * 0.3}
            for s in range(1, steps + 1)]


@pytest.mark.parametrize("settings, seeds", [(("default",), (0,)), (("default",), (0, 1, 2)),
                                             (("default", "no_warmup"), (0, 1))])
def test_loss_curves_of_every_run(tmp_path, settings, seeds):
    rng = random.Random(0)
    keys = [ft(s, k, m) for s in settings for k in seeds for m in ("full", "lora")]
    logs = {key: loss_log(rng, 60) for key in keys}
    figures.plot_loss_runs(logs, {key: 20 for key in keys}, "Fine-tuning loss", tmp_path / "loss.png")
    assert is_png(tmp_path / "loss.png")


@pytest.mark.parametrize("settings", [("default",), ("default", "no_warmup", "rank_8")])
def test_venn_per_setting(tmp_path, settings):
    base, runs = study(settings=settings)
    venn = replicates.venn_sets(base, runs)
    captions = {s: f"quiz-{s}, fine-tuned on corpus-{s}" for s in settings}
    figures.plot_venn_settings(venn, "Right in most seeds", captions, tmp_path / "v.png", tmp_path / "v.svg")
    assert is_png(tmp_path / "v.png") and b"<svg" in (tmp_path / "v.svg").read_bytes()[:500]
    # Each panel names what it shows: its question set and corpus (the SVG holds the text).
    svg = (tmp_path / "v.svg").read_text()
    assert all(f"quiz-{s}, fine-tuned on corpus-{s}" in svg for s in settings)


@pytest.mark.parametrize("settings, sizes", [
    (("default",), (135, 774, 270)),
    (("default", "no_warmup"), (135, 774, 270)),
    (("default",), (135, 135, 270)),  # two models of one size
])
def test_summary_figure(tmp_path, settings, sizes):
    aggregates = {}
    models = ("smol-135m", "gpt2-large", "gemma-270m")
    for seed, model in enumerate(models):
        base, runs = study(settings=settings, seed=seed)
        text = rows_to_csv(replicates.aggregate_rows(replicates.seed_rows(base, runs)),
                           replicates.AGGREGATE_COLUMNS)
        aggregates[model] = list(csv.DictReader(io.StringIO(text)))
    rows = summary.summary_rows(aggregates, dict(zip(models, sizes)))
    text = rows_to_csv(rows, summary.SUMMARY_COLUMNS)
    figures.plot_summary(list(csv.DictReader(io.StringIO(text))), ["bibleqa"], tmp_path / "summary.png")
    assert is_png(tmp_path / "summary.png")


def test_pair_order_is_base_then_the_methods():
    base, runs = study(settings=("default",), seeds=(1,))
    rows = replicates.replicate_significance_rows(base, runs)
    pairs = list(dict.fromkeys((r["a"], r["b"]) for r in rows))
    assert pairs == list(combinations(["base", "full", "lora"], 2))


def test_accuracy_markdown_keeps_the_study_table_and_shows_seeds_and_settings():
    base, runs = study(settings=("default",), seeds=(7,))
    bibleqa = {"corpus": "asv", "questions": "bibleqa", "questions_kind": "bibleqa", "book": "asv"}
    one_seed = replicates.accuracy_markdown(replicates.accuracy_rows(base, runs), "m",
                                            {"default": bibleqa})
    assert one_seed.startswith("# Accuracy on bibleqa: m, fine-tuned on asv\n")
    assert "Study (GPT-2 Large fine-tuned on the ASV, Gronberg 2024), on BibleQA" in one_seed
    labels = ["Base model", "Full fine-tune", "LoRA fine-tune", "Mixture of models (any correct)"]
    study_lines = ["| Model | Correct | Total | Accuracy |", "|---|---:|---:|---:|",
                   *(f"| {label} | {r['correct']} | {r['total']} | {r['accuracy_pct']:.3g}% |"
                     for label, r in zip(labels, study_table(one_run(base, runs, "default", 7))))]
    assert "\n" + "\n".join(study_lines) + "\n\n" in one_seed
    assert "pooled over seeds" not in one_seed
    base, runs = study()
    rows = replicates.accuracy_rows(base, runs)
    quiz = {"corpus": "people", "questions": "quiz", "questions_kind": "facts", "book": "people"}
    text = replicates.accuracy_markdown(rows, "m", {"default": bibleqa, "no_warmup": quiz,
                                                     "rank_8": quiz})
    assert text.startswith("# Accuracy: m\n") and "no_warmup: quiz, fine-tuned on people" in text
    assert "| Model | Setting | Seeds | Correct | Total | Accuracy |" in text
    # A quiz of invented facts is not the study's: its figures are quoted only beside BibleQA.
    facts_only = replicates.accuracy_markdown(rows, "m", {s: quiz for s in ("default", "no_warmup", "rank_8")})
    assert "Gronberg" not in facts_only and facts_only.startswith("# Accuracy on quiz: m, fine-tuned on people")
    full = next(r for r in rows if r["setting"] == "no_warmup" and r["variant"] == "full")
    assert (f"| Full fine-tune | no_warmup | 3 | {full['correct']} | {3 * len(base)} | "
            f"{full['accuracy_pct']:.3g}% |") in text
