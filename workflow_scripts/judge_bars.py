"""Accuracy per metric and variant, with intervals, for one (model, setting, seed): reads
results/<model>/<setting>/seed<seed>/scores.csv (`scores`), writes accuracy_bars.png beside
it (`output[0]`)."""
from bibleft.entry import run_step
from bibleft.figures import plot_accuracy_bars
from bibleft.fileio import atomic_path
from bibleft.scores import read_scores_csv


def main(smk):
    rows = read_scores_csv(smk.input.scores)
    wc, words = smk.wildcards, smk.params.options
    with atomic_path(smk.output[0]) as png:
        plot_accuracy_bars(rows, f"Accuracy on {words['questions']} by metric: {wc.model}, "
                                 f"{wc.setting} (fine-tuned on {words['corpus']}), seed {wc.seed}",
                           png)


run_step(snakemake, main)  # noqa: F821
