"""checkpoints/<model>/<method>/: a full fine-tune (safetensors model + tokenizer) or a
LoRA adapter, with train_log.jsonl, train_summary.json and the resolved settings.

Run by Snakemake (`script:`). With `resources.gpu: N > 1` it starts N copies of itself
through `accelerate launch` (bibleft.launch), each run as
`python finetune.py --spec JOB.json`, the job's inputs, output and params as JSON.
"""
import argparse
import json
import shutil
import sys

from bibleft import launch
from bibleft.corpus import load_examples, with_eos
from bibleft.devices import claim_gpus
from bibleft.entry import run_step
from bibleft.errors import InputError
from bibleft.fileio import atomic_dir, write_json
from bibleft.hub import model_provenance
from bibleft.modeling import build_trainable, load_causal_lm, load_tokenizer
from bibleft.train import train


def job_spec(smk) -> dict:
    """What one fine-tuning job needs, as plain JSON-able values."""
    params = smk.params
    return {"model": str(smk.input.model), "data": str(smk.input.data), "output": str(smk.output[0]),
            "method": params.method, "train": dict(params.train), "lora": params.lora,
            "lora_targets": params.lora_targets, "trust_remote_code": params.trust_remote_code,
            "resume_dir": params.resume_dir}


def finetune(spec: dict) -> None:
    import torch

    tokenizer = load_tokenizer(spec["model"], trust_remote_code=spec["trust_remote_code"])
    model = load_causal_lm(spec["model"], trust_remote_code=spec["trust_remote_code"])
    # LoRA's new weights are drawn from the global RNG: seed it, so that a rerun (or a
    # run with another number of GPUs) starts from the same adapter.
    torch.manual_seed(spec["train"]["seed"])
    model = build_trainable(model, spec["method"], spec["lora"], spec["lora_targets"])
    examples = with_eos(load_examples(spec["data"]), tokenizer.eos_token_id, spec["train"]["eos"])
    result = train(model, examples, tokenizer.pad_token_id, dict(spec["train"]),
                   resume_dir=spec["resume_dir"])
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
    # The finished output supersedes the resumable checkpoints.
    shutil.rmtree(spec["resume_dir"], ignore_errors=True)
    print(f"saved {spec['method']} fine-tune -> {spec['output']}")


def main(smk):
    spec = job_spec(smk)
    gpus = int(getattr(smk.resources, "gpu", 0) or 0)
    # Before anything touches CUDA; launched processes inherit the claimed devices.
    spec["gpus"] = claim_gpus(gpus)
    if launch.needs_launch(gpus):
        # Snakemake sets __file__ to this script's real path (not its temporary copy).
        status = launch.run_launched(__file__, spec, gpus, smk.threads)
        if status != 0:
            sys.exit(status)
    else:
        finetune(spec)


def cli(argv=None) -> None:
    """One process of a launched multi-GPU job (or a manual run): `--spec JOB.json`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="the job as JSON (written by the launching process)")
    args = parser.parse_args(argv)
    with open(args.spec, encoding="utf-8") as fh:
        spec = json.load(fh)
    try:
        finetune(spec)
    except InputError as err:
        print(f"error in finetune: {err}", file=sys.stderr, flush=True)
        sys.exit(1)


if "snakemake" in globals():
    run_step(snakemake, main)  # noqa: F821
elif __name__ == "__main__":
    cli()
