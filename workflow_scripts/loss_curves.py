"""Loss per step of every fine-tune of every setting and seed, epoch boundaries marked.

Reads every fine-tune's checkpoint folder (named by its FineTune.key,
<setting>/seed<seed>/<method>: checkpoints/<model>/<setting>/seed<seed>/<method>/, its
train_log.jsonl and train_summary.json); writes results/<model>/loss.png (`output[0]`).
params.options: {fine_tunes: [FineTune.as_dict(), ...]} in grid order.
"""
import json
from pathlib import Path

from bibleft.entry import run_step
from bibleft.figures import plot_loss_runs
from bibleft.fileio import atomic_path, read_jsonl
from bibleft.grid import FineTune


def main(smk):
    fine_tunes = [FineTune.from_dict(ft) for ft in smk.params.options["fine_tunes"]]
    folders = {ft: Path(smk.input[ft.key]) for ft in fine_tunes}
    logs = {ft: read_jsonl(folder / "train_log.jsonl") for ft, folder in folders.items()}
    per_epoch = {ft: json.loads((folder / "train_summary.json").read_text())["steps_per_epoch"]
                 for ft, folder in folders.items()}
    with atomic_path(smk.output[0]) as tmp:
        corpora = dict.fromkeys(w["corpus"] for w in smk.params.options["settings"].values())
        plot_loss_runs(logs, per_epoch, f"Fine-tuning loss: {smk.wildcards.model} on "
                                        f"{', '.join(corpora)}", tmp)


run_step(snakemake, main)  # noqa: F821
