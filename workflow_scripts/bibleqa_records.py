"""data/bibleqa.jsonl: one record {id, position, question, answer, reference} per question."""
from bibleft.bibleqa import parse_bibleqa
from bibleft.entry import run_step
from bibleft.fileio import write_jsonl


def main(smk):
    records = parse_bibleqa(smk.input[0])
    write_jsonl(smk.output[0], records)
    print(f"{len(records)} questions -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
