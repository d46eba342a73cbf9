"""results/<model>/<setting>/seed<seed>/lm_eval.csv: the study's task run by EleutherAI's
lm-evaluation-harness on the run's three models (base, full fine-tune, base + LoRA
adapter), its lenient accuracy beside the workflow's own for the same questions.

The harness runs in its own environment (config lm_eval.python; requirements-lmeval.txt),
as a subprocess: nothing here imports it. Its per-question logs go to
results/<model>/<setting>/seed<seed>/lm_eval/<variant>/, and the questions whose response
or verdict differs from the workflow's to lm_eval/<variant>.differences.jsonl.
"""
import csv
import os
import shlex
import subprocess
import sys
from pathlib import Path

from bibleft.config import AnswerOptions
from bibleft.devices import claim_gpus
from bibleft.entry import run_step
from bibleft.errors import InputError
from bibleft.fileio import atomic_path, executable, read_jsonl, write_jsonl
from bibleft.grid import BASE, VARIANTS
from bibleft.lmeval import INSTALL_HINT, compare, harness_command, read_samples, summary_row
from bibleft.prompts import MAX_NEW_TOKENS, PAPER_PROMPT


def check_protocol(answer: AnswerOptions) -> None:
    """The task file holds the study's prompt and token limit: the workflow's answers are
    comparable only when the config asks the same."""
    if answer.prompt != PAPER_PROMPT:
        raise InputError("lm_eval_compare: answer.prompt is not the study's prompt, which "
                         "lm_eval_tasks/bibleqa_study/ holds; compare with the study's prompt")
    if answer.max_new_tokens != MAX_NEW_TOKENS:
        raise InputError(f"lm_eval_compare: answer.max_new_tokens is not {MAX_NEW_TOKENS}, the "
                         "task's max_gen_toks")
    if answer.chat_template:
        raise InputError("lm_eval_compare: answer.chat_template is true; the task asks with the "
                         "plain completion prompt (the harness's --apply_chat_template builds "
                         "other turns than bibleft.prompts)")


def main(smk):
    options = smk.params.options
    answer = AnswerOptions.from_dict(options["answer"])
    check_protocol(answer)
    python = options["python"]
    executable("lm_eval.python", python, INSTALL_HINT)  # where the job runs, too
    gpus = claim_gpus(min(1, int(getattr(smk.resources, "gpu", 0) or 0)))
    device = "cuda:0" if gpus else "cpu"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               OMP_NUM_THREADS=str(max(1, int(smk.threads or 1))))
    models = {BASE: (smk.input.base_model, None),
              "full": (smk.input.full, None),
              "lora": (smk.input.base_model, smk.input.lora)}
    predictions = {BASE: smk.input.base_predictions, "full": smk.input.full_predictions,
                   "lora": smk.input.lora_predictions}
    out_dir = Path(smk.output.samples)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for variant in VARIANTS:
        model, adapter = models[variant]
        command = harness_command(python, model, os.path.abspath(smk.input.questions),
                                  out_dir / variant, adapter=adapter, dtype=answer.dtype,
                                  batch_size=options["batch_size"], device=device,
                                  limit=answer.limit, trust_remote_code=options["trust_remote_code"],
                                  task_dir=smk.input.task)
        print("$ " + shlex.join(command), flush=True)
        sys.stderr.flush()
        done = subprocess.run(command, env=env, stdout=sys.stdout, stderr=sys.stderr)
        if done.returncode:
            raise InputError(f"lm_eval_compare: the harness failed on {variant} "
                             f"(exit {done.returncode}); see {smk.log[0]}")
        result = compare(read_samples(out_dir / variant), read_jsonl(predictions[variant]))
        write_jsonl(out_dir / f"{variant}.differences.jsonl", result["differences"])
        rows.append(summary_row(variant, result))
        print(f"{variant}: harness {result['harness_accuracy']:.4f}, workflow "
              f"{result['workflow_accuracy']:.4f}, same verdict {result['same_verdict']}/"
              f"{result['questions']}, same response {result['same_response']}/"
              f"{result['questions']}", flush=True)
    with atomic_path(smk.output.table) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


run_step(snakemake, main)  # noqa: F821
