"""One fine-tuning job, from its `FineTuneJob` to its output directory: a full fine-tune
(safetensors model + tokenizer) or a LoRA adapter, with train_log.jsonl,
train_summary.json, the resolved settings (settings.json) and a model card (README.md)
that Hugging Face tools read. The folder loads from anywhere with the plain Auto classes:
an adapter names its base model by Hub id and commit when it came from the Hub, else by
the base folder's absolute path, and its card says what to pass when that folder is gone."""

from __future__ import annotations

import shutil

from .cards import model_card, point_adapter_at_base
from .fileio import atomic_dir, write_json, write_jsonl
from .hub import model_provenance
from .jobs import FineTuneJob
from .modeling import build_trainable, load_causal_lm, load_tokenizer
from .recipes import recipe_data
from .tracking import Trackers
from .train import train


def job_of_rule(smk, gpus: list[str]) -> FineTuneJob:
    """The job of rule finetune: `params.options` (dag.Plan.fine_tune_options), its input
    the base model and the tokenized examples of each kind it reads (`text`, `qa`,
    `qa_passages`), its output the folder to write."""
    data = {name: str(path) for name, path in smk.input.items() if name != "model"}
    return FineTuneJob.from_dict({**smk.params.options, "base_model": str(smk.input.model),
                                  "data": data, "output": str(smk.output[0]), "gpus": gpus})


def finetune(job: FineTuneJob) -> None:
    """Train as `job` says and, in the main process, write the output directory; the
    finished output supersedes the resume points, which are then deleted."""
    import torch

    seed = job.fine_tune.seed
    tokenizer = load_tokenizer(job.base_model, trust_remote_code=job.trust_remote_code)
    model = load_causal_lm(job.base_model, trust_remote_code=job.trust_remote_code)
    # The one place the fine-tune's seed meets torch's RNG: LoRA's new weights and then the
    # dropout masks of training are drawn from it, so a rerun (or a run on another number
    # of GPUs) starts from the same adapter and draws the same masks.
    torch.manual_seed(seed)
    model = build_trainable(model, job.fine_tune.method, job.lora, job.lora_targets)
    trackers = Trackers(job.train.report_to, job.train.tracking_dir, job.fine_tune.name,
                        job.settings())
    result = train(model, recipe_data(job, tokenizer), job.train, seed, job.resume_dir, trackers)
    if not result.is_main:
        return
    base = model_provenance(job.base_model)
    summary = {"method": job.fine_tune.method, **result.summary, "gpus": job.gpus, "base_model": base}
    with atomic_dir(job.output) as tmp:
        result.model.save_pretrained(str(tmp))  # safetensors (model or adapter)
        tokenizer.save_pretrained(str(tmp))
        write_jsonl(tmp / "train_log.jsonl", result.records)
        write_json(tmp / "train_summary.json", summary)
        write_json(tmp / "settings.json", job.settings())
        if job.is_lora:
            point_adapter_at_base(tmp, job.base_model, base)
        # After save_pretrained: peft writes a README.md of its own, a template.
        (tmp / "README.md").write_text(model_card(job, summary), encoding="utf-8")
    if job.resume_dir is not None:
        shutil.rmtree(job.resume_dir, ignore_errors=True)
    print(f"saved {job.fine_tune.method} fine-tune -> {job.output}")
