"""results/<model>/predictions/<variant>.jsonl: answers with the study's lenient verdict."""
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_jsonl
from bibleft.judging import score_records


def main(smk):
    scored = score_records(read_jsonl(smk.input[0]), ignore_case=smk.params.ignore_case)
    write_jsonl(smk.output[0], scored)
    print(f"{sum(r['correct'] for r in scored)}/{len(scored)} correct")


run_step(snakemake, main)  # noqa: F821
