"""results/<model>/<run>/probes/<corpus>/<variant>.jsonl, <run> being base or
<setting>/seed<seed> (`records`; and .timing.json, `timing`): the variant's NLL and recall
on data/probes/<corpus>.jsonl (`texts`; a fine-tune's: its setting's corpus)."""
from bibleft.devices import claim_gpus
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_json, write_jsonl
from bibleft.generate import load_for_answering
from bibleft.probes import run_probes


def main(smk):
    # First, before anything touches CUDA: the claim decides which GPU "cuda" is.
    gpus = claim_gpus(min(1, int(getattr(smk.resources, "gpu", 0) or 0)))
    options = smk.params.options
    probes = read_jsonl(smk.input.texts)
    # answer.dtype and answer.tf32, as for the answers. One tokenizer serves both probes: each
    # lays out its own padding (NLL on the right, generation on the left).
    tokenizer, model = load_for_answering(smk.input.model, smk.input.get("adapter"), options["dtype"],
                                        options["tf32"], options["trust_remote_code"])
    records, timing = run_probes(model, tokenizer, probes, options["batch_size"])
    write_jsonl(smk.output.records, records)
    write_json(smk.output.timing, {**timing, "gpus": gpus})
    print(f"{timing['nll_records']} nll and {timing['recall_records']} recall probes in "
          f"{timing['seconds_total']:.1f} s on {timing['device_name']}")


run_step(snakemake, main)  # noqa: F821
