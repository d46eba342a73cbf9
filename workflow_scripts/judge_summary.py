"""results/summary.csv and summary.png: every run model's scores side by side."""
from bibleft import metrics
from bibleft.entry import run_step
from bibleft.fileio import atomic_path, write_text
from bibleft.report import rows_to_csv


def main(smk):
    scores = {model: metrics.read_scores_csv(path)
              for model, path in zip(smk.params.models, smk.input.scores, strict=True)}
    rows = metrics.summary_rows(scores)
    write_text(smk.output.csv, rows_to_csv(rows, ["model", *metrics.SCORE_COLUMNS]))
    with atomic_path(smk.output.png) as png:
        metrics.plot_summary(rows, png)
    print(f"{len(rows)} rows from {len(scores)} model(s)")


run_step(snakemake, main)  # noqa: F821
