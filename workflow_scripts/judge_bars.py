"""results/<model>/accuracy_bars.png: accuracy per metric and variant, with intervals."""
from bibleft import metrics
from bibleft.entry import run_step
from bibleft.fileio import atomic_path


def main(smk):
    rows = metrics.read_scores_csv(smk.input.scores)
    with atomic_path(smk.output[0]) as png:
        metrics.plot_accuracy_bars(rows, f"Accuracy on BibleQA by metric: {smk.wildcards.model}", png)


run_step(snakemake, main)  # noqa: F821
