"""Bring your own text and questions: a local text corpus and a local question table end to
end on the tiny GPT-2, a `datasets` folder as a corpus, bad files refused before any job,
and a setting that trains on another corpus rerunning only its own jobs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from bibleft import judging
from bibleft.fileio import read_jsonl
from bibleft.grid import CLOSED, AnswerSet, FineTune
from workflow_helpers import (TINY_SEEDS, copy_project, planned_jobs, shared_run_config, snakemake,
                              tiny_config, with_overlay, write_config)

pytestmark = pytest.mark.e2e  # runs the workflow through the snakemake CLI

MODEL = "tiny-gpt2"
# A text of the user's: one example per line, the first four trained on.
NOTES = ["The river Tamar rises near Woolley Moor.", "Its length is about sixty miles.",
         "It meets the sea at Plymouth Sound.", "The bridge at Saltash carries the railway.",
         "", "Salmon run up the river in autumn.", "Otters returned to its banks in the 1990s.",
         "The valley was mined for copper and arsenic.", "Kit Hill overlooks the river."]
QUESTIONS = [
    {"id": "q1", "question": "Where does the Tamar meet the sea?", "answer": "Plymouth Sound",
     "alternatives": ["Plymouth"]},
    {"id": "q2", "question": "What does the Saltash bridge carry?", "answer": "the railway",
     "alternatives": []},
    {"id": "q3", "question": "Which fish run up the river?", "answer": "Salmon", "alternatives": ["trout"]},
]


def own_data_config(base: Path, model_dir: Path) -> dict:
    notes = base / "notes.txt"
    notes.write_text("\n".join(NOTES) + "\n", encoding="utf-8")
    table = base / "questions.jsonl"
    table.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    config = tiny_config(model_dir, base / "unused.csv", **{
        "data.corpus": "notes", "data.questions": "tamar",
        "probes.verses": 3, "probes.completions": 2, "train.max_steps": 3})
    config["corpora"] = {"notes": {"kind": "text", "path": str(notes), "unit": "line", "max_examples": 4}}
    config["questions"] = {"tamar": {"kind": "table", "path": str(table), "alternatives": "alternatives"}}
    return config


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    from fixtures import make_tiny_gpt2

    base = tmp_path_factory.mktemp("own-data")
    project = copy_project(base / "project")
    config = write_config(base / "own.yaml", own_data_config(base, make_tiny_gpt2(base / "tiny-gpt2")))
    snakemake(project, "--cores", "2", *with_overlay(config))
    return {"project": project, "base": base, "config": config}


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_a_text_corpus_is_trained_on_line_by_line(own):
    project = own["project"]
    examples = read_jsonl(project / "data/corpora/notes.jsonl")
    assert [e["text"] for e in examples] == [line for line in NOTES if line]
    assert [e["reference"] for e in examples[:2]] == ["notes.txt:1", "notes.txt:2"]
    from datasets import load_from_disk

    tokenized = load_from_disk(str(project / "data/tokenized/gpt2/notes/text"))
    assert tokenized["text"] == NOTES[:4]  # the slice: max_examples 4, the words alone
    log = read_jsonl(project / f"checkpoints/{MODEL}/paper/seed42/full/train_log.jsonl")
    assert [r["step"] for r in log] == [1]  # 4 examples, batch 4, one epoch


def test_the_own_questions_are_asked_and_judged_with_their_alternatives(own):
    project = own["project"]
    records = read_jsonl(project / "data/questions/tamar.jsonl")
    assert [(r["id"], r["position"], r["answer"], r["alternatives"]) for r in records] == [
        (q["id"], i, q["answer"], q["alternatives"]) for i, q in enumerate(QUESTIONS, 1)]
    full = AnswerSet(FineTune(MODEL, "paper", 42, "full"), "tamar", CLOSED)
    assert full.file("predictions") == f"results/{MODEL}/paper/seed42/tamar/closed/predictions/full.jsonl"
    predictions = read_jsonl(project / full.file("predictions"))
    assert [p["alternatives"] for p in predictions] == [q["alternatives"] for q in QUESTIONS]
    assert all(p["correct"] == (p["answer"] in p["response"]) for p in predictions)
    # The tables are the study's, on these questions.
    accuracy = {r["variant"]: r for r in read_csv(project / f"results/{MODEL}/accuracy.csv")}
    assert int(accuracy["full"]["total"]) == len(QUESTIONS)
    scores = {(r["metric"], r["variant"]): r for r in read_csv(project / f"results/{MODEL}/paper/seed42/scores.csv")}
    assert int(scores["lenient", "full"]["correct"]) == sum(p["correct"] for p in predictions)


def test_the_probes_follow_the_corpus(own):
    project = own["project"]
    probes = read_jsonl(project / "data/probes/notes.jsonl")
    seen = {r["reference"] for r in probes if r["probe"] == "nll" and r["split"] == "seen"}
    unseen = {r["reference"] for r in probes if r["probe"] == "nll" and r["split"] == "unseen"}
    assert seen <= {"notes.txt:1", "notes.txt:2", "notes.txt:3", "notes.txt:4"} and len(seen) == 3
    assert unseen and not unseen & seen
    assert {r["text"] for r in probes} == {"notes"}  # no parallel text: no paraphrase probe
    table = read_csv(project / f"results/{MODEL}/paper/seed42/probes.csv")
    assert {(r["text"], r["split"]) for r in table} >= {("notes", "seen"), ("notes", "unseen")}
    assert (project / f"results/{MODEL}/base/probes/notes/base.jsonl").is_file()


def test_alternatives_count_under_the_stricter_metrics_only(own):
    verdicts, _ = judging.judge("Plymouth Sound", "Plymouth", alternatives=True, given=["Plymouth"])
    assert verdicts["exact_match"] and not verdicts["lenient"]
    verdicts, _ = judging.judge("Plymouth Sound", "Plymouth", alternatives=False, given=["Plymouth"])
    assert not verdicts["exact_match"]


def test_a_datasets_folder_is_a_corpus(own, tmp_path):
    from datasets import Dataset

    folder = tmp_path / "ds"
    Dataset.from_dict({"body": ["First row.", "  ", "Third row."], "n": [1, 2, 3]}).save_to_disk(str(folder))
    config = yaml.safe_load(own["config"].read_text())
    config["corpora"]["rows"] = {"kind": "datasets", "path": str(folder), "column": "body"}
    config["data"]["corpus"] = "rows"
    overlay = write_config(tmp_path / "rows.yaml", config)
    snakemake(own["project"], "data/tokenized/gpt2/rows/text", "--cores", "1", *with_overlay(overlay))
    examples = read_jsonl(own["project"] / "data/corpora/rows.jsonl")
    assert examples == [{"reference": "rows:0", "text": "First row."}, {"reference": "rows:2", "text": "Third row."}]


@pytest.mark.parametrize("what, entry, expected", [
    ("corpora", {"kind": "text", "path": "{empty}"}, "config error: corpora.bad.path: {empty} is empty"),
    ("questions", {"kind": "table", "path": "{table}"},
     "config error: questions.bad.path: {table}:1: no key 'answer' (keys: question, reply)"),
])
def test_a_bad_corpus_or_question_file_is_refused_before_any_job(tmp_path, what, entry, expected):
    from fixtures import make_tiny_gpt2, write_bibleqa

    (tmp_path / "empty.txt").write_text("\n")
    (tmp_path / "q.jsonl").write_text('{"question": "Q?", "reply": "A"}\n')
    paths = {"empty": str(tmp_path / "empty.txt"), "table": str(tmp_path / "q.jsonl")}
    project = copy_project(tmp_path / "project")
    config = tiny_config(make_tiny_gpt2(tmp_path / "tiny"), write_bibleqa(tmp_path / "1001.csv"))
    config[what] = {"bad": {k: v.format(**paths) for k, v in entry.items()}}
    config["data"]["corpus" if what == "corpora" else "questions"] = "bad"
    proc = snakemake(project, "--cores", "1", *with_overlay(write_config(tmp_path / "bad.yaml", config)),
                     check=False)
    assert proc.returncode != 0
    line = (proc.stdout + proc.stderr).strip().splitlines()[-1]
    assert line.startswith(expected.format(**paths)), line
    assert not [p for p in ("data", "results", "checkpoints", "logs") if (project / p).exists()]


def test_a_setting_on_another_corpus_tokenizes_once_more_and_trains_only_its_runs(tiny_run, tmp_path):
    # The shared tiny run trains on the ASV's Ruth; a setting that trains on the KJV's Ruth.
    config = shared_run_config(tiny_run["model_dir"], tiny_run["bibleqa"])
    config["corpora"]["kjv"] = {"kind": "bible", "translation": "kjv", "books": ["Ruth"]}
    config["settings"] = {"kjv": {"data": {"corpus": "kjv"}}}
    config["run"]["settings"] = ["paper", "kjv"]
    n = len(TINY_SEEDS)
    jobs = planned_jobs(tiny_run["project"], *with_overlay(write_config(tmp_path / "kjv.yaml", config)))
    assert jobs == {
        # The KJV's text, its tokenization and probe set, and its probes of the base model
        # (one rule, run_probes, probes every run now: 2 per seed, and the base model's once).
        "bible_text": 1, "tokenize_corpus": 1, "probe_texts": 1,
        "finetune": 2 * n, "generate_answers": 2 * n, "score_predictions": 2 * n, "run_probes": 2 * n + 1,
        "judge_predictions": n, "accuracy_bars": n, "timing_table": n, "probe_table": n,
        "accuracy_table": 1, "venn_diagram": 1, "loss_curves": 1, "seed_tables": 1, "all": 1}
