"""A grid through the snakemake CLI: two tiny GPT-2 "sizes" x two seeds, and what it
promises: every fine-tune its own job, tables across seeds that agree with the per-seed
prediction files, a seed added later planning only its own jobs and the aggregates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bibleft import judging, stats
from bibleft.fileio import read_jsonl
from fixtures import make_tiny_gpt2, write_bibleqa
from workflow_helpers import copy_project, planned_jobs, snakemake, tiny_config, with_overlay, write_config

pytestmark = pytest.mark.e2e  # runs the workflow through the snakemake CLI

SIZES = {"tiny-a": 1, "tiny-b": 2}  # model slug -> layers
SEEDS = [1, 2]
METHODS = ("full", "lora")


def grid_config(models: dict[str, Path], bibleqa: Path, seeds: list[int]) -> dict:
    config = tiny_config(models["tiny-a"], bibleqa, **{"run.models": list(models), "run.seeds": seeds,
                                                       "probes.enabled": False, "train.max_steps": 3,
                                                       "train.checkpoint_every": 0})
    config["models"] = {slug: {"source": str(path), "tokenizer": "gpt2",
                               "lora_targets": ["c_attn", "c_proj", "c_fc"],
                               "params_millions": SIZES[slug] * 2}
                        for slug, path in models.items()}
    return config


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    base = tmp_path_factory.mktemp("grid")
    project = copy_project(base / "project")
    models = {slug: make_tiny_gpt2(base / slug, n_layer=layers) for slug, layers in SIZES.items()}
    bibleqa = write_bibleqa(base / "1001.csv")
    config = write_config(base / "grid.yaml", grid_config(models, bibleqa, SEEDS))
    snakemake(project, "--cores", "2", *with_overlay(config))
    return {"project": project, "base": base, "models": models, "bibleqa": bibleqa, "config": config}


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def predictions(project: Path, model: str) -> tuple[list[dict], dict[int, dict[str, list[dict]]]]:
    """The base model's predictions and each seed's fine-tunes', read from the files."""
    results = project / "results" / model
    base = read_jsonl(results / "base/predictions/base.jsonl")
    tuned = {seed: {m: read_jsonl(results / f"paper/seed{seed}/predictions/{m}.jsonl") for m in METHODS}
             for seed in SEEDS}
    return base, tuned


def test_every_fine_tune_is_its_own_checkpoint(grid):
    for model in SIZES:
        for seed in SEEDS:
            for method in METHODS:
                ckpt = grid["project"] / f"checkpoints/{model}/paper/seed{seed}/{method}"
                settings = json.loads((ckpt / "settings.json").read_text())
                assert settings["train"]["seed"] == seed, (model, seed, method)
    # Seeds differ in data order and LoRA initialisation: their loss curves differ.
    logs = [read_jsonl(grid["project"] / f"checkpoints/tiny-a/paper/seed{seed}/full/train_log.jsonl")
            for seed in SEEDS]
    assert [r["loss"] for r in logs[0]] != [r["loss"] for r in logs[1]]
    assert (grid["project"] / "results/summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for model in SIZES:
        for figure in ("venn.png", "loss.png"):
            assert (grid["project"] / "results" / model / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seed_and_aggregate_tables_agree_with_the_prediction_files(grid):
    for model in SIZES:
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
    for model in SIZES:
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


def test_a_third_seed_plans_only_its_jobs_and_the_aggregates(grid, tmp_path):
    config = write_config(tmp_path / "three.yaml",
                          grid_config(grid["models"], grid["bibleqa"], [*SEEDS, 3]))
    jobs = planned_jobs(grid["project"], *with_overlay(config))
    n = len(SIZES)
    assert jobs == {
        "finetune": 2 * n, "generate_answers": 2 * n, "score_predictions": 2 * n,  # no base
        "judge_predictions": n, "accuracy_bars": n, "timing_table": n,            # the new run's
        "accuracy_table": n, "venn_diagram": n, "loss_curves": n, "seed_tables": n,  # across seeds
        "model_summary": 1, "all": 1,
    }


def test_a_named_setting_plans_its_own_fine_tunes_and_shares_the_rest(grid, tmp_path):
    config = grid_config(grid["models"], grid["bibleqa"], SEEDS)
    config["run"]["settings"] = ["paper", "lr", "words"]
    config["settings"] = {"lr": {"train": {"learning_rate": 1.0e-3}},
                          "words": {"data": {"verse_format": "text"}}}
    jobs = planned_jobs(grid["project"], *with_overlay(write_config(tmp_path / "settings.yaml", config)))
    n, runs = len(SIZES), len(SEEDS) * 2  # two new settings x two seeds, per model
    assert jobs["finetune"] == n * runs * 2 and jobs["generate_answers"] == n * runs * 2
    # Only the verse format makes a new tokenization, shared by both sizes (one tokenizer).
    assert jobs["tokenize_corpus"] == 1
    assert "asv_text" not in jobs and "prepare_model" not in jobs
    out = snakemake(grid["project"], "-n", *with_overlay(tmp_path / "settings.yaml")).stdout
    assert "checkpoints/tiny-a/lr/seed1/full" in out and "data/tokenized/gpt2/text" in out
