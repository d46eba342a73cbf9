"""Running the real workflow through the snakemake CLI on a copy of the project."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from bibleft.fileio import read_jsonl, write_jsonl
from bibleft.grid import CLOSED, METHODS, AnswerSet, BaseModel, FineTune, probes_file

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# What a user's clone holds that the workflow needs; copied so tests can touch files.
PROJECT_PARTS = ["Snakefile", "config.yaml", "rules", "workflow_scripts", "envs",
                 "report", "profiles", "lm_eval_tasks", "grids", "overlays"]


def tiny_project(base: Path, **overrides) -> dict:
    """A copy of the project, a tiny GPT-2, a small BibleQA file and a config overlay."""
    from fixtures import make_tiny_gpt2, write_bibleqa

    project = copy_project(base / "project")
    model_dir = make_tiny_gpt2(base / "tiny-gpt2")
    bibleqa = write_bibleqa(base / "1001.csv")
    config = write_config(base / "tiny.yaml", tiny_config(model_dir, bibleqa, **overrides))
    return {"project": project, "base": base, "model_dir": model_dir, "bibleqa": bibleqa,
            "config": config}


# The shared tiny run (finished_tiny_run): one model, the study's setting, two seeds. Its
# variant files (run_file) are the first seed's.
TINY_MODEL = "tiny-gpt2"
TINY_SEEDS = [42, 43]
TINY_RUN = ("paper", TINY_SEEDS[0])
# A tiny random GPT-2 answers nothing right, which would leave every count at 0 and every
# test trivially at p = 1. So once the answers are generated, finished_tiny_run plants
# these responses (question id -> response, per variant; ids and answers from
# tests/fixtures.py) into the generation files, the only thing it changes, and lets the
# real DAG score, judge and report them.
PLANTED = {
    "base": {1: " Mary\n\nQ: Who was Jesus' father?", 2: " Eden", 5: " A rib",
             66: " Is it not Sarah?", 177: " mount of Sinai", 83: " a lyre"},
    "full": {1: " Mary", 11: " cain"},
    "lora": {1: " Mary", 15: " He was strong\n\nQ: Who was Moses?"},
}


def tiny_runs(model: str = TINY_MODEL) -> dict:
    """The tiny run's three variants as typed runs of the grid."""
    return {"base": BaseModel(model), **{m: FineTune(model, *TINY_RUN, m) for m in METHODS}}


def run_file(project: Path, kind: str, variant: str, suffix: str = ".jsonl") -> Path:
    """A variant's generations/, predictions/ (closed book, BibleQA) or probes/ file (on the
    ASV, the corpus the tiny run trains on) in the tiny run."""
    run = tiny_runs()[variant]
    if kind == "probes":
        return project / probes_file(run, "asv", suffix)
    return project / AnswerSet(run, "bibleqa", CLOSED).file(kind, suffix)


def shared_run_config(model_dir: Path, bibleqa: Path, **overrides) -> dict:
    """The shared tiny run's config overlay (tiny_config with TINY_SEEDS), with `overrides`."""
    return tiny_config(model_dir, bibleqa, **{"run.seeds": TINY_SEEDS, **overrides})


def finished_tiny_run(base: Path) -> dict:
    """tiny_project with two seeds (shared_run_config), run to the end once with PLANTED
    responses in the first seed's answers (and the base model's), and its HTML report
    (report.html): what the end-to-end tests read and dry-run against."""
    setup = tiny_project(base, **{"run.seeds": TINY_SEEDS})
    project, config = setup["project"], setup["config"]
    generations = {v: run_file(project, "generations", v) for v in PLANTED}
    snakemake(project, *(str(path.relative_to(project)) for path in generations.values()),
              "--cores", "2", *with_overlay(config))
    for variant, path in generations.items():
        records = read_jsonl(path)
        for record in records:
            record["response"] = PLANTED[variant].get(record["id"], record["response"])
        write_jsonl(path, records)
    snakemake(project, "--cores", "2", *with_overlay(config))
    snakemake(project, *with_overlay(config), "--report", "report.html")
    return setup


def own_copy_of_run(setup: dict, dest: Path) -> dict:
    """`setup` (a finished tiny run) with its project copied to `dest`, metadata and file
    times kept, so that Snakemake sees the same finished run: for a test that changes the
    project (a real run, a script's time), which must not touch the run other tests (and,
    under pytest -n, other processes at the same time) read."""
    shutil.copytree(setup["project"], dest, symlinks=True)
    return {**setup, "project": dest}


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy2(src, dest / part)
    return dest


def tiny_config(model_dir: Path, bibleqa: Path, **overrides) -> dict:
    """A config overlay that runs the whole DAG in about a minute on 2 CPU cores."""
    config = {
        "run": {"models": ["tiny-gpt2"]},
        "models": {"tiny-gpt2": {"source": str(model_dir), "tokenizer": "gpt2",
                                 "lora_targets": ["c_attn", "c_proj", "c_fc"],
                                 "params_millions": 4}},
        "questions": {"bibleqa": {"path": str(bibleqa)}},
        "corpora": {"asv": {"books": ["Ruth"]}},
        "data": {"num_shards": 2},
        "train": {"epochs": 1, "batch_size": 4, "max_steps": 6, "log_every": 2,
                  "resume_every": 3},
        "answer": {"batch_size": 4},
        # One thread per model job, so that Snakemake runs two at a time on --cores 2: the
        # shared tiny run in 1 min 55 s / 154 CPU s instead of 2 min 59 s / 177 (a tiny
        # model's second thread only waits).
        "resources": {"cpus_per_gpu": 1},
        # Ruth is seen in training, Genesis not (and BBE's text is sound in Genesis 1-42).
        "probes": {"books": ["Genesis", "Ruth"], "verses": 6, "completions": 3, "batch_size": 4},
    }
    return with_dotted(config, overrides)


def with_dotted(config: dict, overrides: dict) -> dict:
    """`config` with each `{"a.b.c": value}` of `overrides` set at that path (made as needed)."""
    for dotted, value in overrides.items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config


def with_overlay(path) -> list[str]:
    """Arguments that layer a config overlay over the shipped config.yaml.

    Snakemake loads the Snakefile's `configfile:` and then --configfile on top; naming
    config.yaml first as well keeps the order explicit whatever the working directory.
    """
    return ["--configfile", "config.yaml", str(path)]


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def snakemake(project: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([SNAKEMAKE, *args], cwd=project, capture_output=True, text=True,
                          env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def planned_jobs(project: Path, *args: str) -> dict[str, int]:
    """Job counts per rule of a dry run: {} when nothing is to be done."""
    proc = snakemake(project, "-n", "--quiet", "rules", *args)
    out = proc.stdout + proc.stderr
    counts = {}
    in_table = False
    for line in out.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            match = re.match(r"^(\S+)\s+(\d+)$", line.strip())
            if match and match[1] != "total":
                counts[match[1]] = int(match[2])
            elif line.strip().startswith("total"):
                break
    return counts
