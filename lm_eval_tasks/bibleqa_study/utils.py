"""The BibleQA study task for EleutherAI's lm-evaluation-harness: the data set, the prompt
and the lenient rule of Gronberg (2024), as the workflow (workflow_scripts/bibleft) has them.

This file is imported by lm-eval from the task folder (`--include_path`), in lm-eval's own
environment: it imports nothing from the workflow, so it copies the study's prompt and rule
(tests/test_lm_eval.py checks both against config.yaml and bibleft.prompts).
"""

from __future__ import annotations

import os
from pathlib import Path

# config.yaml answer.prompt (= bibleft.prompts.PAPER_PROMPT): the three examples are part of
# the prompt, so the task runs with num_fewshot 0. It ends with "A:" and no space: the model
# continues with " Adam", as in the workflow.
PROMPT = (
    "The following are questions and answers about the Bible.\n"
    "\n"
    "Q: Who was the first man?\n"
    "A: Adam\n"
    "\n"
    "Q: What was special about Samson?\n"
    "A: He was very strong\n"
    "\n"
    "Q: Where was Jesus born?\n"
    "A: Bethlehem\n"
    "\n"
    "Q: {question}\n"
    "A:"
)

# Where the question set is, when neither --metadata nor the task YAML says.
PATH_ENV = "BIBLEQA_JSONL"
PATH_KEY = "bibleqa_path"


def _resolve_path(kwargs: dict) -> str:
    path = kwargs.get(PATH_KEY) or os.environ.get(PATH_ENV)
    if not path:
        raise ValueError(
            "bibleqa_study: no question set given. Pass the workflow's data/questions/bibleqa.jsonl "
            f"with --metadata '{{\"{PATH_KEY}\": \"data/questions/bibleqa.jsonl\"}}', or set "
            f"{PATH_ENV}=data/questions/bibleqa.jsonl, or write a task YAML that includes "
            "bibleqa_study.yaml and sets dataset_kwargs: {data_files: {test: <path>}}")
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise FileNotFoundError(f"bibleqa_study: question set {path} ({resolved}) is not a file")
    return str(resolved)


def load_bibleqa(**kwargs):
    """The question set as a local JSON Lines data set, one split `test`.

    lm-eval calls this (`custom_dataset`) with the task's metadata (the --metadata JSON, the
    model_args, the YAML's metadata block) and its dataset_kwargs. The file is
    `data_files` from dataset_kwargs when a task YAML sets it, else `bibleqa_path` from
    --metadata, else $BIBLEQA_JSONL; a relative path is taken from the current directory.
    Records are the workflow's data/questions/bibleqa.jsonl: id, position, question, answer, reference.
    """
    import datasets

    data_files = kwargs.get("data_files")
    if data_files is None:
        data_files = {"test": _resolve_path(kwargs)}
    elif not isinstance(data_files, dict):
        data_files = {"test": data_files}
    return datasets.load_dataset("json", data_files=data_files)


def doc_to_text(doc: dict) -> str:
    # str.replace, not str.format (as bibleft.prompts.build_prompt): questions may hold braces.
    return PROMPT.replace("{question}", doc["question"])


def lenient_correct(answer: str, response: str) -> bool:
    """The study's rule (bibleft.judging.lenient_correct): correct when the short answer
    occurs anywhere in the response, case-sensitive."""
    return answer in response


def process_results(doc: dict, results: list[str]) -> dict:
    """`results[0]` is the model's continuation after "A:", all 15 tokens of it (up to an
    end-of-text token), as the task's generation_kwargs keep it."""
    return {"lenient": 1.0 if lenient_correct(doc["answer"], results[0]) else 0.0}
