"""What a fine-tune reads, through the snakemake CLI, on a copy of the shared tiny run: the
facts control split by person, a recipe of the text then the trained part's questions and
one of the text then the questions with their passages (RAFT). No held-out question or
answer reaches any example a fine-tune trains on; every table reports the held-out part
first and the trained part beside it; a change of recipe reruns its fine-tunes and what
reads them, nothing else; the study's files stay as they were."""

from __future__ import annotations

import csv
import io
import json

import pytest

from bibleft import facts
from bibleft.fileio import read_jsonl
from test_open_book_workflow import digests
from workflow_helpers import (TINY_MODEL, TINY_SEEDS, own_copy_of_run, planned_jobs,
                              shared_run_config, snakemake, with_overlay, write_config)

pytestmark = pytest.mark.e2e  # runs the workflow through the snakemake CLI

SEED, COUNT, PHRASINGS = 5, 4, 2  # 4 people, 16 questions, 8 biographies


def config(run, **overrides) -> dict:
    return shared_run_config(run["model_dir"], run["bibleqa"], **{
        "run.settings": ["paper", "text-qa", "raft"],
        "corpora.people": {"kind": "facts", "seed": SEED, "count": COUNT, "paraphrases": PHRASINGS},
        "questions.people": {"kind": "facts", "corpus": "people", "split": {"held_out": 0.5, "seed": 1}},
        "settings.text-qa": {"data": {"corpus": "people", "questions": "people"},
                             "train": {"recipe": [{"reads": ["text"]}, {"reads": ["qa"], "epochs": 2}]}},
        "settings.raft": {"data": {"corpus": "people", "questions": "people"},
                          "train": {"recipe": [{"reads": ["text"]}, {"reads": ["qa_passages"]}]}},
        "open_book.enabled": True, "open_book.k": 2, "probes.enabled": False,
        "run.seeds": TINY_SEEDS[:1], **overrides})  # one seed: the recipes' fine-tunes are new


def rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_recipes_train_on_the_trained_part_alone_and_report_both_parts(tiny_run, tmp_path):
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    run = own_copy_of_run(tiny_run, tmp_path / "project")
    project, results = run["project"], run["project"] / "results" / TINY_MODEL
    before = digests(project)
    args = with_overlay(write_config(tmp_path / "recipes.yaml", config(run)))
    snakemake(project, "--cores", "2", *args)
    assert planned_jobs(project, *args) == {}

    # The split: by person, as a reviewer can recompute it from the file.
    split = json.loads((project / "data/questions/people.split.json").read_text())
    questions = {q["id"]: q for q in read_jsonl(project / "data/questions/people.jsonl")}
    assert questions == {q["id"]: q for q in facts.questions(SEED, COUNT)}
    held = set(split["ids"]["held_out"])
    assert len(split["groups"]["held_out"]) == 2 and len(held) == 8
    assert {questions[i]["reference"] for i in held} == set(split["groups"]["held_out"])

    # No held-out question or answer in any example a fine-tune read: the leak test, over
    # the tokenized data of every kind each recipe reads, decoded.
    tokenizer = AutoTokenizer.from_pretrained(run["model_dir"])
    read = {"text-qa": ["data/tokenized/gpt2/people/text", "data/tokenized/gpt2/qa/people/closed"],
            "raft": ["data/tokenized/gpt2/people/text", "data/tokenized/gpt2/qa/people/open-people"]}
    for setting, folders in read.items():
        for method in ("full", "lora"):
            ckpt = project / f"checkpoints/{TINY_MODEL}/{setting}/seed{TINY_SEEDS[0]}/{method}"
            assert (ckpt / "README.md").read_text().count("the loss on the answers alone") == 1
        for folder in folders:
            dataset = load_from_disk(str(project / folder))
            texts = [tokenizer.decode(ids) for ids in dataset["input_ids"]]
            for i in held:
                assert not any(questions[i]["question"] in t for t in texts), (folder, i)
            if "qa" in folder:
                assert set(dataset["id"]) == set(split["ids"]["trained"])
                for t, n, ids in zip(texts, dataset["n_context"], dataset["input_ids"]):
                    answer = tokenizer.decode(ids[n:])  # what the loss covers
                    assert answer.strip() in {questions[i]["answer"] for i in split["ids"]["trained"]}
                    assert not any(questions[i]["answer"] == answer.strip() and
                                   questions[i]["question"] in t for i in held)
    # RAFT's prompts hold each question's passages, retrieved from the book.
    raft = load_from_disk(str(project / "data/tokenized/gpt2/qa/people/open-people"))
    assert all("Passages:\n" in p for p in raft["prompt"])
    summary = json.loads((project / f"checkpoints/{TINY_MODEL}/text-qa/seed42/full/train_summary.json")
                         .read_text())
    assert [p["examples"] for p in summary["phases"]] == [COUNT * PHRASINGS, len(held)]

    # Every table: the held-out part first, the trained part beside it; the study's
    # setting, without a split, has no part.
    accuracy = rows(results / "accuracy.csv")
    assert [(r["setting"], r["part"]) for r in accuracy if r["variant"] in ("base", "base_open")] == [
        ("paper", ""), ("text-qa", "held_out"), ("text-qa", "trained"), ("raft", "held_out"),
        ("raft", "trained"), ("paper", ""), ("text-qa", "held_out"), ("text-qa", "trained"),
        ("raft", "held_out"), ("raft", "trained")]  # closed book, then open book
    assert {r["total"] for r in accuracy if r["part"] and r["variant"] == "base"} == {"8"}
    scores = rows(results / "text-qa/seed42/scores.csv")
    assert [r["part"] for r in scores[:1]] == ["held_out"] and {r["part"] for r in scores} == {
        "held_out", "trained"}
    assert "part" not in rows(results / "paper/seed42/scores.csv")[0]
    assert {r["part"] for r in rows(results / "aggregate.csv")} == {"", "held_out", "trained"}
    assert {r["part"] for r in rows(results / "raft/seed42/retrieval.csv")} == {"held_out", "trained"}
    venn = json.loads((results / "venn_sets.json").read_text())
    assert set(venn) == {"paper", "text-qa, held_out", "text-qa, trained", "raft, held_out",
                         "raft, trained"}

    # The study's answers and checkpoints: not touched.
    after = digests(project)
    kept = [p for p in before if p.endswith(".jsonl") or p.startswith("checkpoints/")]
    assert len(kept) > 10 and [p for p in kept if after[p] != before[p]] == []

    # A change of recipe reruns that setting's fine-tunes and what reads them, nothing else.
    changed = config(run, **{"settings.text-qa": {
        "data": {"corpus": "people", "questions": "people"},
        "train": {"recipe": [{"reads": ["text", "qa"]}]}}})
    jobs = planned_jobs(project, *with_overlay(write_config(tmp_path / "mixed.yaml", changed)))
    assert jobs["finetune"] == 2 and jobs["generate_answers"] == 2 * 2  # full, LoRA; closed, open
    assert not {"tokenize_qa", "tokenize_corpus", "question_split", "retrieve_passages"} & set(jobs)
    # A new held-out share reruns the split and the questions' training data, not the answers
    # of the base model or of the study's setting.
    reshared = config(run, **{"questions.people.split": {"held_out": 0.25, "seed": 1}})
    jobs = planned_jobs(project, *with_overlay(write_config(tmp_path / "share.yaml", reshared)))
    assert jobs["question_split"] == 1 and jobs["tokenize_qa"] == 2
    assert jobs["generate_answers"] == 2 * 2 * 2  # the two recipes' fine-tunes, both modes
