"""results/<model>/loss.png: loss per step of every fine-tune, epoch boundaries marked."""
import json
from pathlib import Path

from bibleft.entry import run_step
from bibleft.figures import plot_loss
from bibleft.fileio import atomic_path, read_jsonl


def main(smk):
    logs, per_epoch = {}, {}
    for method in smk.params.methods:
        ckpt = Path(smk.input[method])
        logs[method] = read_jsonl(ckpt / "train_log.jsonl")
        per_epoch[method] = json.loads((ckpt / "train_summary.json").read_text())["steps_per_epoch"]
    with atomic_path(smk.output[0]) as tmp:
        plot_loss(logs, per_epoch, f"Fine-tuning loss: {smk.wildcards.model}", tmp)


run_step(snakemake, main)  # noqa: F821
