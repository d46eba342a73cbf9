"""The study's task in EleutherAI's lm-evaluation-harness (lm_eval_tasks/bibleqa_study/),
and how its answers compare with the workflow's own (docs/lm-eval.md).

The harness runs in its own environment (.venv-lmeval, requirements-lmeval.txt); this
module never imports it. It builds the harness's command line and reads what the harness
writes with --log_samples: one JSON line per question, with the question's record (`doc`),
the response after "A:" (`filtered_resps`) and the task's lenient verdict (`lenient`).

    python -m bibleft.lmeval --samples OUT_DIR --predictions results/.../predictions/base.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import InputError
from .fileio import read_jsonl
from .judging import lenient_correct

TASK = "bibleqa_study"
# The task folder, from the repository root: lm_eval --include_path takes it.
TASK_DIR = Path(__file__).resolve().parents[2] / "lm_eval_tasks"
METRIC = "lenient"
# How to get the harness's own Python, which config lm_eval.python names.
INSTALL_HINT = ("install the harness: python3 -m venv .venv-lmeval && .venv-lmeval/bin/pip install "
                "-r requirements-lmeval.txt (docs/lm-eval.md), or set lm_eval.python")


def harness_command(python: str, model_dir: str, questions: str, output_dir: str, *,
                    adapter: str | None = None, dtype: str = "float32", batch_size: int = 1,
                    device: str = "cpu", limit: int | None = None,
                    trust_remote_code: bool = False, task_dir: str | Path = TASK_DIR) -> list[str]:
    """The harness's command line for the study's task on one model (base or full
    fine-tune: `model_dir`), or on a base model and its LoRA adapter (peft=`adapter`)."""
    model_args = [f"pretrained={model_dir}", f"dtype={dtype}"]
    if adapter:
        model_args.append(f"peft={adapter}")
    if trust_remote_code:
        model_args.append("trust_remote_code=True")
    for arg in model_args:
        if "," in arg.split("=", 1)[1]:
            # lm_eval splits --model_args at commas: a path holding one cannot be passed
            raise InputError(f"lm_eval cannot take a path with a comma in --model_args: {arg}")
    command = [python, "-m", "lm_eval", "run", "--model", "hf",
               "--model_args", ",".join(model_args),
               "--tasks", TASK, "--include_path", str(task_dir),
               "--metadata", json.dumps({"bibleqa_path": str(questions)}),
               "--batch_size", str(batch_size), "--device", device,
               "--log_samples", "--output_path", str(output_dir)]
    if limit:
        command += ["--limit", str(limit)]
    return command


def samples_file(path: str | Path, task: str = TASK) -> Path:
    """The harness's per-question log: `path` itself, or the newest samples_<task>_*.jsonl
    under the folder `path` (the harness names them by model and time)."""
    path = Path(path)
    if path.is_file():
        return path
    found = sorted(path.rglob(f"samples_{task}_*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise InputError(f"no samples_{task}_*.jsonl under {path}: run lm_eval with --log_samples "
                         f"--output_path {path}")
    return found[-1]


def read_samples(path: str | Path, task: str = TASK) -> list[dict]:
    """The harness's answers as records like the workflow's predictions: id, question,
    answer, response (the filtered response the metric saw) and `harness_correct`."""
    records = []
    for sample in read_jsonl(samples_file(path, task)):
        doc = sample["doc"]
        response = sample["filtered_resps"]
        response = response[0] if isinstance(response, list) else response
        records.append({"id": doc["id"], "question": doc["question"], "answer": doc["answer"],
                        "response": response, "harness_correct": bool(sample[METRIC])})
    return records


def compare(harness: list[dict], predictions: list[dict]) -> dict:
    """The harness's answers beside the workflow's for the same questions (by id).

    Returns the accuracies (the harness's own metric; the workflow's `correct`; the
    study's rule, bibleft.judging.lenient_correct, applied to the harness's responses),
    how many responses are the same text and how many verdicts agree, and each question
    whose response or verdict differs.
    """
    by_id = {p["id"]: p for p in predictions}
    missing = [h["id"] for h in harness if h["id"] not in by_id]
    if missing:
        raise InputError(f"{len(missing)} harness questions have no workflow prediction "
                         f"(ids {missing[:5]}...): were both run on the same data/questions/<questions>.jsonl?")
    differences = []
    same_response = same_verdict = harness_right = workflow_right = rescored_right = 0
    for h in harness:
        p = by_id[h["id"]]
        rescored = lenient_correct(h["answer"], h["response"])
        if rescored != h["harness_correct"]:
            raise InputError(f"question {h['id']}: the harness's verdict {h['harness_correct']} is "
                             f"not the study's rule's {rescored}: is the task's utils.py changed?")
        harness_right += h["harness_correct"]
        workflow_right += bool(p["correct"])
        rescored_right += rescored
        same_response += h["response"] == p["response"]
        same_verdict += h["harness_correct"] == bool(p["correct"])
        if h["response"] != p["response"] or h["harness_correct"] != bool(p["correct"]):
            differences.append({"id": h["id"], "question": h["question"], "answer": h["answer"],
                                "workflow_response": p["response"],
                                "harness_response": h["response"],
                                "workflow_correct": bool(p["correct"]),
                                "harness_correct": h["harness_correct"]})
    n = len(harness)
    return {"questions": n, "workflow_questions": len(predictions),
            "harness_accuracy": harness_right / n if n else 0.0,
            "workflow_accuracy": workflow_right / n if n else 0.0,
            "harness_rescored_accuracy": rescored_right / n if n else 0.0,
            "same_response": same_response, "same_verdict": same_verdict,
            "differences": differences}


def summary_row(variant: str, result: dict) -> dict:
    """One line of results/<model>/<setting>/seed<seed>/lm_eval.csv."""
    return {"variant": variant, "questions": result["questions"],
            "harness_accuracy": round(result["harness_accuracy"], 6),
            "workflow_accuracy": round(result["workflow_accuracy"], 6),
            "difference": round(result["harness_accuracy"] - result["workflow_accuracy"], 6),
            "same_verdict": result["same_verdict"], "same_response": result["same_response"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bibleft.lmeval",
        description="Compare lm-eval's bibleqa_study answers (--log_samples) with the "
                    "workflow's predictions of the same model, question by question.")
    parser.add_argument("--samples", required=True,
                        help="the harness's --output_path folder, or its samples_bibleqa_study_*.jsonl")
    parser.add_argument("--predictions", required=True,
                        help="the workflow's results/<model>/<run>/predictions/<variant>.jsonl")
    parser.add_argument("--differences", help="write each differing question here (JSON Lines)")
    args = parser.parse_args(argv)
    try:
        result = compare(read_samples(args.samples), read_jsonl(args.predictions))
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    n = result["questions"]
    print(f"questions: {n} (workflow predictions: {result['workflow_questions']})")
    print(f"harness lenient accuracy:  {result['harness_accuracy']:.4f}")
    print(f"workflow lenient accuracy: {result['workflow_accuracy']:.4f}")
    print(f"same response text: {result['same_response']}/{n}; "
          f"same verdict: {result['same_verdict']}/{n}")
    for d in result["differences"]:
        print(f"- id {d['id']} ({d['answer']!r}): workflow {d['workflow_correct']} "
              f"{d['workflow_response']!r}; harness {d['harness_correct']} {d['harness_response']!r}")
    if args.differences:
        with open(args.differences, "w", encoding="utf-8") as f:
            for d in result["differences"]:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
