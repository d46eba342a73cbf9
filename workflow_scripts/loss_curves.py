"""results/<model>/loss.png: loss per step of every fine-tune of every setting and seed,
epoch boundaries marked."""
import json
from pathlib import Path

from bibleft.entry import run_step
from bibleft.figures import plot_loss_runs
from bibleft.fileio import atomic_path, read_jsonl


def main(smk):
    logs, per_epoch = {}, {}
    for (setting, seed, method), ckpt in zip(smk.params.tuned_runs, smk.input, strict=True):
        key = (setting, int(seed), method)
        logs[key] = read_jsonl(Path(ckpt) / "train_log.jsonl")
        per_epoch[key] = json.loads((Path(ckpt) / "train_summary.json").read_text())["steps_per_epoch"]
    with atomic_path(smk.output[0]) as tmp:
        plot_loss_runs(logs, per_epoch, f"Fine-tuning loss: {smk.wildcards.model}", tmp)


run_step(snakemake, main)  # noqa: F821
