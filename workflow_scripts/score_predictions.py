"""One answer set's generations with the study's lenient verdict added: reads
results/<model>/<run>/<questions>/<mode>/generations/<variant>.jsonl (`input[0]`), writes
predictions/<variant>.jsonl beside that generations/ folder (`output[0]`).
params.options: {ignore_case}."""
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_jsonl
from bibleft.judging import score_records


def main(smk):
    scored = score_records(read_jsonl(smk.input[0]), ignore_case=smk.params.options["ignore_case"])
    write_jsonl(smk.output[0], scored)
    print(f"{sum(r['correct'] for r in scored)}/{len(scored)} correct")


run_step(snakemake, main)  # noqa: F821
