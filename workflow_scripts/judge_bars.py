"""results/<model>/accuracy_bars.png: accuracy per metric and variant, with intervals."""
from bibleft.entry import run_step
from bibleft.figures import plot_accuracy_bars
from bibleft.fileio import atomic_path
from bibleft.tables import read_scores_csv


def main(smk):
    rows = read_scores_csv(smk.input.scores)
    with atomic_path(smk.output[0]) as png:
        plot_accuracy_bars(rows, f"Accuracy on BibleQA by metric: {smk.wildcards.model}", png)


run_step(snakemake, main)  # noqa: F821
