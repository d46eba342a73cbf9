"""results/summary.csv and summary.png: every run model's aggregate table side by side, and
accuracy against model size."""
from bibleft.entry import run_step
from bibleft.figures import plot_summary
from bibleft.fileio import atomic_path, write_text
from bibleft.replicates import SUMMARY_COLUMNS, read_aggregate_csv, summary_rows
from bibleft.tables import rows_to_csv


def main(smk):
    aggregates = {model: read_aggregate_csv(path)
                  for model, path in zip(smk.params.models, smk.input.aggregates, strict=True)}
    sizes = dict(zip(smk.params.models, smk.params.params_millions, strict=True))
    rows = summary_rows(aggregates, sizes)
    write_text(smk.output.csv, rows_to_csv(rows, SUMMARY_COLUMNS))
    with atomic_path(smk.output.png) as png:
        plot_summary(rows, png)
    print(f"{len(rows)} rows from {len(aggregates)} model(s)")


run_step(snakemake, main)  # noqa: F821
