"""The grid on the shared tiny run (conftest.tiny_run: one model, two seeds) and what it
promises: every fine-tune its own job and checkpoint, tables across seeds that agree with
the per-seed prediction files, and a seed, a setting or a model added later planning only
its own jobs and the tables they feed. A grid of two models x two seeds runs for real on
SLURM (tests/test_slurm.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bibleft import judging, stats
from bibleft.fileio import read_jsonl
from bibleft.grid import METHODS
from fixtures import make_tiny_gpt2
from workflow_helpers import (TINY_MODEL, TINY_SEEDS, planned_jobs, shared_run_config, snakemake,
                              with_overlay, write_config)

pytestmark = pytest.mark.e2e  # runs the workflow through the snakemake CLI

MODEL = TINY_MODEL
SEEDS = TINY_SEEDS


@pytest.fixture
def grid(tiny_run):
    return tiny_run


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def predictions(project: Path, model: str) -> tuple[list[dict], dict[int, dict[str, list[dict]]]]:
    """The base model's predictions and each seed's fine-tunes', read from the files."""
    results = project / "results" / model
    base = read_jsonl(results / "base/bibleqa/closed/predictions/base.jsonl")
    tuned = {seed: {m: read_jsonl(results / f"paper/seed{seed}/bibleqa/closed/predictions/{m}.jsonl")
                    for m in METHODS}
             for seed in SEEDS}
    return base, tuned


def test_every_fine_tune_is_its_own_checkpoint(grid):
    for seed in SEEDS:
        for method in METHODS:
            ckpt = grid["project"] / f"checkpoints/{MODEL}/paper/seed{seed}/{method}"
            settings = json.loads((ckpt / "settings.json").read_text())
            # The seed is the fine-tune's, stated once (not copied into train).
            assert (settings["seed"], settings["method"]) == (seed, method)
            assert "seed" not in settings["train"] and "base_model" not in settings
    # Seeds differ in data order and LoRA initialisation: their loss curves differ.
    for method in METHODS:
        logs = [read_jsonl(grid["project"] / f"checkpoints/{MODEL}/paper/seed{seed}/{method}/train_log.jsonl")
                for seed in SEEDS]
        assert [r["loss"] for r in logs[0]] != [r["loss"] for r in logs[1]], method
    for figure in ("venn.png", "loss.png"):
        assert (grid["project"] / "results" / MODEL / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seed_and_aggregate_tables_agree_with_the_prediction_files(grid):
    for model in [MODEL]:
        base, tuned = predictions(grid["project"], model)
        results = grid["project"] / "results" / model
        seeds = {(r["metric"], r["variant"], r["seed"]): r for r in read_csv(results / "seeds.csv")}
        aggregate = {(r["metric"], r["variant"]): r for r in read_csv(results / "aggregate.csv")}
        total = len(base)
        for metric in judging.METRICS:
            for seed in SEEDS:
                verdicts = judging.judge_predictions({"base": base, **tuned[seed]})["verdicts"][metric]
                assert int(seeds[metric, "base", ""]["correct"]) == sum(verdicts["base"])
                for method in METHODS:
                    row = seeds[metric, method, str(seed)]
                    assert (int(row["correct"]), int(row["total"])) == (sum(verdicts[method]), total)
            for method in METHODS:
                per_seed = [100 * int(seeds[metric, method, str(s)]["correct"]) / total for s in SEEDS]
                row = aggregate[metric, method]
                pooled = sum(int(seeds[metric, method, str(s)]["correct"]) for s in SEEDS)
                assert int(row["n_seeds"]) == len(SEEDS) and int(row["correct"]) == pooled
                assert int(row["total"]) == total * len(SEEDS)
                assert float(row["mean_pct"]) == pytest.approx(sum(per_seed) / len(SEEDS), abs=1e-3)
                assert float(row["min_pct"]) == pytest.approx(min(per_seed), abs=1e-3)
                low, high = stats.wilson_interval(pooled, total * len(SEEDS))
                assert float(row["ci_low_pct"]) == pytest.approx(100 * low, abs=1e-3)
                assert float(row["ci_high_pct"]) == pytest.approx(100 * high, abs=1e-3)
        # The study's table, pooled over seeds, from the `correct` flags.
        accuracy = {r["variant"]: r for r in read_csv(results / "accuracy.csv")}
        for method in METHODS:
            right = sum(r["correct"] for s in SEEDS for r in tuned[s][method])
            assert int(accuracy[method]["correct"]) == right
            assert int(accuracy[method]["n_seeds"]) == len(SEEDS)
        # Per question: how many seeds of each fine-tune got it right.
        stability = read_csv(results / "stability.csv")
        assert [int(r["id"]) for r in stability] == [r["id"] for r in base]
        for i, row in enumerate(stability):
            assert int(row["base"]) == int(base[i]["correct"])
            for method in METHODS:
                assert int(row[f"{method}_right"]) == sum(tuned[s][method][i]["correct"] for s in SEEDS)


def test_pooled_test_is_the_sign_test_over_questions(grid):
    for model in [MODEL]:
        base, tuned = predictions(grid["project"], model)
        rows = read_csv(grid["project"] / "results" / model / "significance.csv")
        pooled = {(r["metric"], r["a"], r["b"]): r for r in rows if r["seed"] == "all"}
        per_seed = [r for r in rows if r["seed"] != "all"]
        assert {r["seed"] for r in per_seed} == {str(s) for s in SEEDS}
        assert {r["test"] for r in per_seed} == {"mcnemar_exact"}
        row = pooled["lenient", "base", "full"]
        share_full = [sum(tuned[s]["full"][i]["correct"] for s in SEEDS) / len(SEEDS) for i in range(len(base))]
        diffs = [int(b["correct"]) - f for b, f in zip(base, share_full)]
        a_only, b_only = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
        assert (int(row["a_only"]), int(row["b_only"])) == (a_only, b_only)
        assert float(row["p_value"]) == pytest.approx(stats.mcnemar_exact_p(a_only, b_only), rel=1e-5)


def test_a_named_setting_plans_its_own_fine_tunes_and_shares_the_rest(grid, tmp_path):
    config = shared_run_config(grid["model_dir"], grid["bibleqa"])
    config["run"]["settings"] = ["paper", "lr", "words"]
    config["settings"] = {"lr": {"train": {"learning_rate": 1.0e-3}},
                          "words": {"data": {"verse_format": "text"}}}
    jobs = planned_jobs(grid["project"], *with_overlay(write_config(tmp_path / "settings.yaml", config)))
    runs = len(SEEDS) * 2  # two new settings x the seeds
    assert jobs["finetune"] == runs * 2 and jobs["generate_answers"] == runs * 2
    # Only the verse format makes a new tokenization; the base model answers once still.
    assert jobs["tokenize_corpus"] == 1
    assert not {"bible_text", "prepare_model"} & set(jobs)
    out = snakemake(grid["project"], "-n", *with_overlay(tmp_path / "settings.yaml")).stdout
    assert "output: results/tiny-gpt2/base/" not in out
    out = snakemake(grid["project"], "-n", *with_overlay(tmp_path / "settings.yaml")).stdout
    assert f"checkpoints/{MODEL}/lr/seed{SEEDS[0]}/full" in out and "data/tokenized/gpt2/asv/text" in out


def test_a_second_model_plans_its_own_grid_and_the_summary(grid, tmp_path):
    deep = make_tiny_gpt2(tmp_path / "tiny-deep", n_layer=3)
    config = shared_run_config(grid["model_dir"], grid["bibleqa"])
    config["run"]["models"] = [MODEL, "tiny-deep"]
    config["models"]["tiny-deep"] = {**config["models"][MODEL], "source": str(deep), "params_millions": 6}
    path = write_config(tmp_path / "two-models.yaml", config)
    jobs = planned_jobs(grid["project"], *with_overlay(path))
    n = len(SEEDS)  # the new model's runs; the first model's are all current
    assert jobs == {
        "finetune": 2 * n, "generate_answers": 2 * n + 1, "score_predictions": 2 * n + 1,
        "run_probes": 2 * n + 1, "judge_predictions": n, "accuracy_bars": n, "timing_table": n,
        "probe_table": n, "accuracy_table": 1, "venn_diagram": 1, "loss_curves": 1,
        "seed_tables": 1, "model_summary": 1, "all": 1}  # the GPT-2 tokenization is shared
    out = snakemake(grid["project"], "-n", *with_overlay(path)).stdout
    assert all(f"checkpoints/tiny-deep/paper/seed{s}/{m}" in out for s in SEEDS for m in METHODS)
