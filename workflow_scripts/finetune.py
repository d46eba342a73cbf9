"""checkpoints/<model>/<method>/: a full fine-tune (safetensors model + tokenizer) or a
LoRA adapter, with train_log.jsonl, train_summary.json and the resolved settings."""
import json
import shutil

from bibleft.corpus import load_examples
from bibleft.entry import run_step
from bibleft.fileio import atomic_dir, write_json
from bibleft.modeling import build_trainable, load_causal_lm, load_tokenizer
from bibleft.train import train


def main(smk):
    params = smk.params
    tokenizer = load_tokenizer(smk.input.model, trust_remote_code=params.trust_remote_code)
    model = load_causal_lm(smk.input.model, trust_remote_code=params.trust_remote_code)
    model = build_trainable(model, params.method, params.lora, params.lora_targets)
    examples = load_examples(smk.input.data)
    result = train(model, examples, tokenizer.pad_token_id, dict(params.train),
                   resume_dir=params.resume_dir)
    if not result["is_main"]:
        return
    with atomic_dir(smk.output[0]) as tmp:
        result["model"].save_pretrained(str(tmp))  # safetensors (model or adapter)
        tokenizer.save_pretrained(str(tmp))
        with open(tmp / "train_log.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in result["log"])
        write_json(tmp / "train_summary.json", {"method": params.method, **result["summary"]})
        write_json(tmp / "settings.json", {"method": params.method, "base_model": str(smk.input.model),
                                           "data": str(smk.input.data), "train": dict(params.train),
                                           "lora": params.lora, "lora_targets": params.lora_targets})
    # The finished output supersedes the resumable checkpoints.
    shutil.rmtree(params.resume_dir, ignore_errors=True)
    print(f"saved {params.method} fine-tune -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
