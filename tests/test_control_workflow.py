"""The positive control through the snakemake CLI, on a copy of the shared tiny run (two
seeds): a setting that fine-tunes on generated facts and answers their questions, closed and
open book, beside the study's text; the base model answers the control's questions once,
in its own folder; the study's files stay as they were."""

from __future__ import annotations

import json

import pytest

from bibleft import facts
from bibleft.fileio import read_jsonl
from workflow_helpers import (TINY_MODEL, TINY_SEEDS, own_copy_of_run, planned_jobs,
                              shared_run_config, snakemake, with_overlay, write_config)
from test_open_book_workflow import csv_rows, digests

pytestmark = pytest.mark.e2e  # runs the workflow through the snakemake CLI

SEED, COUNT, PHRASINGS = 3, 3, 2  # 3 people, 12 questions, 6 biographies


def test_the_control_end_to_end_in_both_answering_modes(tiny_run, tmp_path):
    run = own_copy_of_run(tiny_run, tmp_path / "project")
    project, results = run["project"], run["project"] / "results" / TINY_MODEL
    before = digests(project)
    config = shared_run_config(run["model_dir"], run["bibleqa"], **{
        "run.settings": ["paper", "control"],
        "corpora.people": {"kind": "facts", "seed": SEED, "count": COUNT, "paraphrases": PHRASINGS},
        "questions.people": {"kind": "facts", "corpus": "people"},
        "settings.control": {"data": {"corpus": "people", "questions": "people"}},
        "open_book.enabled": True, "open_book.k": 2})
    args = with_overlay(write_config(tmp_path / "control.yaml", config))

    jobs = planned_jobs(project, *args)
    n = len(TINY_SEEDS)
    # The base model answers the control's questions once per mode, in its own folder; the
    # study's closed-book answers are done already, its open book is new. The fine-tunes:
    # the control's closed book, and both settings' open book.
    assert jobs["finetune"] == 2 * n
    assert jobs["generate_answers"] == 2 + 1 + 2 * n + 4 * n
    out = snakemake(project, "-n", *args).stdout
    planned = {line.split("output: ", 1)[1].split(",")[0] for line in out.splitlines()
               if line.strip().startswith("output: results/")}
    assert {f"results/{TINY_MODEL}/base/people/closed/generations/base.jsonl",
            f"results/{TINY_MODEL}/base/people/open-people/generations/base.jsonl",
            f"results/{TINY_MODEL}/base/bibleqa/open-asv/generations/base.jsonl"} <= planned
    assert f"results/{TINY_MODEL}/base/bibleqa/closed/generations/base.jsonl" not in planned
    snakemake(project, "--cores", "2", *args)
    assert planned_jobs(project, *args) == {}

    # The study's answers and checkpoints: not touched (its tables gain open book's rows).
    after = digests(project)
    kept = [p for p in before if p.endswith(".jsonl") or p.startswith("checkpoints/")]
    assert len(kept) > 10 and [p for p in kept if after[p] != before[p]] == []

    # The corpus and the questions are the generator's, as a reviewer can recompute them.
    corpus = read_jsonl(project / "data/corpora/people.jsonl")
    assert corpus == facts.examples(SEED, COUNT, PHRASINGS)
    questions = read_jsonl(project / "data/questions/people.jsonl")
    assert questions == facts.questions(SEED, COUNT)
    base = read_jsonl(results / "base/people/closed/predictions/base.jsonl")
    base_open = read_jsonl(results / "base/people/open-people/predictions/base.jsonl")
    assert [r["id"] for r in base] == [r["id"] for r in base_open] == [q["id"] for q in questions]
    full = read_jsonl(results / "control/seed42/people/open-people/predictions/full.jsonl")
    assert [r["question"] for r in full] == [q["question"] for q in questions]

    # Retrieval: every question's person is in the book; recall counts all 12.
    recall = csv_rows(project / "data/retrieval/people/people/recall.csv")
    assert [(r["at"], r["with_reference"], r["unmapped"], r["gold_in_book"]) for r in recall] == [
        ("1", "12", "0", "12"), ("2", "12", "0", "12")]
    assert csv_rows(results / "control/seed42/retrieval.csv")

    # The tables hold the control beside the study's text, each against its own base model.
    accuracy = csv_rows(results / "accuracy.csv")
    control = {r["variant"]: r for r in accuracy if r["setting"] == "control"}
    assert set(control) == {"base", "full", "lora", "union", "base_open", "full_open",
                            "lora_open", "union_open"}
    assert control["base"]["total"] == "12" and control["full"]["total"] == str(12 * n)
    assert control["base"]["correct"] == str(sum(r["correct"] for r in base))
    paper = {r["variant"]: r for r in accuracy if r["setting"] == "paper"}
    assert paper["base"]["total"] == str(len(read_jsonl(results / "base/bibleqa/closed/predictions/base.jsonl")))
    significance = csv_rows(results / "significance.csv")
    assert {(r["setting"], r["a"], r["b"]) for r in significance} >= {
        ("control", "base", "full"), ("control", "base", "base_open"), ("paper", "base", "full")}
    venn = json.loads((results / "venn_sets.json").read_text())
    assert set(venn) == {"paper", "control"}
    assert (results / "control/seed42/scores.csv").exists() and (results / "loss.png").exists()
