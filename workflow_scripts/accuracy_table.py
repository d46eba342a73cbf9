"""results/<model>/accuracy.csv and accuracy.md: the study's results table, per setting,
pooled over seeds (with one seed: that run's counts)."""
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, read_runs, write_text
from bibleft.replicates import ACCURACY_COLUMNS, accuracy_rows_across_seeds
from bibleft.tables import accuracy_markdown, rows_to_csv


def main(smk):
    runs = read_runs(smk.params.tuned_runs, smk.input.tuned)
    rows = accuracy_rows_across_seeds(read_jsonl(smk.input.base), runs)
    write_text(smk.output.csv, rows_to_csv(rows, ACCURACY_COLUMNS))
    write_text(smk.output.md, accuracy_markdown(rows, smk.wildcards.model))
    print(rows_to_csv(rows, ACCURACY_COLUMNS))


run_step(snakemake, main)  # noqa: F821
