"""results/<model>/accuracy.csv and accuracy.md: the study's results table."""
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text
from bibleft.tables import accuracy_markdown, accuracy_rows, rows_to_csv


def main(smk):
    predictions = {v: read_jsonl(smk.input[v]) for v in smk.params.variants}
    rows = accuracy_rows(predictions)
    write_text(smk.output.csv, rows_to_csv(rows))
    write_text(smk.output.md, accuracy_markdown(rows, smk.wildcards.model))
    print(rows_to_csv(rows))


run_step(snakemake, main)  # noqa: F821
