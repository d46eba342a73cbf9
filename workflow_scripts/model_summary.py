"""Every run model's aggregate table side by side, and accuracy against model size.

Reads each model's results/<model>/aggregate.csv (an input per model, named by its slug);
writes results/summary.csv (`csv`) and results/summary.png (`png`).
params.options: {params_millions: {slug: millions of parameters}}.
"""
from bibleft.entry import run_step
from bibleft.figures import plot_summary
from bibleft.fileio import atomic_path, write_text
from bibleft.replicates import read_aggregate_csv
from bibleft.summary import SUMMARY_COLUMNS, summary_rows
from bibleft.tableio import rows_to_csv


def main(smk):
    aggregates = {model: read_aggregate_csv(path) for model, path in smk.input.items()}
    rows = summary_rows(aggregates, smk.params.options["params_millions"])
    write_text(smk.output.csv, rows_to_csv(rows, SUMMARY_COLUMNS))
    with atomic_path(smk.output.png) as png:
        plot_summary(rows, smk.params.options["questions"], png)
    print(f"{len(rows)} rows from {len(aggregates)} model(s)")


run_step(snakemake, main)  # noqa: F821
