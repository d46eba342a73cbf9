"""An answering mode is a value of one list (bibleft.grid.MODES): a third one, added to that
list alone, is answered, scored, judged, tabled and drawn by the same rules as closed and
open book, on a copy of the shared tiny run."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from bibleft.fileio import read_jsonl
from bibleft.grid import CLOSED, AnswerSet, BaseModel, FineTune
from workflow_helpers import (PLANTED, TINY_MODEL, TINY_SEEDS, own_copy_of_run, planned_jobs,
                              snakemake, with_overlay)

pytestmark = pytest.mark.e2e  # runs the workflow through the snakemake CLI

N_RUNS = len(TINY_SEEDS)
# The toy mode: the closed-book prompt under another name, always on, no passages.
TOY = ('    Mode("recited", "answer.prompt", passages=False, enabled=None, label=" (recited)",\n'
       '         words="recited"),\n')


def add_toy_mode(project) -> None:
    """The mode list of the project's copy, with TOY added: the one edit a new mode takes."""
    grid = project / "workflow_scripts" / "bibleft" / "grid.py"
    text = grid.read_text()
    modes = re.search(r"^MODES = \(\n(?:    .*\n)+\)\n", text, re.M)
    assert modes, "grid.py holds no MODES tuple"
    grid.write_text(text[:modes.end() - 2] + TOY + text[modes.end() - 2:])


def rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_a_third_mode_in_the_mode_list_is_answered_tabled_and_drawn(tiny_run, tmp_path):
    run = own_copy_of_run(tiny_run, tmp_path / "project")
    project, results = run["project"], run["project"] / "results" / TINY_MODEL
    add_toy_mode(project)
    args = with_overlay(run["config"])
    # Its answers (every fine-tune's and the base model's), and the tables that read them.
    assert planned_jobs(project, *args) == {
        "generate_answers": 2 * N_RUNS + 1, "score_predictions": 2 * N_RUNS + 1,
        "judge_predictions": N_RUNS, "accuracy_bars": N_RUNS, "timing_table": N_RUNS,
        "accuracy_table": 1, "seed_tables": 1, "venn_diagram": 1, "all": 1}
    snakemake(project, "--cores", "2", *args)
    assert planned_jobs(project, *args) == {}

    # The same prompt, greedy: the same responses as closed book's, but where the shared
    # run planted its own into closed book's answers.
    runs = {"base": BaseModel(TINY_MODEL),
            **{m: FineTune(TINY_MODEL, "paper", TINY_SEEDS[0], m) for m in ("full", "lora")}}
    for variant, run_ in runs.items():
        # (This process's grid.MODES has no toy mode: its folder is written out here.)
        closed_file = AnswerSet(run_, "bibleqa", CLOSED).file("generations")
        closed = read_jsonl(project / closed_file)
        toy = read_jsonl(project / closed_file.replace("/closed/", "/recited/"))
        assert [r["prompt"] for r in toy] == [r["prompt"] for r in closed]
        same = [(c["response"] == t["response"]) for c, t in zip(closed, toy)
                if c["id"] not in PLANTED.get(variant, {})]
        assert same and all(same), variant
    assert (results / "base/bibleqa/recited/predictions/base.jsonl").is_file()

    # Every table holds its variants after closed book's, and the Venn diagram of its own.
    assert [r["variant"] for r in rows(results / "accuracy.csv")][4:] == [
        "base_recited", "full_recited", "lora_recited", "union_recited"]
    scores = {r["variant"] for r in rows(results / "paper/seed42/scores.csv")}
    assert {"base_recited", "full_recited", "lora_recited", "union_recited"} <= scores
    tests = {(r["a"], r["b"]) for r in rows(results / "paper/seed42/significance.csv")}
    assert {("base", "base_recited"), ("base_recited", "full")} <= tests
    pooled = {(r["a"], r["b"], r["seed"]) for r in rows(results / "significance.csv")}
    assert ("full", "full_recited", "all") in pooled
    assert "base_recited" in rows(results / "stability.csv")[0]
    timing = [r["method"] for r in rows(results / "paper/seed42/timing.csv")]
    assert timing == ["base", "full", "lora", "base_recited", "full_recited", "lora_recited"]
    venn = json.loads((results / "venn_recited_sets.json").read_text())
    assert set(venn) == {"paper"} and (results / "venn_recited.png").read_bytes()[:4] == b"\x89PNG"
