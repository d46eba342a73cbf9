"""The study's task for EleutherAI's lm-evaluation-harness (lm_eval_tasks/bibleqa_study/).

The checks of the task files against the study (prompt, decoding, rule) need no harness
and run in every tier. The ones marked `lm_eval` run the harness itself on the tiny GPT-2,
offline, and compare its answers with the workflow's own: they need lm_eval importable,
i.e. its own environment (docs/lm-eval.md):

    .venv-lmeval/bin/python -m pytest tests/test_lm_eval.py -m lm_eval

and skip, saying so, in the main environment.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bibleft.lmeval import (TASK, TASK_DIR, compare, harness_command, read_samples,
                            summary_row)
from bibleft.prompts import PAPER_PROMPT, build_prompt
from bibleft.judging import lenient_correct

ROOT = Path(__file__).resolve().parents[1]
TASK_FOLDER = TASK_DIR / TASK
HAS_LM_EVAL = importlib.util.find_spec("lm_eval") is not None
needs_lm_eval = pytest.mark.skipif(
    not HAS_LM_EVAL,
    reason="lm_eval is not importable here: the lm_eval tier runs in the harness's own "
           "environment, `.venv-lmeval/bin/python -m pytest tests/test_lm_eval.py -m lm_eval` "
           "(requirements-lmeval.txt, docs/lm-eval.md)")


def task_utils():
    spec = importlib.util.spec_from_file_location("bibleqa_study_utils", TASK_FOLDER / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def task_yaml() -> dict:
    """The task YAML, its `!function` tags read as their names."""
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: f"!function {node.value}")
    return yaml.load((TASK_FOLDER / f"{TASK}.yaml").read_text(), Loader=Loader)


# ---- the task files against the study (no harness needed) ----

def test_task_prompt_is_the_studys():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    utils = task_utils()
    assert utils.PROMPT == PAPER_PROMPT == config["answer"]["prompt"]
    question = "Who said {this}?"  # braces stay as they are
    assert utils.doc_to_text({"question": question}) == build_prompt(PAPER_PROMPT, question)
    assert utils.doc_to_text({"question": question}).endswith("Q: Who said {this}?\nA:")


def test_task_decodes_as_the_study():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    task = task_yaml()
    assert task["task"] == TASK and task["output_type"] == "generate_until"
    gen = task["generation_kwargs"]
    # greedy, the study's 15 tokens, and no stop string that would cut what the rule sees
    assert gen == {"until": [], "do_sample": False, "temperature": 0.0,
                   "max_gen_toks": config["answer"]["max_new_tokens"]}
    # the examples are in the prompt: none from the harness, nothing added after "A:"
    assert task["num_fewshot"] == 0 and task["target_delimiter"] == "" and task["description"] == ""
    assert task["metric_list"] == [{"metric": "lenient", "aggregation": "mean",
                                    "higher_is_better": True}]
    assert task["process_results"] == "!function utils.process_results"


@pytest.mark.parametrize("answer, response", [
    ("Mary", " Mary\n\nQ: What was the name of Jesus' father?\n"),
    ("Sarah", " Is it not Sarah?"),                  # anywhere in the response
    ("Eden", " The Garden of Eden\n\nQ: Who"),
    ("Mount Sinai", " mount of Sinai"),              # not a substring
    ("Mary", " mary"),                               # case-sensitive
    ("Jesse", " Jess"),
    ("Bethlehem", "\n\nQ: Where was Bethlehem?"),    # the rule sees the 15 tokens whole
])
def test_task_rule_is_the_studys(answer, response):
    got = task_utils().process_results({"answer": answer}, [response])
    assert got == {"lenient": 1.0 if lenient_correct(answer, response) else 0.0}


def test_question_set_path(tmp_path, monkeypatch):
    utils = task_utils()
    monkeypatch.delenv(utils.PATH_ENV, raising=False)
    with pytest.raises(ValueError, match="bibleqa_path"):
        utils._resolve_path({})
    questions = tmp_path / "q.jsonl"
    questions.write_text("")
    assert utils._resolve_path({"bibleqa_path": str(questions)}) == str(questions.resolve())
    monkeypatch.setenv(utils.PATH_ENV, str(questions))
    assert utils._resolve_path({}) == str(questions.resolve())
    with pytest.raises(FileNotFoundError):
        utils._resolve_path({"bibleqa_path": str(tmp_path / "missing.jsonl")})


def test_harness_command():
    command = harness_command("py", "/m/base", "/d/q.jsonl", "/o", adapter="/c/lora",
                              batch_size=4, limit=10)
    assert command[:4] == ["py", "-m", "lm_eval", "run"]
    assert command[command.index("--model_args") + 1] == "pretrained=/m/base,dtype=float32,peft=/c/lora"
    assert json.loads(command[command.index("--metadata") + 1]) == {"bibleqa_path": "/d/q.jsonl"}
    assert command[command.index("--limit") + 1] == "10"
    assert "--log_samples" in command


def test_compare_lists_each_difference():
    harness = [{"id": 1, "question": "q1", "answer": "Mary", "response": " Mary", "harness_correct": True},
               {"id": 2, "question": "q2", "answer": "Eden", "response": " Eden!", "harness_correct": True},
               {"id": 3, "question": "q3", "answer": "Cain", "response": " Abel", "harness_correct": False}]
    predictions = [{"id": 1, "answer": "Mary", "response": " Mary", "correct": True},
                   {"id": 2, "answer": "Eden", "response": " Adam", "correct": False},
                   {"id": 3, "answer": "Cain", "response": " Seth", "correct": False}]
    result = compare(harness, predictions)
    assert result["harness_accuracy"] == pytest.approx(2 / 3)
    assert result["workflow_accuracy"] == pytest.approx(1 / 3)
    assert result["same_response"] == 1 and result["same_verdict"] == 2
    assert [d["id"] for d in result["differences"]] == [2, 3]
    row = summary_row("base", result)
    assert row["difference"] == pytest.approx(1 / 3, abs=1e-6) and row["questions"] == 3


# ---- the harness itself (its own environment) ----

QUESTIONS = [
    "What was the name of Jesus' mother?",
    "What was the name of the garden where Adam and Eve lived?",
    "From which part of Adam's body did God create Eve?",
    "Who lied to God when he was asked where his brother was?",
    "Whose mother placed him in an ark of bulrushes?",
    'Who did Jesus say was the "father of lies"?',
    "What was the name of Abraham's first wife?",
    "Which musical instrument did David play for Saul?",
]


@pytest.mark.lm_eval
@needs_lm_eval
def test_harness_answers_as_the_workflow(tiny_gpt2, tmp_path):
    """lm_eval on the tiny GPT-2, offline, one question at a time: the same 15-token answers
    as the workflow's batched, prefix-cached generation, and the same lenient verdicts."""
    from bibleft.generate import answer_questions, load_for_generation
    from bibleft.modeling import load_tokenizer

    records = [{"id": i + 1, "position": i + 1, "question": q, "answer": "?", "reference": ""}
               for i, q in enumerate(QUESTIONS)]
    tokenizer = load_tokenizer(tiny_gpt2, padding_side="left")
    model = load_for_generation(tiny_gpt2)
    generated, _ = answer_questions(model, tokenizer, records, PAPER_PROMPT, 15, batch_size=3)
    # Answers that the random model's responses hold for half the questions (so the
    # accuracy is no trivial 0), and that they do not hold for the other half.
    for i, (record, g) in enumerate(zip(records, generated)):
        text = g["response"].strip() or g["response"]
        assert text, "the tiny model answered nothing"
        record["answer"] = text[:3] if i % 2 == 0 else text[:3] + "\u00a7"
    questions = tmp_path / "bibleqa.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in records))
    predictions = [{**g, "answer": r["answer"], "correct": lenient_correct(r["answer"], g["response"])}
                   for r, g in zip(records, generated)]

    out = tmp_path / "harness"
    # offline; one thread: a tiny model gains nothing from more, and on a shared CPU
    # two busy-waiting threads are many times slower than one
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1",
               HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"))
    done = subprocess.run(harness_command(sys.executable, str(tiny_gpt2), str(questions), str(out)),
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    samples = read_samples(out)
    assert [s["id"] for s in samples] == [r["id"] for r in records]
    result = compare(samples, predictions)  # also checks the harness's verdicts = the rule's
    assert result["differences"] == []
    assert result["same_response"] == len(records)
    assert result["harness_accuracy"] == result["workflow_accuracy"] == 0.5
    # the prompt the harness sent is the study's, character for character
    logged = [json.loads(line) for line in next(out.rglob(f"samples_{TASK}_*.jsonl")).open()]
    for sample, record in zip(logged, records):
        assert sample["arguments"]["gen_args_0"]["arg_0"] == build_prompt(PAPER_PROMPT, record["question"])
    aggregate = json.loads(next(out.rglob("results_*.json")).read_text())
    assert aggregate["results"][TASK]["lenient,none"] == pytest.approx(0.5)
    assert aggregate["n-shot"][TASK] == 0
