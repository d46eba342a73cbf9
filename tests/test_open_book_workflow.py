"""Open book through the snakemake CLI, on a copy of the shared tiny run (two seeds): turned
on, it runs only the retrieval, the open-book answers and the tables that read them, leaves
every closed-book file as it was, and a change of k reruns only the retrieval and what
answers with its passages."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest

from bibleft.fileio import read_jsonl
from bibleft.grid import OPEN, AnswerSet, BaseModel, FineTune
from workflow_helpers import (TINY_MODEL, TINY_SEEDS, own_copy_of_run, planned_jobs,
                              shared_run_config, snakemake, with_overlay, write_config)

pytestmark = pytest.mark.e2e  # runs the workflow through the snakemake CLI

N_RUNS = len(TINY_SEEDS)
BOOK = "asv"  # the tiny run fine-tunes on the ASV's Ruth: the book is that slice
# The open-book answers: every fine-tune's and the base model's, each its own job.
OPEN_ANSWERS = {"retrieve_passages": 1, "generate_answers": 2 * N_RUNS + 1,
                "score_predictions": 2 * N_RUNS + 1, "judge_predictions": N_RUNS,
                "accuracy_bars": N_RUNS, "retrieval_accuracy": N_RUNS, "timing_table": N_RUNS,
                "accuracy_table": 1, "seed_tables": 1, "venn_diagram": 1, "all": 1}


def digests(project: Path) -> dict[str, str]:
    return {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in ("results", "checkpoints") for p in (project / folder).rglob("*")
            if p.is_file()}


def csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_open_book_end_to_end(tiny_run, tmp_path):
    run = own_copy_of_run(tiny_run, tmp_path / "project")
    project, results = run["project"], run["project"] / "results" / TINY_MODEL
    before = digests(project)
    tables_before = {name: csv_rows(results / "paper/seed42" / name)
                     for name in ("scores.csv", "significance.csv")}
    accuracy_before = csv_rows(results / "accuracy.csv")

    def overlay(name, **open_book):
        config = shared_run_config(run["model_dir"], run["bibleqa"],
                                   **{f"open_book.{key}": value for key, value in open_book.items()})
        return with_overlay(write_config(tmp_path / f"{name}.yaml", config))

    on = overlay("open-k2", enabled=True, k=2)
    assert planned_jobs(project, *on) == {"retrieval_index": 1, **OPEN_ANSWERS}
    snakemake(project, "--cores", "2", *on)
    assert planned_jobs(project, *on) == {}

    # Every closed-book file is as it was, byte for byte; the tables' closed-book rows too.
    after = digests(project)
    tables = ("scores.csv", "significance.csv", "audit.csv", "timing.csv", "accuracy_bars.png",
              "accuracy.csv", "accuracy.md", "seeds.csv", "aggregate.csv", "stability.csv")
    changed = [p for p in before if after[p] != before[p] and not p.endswith(tables)]
    assert not changed, changed
    scores = csv_rows(results / "paper/seed42/scores.csv")
    assert [r for r in scores if not r["variant"].endswith("_open")] == tables_before["scores.csv"]
    rest = iter(csv_rows(results / "paper/seed42/significance.csv"))
    assert all(row in rest for row in tables_before["significance.csv"])  # in order, none lost
    accuracy = csv_rows(results / "accuracy.csv")
    assert accuracy[:len(accuracy_before)] == accuracy_before
    assert [r["variant"] for r in accuracy[len(accuracy_before):]] == [
        "base_open", "full_open", "lora_open", "union_open"]

    # The passages: at most k per question, with references and scores, model-independent.
    passages = read_jsonl(project / f"data/retrieval/{BOOK}/bibleqa/passages.jsonl")
    assert len(passages) == 12 and all(len(r["passages"]) <= 2 for r in passages)
    assert {r["gold_status"] for r in passages} == {"in_book", "not_in_book"}  # Ruth 4:22 is in Ruth
    ruth = next(r for r in passages if r["id"] == 36)
    assert ruth["gold_status"] == "in_book" and ruth["reference"] == "Ru 4:22"
    recall = csv_rows(project / f"data/retrieval/{BOOK}/bibleqa/recall.csv")
    assert [r["at"] for r in recall] == ["1", "2"] and recall[0]["gold_in_book"] == "1"

    # Each open-book answer was asked with its question's passages, and every run's tables
    # hold the open-book variants beside closed book's.
    base_open = read_jsonl(project / AnswerSet(BaseModel(TINY_MODEL), "bibleqa", OPEN, BOOK).file("generations"))
    for record, retrieved in zip(base_open, passages):
        assert record["passages"] == [p["reference"] for p in retrieved["passages"]]
        for passage in retrieved["passages"]:
            assert f"{passage['reference']}\t{passage['text']}" in record["prompt"]
    fine_tune = FineTune(TINY_MODEL, "paper", TINY_SEEDS[1], "lora")
    assert (project / AnswerSet(fine_tune, "bibleqa", OPEN, BOOK).file("predictions")).is_file()
    assert (project / f"results/{TINY_MODEL}/paper/seed43/bibleqa/open-{BOOK}/predictions/lora.jsonl").is_file()
    scores = csv_rows(results / "paper/seed43/scores.csv")
    assert {r["variant"] for r in scores} == {"base", "full", "lora", "union", "base_open",
                                              "full_open", "lora_open", "union_open"}
    retrieval = csv_rows(results / "paper/seed42/retrieval.csv")
    assert {(r["variant"], r["outcome"]) for r in retrieval if r["metric"] == "lenient"} >= {
        ("base_open", "all"), ("lora", "not_in_book")}
    timing = csv_rows(results / "paper/seed42/timing.csv")
    assert [r["method"] for r in timing] == ["base", "full", "lora", "base_open", "full_open", "lora_open"]
    assert (results / "venn_open.png").is_file() and (results / "venn.png").is_file()

    # A change of k reruns the retrieval and what answers with its passages, nothing else.
    assert planned_jobs(project, *overlay("open-k3", enabled=True, k=3)) == OPEN_ANSWERS
    # Open book off again: no answer reruns, only the tables, back to closed book's rows.
    assert planned_jobs(project, *overlay("open-off", enabled=False, k=2)) == {
        "judge_predictions": N_RUNS, "accuracy_bars": N_RUNS, "timing_table": N_RUNS,
        "accuracy_table": 1, "seed_tables": 1, "all": 1}


@pytest.mark.parametrize("open_book, expected", [
    ({"k": 86}, "config error: open_book.k: 86 passages per question, but the book asv (corpora.asv) "
                "holds 85 verses; lower open_book.k or name a larger book (open_book.corpus)"),
    ({"corpus": "psalter"}, "config error: open_book.corpus: 'psalter' is not in corpora"),
])
def test_bad_open_book_settings_stop_the_run_before_any_job(tiny_run, open_book, expected, tmp_path):
    # The tiny run's book is the ASV's Ruth (85 verses); a dry run builds the whole DAG.
    config = shared_run_config(tiny_run["model_dir"], tiny_run["bibleqa"], **{
        "open_book.enabled": True, **{f"open_book.{key}": value for key, value in open_book.items()}})
    proc = snakemake(tiny_run["project"], "-n", *with_overlay(write_config(tmp_path / "bad.yaml", config)),
                     check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "retrieval_index" not in proc.stdout
