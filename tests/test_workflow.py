"""The whole DAG through the snakemake CLI, on a tiny GPT-2, a dozen questions and two
seeds (the shared tiny run, conftest.tiny_run), and what a change to it reruns."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import pytest

from bibleft.fileio import read_jsonl
from bibleft.grid import CLOSED, METHODS, AnswerSet, BaseModel, FineTune
from fixtures import BIBLEQA_LINES
from workflow_helpers import (TINY_MODEL, TINY_SEEDS, copy_project, own_copy_of_run, planned_jobs,
                              run_file, shared_run_config, snakemake, with_overlay, write_config)

pytestmark = pytest.mark.e2e  # runs the workflow through the snakemake CLI

MODEL = TINY_MODEL
VARIANTS = ("base", "full", "lora")


@pytest.fixture
def run(tiny_run):
    """The finished tiny run (conftest.tiny_run), shared with the other end-to-end tests."""
    return tiny_run


def results(run) -> Path:
    return run["project"] / "results" / MODEL


# The shared run's grid: the study's setting, two seeds. RUN_DIR is the first seed's run.
RUN_DIR = "paper/seed42"
N_RUNS = len(TINY_SEEDS)  # (setting, seed) pairs: each one pair of fine-tunes


def run_results(run) -> Path:
    """The folder of the first seed's answers and tables."""
    return results(run) / RUN_DIR


def variant_file(run, kind: str, variant: str, suffix: str = ".jsonl") -> Path:
    """generations/, predictions/ or probes/ of a variant: the base model's in base/."""
    return run_file(run["project"], kind, variant, suffix)


def test_every_contract_file_exists(run):
    project = run["project"]
    expected = [
        "data/raw/asv.tsv", "data/raw/questions/bibleqa.tsv", "data/questions/bibleqa.jsonl",
        "data/tokenized/gpt2/asv/reference_text/dataset_info.json",
        f"checkpoints/{MODEL}/{RUN_DIR}/full/model.safetensors",
        f"checkpoints/{MODEL}/{RUN_DIR}/full/config.json",
        f"checkpoints/{MODEL}/{RUN_DIR}/full/tokenizer_config.json",
        f"checkpoints/{MODEL}/{RUN_DIR}/lora/adapter_model.safetensors",
        f"checkpoints/{MODEL}/{RUN_DIR}/lora/adapter_config.json",
        # The study's table, Venn diagram and loss curves where the README says.
        f"results/{MODEL}/accuracy.csv", f"results/{MODEL}/accuracy.md",
        f"results/{MODEL}/venn.png", f"results/{MODEL}/venn.svg",
        f"results/{MODEL}/loss.png", f"results/{MODEL}/{RUN_DIR}/timing.csv",
        f"results/{MODEL}/seeds.csv", f"results/{MODEL}/aggregate.csv",
        f"results/{MODEL}/significance.csv", f"results/{MODEL}/stability.csv",
        f"results/{MODEL}/{RUN_DIR}/scores.csv", f"results/{MODEL}/{RUN_DIR}/audit.csv",
    ]
    expected += [f"checkpoints/{MODEL}/{RUN_DIR}/{m}/{f}" for m in ("full", "lora")
                 for f in ("train_log.jsonl", "train_summary.json")]
    expected += [str(variant_file(run, "predictions", v).relative_to(project)) for v in VARIANTS]
    missing = [p for p in expected if not (project / p).is_file()]
    assert not missing
    assert (project / "data/raw/asv.tsv").read_text(encoding="utf-8").count("\n") == 31102
    for png in ("venn.png", "loss.png"):
        assert (results(run) / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # No pickle anywhere in what the run wrote.
    assert not list(project.glob("checkpoints/**/*.bin")) and not list(project.glob("checkpoints/**/*.pt"))


def seed_predictions(run) -> dict[int, dict[str, list[dict]]]:
    """Per seed, every variant's predictions read from the files (base: the one set)."""
    project = run["project"]
    def read(run):
        return read_jsonl(project / AnswerSet(run, "bibleqa", CLOSED).file("predictions"))

    base = read(BaseModel(MODEL))
    return {seed: {"base": base, **{m: read(FineTune(MODEL, "paper", seed, m)) for m in METHODS}}
            for seed in TINY_SEEDS}


def test_questions_and_predictions_agree(run):
    questions = read_jsonl(run["project"] / "data/questions/bibleqa.jsonl")
    assert len(questions) == len(BIBLEQA_LINES) - 1
    by_seed = seed_predictions(run)
    for preds in by_seed.values():
        for variant, records in preds.items():
            assert [r["id"] for r in records] == [q["id"] for q in questions], variant
            assert [r["position"] for r in records] == list(range(1, len(questions) + 1))
            for record in records:
                assert set(record) == {"id", "position", "question", "answer", "response",
                                       "new_tokens", "stopped", "correct"}
                assert record["correct"] == (record["answer"] in record["response"])
                # An answer has the full 15 tokens unless it ended with an end-of-text token.
                assert (record["new_tokens"] < 15) if record["stopped"] else (record["new_tokens"] == 15)
    # accuracy.csv: the study's table, the fine-tunes pooled over the seeds.
    with open(results(run) / "accuracy.csv", newline="") as fh:
        table = {row["variant"]: row for row in csv.DictReader(fh)}
    assert list(table) == ["base", "full", "lora", "union"]
    assert {row["setting"] for row in table.values()} == {"paper"}
    n = len(questions)
    for variant in VARIANTS:
        pooled = [by_seed[s][variant] for s in (TINY_SEEDS if variant != "base" else TINY_SEEDS[:1])]
        records = [r for records in pooled for r in records]
        right = sum(r["correct"] for r in records)
        assert (int(table[variant]["n_seeds"]), int(table[variant]["correct"]),
                int(table[variant]["total"])) == (len(pooled), right, len(records))
        assert float(table[variant]["accuracy_pct"]) == pytest.approx(100 * right / len(records), abs=1e-3)
        assert float(table[variant]["mean_new_tokens"]) == pytest.approx(
            sum(r["new_tokens"] for r in records) / len(records), abs=0.01)
        assert int(table[variant]["stopped_early"]) == sum(r["stopped"] for r in records)
    unions = [set().union(*({r["id"] for r in recs if r["correct"]} for recs in preds.values()))
              for preds in by_seed.values()]
    assert int(table["union"]["correct"]) == sum(map(len, unions))
    assert int(table["union"]["total"]) == n * len(TINY_SEEDS)
    # venn_sets.json: base's right answers, and each fine-tune's right in most of its seeds.
    sets = json.loads((results(run) / "venn_sets.json").read_text())["paper"]
    assert set(sets["sets"]["base"]) == {r["id"] for r in by_seed[42]["base"] if r["correct"]}
    for method in METHODS:
        right_in = [{r["id"] for r in by_seed[s][method] if r["correct"]} for s in TINY_SEEDS]
        assert set(sets["sets"][method]) == set.intersection(*right_in)  # most of 2 seeds: both
    assert sum(sets["regions"].values()) == len(set().union(*map(set, sets["sets"].values())))


def test_training_outputs(run):
    for method in ("full", "lora"):
        ckpt = run["project"] / "checkpoints" / MODEL / RUN_DIR / method
        log = read_jsonl(ckpt / "train_log.jsonl")
        assert [r["step"] for r in log] == list(range(1, 7))
        assert all({"step", "epoch", "loss", "learning_rate"} <= set(r) for r in log)
        summary = json.loads((ckpt / "train_summary.json").read_text())
        assert summary["steps"] == 6 and summary["tokens_seen"] > 0
        assert summary["library_versions"]["torch"]
        assert summary["device"] == "cpu" and summary["matmul_precision"] == "ieee"
        assert summary["base_model"] == {"kind": "local", "source": str(run["model_dir"].resolve())}
        assert not (run["project"] / "resume" / MODEL / RUN_DIR / method).exists()  # scratch cleaned
    with open(run_results(run) / "timing.csv", newline="") as fh:
        rows = {row["method"]: row for row in csv.DictReader(fh)}
    assert set(rows) == set(VARIANTS)
    assert float(rows["full"]["total_seconds"]) > 0 and rows["base"]["total_seconds"] == ""
    assert float(rows["base"]["inference_seconds_per_answer"]) > 0
    for variant in VARIANTS:
        timing = json.loads(variant_file(run, "generations", variant, ".timing.json").read_text())
        answers = read_jsonl(variant_file(run, "generations", variant))
        assert timing["matmul_precision"] == "ieee" and timing["prefix_cache"] is True
        # The full fine-tune answers with its checkpoint, which names its base model in turn.
        local = {"kind": "local", "source": str(run["model_dir"].resolve())}
        assert timing["base_model"] == (local if variant != "full" else {
            "kind": "fine-tune", "base_model": local,
            "source": str((run["project"] / "checkpoints" / MODEL / RUN_DIR / "full").resolve())})
        assert timing["stopped_before_max"] == sum(a["stopped"] for a in answers)


def test_probe_table_agrees_with_each_variants_records(run):
    texts = read_jsonl(run["project"] / "data/probes/asv.jsonl")
    records = {v: read_jsonl(variant_file(run, "probes", v)) for v in VARIANTS}
    groups = {(r["probe"], r["text"], r["split"]) for r in texts}
    # Ruth is the training slice: seen; Genesis is not. Recall probes both; BBE's Genesis.
    assert {("nll", "asv", "seen"), ("nll", "asv", "unseen"), ("nll", "kjv", "seen"),
            ("nll", "bbe", "unseen"), ("recall", "asv", "seen"), ("recall", "asv", "unseen")} <= groups
    assert all(r["reference"].startswith("Ruth ") == (r["split"] == "seen") for r in texts)
    with open(run_results(run) / "probes.csv", newline="") as fh:
        table = {(row["probe"], row["text"], row["split"], row["variant"]): row for row in csv.DictReader(fh)}
    assert set(table) == {(*group, v) for group in groups for v in VARIANTS}
    for variant, rows in records.items():
        assert [(r["probe"], r["reference"]) for r in rows] == [(t["probe"], t["reference"]) for t in texts]
        for probe, text, split in groups:
            mine = [r for r in rows if (r["probe"], r["text"], r["split"]) == (probe, text, split)]
            row = table[probe, text, split, variant]
            if probe == "nll":
                scored = [r for r in mine if r["n_tokens"]]
                mean = sum(r["nll"] for r in scored) / sum(r["n_tokens"] for r in scored)
                assert int(row["n"]) == len(scored)
                assert float(row["mean_nll"]) == pytest.approx(mean, abs=1e-3)
            else:
                assert int(row["n"]) == len(mine)
                assert float(row["exact_match"]) == pytest.approx(
                    100 * sum(r["exact"] for r in mine) / len(mine), abs=1e-3)
    # The fine-tunes trained on Ruth: the full fine-tune's seen verses are likelier than the base's.
    assert float(table["nll", "asv", "seen", "full"]["mean_nll"]) < float(table["nll", "asv", "seen", "base"]["mean_nll"])
    with open(run_results(run) / "probes_significance.csv", newline="") as fh:
        tests = list(csv.DictReader(fh))
    assert {row["test"] for row in tests} >= {"wilcoxon_signed_rank", "mcnemar_exact"}
    assert (run_results(run) / "probes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_is_logged(run):
    log = (run["project"] / "logs/finetune" / MODEL / RUN_DIR / "full.log").read_text()
    assert "total_steps=6" in log and "tokens/s" in log and "train:" in log
    assert "generate:" in (run["project"] / "logs/generate" / MODEL / "base/bibleqa/closed/base.log").read_text()


# --- regenerating only stale outputs -----------------------------------------------------

def overlay(run, name, **overrides) -> str:
    path = run["base"] / f"{name}.yaml"
    write_config(path, shared_run_config(run["model_dir"], run["bibleqa"], **overrides))
    return str(path)


def test_second_run_does_nothing(run):
    assert planned_jobs(run["project"], *with_overlay(run["config"])) == {}


def test_lora_setting_reruns_lora_only(run):
    jobs = planned_jobs(run["project"], *with_overlay(overlay(run, "lora", **{"lora.r": 4})))
    assert jobs.get("finetune") == N_RUNS and jobs.get("generate_answers") == N_RUNS  # LoRA's
    assert jobs.get("score_predictions") == N_RUNS  # LoRA's: not the base model's
    assert "tokenize_corpus" not in jobs and "bible_text" not in jobs
    assert {"accuracy_table", "venn_diagram", "loss_curves", "timing_table"} <= set(jobs)


def test_compile_mode_per_method_reruns_that_method_only(run):
    # Each job sees its own method's mode: spelling the shipped `false` per method is no change,
    # and compiling LoRA alone leaves the full checkpoint current.
    same = overlay(run, "compile-off", **{"train.compile": {"full": False, "lora": False}})
    assert planned_jobs(run["project"], *with_overlay(same)) == {}
    # The compile scope means nothing to an eager job: changing it reruns none.
    scope = overlay(run, "scope-eager", **{"train.compile_scope": "blocks"})
    assert planned_jobs(run["project"], *with_overlay(scope)) == {}
    lora_only = overlay(run, "compile-lora", **{"train.compile": {"lora": "default"}})
    out = snakemake(run["project"], "-n", *with_overlay(lora_only)).stdout
    finetunes = [b for b in out.split("rule ")[1:] if b.startswith("finetune:")]
    assert len(finetunes) == N_RUNS and all("method=lora" in f for f in finetunes), out[-3000:]


def test_prompt_change_regenerates_answers_only(run):
    prompt = "Q: {question}\nA:"
    jobs = planned_jobs(run["project"], *with_overlay(overlay(run, "prompt", **{"answer.prompt": prompt})))
    assert jobs.get("generate_answers") == 2 * N_RUNS + 1  # every fine-tune's and the base model's
    assert jobs.get("score_predictions") == 2 * N_RUNS + 1
    assert "finetune" not in jobs and "tokenize_corpus" not in jobs
    assert "loss_curves" not in jobs


def test_scoring_setting_rescores_only(run):
    jobs = planned_jobs(run["project"], *with_overlay(overlay(run, "score", **{"judge.ignore_case": True})))
    assert jobs.get("score_predictions") == 2 * N_RUNS + 1
    assert {"accuracy_table", "venn_diagram"} <= set(jobs)
    assert not {"generate_answers", "finetune", "tokenize_corpus", "loss_curves"} & set(jobs)


def test_numbers_typed_on_the_command_line_are_numbers(run):
    # Snakemake hands `run={seeds: [44]}` over as the text ['44']; the config wants integers.
    jobs = planned_jobs(run["project"], *with_overlay(run["config"]), "--config", "run={seeds: [44]}")
    assert jobs.get("finetune") == 2 and jobs.get("generate_answers") == 2  # base needs no seed
    assert "tokenize_corpus" not in jobs


def test_probe_setting_reruns_the_probes_only(run):
    jobs = planned_jobs(run["project"], *with_overlay(overlay(run, "probes", **{"probes.verses": 5})))
    assert jobs == {"probe_texts": 1, "run_probes": 2 * N_RUNS + 1, "probe_table": N_RUNS, "all": 1}
    off = overlay(run, "no-probes", **{"probes.enabled": False})
    assert planned_jobs(run["project"], *with_overlay(off)) == {}


def test_editing_a_script_reruns_its_rules_only(run, tmp_path):
    run = own_copy_of_run(run, tmp_path / "project")  # a newer script would replan others' runs
    script = run["project"] / "workflow_scripts" / "venn_diagram.py"
    future = time.time() + 5
    os.utime(script, (future, future))
    jobs = planned_jobs(run["project"], *with_overlay(run["config"]))
    assert jobs.get("venn_diagram") == 1
    assert not {"generate_answers", "finetune", "score_predictions", "accuracy_table"} & set(jobs)


# --- the shipped paper config ---------------------------------------------------------

def test_paper_config_dry_run_resolves_the_study_dag(tmp_path):
    project = copy_project(tmp_path / "project")
    jobs = planned_jobs(project)
    assert jobs["prepare_model"] == 1 and jobs["tokenize_corpus"] == 1
    assert jobs["finetune"] == 2 and jobs["generate_answers"] == 3  # base, full, LoRA
    assert jobs["score_predictions"] == 3
    assert jobs["probe_texts"] == 1 and jobs["run_probes"] == 3
    assert jobs["probe_table"] == 1
    assert {"accuracy_table", "venn_diagram", "loss_curves", "timing_table"} <= set(jobs)
    out = snakemake(project, "-n").stdout
    # GPU requests on the model rules, none on the data rules.
    blocks = {b.split(":", 1)[0].strip(): b for b in out.split("rule ")[1:]}
    for rule in ("finetune", "generate_answers", "run_probes"):
        assert "gpu=1" in blocks[rule] and "mem_mb=" in blocks[rule] and "runtime=" in blocks[rule]
    assert "gpu=0" in blocks["tokenize_corpus"]


def test_lint_is_clean(tmp_path):
    project = copy_project(tmp_path / "project")
    proc = snakemake(project, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_third_seed_plans_its_fine_tunes_answers_and_probes_and_the_tables_across_seeds(run):
    # The base model's answers and probes are shared by every seed: nothing of base reruns.
    jobs = planned_jobs(run["project"], *with_overlay(run["config"]), "--config",
                        f"run={{seeds: {[*TINY_SEEDS, 7]}}}")
    assert jobs == {"finetune": 2, "generate_answers": 2, "score_predictions": 2, "run_probes": 2,
                    "judge_predictions": 1, "accuracy_bars": 1, "timing_table": 1, "probe_table": 1,
                    "accuracy_table": 1, "venn_diagram": 1, "loss_curves": 1, "seed_tables": 1,
                    "all": 1}


# --- every boolean setting reruns exactly its rules and their dependents ------------------
# Snakemake compares a rule's params as a set of values without their names: a rule with
# two booleans among its params would not see one of them flip. Every rule passes its
# settings as one mapping (bibleft.dag); this checks each boolean of the config.

# What reads each step's output, in the shared run (one model, one setting, N_RUNS seeds).
ACROSS_SEEDS = {"accuracy_table": 1, "venn_diagram": 1, "seed_tables": 1, "all": 1}
JUDGED = {"judge_predictions": N_RUNS, "accuracy_bars": N_RUNS}
SCORED = {"score_predictions": 2 * N_RUNS + 1, **JUDGED, **ACROSS_SEEDS}  # + the base model's
ANSWERED = {"generate_answers": 2 * N_RUNS + 1, "timing_table": N_RUNS, **SCORED}
PROBED = {"run_probes": 2 * N_RUNS + 1, "probe_table": N_RUNS, "all": 1}
FINE_TUNED = {"finetune": 2 * N_RUNS, "loss_curves": 1, "generate_answers": 2 * N_RUNS,
              "run_probes": 2 * N_RUNS, "score_predictions": 2 * N_RUNS, "timing_table": N_RUNS,
              "probe_table": N_RUNS, **JUDGED, **ACROSS_SEEDS}
# Each boolean of the config (the models registry's as models.<model>.<key>), flipped from
# the tiny run's value, and the jobs that must rerun: exactly the rules that read it and
# what depends on their outputs.
FLIPS = {
    "train.packing": FINE_TUNED, "train.group_by_length": FINE_TUNED, "train.eos": FINE_TUNED,
    "train.tf32": FINE_TUNED, "train.gradient_checkpointing": FINE_TUNED,
    "train.compile": FINE_TUNED, "train.padding_free": FINE_TUNED,
    "answer.chat_template": ANSWERED, "answer.prefix_cache": ANSWERED,
    "answer.tf32": {**ANSWERED, **PROBED},
    "judge.ignore_case": SCORED,
    "judge.alternatives": {**JUDGED, "seed_tables": 1, "all": 1},
    "probes.enabled": {},  # off: the probes' outputs are no longer wanted, nothing reruns
    # on: the book's index and passages, the open-book answers, and the tables that read
    # them (tests/test_open_book_workflow.py runs it); no closed-book answer or Venn diagram
    "open_book.enabled": {"retrieval_index": 1, "retrieve_passages": 1,
                          "generate_answers": 2 * N_RUNS + 1, "score_predictions": 2 * N_RUNS + 1,
                          "retrieval_accuracy": N_RUNS, "timing_table": N_RUNS, **JUDGED,
                          "accuracy_table": 1, "seed_tables": 1, "venn_diagram": 1, "all": 1},
    "models.<model>.trust_remote_code": {"tokenize_corpus": 1, **FINE_TUNED, **ANSWERED, **PROBED},
}


def config_booleans() -> set[str]:
    """Every key of the typed config whose value is a boolean or may be one (bibleft.config:
    the classes are the statement of every key)."""
    from bibleft.config import Experiment
    from bibleft.sections import field_type, is_section, literal_values, members

    found = set()

    def walk(cls, path):
        for name, field in cls.model_fields.items():
            annotation = field_type(field)
            types = members(annotation)
            if bool in types or True in literal_values(annotation):
                found.add(".".join([*path, name]))
            sections = [t for t in types if is_section(t)]
            if path == [] and name == "models":
                from bibleft.config import ModelEntry

                walk(ModelEntry, ["models", "<model>"])
            elif len(sections) == 1 and not path:
                walk(sections[0], [name])

    walk(Experiment, [])
    return found


def flipped(run, key: str) -> str:
    """An overlay of the tiny config with the boolean `key` flipped from its value in the
    tiny run (config.yaml, the tiny overlay over it, the defaults)."""
    import yaml

    from bibleft.config import deep_merge, load_config

    config = deep_merge(yaml.safe_load((run["project"] / "config.yaml").read_text()),
                        shared_run_config(run["model_dir"], run["bibleqa"]))
    value = load_config(config).resolved_config()
    dotted = key.replace("<model>", MODEL)
    for part in dotted.split("."):
        value = value[part]
    return overlay(run, f"flip-{dotted}", **{dotted: not value})


def test_every_boolean_setting_reruns_exactly_its_rules_and_their_dependents(run):
    assert config_booleans() == set(FLIPS)  # a new boolean needs its line in FLIPS
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:  # dry runs: mostly building the DAG, two at a time
        planned = dict(zip(FLIPS, pool.map(
            lambda key: planned_jobs(run["project"], *with_overlay(flipped(run, key))), FLIPS)))
    wrong = {key: (planned[key], expected) for key, expected in FLIPS.items() if planned[key] != expected}
    assert not wrong, wrong
