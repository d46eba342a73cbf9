"""checkpoints/<model>/<method>/: a full fine-tune or a LoRA adapter (bibleft.finetuning).

Run by Snakemake (`script:`). With `resources.gpu: N > 1` it starts N copies of itself
through `accelerate launch` (bibleft.launch), each run as
`python finetune.py --spec JOB.json`, the job's inputs, output and params as JSON.
"""
import argparse
import json
import sys

from bibleft import launch
from bibleft.devices import claim_gpus
from bibleft.entry import run_step
from bibleft.errors import InputError
from bibleft.finetuning import finetune, job_spec


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
