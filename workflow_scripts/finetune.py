"""checkpoints/<model>/<setting>/seed<seed>/<method>/: a full fine-tune (model) or a LoRA
adapter, with train_log.jsonl, train_summary.json and settings.json (bibleft.finetuning).

Run by Snakemake (`script:`): reads the tokenized corpus (`input.data`) and the base
model (`input.model`), writes `output[0]`; `params.options` is the rest of its FineTuneJob
(options.Experiment.fine_tune_options), its resume points going to
resume/<model>/<setting>/seed<seed>/<method>/ until the output is written. With
`resources.gpu: N > 1` it starts N copies of itself through `accelerate launch`
(bibleft.launch), each run as `python finetune.py --spec JOB.json`, the FineTuneJob as JSON.
"""
import argparse
import json
import sys

from bibleft import launch
from bibleft.devices import claim_gpus
from bibleft.entry import run_step
from bibleft.errors import InputError
from bibleft.finetuning import finetune, job_of_rule
from bibleft.jobs import FineTuneJob


def main(smk):
    gpus = int(getattr(smk.resources, "gpu", 0) or 0)
    # Before anything touches CUDA; launched processes inherit the claimed devices.
    job = job_of_rule(smk, gpus=claim_gpus(gpus))
    if launch.needs_launch(gpus):
        # Snakemake sets __file__ to this script's real path (not its temporary copy).
        status = launch.run_launched(__file__, job.as_dict(), gpus, smk.threads)
        if status != 0:
            sys.exit(status)
    else:
        finetune(job)


def cli(argv=None) -> None:
    """One process of a launched multi-GPU job (or a manual run): `--spec JOB.json`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True,
                        help="the FineTuneJob as JSON (written by the launching process)")
    args = parser.parse_args(argv)
    with open(args.spec, encoding="utf-8") as fh:
        job = FineTuneJob.from_dict(json.load(fh))
    try:
        finetune(job)
    except InputError as err:
        print(f"error in finetune: {err}", file=sys.stderr, flush=True)
        sys.exit(1)


if "snakemake" in globals():
    run_step(snakemake, main)  # noqa: F821
elif __name__ == "__main__":
    cli()
