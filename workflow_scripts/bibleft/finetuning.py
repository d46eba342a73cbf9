"""One fine-tuning job, from its spec to its output directory: a full fine-tune
(safetensors model + tokenizer) or a LoRA adapter, with train_log.jsonl,
train_summary.json and the resolved settings (settings.json)."""

from __future__ import annotations

import json
import shutil

from .corpus import load_examples, with_eos
from .fileio import atomic_dir, write_json
from .hub import model_provenance
from .modeling import build_trainable, load_causal_lm, load_tokenizer
from .train import train


def job_spec(smk) -> dict:
    """What one fine-tuning job needs, as plain JSON-able values (a launched multi-GPU job
    passes it to its processes as a file). `run`: which run of the grid it is, from the
    rule's wildcards (not a param: a new param would rerun every fine-tune already made),
    for the experiment trackers."""
    params, wildcards = smk.params, smk.wildcards
    return {"model": str(smk.input.model), "data": str(smk.input.data), "output": str(smk.output[0]),
            "method": params.method, "train": dict(params.train), "lora": params.lora,
            "lora_targets": params.lora_targets, "trust_remote_code": params.trust_remote_code,
            "resume_dir": params.resume_dir,
            "run": {"model": wildcards.model, "setting": wildcards.setting,
                    "seed": int(wildcards.seed), "method": wildcards.method}}


def run_name(spec: dict) -> str | None:
    """The job's run in the experiment trackers: <model>/<setting>/seed<seed>/<method>, as
    its checkpoint folder (None for a spec without `run`: train()'s default name)."""
    run = spec.get("run")
    return f"{run['model']}/{run['setting']}/seed{run['seed']}/{run['method']}" if run else None


def run_config(spec: dict) -> dict:
    """What the trackers record as the run's configuration: which run, and the job's
    resolved settings (train, lora, the base model and data)."""
    return {**(spec.get("run") or {}), "method": spec["method"], "base_model": spec["model"],
            "data": spec["data"], "train": spec["train"], "lora": spec["lora"],
            "lora_targets": spec["lora_targets"]}


def finetune(spec: dict) -> None:
    """Train as `spec` says and, in the main process, write the output directory; the
    finished output supersedes the resumable checkpoints, which are then deleted."""
    import torch

    tokenizer = load_tokenizer(spec["model"], trust_remote_code=spec["trust_remote_code"])
    model = load_causal_lm(spec["model"], trust_remote_code=spec["trust_remote_code"])
    # LoRA's new weights are drawn from the global RNG: seed it, so that a rerun (or a
    # run with another number of GPUs) starts from the same adapter.
    torch.manual_seed(spec["train"]["seed"])
    model = build_trainable(model, spec["method"], spec["lora"], spec["lora_targets"])
    examples = with_eos(load_examples(spec["data"]), tokenizer.eos_token_id, spec["train"]["eos"])
    result = train(model, examples, tokenizer.pad_token_id, dict(spec["train"]),
                   resume_dir=spec["resume_dir"], run_name=run_name(spec), run_config=run_config(spec))
    if not result["is_main"]:
        return
    with atomic_dir(spec["output"]) as tmp:
        result["model"].save_pretrained(str(tmp))  # safetensors (model or adapter)
        tokenizer.save_pretrained(str(tmp))
        with open(tmp / "train_log.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in result["log"])
        write_json(tmp / "train_summary.json", {"method": spec["method"], **result["summary"],
                                                "gpus": spec.get("gpus", []),
                                                "base_model": model_provenance(spec["model"])})
        write_json(tmp / "settings.json", {"method": spec["method"], "base_model": spec["model"],
                                           "data": spec["data"], "train": spec["train"],
                                           "lora": spec["lora"], "lora_targets": spec["lora_targets"]})
    shutil.rmtree(spec["resume_dir"], ignore_errors=True)
    print(f"saved {spec['method']} fine-tune -> {spec['output']}")
